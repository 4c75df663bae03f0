//! The `run`, `check` and `claims` commands.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use libtest_mimic::Trial;
use std::sync::Arc;
use std::time::Instant;

use sockspec_engine::sandbox::{self, Isolation};
use sockspec_reports::{Outcome, RunReport};

use crate::catalogue::{self, TrialSpec};
use crate::claims::{self, Register};
use crate::environment;
use crate::exit;
use crate::report::Outputs;
use crate::runner::{self, RunOptions};
use sockspec_engine::properties::Property;
use sockspec_lang::Flavour;
use sockspec_reports::baseline::Baseline;

const RUN_EXAMPLES: &str = "\
Examples:
  sockspec run                               the whole built-in catalogue
  sockspec run stream-message partial-io     only trials whose name contains a filter
  sockspec run --exact 'stream-message/several-sends-can-be-read-by-one-recv[tcp4]'
  sockspec run --cases my-cases/ --json r.json
  sockspec run --list --format terse         names only, as cargo nextest expects
  sockspec run --html r.html --junit r.xml --json r.json --tap r.tap
  sockspec run --json - stream-message      the JSON on stdout (the progress goes to stderr)
  sockspec run --partition 2/4 --json shard2.json   then: sockspec report merge shard*.json
  sockspec run --baseline known.toml         listed failures become expected failures

Trials are named after the case file (relative to the catalogue, without .sock), with the
flavour in brackets for flavoured cases. Every case runs in its own process group, in a
private network namespace when the machine allows it (root, or unprivileged user
namespaces); otherwise cases that need isolation are skipped and say why.

The built-in catalogue is built into the binary; SOCKSPEC_CASES=DIR (or --cases DIR) runs
another one.
";

/// `run --help`'s epilogue: examples, then the exit codes every command shares.
pub fn run_help() -> String {
    format!("{}\n\n{}", RUN_EXAMPLES.trim_end(), exit::HELP)
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Run only trials whose name contains one of these strings.
    #[arg(value_name = "FILTER")]
    pub filters: Vec<String>,
    /// A folder of .sock files (searched recursively) or a single file, instead of the
    /// built-in catalogue (which is $SOCKSPEC_CASES when set, else the copy built into this
    /// binary).
    #[arg(long, value_name = "PATH")]
    pub cases: Option<PathBuf>,
    #[command(flatten)]
    pub outputs: Outputs,
    /// Known deviations (TOML): listed failures become expected failures.
    #[arg(long, value_name = "FILE", help_heading = "Baselines")]
    pub baseline: Option<PathBuf>,
    /// Write a baseline listing every failure of this run.
    #[arg(long, value_name = "FILE", help_heading = "Baselines")]
    pub write_baseline: Option<PathBuf>,
    /// Run only shard K of N (`2/4`, or `hash:2/4`, `count:2/4`); stable as cases are added.
    #[arg(long, value_name = "K/N")]
    pub partition: Option<String>,
    /// Also run a short `sockspec bench` and decide the course's "Unix sockets are about
    /// twice as fast" and "sendto connects internally" claims from it (timing is kept out of
    /// the default run).
    #[arg(long)]
    pub bench: bool,
    /// Generated inputs per property check (properties run with the built-in catalogue).
    #[arg(
        long,
        value_name = "N",
        env = "SOCKSPEC_PROP_INPUTS",
        default_value_t = 24
    )]
    pub prop_inputs: u32,
    /// Re-run a failing case up to N times; a later pass marks it flaky (all attempts kept).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub retries: u32,
    /// List the trials instead of running them.
    #[arg(long)]
    pub list: bool,
    /// Filters must match trial names exactly.
    #[arg(long)]
    pub exact: bool,
    /// Run only cases marked `ignore`.
    #[arg(long)]
    pub ignored: bool,
    /// Run cases marked `ignore` as well.
    #[arg(long)]
    pub include_ignored: bool,
    /// Skip trials whose name contains this (repeatable).
    #[arg(long, value_name = "FILTER")]
    pub skip: Vec<String>,
    /// How many cases run at once (default: the number of CPUs).
    #[arg(long, value_name = "N", value_parser = parse_threads)]
    pub test_threads: Option<usize>,
    /// Output style: one line per case, one character per case, or libtest JSON events.
    #[arg(long, value_enum, value_name = "pretty|terse|json")]
    pub format: Option<Format>,
    /// Alias for --format terse.
    #[arg(short, long)]
    pub quiet: bool,
    /// Multiply deadlines, `sleep` steps (they let the kernel settle) and the upper
    /// tolerance of timing windows — never lower bounds; raise it on slow or loaded machines.
    #[arg(long, value_name = "X", env = "SOCKSPEC_TIME_SCALE", default_value_t = 1.0, value_parser = parse_scale)]
    pub time_scale: f64,
    /// How to isolate cases: the strongest available, or force one.
    #[arg(long, value_enum, default_value = "auto")]
    pub isolation: IsolationArg,
    /// A label for this run in merged reports (default: the kernel release).
    #[arg(long)]
    pub label: Option<String>,
    /// Colour the output (auto: on a terminal, unless NO_COLOR is set).
    #[arg(long, value_enum, value_name = "auto|always|never")]
    pub color: Option<ColorArg>,
    /// Also print, after the summary: the differential tables (`differentials`), every claim
    /// that does not (fully) hold (`claims`). Reports always hold both.
    #[arg(long, value_enum, value_delimiter = ',', value_name = "WHAT")]
    pub show: Vec<Show>,
    /// Accepted for `cargo test` compatibility; output is never captured.
    #[arg(long, hide = true)]
    pub nocapture: bool,
    /// Accepted for `cargo test` compatibility.
    #[arg(long, hide = true)]
    pub show_output: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Pretty,
    Terse,
    Json,
}

/// What `--show` adds to the terminal summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Show {
    Differentials,
    Claims,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorArg {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum IsolationArg {
    Auto,
    Netns,
    Userns,
    Shared,
}

/// Zero workers would never run anything: libtest-mimic waits for them forever.
fn parse_threads(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("at least one thread is needed to run cases".to_string()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("`{text}` is not a whole number")),
    }
}

pub(crate) fn parse_scale(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(x) if x.is_finite() && (1.0..=100.0).contains(&x) => Ok(x),
        Ok(_) => Err("the time scale must be between 1 and 100".to_string()),
        Err(_) => Err(format!("`{text}` is not a number")),
    }
}

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

/// Loads the catalogue at `cases` (the built-in one when `None`). With `exact` names that
/// each name one file of the catalogue (`theme/case` or `theme/case[flavour]`), only those
/// files are read and parsed: `cargo nextest run` starts one process per trial, and parsing
/// the whole catalogue in each of them made it four times slower than `cargo test`.
fn load(cases: Option<&Path>, exact: &[String]) -> Result<Loaded, String> {
    let cases_given = cases.is_some();
    let root = cases
        .map(Path::to_path_buf)
        .unwrap_or_else(catalogue::builtin_root);
    let files = match exact_files(&root, exact) {
        Some(files) => files,
        None => catalogue::discover(&root).map_err(|e| error_text(&e))?,
    };
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

/// The files that exact trial names point to, when every name points to an existing one
/// (or to a built-in property); `None` means the whole catalogue must be read.
fn exact_files(root: &Path, names: &[String]) -> Option<Vec<PathBuf>> {
    if names.is_empty() || !root.is_dir() {
        return None;
    }
    let mut files = Vec::new();
    for name in names {
        if name.starts_with("properties/") {
            continue;
        }
        let rel = name.split_once('[').map_or(name.as_str(), |(rel, _)| rel);
        let path = root.join(format!("{rel}.sock"));
        let inside = !rel.is_empty() && !rel.split('/').any(|p| p == ".." || p.is_empty());
        if !inside || !path.is_file() {
            return None;
        }
        if !files.contains(&path) {
            files.push(path);
        }
    }
    Some(files)
}

fn error_text(e: &dyn std::error::Error) -> String {
    sockspec_engine::child::error_chain(e)
}

/// Whether a trial named `name` is selected by the positional filters and `--skip`, with
/// libtest's rules: substrings, or whole names under `--exact`.
fn selected(name: &str, args: &RunArgs) -> bool {
    let matches = |f: &String| {
        if args.exact {
            name == f
        } else {
            name.contains(f.as_str())
        }
    };
    (args.filters.is_empty() || args.filters.iter().any(matches)) && !args.skip.iter().any(matches)
}

/// libtest-mimic filters by one substring, sockspec by several. Trials that sockspec's own
/// selection leaves out are handed to libtest with this kind, and libtest is told to skip
/// the kind, so its `filtered out` count is true.
const LEFT_OUT: &str = "sockspec-left-out";

fn libtest_args(args: &RunArgs) -> libtest_mimic::Arguments {
    libtest_mimic::Arguments {
        include_ignored: args.include_ignored,
        ignored: args.ignored,
        list: args.list,
        quiet: args.quiet && args.format.is_none(),
        test_threads: args.test_threads,
        skip: vec![format!("[{LEFT_OUT}] ")],
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
    match plan(&args) {
        Ok(plan) if args.list => list(&plan),
        Ok(plan) => match execute(plan) {
            Ok(code) => ExitCode::from(code),
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(exit::USAGE)
            }
        },
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(exit::USAGE)
        }
    }
}

/// `sockspec run --list`: the selected trials, one `name: test` line each as libtest lists
/// them (only the ignored ones under `--ignored`), by libtest's own filter rules.
fn list(plan: &RunPlan) -> ExitCode {
    let names = plan
        .trials
        .iter()
        .map(|t| (&t.name, t.case.scenario.meta.ignore.is_some()))
        .chain(plan.properties.iter().map(|(name, _, _)| (name, false)));
    let mut text = String::new();
    for (name, ignored) in names {
        let trial = Trial::test(name.clone(), || Ok(())).with_ignored_flag(ignored);
        let trial = match &plan.kept {
            Some(kept) if !kept.contains(name.as_str()) => trial.with_kind(LEFT_OUT),
            _ => trial,
        };
        if !plan.libtest.is_filtered_out(&trial) {
            text.push_str(name);
            text.push_str(": test\n");
        }
    }
    match crate::output::stdout(&text) {
        Ok(()) => ExitCode::from(exit::SUCCESS),
        Err(e) => {
            eprintln!("error: cannot write the list to stdout: {e}");
            ExitCode::from(exit::USAGE)
        }
    }
}

/// Everything `sockspec run` decided from its arguments before running anything.
fn plan(args: &RunArgs) -> Result<RunPlan, String> {
    args.outputs.check()?;
    // The whole catalogue, even for `--exact`, so the `filtered out` count is the true one.
    let loaded = load(args.cases.as_deref(), &[])?;
    let mut kept: Vec<String> = loaded
        .trials
        .iter()
        .map(|t| &t.name)
        .chain(loaded.properties.iter().map(|p| &p.0))
        .filter(|name| selected(name, args))
        .cloned()
        .collect();
    if kept.is_empty() {
        return Err(format!(
            "no case matches {:?}; `sockspec run --list` shows the names",
            args.filters
        ));
    }
    if let Some(text) = &args.partition {
        let partition = sockspec_reports::partition::parse_partition(text)
            .map_err(|e| format!("--partition {text}: {e}"))?;
        kept = partition
            .select(&kept)
            .into_iter()
            .map(str::to_string)
            .collect();
    }
    let baseline = match &args.baseline {
        None => None,
        Some(path) => Some(
            std::fs::read_to_string(path)
                .map_err(|e| e.to_string())
                .and_then(|t| {
                    sockspec_reports::baseline::parse_baseline(&t).map_err(|e| e.to_string())
                })
                .map_err(|e| format!("baseline `{}`: {e}", path.display()))?,
        ),
    };
    let exe = std::env::current_exe()
        .map_err(|e| format!("cannot find the sockspec binary to run cases with: {e}"))?;
    let human_to_stderr = args.outputs.uses_stdout();
    Ok(RunPlan {
        exe,
        trials: loaded.trials,
        kept: Some(kept.into_iter().collect()),
        register: loaded.register,
        libtest: libtest_args(args),
        time_scale: args.time_scale,
        isolation: match args.isolation {
            IsolationArg::Auto => None,
            IsolationArg::Netns => Some(Isolation::Netns),
            IsolationArg::Userns => Some(Isolation::UserNetns),
            IsolationArg::Shared => Some(Isolation::Shared),
        },
        label: args.label.clone(),
        outputs: args.outputs.clone(),
        human: if args.format == Some(Format::Json) {
            Human::Silent
        } else if human_to_stderr {
            Human::Stderr
        } else {
            Human::Stdout
        },
        show: args.show.clone(),
        baseline,
        write_baseline: args.write_baseline.clone(),
        retries: args.retries,
        properties: loaded.properties,
        prop_inputs: args.prop_inputs,
        bench: args.bench,
    })
}

/// Where the human-readable summary goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Human {
    Stdout,
    /// A report was asked for on stdout (`--json -`).
    Stderr,
    /// Stdout carries libtest's JSON events only.
    Silent,
}

impl Human {
    pub fn say(self, text: &str) {
        match self {
            Human::Stdout => {
                let _ = crate::output::stdout(text);
            }
            Human::Stderr => eprint!("{text}"),
            Human::Silent => {}
        }
    }
}

/// Everything one run needs, however it was started (`sockspec run` or `cargo test`).
pub struct RunPlan {
    pub exe: PathBuf,
    pub trials: Vec<TrialSpec>,
    /// The names sockspec's own selection keeps; `None` when libtest's arguments select
    /// (the `cargo test` target).
    pub kept: Option<HashSet<String>>,
    pub register: Register,
    pub libtest: libtest_mimic::Arguments,
    pub time_scale: f64,
    pub isolation: Option<Isolation>,
    pub label: Option<String>,
    pub outputs: Outputs,
    pub human: Human,
    /// What the terminal shows beyond the summary (`--show`).
    pub show: Vec<Show>,
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
    runner::sweep_stale_dirs();
    let choice = choose_isolation(&plan)?;
    let (isolation, reason) = (choice.mode, choice.reason);
    let mut env = environment::collect(isolation, reason.clone(), plan.time_scale);
    env.isolation_checks = choice.checks;
    if let Some(label) = &plan.label {
        env.label = label.clone();
    }
    let mut report = RunReport::new(env);
    let opts = Arc::new(RunOptions {
        exe: plan.exe.clone(),
        isolation,
        isolation_reason: reason,
        time_scale: plan.time_scale,
        ipv6: environment::ipv6_available(),
        capabilities: environment::capabilities(),
        root: nix::unistd::geteuid().is_root(),
        retries: plan.retries,
        known: known_deviations(&plan, &report),
    });
    let differential = differential_cases(&plan.trials);
    let started = Instant::now();
    let _signals = interrupt_guard();
    let terminal = crate::terminal::Terminal::open(plan.human, &plan.libtest)?;
    let (conclusion, complete) = run_trials(&plan, &opts, terminal.libtest_args());
    report.environment.duration_ms = started.elapsed().as_millis() as u64;
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
    let unexpected = applied.map(|a| a.unexpected_passes).unwrap_or_default();
    let shown = sockspec_reports::terminal::Shown {
        differentials: plan.show.contains(&Show::Differentials),
        claims: plan.show.contains(&Show::Claims),
    };
    let mut text = sockspec_reports::terminal::render_summary(&report, terminal.color(), shown);
    for pass in &unexpected {
        text.push_str(&format!(
            "unexpected pass: `{}` is listed in the baseline (entry {}: {}) but passed; remove the entry\n",
            pass.case, pass.entry, pass.note
        ));
    }
    let written = crate::report::write_all(&report, &plan.outputs);
    terminal.finish(&text);
    written?;
    if let Some(path) = &plan.write_baseline {
        std::fs::write(path, sockspec_reports::baseline::write_baseline(&report))
            .map_err(|e| format!("cannot write `{}`: {e}", path.display()))?;
    }
    let _ = conclusion;
    Ok(exit_code(&report))
}

/// The isolation level the run uses, why it is not full isolation when it is not, and what
/// the probe verified.
fn choose_isolation(plan: &RunPlan) -> Result<sandbox::Choice, String> {
    match plan.isolation {
        Some(Isolation::Shared) => Ok(sandbox::Choice {
            mode: Isolation::Shared,
            reason: None,
            checks: String::new(),
        }),
        Some(mode) => match sandbox::probe(&plan.exe, mode) {
            Ok(checks) => Ok(sandbox::Choice {
                mode,
                reason: None,
                checks,
            }),
            Err(why) => Err(format!(
                "isolation `{}` is not available on this machine: {why}",
                mode.as_str()
            )),
        },
        None => Ok(sandbox::choose(&plan.exe)),
    }
}

/// Baseline entries that apply to this platform and kernel: (case glob, note).
fn known_deviations(plan: &RunPlan, report: &RunReport) -> Vec<(String, String)> {
    plan.baseline
        .as_ref()
        .map(|b| {
            b.applicable(report)
                .into_iter()
                .map(|(_, d)| (d.case.clone(), d.note()))
                .collect()
        })
        .unwrap_or_default()
}

/// The differential cases of the run: (case, title), each once.
fn differential_cases(trials: &[TrialSpec]) -> Vec<(String, String)> {
    let mut differential: Vec<(String, String)> = trials
        .iter()
        .filter(|t| t.case.scenario.meta.differential)
        .map(|t| (t.case.rel.clone(), t.case.scenario.meta.title.clone()))
        .collect();
    differential.dedup();
    differential
}

/// Runs every trial under libtest and gathers one result per trial it counts.
fn run_trials(
    plan: &RunPlan,
    opts: &Arc<RunOptions>,
    libtest: &libtest_mimic::Arguments,
) -> (libtest_mimic::Conclusion, runner::Complete) {
    let results = runner::Results::default();
    let left_out = |trial: Trial, name: &str| match &plan.kept {
        Some(kept) if !kept.contains(name) => trial.with_kind(LEFT_OUT),
        _ => trial,
    };
    // What the report must hold is decided before libtest runs, by libtest's own filter and
    // ignore rules, so a trial libtest counts can never be missing from the report.
    let mut all_trials = Vec::new();
    let mut expected = Vec::new();
    let cases = runner::trials(plan.trials.clone(), opts, &results);
    let properties = runner::property_trials(plan.properties.clone(), plan.prop_inputs, &results)
        .into_iter()
        .map(|(trial, blank)| (trial, blank, None));
    for (trial, blank, ignore) in cases.into_iter().chain(properties) {
        let name = blank.name.clone();
        let trial = left_out(trial, &name);
        expected.extend(runner::expected(&trial, blank, ignore.as_deref(), libtest));
        all_trials.push(trial);
    }
    let conclusion = libtest_mimic::run(libtest, all_trials);
    (conclusion, results.complete(expected))
}

/// 1 when a case failed (and is not a known deviation), else 3 when one could not be judged.
fn exit_code(report: &RunReport) -> u8 {
    let failed = report
        .cases
        .iter()
        .filter(|c| c.outcome == Outcome::Fail && c.known_deviation.is_none())
        .count();
    if failed > 0 {
        exit::FAILURES
    } else if report.count(Outcome::Error) > 0 {
        exit::ERRORS
    } else {
        exit::SUCCESS
    }
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
    let loaded = match load(cases.as_deref(), &[]) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(exit::USAGE);
        }
    };
    let text = if markdown {
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
        crate::claims::index_markdown(&loaded.register, &citations)
    } else {
        claims_text(&loaded)
    };
    match crate::output::stdout(&text) {
        Ok(()) => ExitCode::from(exit::SUCCESS),
        Err(e) => {
            eprintln!("error: cannot write the claims to stdout: {e}");
            ExitCode::from(exit::USAGE)
        }
    }
}

/// The register as `sockspec claims` lists it: each claim, its source and deciding cases.
fn claims_text(loaded: &Loaded) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    for claim in &loaded.register.claims {
        let deciding: Vec<&str> = loaded
            .trials
            .iter()
            .filter(|t| t.case.scenario.meta.claims.iter().any(|c| c.id == claim.id))
            .map(|t| t.name.as_str())
            .collect();
        let _ = writeln!(
            out,
            "{:<16} [{}] {}",
            claim.id, claim.expect_on_linux, claim.claim
        );
        let _ = writeln!(
            out,
            "{:<16} source: {} > {}",
            "", claim.source, claim.section
        );
        if deciding.is_empty() {
            let _ = writeln!(out, "{:<16} decided by: (no case yet)", "");
        } else {
            let _ = writeln!(out, "{:<16} decided by: {}", "", deciding.join(", "));
        }
    }
    out
}

/// The `cargo test` target: the whole built-in catalogue as libtest trials, selected by
/// libtest's own arguments (`cargo test --test catalogue -- FILTER`, or nextest's
/// `--exact NAME`, which reads only the named file).
pub fn catalogue_test_main(exe: &str) -> ExitCode {
    let libtest = libtest_mimic::Arguments::from_args();
    let exact: Vec<String> = match (&libtest.filter, libtest.exact) {
        (Some(name), true) => vec![name.clone()],
        _ => Vec::new(),
    };
    let loaded = match load(None, &exact) {
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
        kept: None,
        register: loaded.register,
        time_scale: scale,
        isolation: None,
        label: None,
        outputs: Outputs::default(),
        human: if libtest.format == Some(libtest_mimic::FormatSetting::Json) {
            Human::Silent
        } else {
            Human::Stdout
        },
        show: Vec::new(),
        baseline: None,
        write_baseline: None,
        retries: 0,
        properties: loaded.properties,
        prop_inputs: std::env::var("SOCKSPEC_PROP_INPUTS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(24),
        bench: false,
        libtest,
    };
    if plan.libtest.list {
        return list(&plan);
    }
    match execute(plan) {
        Ok(exit::SUCCESS) => ExitCode::SUCCESS,
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(exit::USAGE)
        }
    }
}
