//! The `run`, `check` and `claims` commands.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use sockspec_engine::sandbox::{self, Isolation};
use sockspec_reports::{Outcome, RunReport};

use crate::catalogue::{self, TrialSpec};
use crate::claims::{self, Register};
use crate::cli::{ColorArg, Format, IsolationArg, RunArgs};
use crate::environment;
use crate::exit;
use crate::report::Outputs;
use crate::runner::{self, RunOptions};
use sockspec_engine::properties::Property;
use sockspec_lang::Flavour;
use sockspec_reports::baseline::Baseline;

/// The catalogue folder for `--cases PATH`: PATH itself, or the nearest parent holding a
/// claims register, so a sub-folder still gets its claims.
fn register_root(path: &Path) -> PathBuf {
    let start = if path.is_file() {
        path.parent().unwrap_or(Path::new("."))
    } else {
        path
    };
    let mut dir = Some(start);
    while let Some(d) = dir {
        if d.join("claims.toml").exists() {
            return d.to_path_buf();
        }
        dir = d.parent();
    }
    start.to_path_buf()
}

struct Loaded {
    trials: Vec<TrialSpec>,
    register: Register,
    /// Property checks: only with the built-in catalogue.
    properties: Vec<(String, Property, Flavour)>,
}

fn load(cases: Option<&Path>) -> Result<Loaded, String> {
    let cases_given = cases.is_some();
    let root = cases
        .map(Path::to_path_buf)
        .unwrap_or_else(catalogue::builtin_root);
    let files = catalogue::discover(&root).map_err(|e| error_text(&e))?;
    let register = Register::load(&register_root(&root)).map_err(|e| error_text(&e))?;
    let cases = catalogue::load(&root, &files, &register).map_err(|e| error_text(&e))?;
    let properties = if cases_given {
        Vec::new()
    } else {
        runner::property_names()
    };
    Ok(Loaded {
        trials: catalogue::expand(&cases),
        register,
        properties,
    })
}

fn error_text(e: &dyn std::error::Error) -> String {
    sockspec_engine::child::error_chain(e)
}

fn select(trials: Vec<TrialSpec>, args: &RunArgs) -> Vec<TrialSpec> {
    if args.filters.is_empty() {
        return trials;
    }
    trials
        .into_iter()
        .filter(|t| {
            args.filters.iter().any(|f| {
                if args.exact {
                    t.name == *f
                } else {
                    t.name.contains(f.as_str())
                }
            })
        })
        .collect()
}

fn libtest_args(args: &RunArgs) -> libtest_mimic::Arguments {
    libtest_mimic::Arguments {
        include_ignored: args.include_ignored,
        ignored: args.ignored,
        list: args.list,
        quiet: args.quiet && args.format.is_none(),
        test_threads: args.test_threads,
        skip: args.skip.clone(),
        format: args.format.map(|f| match f {
            Format::Pretty => libtest_mimic::FormatSetting::Pretty,
            Format::Terse => libtest_mimic::FormatSetting::Terse,
            Format::Json => libtest_mimic::FormatSetting::Json,
        }),
        color: args.color.map(|c| match c {
            ColorArg::Auto => libtest_mimic::ColorSetting::Auto,
            ColorArg::Always => libtest_mimic::ColorSetting::Always,
            ColorArg::Never => libtest_mimic::ColorSetting::Never,
        }),
        ..Default::default()
    }
}

/// `sockspec run`.
pub fn run(args: RunArgs) -> ExitCode {
    let loaded = match load(args.cases.as_deref()) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(exit::USAGE);
        }
    };
    let mut trials = select(loaded.trials, &args);
    let mut properties: Vec<_> = loaded
        .properties
        .into_iter()
        .filter(|(name, _, _)| {
            args.filters.is_empty()
                || args.filters.iter().any(|f| {
                    if args.exact {
                        name == f
                    } else {
                        name.contains(f.as_str())
                    }
                })
        })
        .collect();
    if trials.is_empty() && properties.is_empty() {
        eprintln!(
            "error: no case matches {:?}; `sockspec run --list` shows the names",
            args.filters
        );
        return ExitCode::from(exit::USAGE);
    }
    if let Some(text) = &args.partition {
        let partition = match sockspec_reports::partition::parse_partition(text) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("error: --partition {text}: {e}");
                return ExitCode::from(exit::USAGE);
            }
        };
        let names: Vec<String> = trials.iter().map(|t| t.name.clone()).collect();
        let keep: std::collections::HashSet<String> = partition
            .select(&names)
            .into_iter()
            .map(str::to_string)
            .collect();
        trials.retain(|t| keep.contains(&t.name));
        let names: Vec<String> = properties.iter().map(|p| p.0.clone()).collect();
        let keep: std::collections::HashSet<String> = partition
            .select(&names)
            .into_iter()
            .map(str::to_string)
            .collect();
        properties.retain(|p| keep.contains(&p.0));
    }
    let baseline = match &args.baseline {
        None => None,
        Some(path) => match std::fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|t| sockspec_reports::baseline::parse_baseline(&t).map_err(|e| e.to_string()))
        {
            Ok(b) => Some(b),
            Err(e) => {
                eprintln!("error: baseline `{}`: {e}", path.display());
                return ExitCode::from(exit::USAGE);
            }
        },
    };
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => {
            eprintln!("error: cannot find the sockspec binary to run cases with: {e}");
            return ExitCode::from(exit::USAGE);
        }
    };
    let forced = match args.isolation {
        IsolationArg::Auto => None,
        IsolationArg::Netns => Some(Isolation::Netns),
        IsolationArg::Userns => Some(Isolation::UserNetns),
        IsolationArg::Shared => Some(Isolation::Shared),
    };
    let outcome = execute(RunPlan {
        exe,
        trials,
        register: loaded.register,
        libtest: libtest_args(&args),
        time_scale: args.time_scale,
        isolation: forced,
        label: args.label.clone(),
        outputs: Outputs {
            json: args.json.clone(),
            html: args.html.clone(),
            junit: args.junit.clone(),
            tap: args.tap.clone(),
            ktap: args.ktap.clone(),
            markdown: args.markdown.clone(),
        },
        quiet_summary: args.format == Some(Format::Json),
        baseline,
        write_baseline: args.write_baseline.clone(),
        retries: args.retries,
        properties,
        prop_inputs: args.prop_inputs,
        bench: args.bench,
    });
    match outcome {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(exit::USAGE)
        }
    }
}

/// Everything one run needs, however it was started (`sockspec run` or `cargo test`).
pub struct RunPlan {
    pub exe: PathBuf,
    pub trials: Vec<TrialSpec>,
    pub register: Register,
    pub libtest: libtest_mimic::Arguments,
    pub time_scale: f64,
    pub isolation: Option<Isolation>,
    pub label: Option<String>,
    pub outputs: Outputs,
    /// Keep stdout for libtest's JSON events only.
    pub quiet_summary: bool,
    pub baseline: Option<Baseline>,
    pub write_baseline: Option<PathBuf>,
    pub retries: u32,
    pub properties: Vec<(String, Property, Flavour)>,
    pub prop_inputs: u32,
    /// Run the short benchmark after the cases (`--bench`).
    pub bench: bool,
}

/// Runs the trials and returns the exit code.
pub fn execute(plan: RunPlan) -> Result<u8, String> {
    if plan.libtest.list {
        let conclusion =
            libtest_mimic::run(&plan.libtest, stub_trials(&plan.trials, &plan.properties));
        return Ok(if conclusion.has_failed() {
            exit::FAILURES
        } else {
            exit::SUCCESS
        });
    }
    runner::sweep_stale_dirs();
    let choice = match plan.isolation {
        Some(Isolation::Shared) => sandbox::Choice {
            mode: Isolation::Shared,
            reason: None,
            checks: String::new(),
        },
        Some(mode) => match sandbox::probe(&plan.exe, mode) {
            Ok(checks) => sandbox::Choice {
                mode,
                reason: None,
                checks,
            },
            Err(why) => {
                return Err(format!(
                    "isolation `{}` is not available on this machine: {why}",
                    mode.as_str()
                ))
            }
        },
        None => sandbox::choose(&plan.exe),
    };
    let (isolation, reason) = (choice.mode, choice.reason);
    let mut env = environment::collect(isolation, reason.clone(), plan.time_scale);
    env.isolation_checks = choice.checks;
    if let Some(label) = plan.label {
        env.label = label;
    }
    let mut report = RunReport::new(env);
    let known = plan
        .baseline
        .as_ref()
        .map(|b| {
            b.applicable(&report)
                .into_iter()
                .map(|(_, d)| (d.case.clone(), d.note()))
                .collect()
        })
        .unwrap_or_default();
    let opts = Arc::new(RunOptions {
        exe: plan.exe.clone(),
        isolation,
        isolation_reason: reason.clone(),
        time_scale: plan.time_scale,
        ipv6: environment::ipv6_available(),
        capabilities: environment::capabilities(),
        root: nix::unistd::geteuid().is_root(),
        retries: plan.retries,
        known,
    });
    let started = Instant::now();
    let results = runner::Results::default();
    let _signals = interrupt_guard();
    let mut differential: Vec<(String, String)> = plan
        .trials
        .iter()
        .filter(|t| t.case.scenario.meta.differential)
        .map(|t| (t.case.rel.clone(), t.case.scenario.meta.title.clone()))
        .collect();
    differential.dedup();
    // What the report must hold is decided before libtest runs, by libtest's own filter and
    // ignore rules, so a trial libtest counts can never be missing from the report.
    let mut all_trials = Vec::new();
    let mut expected = Vec::new();
    let cases = runner::trials(plan.trials, &opts, &results);
    let properties = runner::property_trials(plan.properties, plan.prop_inputs, &results)
        .into_iter()
        .map(|(trial, blank)| (trial, blank, None));
    for (trial, blank, ignore) in cases.into_iter().chain(properties) {
        expected.extend(runner::expected(
            &trial,
            blank,
            ignore.as_deref(),
            &plan.libtest,
        ));
        all_trials.push(trial);
    }
    let conclusion = libtest_mimic::run(&plan.libtest, all_trials);
    report.environment.duration_ms = started.elapsed().as_millis() as u64;
    let complete = results.complete(expected);
    if !complete.lost.is_empty() {
        eprintln!(
            "error: the harness lost the result of {} trial(s), reported as errors: {}",
            complete.lost.len(),
            complete.lost.join(", ")
        );
    }
    report.cases = complete.cases;
    report.claims = claims::verdicts(&plan.register, &report.cases);
    report.properties = sockspec_reports::properties::property_table(&report.cases);
    report.differentials = sockspec_reports::differential::tables(&report.cases, &differential);
    if plan.bench {
        let config = crate::bench::quick_config();
        match sockspec_engine::bench::run(&config) {
            Ok(result) => crate::bench::record(&mut report, &result, config.rounds),
            Err(e) => eprintln!("warning: the benchmark could not run: {e}"),
        }
    }
    let applied = plan
        .baseline
        .as_ref()
        .map(|b| sockspec_reports::baseline::apply(&mut report, b));
    if !plan.quiet_summary {
        print!(
            "{}",
            sockspec_reports::differential::render_text(&report.differentials)
        );
        print!("{}", summary(&report));
        for pass in applied.iter().flat_map(|a| &a.unexpected_passes) {
            println!(
                "unexpected pass: `{}` is listed in the baseline (entry {}: {}) but passed; remove the entry",
                pass.case, pass.entry, pass.note
            );
        }
    }
    crate::report::write_all(&report, &plan.outputs)?;
    if let Some(path) = &plan.write_baseline {
        std::fs::write(path, sockspec_reports::baseline::write_baseline(&report))
            .map_err(|e| format!("cannot write `{}`: {e}", path.display()))?;
    }
    let _ = conclusion;
    let failed = report
        .cases
        .iter()
        .filter(|c| c.outcome == Outcome::Fail && c.known_deviation.is_none())
        .count();
    Ok(if failed > 0 {
        exit::FAILURES
    } else if report.count(Outcome::Error) > 0 {
        exit::ERRORS
    } else {
        exit::SUCCESS
    })
}

/// Trials that only carry names, for `--list`.
fn stub_trials(
    specs: &[TrialSpec],
    properties: &[(String, Property, Flavour)],
) -> Vec<libtest_mimic::Trial> {
    let cases = specs.iter().map(|s| {
        libtest_mimic::Trial::test(s.name.clone(), || Ok(()))
            .with_ignored_flag(s.case.scenario.meta.ignore.is_some())
    });
    let props = properties
        .iter()
        .map(|(name, _, _)| libtest_mimic::Trial::test(name.clone(), || Ok(())));
    cases.chain(props).collect()
}

/// The lines printed after libtest's own summary: the claims.
fn summary(report: &RunReport) -> String {
    if report.claims.is_empty() {
        return String::new();
    }
    let count = |v: &str| report.claims.iter().filter(|c| c.verdict == v).count();
    let mut out = format!(
        "\nclaims: {} hold, {} do not hold, {} partly, {} undecided (of {})\n",
        count("holds"),
        count("does-not-hold"),
        count("partly"),
        count("undecided"),
        report.claims.len()
    );
    for c in report
        .claims
        .iter()
        .filter(|c| c.verdict == "does-not-hold" || c.verdict == "partly")
    {
        out.push_str(&format!("  {:<14} {:<13} {}\n", c.id, c.verdict, c.claim));
        // A claim decided by measuring (`--bench`) shows its figures: no case explains it.
        if c.cases.iter().any(|k| k == "sockspec bench") {
            if let Some(e) = &c.explanation {
                out.push_str(&format!("  {:<28} {e}\n", ""));
            }
        }
    }
    out
}

/// Blocks SIGINT/SIGTERM/SIGHUP in every thread and handles them on one: kill every case
/// process group, remove their directories, exit 130.
fn interrupt_guard() -> Option<std::thread::JoinHandle<()>> {
    use nix::sys::signal::{SigSet, Signal};
    let mut set = SigSet::empty();
    for sig in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        set.add(sig);
    }
    set.thread_block().ok()?;
    std::thread::Builder::new()
        .name("sockspec-signals".into())
        .spawn(move || {
            if let Ok(sig) = set.wait() {
                runner::clean_up_interrupted();
                eprintln!("\nsockspec: interrupted by {sig}; every case process was killed");
                std::process::exit(i32::from(exit::INTERRUPTED));
            }
        })
        .ok()
}

/// `sockspec check PATH…`.
pub fn check(paths: &[PathBuf]) -> ExitCode {
    let mut bad = false;
    let mut count = 0;
    for path in paths {
        let files = match catalogue::discover(path) {
            Ok(f) => f,
            Err(e) => {
                eprintln!("error: {}", error_text(&e));
                bad = true;
                continue;
            }
        };
        let register =
            Register::load(&register_root(path)).unwrap_or(Register { claims: Vec::new() });
        count += files.len();
        if let Err(e) = catalogue::load(path, &files, &register) {
            eprintln!("{}", error_text(&e));
            bad = true;
        }
    }
    if bad {
        ExitCode::from(exit::USAGE)
    } else {
        println!("{count} case file(s) are well formed");
        ExitCode::from(exit::SUCCESS)
    }
}

/// `sockspec claims`.
pub fn list_claims(cases: Option<PathBuf>, markdown: bool) -> ExitCode {
    let loaded = match load(cases.as_deref()) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(exit::USAGE);
        }
    };
    if markdown {
        let mut citations: std::collections::BTreeMap<String, Vec<crate::claims::Citation>> =
            std::collections::BTreeMap::new();
        let mut files: Vec<&crate::catalogue::CaseFile> = Vec::new();
        for t in &loaded.trials {
            if !files.iter().any(|f| f.rel == t.case.rel) {
                files.push(&t.case);
            }
        }
        for f in files {
            for c in &f.scenario.meta.claims {
                let stance = match c.stance {
                    sockspec_lang::ast::Stance::Holds => "holds",
                    sockspec_lang::ast::Stance::Refutes => "refutes",
                    sockspec_lang::ast::Stance::Partly => "partly",
                };
                citations
                    .entry(c.id.clone())
                    .or_default()
                    .push(crate::claims::Citation {
                        rel: f.rel.clone(),
                        stance: stance.to_string(),
                    });
            }
        }
        for id in [crate::bench::CLAIM, crate::bench::SENDTO_CLAIM] {
            citations
                .entry(id.to_string())
                .or_default()
                .push(crate::claims::Citation {
                    rel: "sockspec bench".to_string(),
                    stance: crate::claims::MEASURED.to_string(),
                });
        }
        print!(
            "{}",
            crate::claims::index_markdown(&loaded.register, &citations)
        );
        return ExitCode::from(exit::SUCCESS);
    }
    for claim in &loaded.register.claims {
        let deciding: Vec<&str> = loaded
            .trials
            .iter()
            .filter(|t| t.case.scenario.meta.claims.iter().any(|c| c.id == claim.id))
            .map(|t| t.name.as_str())
            .collect();
        println!(
            "{:<16} [{}] {}",
            claim.id, claim.expect_on_linux, claim.claim
        );
        println!("{:<16} source: {} > {}", "", claim.source, claim.section);
        if deciding.is_empty() {
            println!("{:<16} decided by: (no case yet)", "");
        } else {
            println!("{:<16} decided by: {}", "", deciding.join(", "));
        }
    }
    ExitCode::from(exit::SUCCESS)
}

/// The `cargo test` target: the whole built-in catalogue as libtest trials.
pub fn catalogue_test_main(exe: &str) -> ExitCode {
    let libtest = libtest_mimic::Arguments::from_args();
    let loaded = match load(None) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(exit::USAGE);
        }
    };
    let scale = std::env::var("SOCKSPEC_TIME_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    let plan = RunPlan {
        exe: PathBuf::from(exe),
        trials: loaded.trials,
        register: loaded.register,
        time_scale: scale,
        isolation: None,
        label: None,
        outputs: Outputs::default(),
        baseline: None,
        write_baseline: None,
        retries: 0,
        properties: loaded.properties,
        prop_inputs: std::env::var("SOCKSPEC_PROP_INPUTS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(24),
        bench: false,
        quiet_summary: libtest.format == Some(libtest_mimic::FormatSetting::Json) || libtest.list,
        libtest,
    };
    match execute(plan) {
        Ok(exit::SUCCESS) => ExitCode::SUCCESS,
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(exit::USAGE)
        }
    }
}
