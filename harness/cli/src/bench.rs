//! `sockspec bench`: Unix-domain vs Internet sockets on loopback, and the verdict on the
//! course's claim that Unix sockets are about twice as fast; unconnected `sendto` vs
//! connected `send`, and the verdict on the claim that sendto pays for an internal connect.

use std::path::PathBuf;
use std::process::ExitCode;

use sockspec_engine::bench::{self, BenchConfig};
use sockspec_engine::sandbox::Isolation;
use sockspec_reports::{ClaimVerdict, Measurement, RunReport};

use crate::claims::Register;
use crate::{catalogue, environment, exit};

/// The register entry this benchmark decides.
pub const CLAIM: &str = "UNIX-12";

/// The register entry the sendto/send measurement decides.
pub const SENDTO_CLAIM: &str = "UDP-CONNECT-09";

#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Rounds per measurement (median, min and max are reported).
    #[arg(long, default_value_t = 7, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub rounds: u32,
    /// A short run (fewer round trips and bytes), for a first look.
    #[arg(long)]
    pub quick: bool,
    /// Write the measurements and the claim's verdict as a run report (JSON).
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

pub fn main(args: BenchArgs) -> ExitCode {
    let mut config = BenchConfig {
        rounds: args.rounds,
        ..BenchConfig::default()
    };
    if args.quick {
        config.round_trips /= 10;
        config.bulk_bytes /= 16;
        config.datagrams /= 10;
        config.sends /= 10;
    }
    eprintln!(
        "measuring {} rounds: {} round trips, {} MiB stream, {} datagrams, {} small sends per round…",
        config.rounds,
        config.round_trips,
        config.bulk_bytes >> 20,
        config.datagrams,
        config.sends
    );
    let started = std::time::Instant::now();
    let result = match bench::run(&config) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: the benchmark could not run: {e}");
            return ExitCode::from(exit::ERRORS);
        }
    };
    println!(
        "{:<24} {:>12} {:>12} {:>12}  unit",
        "measurement", "median", "min", "max"
    );
    for s in &result.series {
        println!(
            "{:<24} {:>12.2} {:>12.2} {:>12.2}  {}",
            s.name,
            s.median(),
            s.min(),
            s.max(),
            s.unit
        );
    }
    let ratios = result.ratios();
    println!();
    for (label, ratio) in &ratios {
        println!("Unix is {ratio:.2}x as fast as Internet sockets for {label}");
    }
    let verdict = bench::verdict(&ratios);
    let summary = bench::ratio_summary(&ratios);
    println!("\nclaim {CLAIM} (Unix sockets about twice as fast): {verdict} — {summary}");
    let (sendto_verdict, sendto_summary) = sendto_findings(&result);
    println!(
        "claim {SENDTO_CLAIM} (sendto pays for an internal connect): {sendto_verdict} — {sendto_summary}"
    );

    if let Some(path) = &args.json {
        let mut env = environment::collect(Isolation::Shared, None, 1.0);
        env.duration_ms = started.elapsed().as_millis() as u64;
        let mut report = RunReport::new(env);
        record(&mut report, &result, config.rounds);
        if let Err(e) = std::fs::write(path, sockspec_reports::json::to_json(&report)) {
            eprintln!("error: cannot write `{}`: {e}", path.display());
            return ExitCode::from(exit::USAGE);
        }
    }
    ExitCode::from(exit::SUCCESS)
}

/// Puts the measurements, the ratios and the verdict on the claim into `report`, replacing
/// the claim's entry when the run already has one.
pub fn record(report: &mut RunReport, result: &bench::BenchResult, rounds: u32) {
    let ratios = result.ratios();
    let verdict = bench::verdict(&ratios);
    let summary = bench::ratio_summary(&ratios);
    for s in &result.series {
        let m = Measurement {
            unit: s.unit.to_string(),
            median: s.median(),
            min: s.min(),
            max: s.max(),
            samples: s.samples.len() as u32,
        };
        report.measurements.insert(s.name.clone(), m);
    }
    for (label, r) in &ratios {
        let m = Measurement {
            unit: "x".into(),
            median: *r,
            min: *r,
            max: *r,
            samples: rounds,
        };
        report.measurements.insert(format!("ratio {label}"), m);
    }
    let register =
        Register::load(&catalogue::builtin_root()).unwrap_or(Register { claims: Vec::new() });
    let entry = register.get(CLAIM);
    let verdict = ClaimVerdict {
        id: CLAIM.to_string(),
        source: entry.map(|c| c.source.clone()).unwrap_or_default(),
        section: entry.map(|c| c.section.clone()).unwrap_or_default(),
        claim: entry.map(|c| c.claim.clone()).unwrap_or_else(|| "Unix sockets are about twice as fast".into()),
        verdict: verdict.to_string(),
        explanation: Some(format!(
            "measured on loopback (median of {rounds} rounds): {summary}; holds when every ratio is at least 1.5, does not hold when none reaches 1.1"
        )),
        reason: None,
        cases: vec!["sockspec bench".to_string()],
    };
    put_claim(report, verdict);
    if let Some(r) = result.sendto_ratios() {
        let m = Measurement {
            unit: "x".into(),
            median: r.median(),
            min: r.min(),
            max: r.max(),
            samples: r.samples.len() as u32,
        };
        report.measurements.insert(r.name.clone(), m);
    }
    let (sendto_verdict, sendto_summary) = sendto_findings(result);
    let entry = register.get(SENDTO_CLAIM);
    put_claim(
        report,
        ClaimVerdict {
            id: SENDTO_CLAIM.to_string(),
            source: entry.map(|c| c.source.clone()).unwrap_or_default(),
            section: entry.map(|c| c.section.clone()).unwrap_or_default(),
            claim: entry.map(|c| c.claim.clone()).unwrap_or_else(|| {
                "Some kernels connect and disconnect internally on every sendto".into()
            }),
            verdict: sendto_verdict.to_string(),
            explanation: Some(format!(
                "measured on loopback: {sendto_summary}; Linux has no internal connect (an unconnected sendto looks the route up on each call, a connected socket reuses the one cached at connect), so it holds at most partly: partly when sendto is measurably slower (its extra work is at least {:.0}% of its time), does not hold otherwise",
                bench::SENDTO_NOISE_SHARE * 100.0
            )),
            reason: None,
            cases: vec!["sockspec bench".to_string()],
        },
    );
}

/// Replaces the claim's entry in `report`, or adds it.
fn put_claim(report: &mut RunReport, verdict: ClaimVerdict) {
    match report.claims.iter_mut().find(|c| c.id == verdict.id) {
        Some(slot) => *slot = verdict,
        None => report.claims.push(verdict),
    }
}

/// The verdict on the sendto claim and the figures behind it, as one line:
/// `sendto takes 1.12x the time of a connected send (median of 7 rounds, 1.08x..1.15x): …`.
pub fn sendto_findings(result: &bench::BenchResult) -> (&'static str, String) {
    let Some(r) = result.sendto_ratios() else {
        return ("undecided", "not measured".to_string());
    };
    let (to, connected) = (
        result.get("udp-sendto-ns").map_or(f64::NAN, |s| s.median()),
        result.get("udp-send-ns").map_or(f64::NAN, |s| s.median()),
    );
    let ratio = r.median();
    let summary = format!(
        "an unconnected sendto takes {ratio:.2}x the time of a send on a connected socket ({to:.0} ns vs {connected:.0} ns per 16-byte datagram; median of {} rounds, per-round ratios {:.2}x..{:.2}x), so connecting saves {:.0}% of the sendto time",
        r.samples.len(),
        r.min(),
        r.max(),
        bench::sendto_extra_share(ratio) * 100.0
    );
    (bench::sendto_verdict(Some(ratio)), summary)
}

/// A short benchmark for `sockspec run --bench`.
pub fn quick_config() -> BenchConfig {
    let d = BenchConfig::default();
    BenchConfig {
        rounds: 5,
        round_trips: d.round_trips / 5,
        bulk_bytes: d.bulk_bytes / 8,
        datagrams: d.datagrams / 5,
        sends: d.sends / 4,
    }
}
