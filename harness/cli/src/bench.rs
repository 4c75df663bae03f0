//! `sockspec bench`: Unix-domain vs Internet sockets on loopback, and the verdict on the
//! course's claim that Unix sockets are about twice as fast; unconnected `sendto` vs
//! connected `send`, and the verdict on the claim that sendto pays for an internal connect.

use std::path::PathBuf;
use std::process::ExitCode;

use sockspec_engine::bench::{self, BenchConfig};
use sockspec_engine::sandbox::Isolation;
use sockspec_reports::{ClaimVerdict, Interval, Measurement, RunReport};

use crate::claims::Register;
use crate::{catalogue, environment, exit};

/// The register entry this benchmark decides.
pub const CLAIM: &str = "UNIX-12";

/// The register entry the sendto/send measurement decides.
pub const SENDTO_CLAIM: &str = "UDP-CONNECT-09";

#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Rounds per measurement (median, min and max are reported; each ratio gets a
    /// distribution-free 95% interval on its median, which needs at least 6 rounds).
    #[arg(long, default_value_t = 21, value_parser = clap::value_parser!(u32).range(1..=1000))]
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
    for r in &ratios {
        if let Some(i) = bench::median_interval(&r.samples) {
            println!(
                "Unix is {:.2}x as fast as Internet sockets for {} ({:.0}% interval {:.2}–{:.2}, {} paired rounds)",
                i.median,
                r.name,
                i.confidence * 100.0,
                i.low,
                i.high,
                r.samples.len()
            );
        }
    }
    let decision = bench::verdict(&ratios);
    println!(
        "\nclaim {CLAIM} (Unix sockets about twice as fast): {} ({})\n  rule: {}",
        decision.verdict,
        decision.because,
        bench::rule()
    );
    let (sendto, sendto_summary) = sendto_findings(&result);
    println!(
        "claim {SENDTO_CLAIM} (sendto pays for an internal connect): {} ({}) — {sendto_summary}\n  rule: {}",
        sendto.verdict,
        sendto.because,
        bench::sendto_rule()
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
    let decision = bench::verdict(&ratios);
    let summary = bench::ratio_summary(&ratios);
    let measured = |s: &bench::Series, interval: bool| Measurement {
        unit: s.unit.to_string(),
        median: s.median(),
        min: s.min(),
        max: s.max(),
        samples: s.samples.len() as u32,
        interval: interval
            .then(|| bench::median_interval(&s.samples))
            .flatten()
            .map(|i| Interval {
                low: i.low,
                high: i.high,
                confidence: i.confidence,
            }),
    };
    for s in &result.series {
        report
            .measurements
            .insert(s.name.clone(), measured(s, false));
    }
    for r in &ratios {
        report
            .measurements
            .insert(format!("ratio {}", r.name), measured(r, true));
    }
    let register =
        Register::load(&catalogue::builtin_root()).unwrap_or(Register { claims: Vec::new() });
    let entry = register.get(CLAIM);
    let verdict = ClaimVerdict {
        id: CLAIM.to_string(),
        source: entry.map(|c| c.source.clone()).unwrap_or_default(),
        section: entry.map(|c| c.section.clone()).unwrap_or_default(),
        claim: entry
            .map(|c| c.claim.clone())
            .unwrap_or_else(|| "Unix sockets are about twice as fast".into()),
        verdict: decision.verdict.to_string(),
        explanation: Some(format!(
            "measured on loopback ({rounds} paired rounds): {summary}; {}; rule: {}",
            decision.because,
            bench::rule()
        )),
        reason: (decision.verdict == "undecided").then(|| decision.because.clone()),
        cases: vec!["sockspec bench".to_string()],
    };
    put_claim(report, verdict);
    if let Some(r) = result.sendto_ratios() {
        report
            .measurements
            .insert(r.name.clone(), measured(&r, true));
    }
    let (sendto, sendto_summary) = sendto_findings(result);
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
            verdict: sendto.verdict.to_string(),
            explanation: Some(format!(
                "measured on loopback: {sendto_summary}; {}; rule: {}",
                sendto.because,
                bench::sendto_rule()
            )),
            reason: (sendto.verdict == "undecided").then(|| sendto.because.clone()),
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
/// `an unconnected sendto takes 1.12x the time … (per-round ratios 1.08x..1.15x) …`.
pub fn sendto_findings(result: &bench::BenchResult) -> (bench::Decision, String) {
    let Some(r) = result.sendto_ratios() else {
        return (bench::sendto_verdict(None), "not measured".to_string());
    };
    let (to, connected) = (
        result.get("udp-sendto-ns").map_or(f64::NAN, |s| s.median()),
        result.get("udp-send-ns").map_or(f64::NAN, |s| s.median()),
    );
    let interval = bench::median_interval(&r.samples);
    let ratio = interval.map_or(f64::NAN, |i| i.median);
    let summary = format!(
        "an unconnected sendto takes {ratio:.2}x the time of a send on a connected socket ({to:.0} ns vs {connected:.0} ns per 16-byte datagram; median of {} paired rounds, per-round ratios {:.2}x..{:.2}x), so connecting saves {:.0}% of the sendto time",
        r.samples.len(),
        r.min(),
        r.max(),
        bench::sendto_extra_share(ratio) * 100.0
    );
    (bench::sendto_verdict(interval.as_ref()), summary)
}

/// A short benchmark for `sockspec run --bench`.
pub fn quick_config() -> BenchConfig {
    let d = BenchConfig::default();
    // 7 rounds: the fewest for which min..max is a 95% interval on a median (98.4%).
    BenchConfig {
        rounds: 7,
        round_trips: d.round_trips / 5,
        bulk_bytes: d.bulk_bytes / 8,
        datagrams: d.datagrams / 5,
        sends: d.sends / 4,
    }
}
