//! `sockspec grade`: grade server submissions against a suite and write the per-submission
//! and class results (JSON, HTML, LMS formats, JUnit).
//!
//! Exit codes: 0 when every submission was graded (a low score is not an error of the
//! tool), 2 for usage errors (bad suite, missing directory, bad partition), 3 when at least
//! one case could not be judged (sandbox or scenario trouble: re-grade), 4 when the
//! reference solution lost a scored point (the suite or the grader is wrong for this class).

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Instant;

use clap::Args;
use sockspec_engine::grade::manifest::Protocol;
use sockspec_engine::grade::resources::parse_size;
use sockspec_engine::grade::workspace::{self, Budget};
use sockspec_engine::grade::{
    grade_batch, BatchOptions, Limits, Resources, SubmissionInput, Suite, NOT_JUDGED,
};
use sockspec_reports::grade::{ClassReport, GradeOutcome, SubmissionResult, SuiteCase};
use sockspec_reports::{grade_html, lms, FORMAT_VERSION};

use crate::exit;

pub const GRADE_HELP: &str = "\
Examples:
  sockspec grade --suite echo-tcp --server './server {port}' subs/*
  sockspec grade --suite echo-tcp --build make --server './echo {port}' \\
                 --reference ref/ --out results/ subs/*
  sockspec grade --suite cases/grading/daytime --gradescope /autograder/results/results.json sub/
  sockspec grade --suite echo-udp --partition 2/4 --json shard2.json subs/*
  sockspec grade --suite daytime --transport tcp --reference ref/ subs/*   # TCP-only class
  sockspec grade --suite daytime-udp subs/*          # the same as --transport udp
  sockspec grade --suite select-server --strict subs/*   # score the advisory cases too

Each case runs against a fresh server in a sandbox of its own: new user-less pid, network
(only lo), mount, IPC and UTS namespaces, an unprivileged uid, a cgroup v2 group of its own
where the host delegates one (memory.max, pids.max, cpu.max) with rlimits as the fallback
(RLIMIT_DATA, RLIMIT_NPROC, RLIMIT_CPU, open files, file size), a private tmpfs, and the
submission read-only. The defaults (512M, 160 tasks, 4 s of CPU) start stock Python 3,
Perl, Java 17 and Node 20 servers; a suite's `[limits]` or --memory/--processes/--cpu
change them. The server is
found listening without connecting to it. `{port}` in the template is replaced by the
suite's port (5001: a missing htons() shows as 35091), `{port.NAME}` by a service's port.

Requirements: every case checks one requirement of a shared vocabulary (listens, basic,
split-request, half-close, slow-reader-integrity, concurrency, client-reset, no-zombies,
reply-to-sender, …); reports group points by requirement. docs/grading.md lists, for each,
what a correct server must do and which designs are accepted.

Transports: a suite declares TCP, UDP or both; --transport (or a suite name ending in -tcp
or -udp) grades only those cases, and the gate checks each chosen transport's socket. A
case never passes for a server that lacks the socket it tests: it is \"not run\".

Advisory cases check properties beyond the assignment (no starvation behind a client that
never reads, fifty clients at once): they run and are shown, worth 0 points unless --strict
(or the suite's score_advisory) turns them on.

Fixed ports: a server that ignores the {port} it was given and listens on a port of its
own is graded where it listens, and loses only lifecycle/uses-given-port (--port-penalty
points). A class can mix both kinds. Without {port} in the template, no port is required.

Exit codes:
  0    every submission was graded (scores are in the results, not in the exit code)
  2    usage error: unknown suite, missing submission, bad --partition
  3    at least one case could not be judged (grader or sandbox trouble, or a submission
       over the copy budget of 64 MiB, 10,000 entries, 32 levels): see its reason
  4    the reference solution lost a scored point: the suite takes points from a correct
       server (the class page says so at the top); check before publishing grades
  130  interrupted by SIGINT/SIGTERM: every sandbox was killed, the batch directory removed";

/// Exit code: the reference solution lost a scored point (see [`GRADE_HELP`]).
pub const REFERENCE_LOST: u8 = 4;

#[derive(Debug, Clone, Args)]
pub struct GradeArgs {
    /// A built-in suite name (cases/grading/NAME) or a suite directory with manifest.toml.
    #[arg(long, value_name = "NAME|DIR")]
    pub suite: String,
    /// The server command, run in the submission's directory; `{port}` is substituted.
    #[arg(long, value_name = "TEMPLATE")]
    pub server: Option<String>,
    /// A build command run in the submission's directory, in the sandbox, before grading.
    #[arg(long, value_name = "CMD")]
    pub build: Option<String>,
    /// A reference solution, graded in the same run as the first column.
    #[arg(long, value_name = "DIR")]
    pub reference: Option<PathBuf>,
    /// Grade only these transports of the suite: tcp, udp or both (default: the suite's).
    #[arg(long, value_name = "tcp|udp|both", value_parser = ["tcp", "udp", "both"])]
    pub transport: Option<String>,
    /// Score the advisory cases (properties beyond the assignment), not only show them.
    #[arg(long)]
    pub strict: bool,
    /// Points a server loses for listening on a port of its own instead of the `{port}`
    /// it was given (it is graded where it listens).
    #[arg(long, value_name = "POINTS", default_value_t = 1.0)]
    pub port_penalty: f64,
    /// Write per-submission JSON and HTML, and the class JSON and HTML, into DIR.
    #[arg(long, value_name = "DIR", help_heading = "Reports")]
    pub out: Option<PathBuf>,
    /// Write the class results as JSON.
    #[arg(long, value_name = "FILE", help_heading = "Reports")]
    pub json: Option<PathBuf>,
    /// Write the class page (students × cases, reference column, score distribution).
    #[arg(long, value_name = "FILE", help_heading = "Reports")]
    pub html: Option<PathBuf>,
    /// Write JUnit XML (one testsuite per submission).
    #[arg(long, value_name = "FILE", help_heading = "Reports")]
    pub junit: Option<PathBuf>,
    /// Write Gradescope's results.json (for one submission).
    #[arg(long, value_name = "FILE", help_heading = "Reports")]
    pub gradescope: Option<PathBuf>,
    /// Write PrairieLearn's results.json (for one submission).
    #[arg(long, value_name = "FILE", help_heading = "Reports")]
    pub prairielearn: Option<PathBuf>,
    /// Print Autolab's `{"scores": …}` line last (for one submission).
    #[arg(long, help_heading = "Reports")]
    pub autolab: bool,
    /// How many cases run at once (default: four per CPU; a case mostly waits on the network).
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Grade only shard K of N of the submissions (`2/4`, `hash:2/4`, `count:2/4`).
    #[arg(long, value_name = "K/N")]
    pub partition: Option<String>,
    /// Multiply deadlines and settle times (slow or loaded machines).
    #[arg(long, value_name = "X", default_value_t = 1.0, value_parser = crate::run::parse_scale)]
    pub time_scale: f64,
    /// Memory of each server's sandbox (`512M`, `1G`): memory.max of its cgroup (resident
    /// memory, page cache, socket buffers), or RLIMIT_DATA of each process where cgroup v2
    /// has no memory controller [default: the suite's, else 512M].
    #[arg(long, value_name = "SIZE", help_heading = "Sandbox limits")]
    pub memory: Option<String>,
    /// Tasks (processes and threads) of each server's sandbox: pids.max, and RLIMIT_NPROC
    /// [default: the suite's, else 160].
    #[arg(long, value_name = "N", help_heading = "Sandbox limits")]
    pub processes: Option<u64>,
    /// CPU seconds each server process may use per case (RLIMIT_CPU); a cgroup also caps a
    /// sandbox at one CPU [default: the suite's, else 4].
    #[arg(long, value_name = "SECONDS", help_heading = "Sandbox limits")]
    pub cpu: Option<u64>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    /// Submission directories.
    #[arg(value_name = "SUBMISSION")]
    pub submissions: Vec<PathBuf>,
}

fn usage(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(exit::USAGE)
}

/// `cases/grading/NAME` of the built-in catalogue, or the directory given; a built-in name
/// ending in `-tcp` or `-udp` that is no suite of its own is that suite's one transport
/// (`daytime-udp`).
fn suite_dir(name: &str) -> (PathBuf, Option<Protocol>) {
    let p = Path::new(name);
    if p.join("manifest.toml").exists() {
        return (p.to_path_buf(), None);
    }
    let root = crate::catalogue::builtin_root().join("grading");
    if !root.join(name).join("manifest.toml").exists() {
        for (suffix, t) in [("-tcp", Protocol::Tcp), ("-udp", Protocol::Udp)] {
            if let Some(base) = name.strip_suffix(suffix) {
                if root.join(base).join("manifest.toml").exists() {
                    return (root.join(base), Some(t));
                }
            }
        }
    }
    (root.join(name), None)
}

fn submission_name(p: &Path) -> String {
    std::fs::canonicalize(p)
        .ok()
        .and_then(|c| c.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| p.display().to_string())
}

/// Blocks SIGINT/SIGTERM/SIGHUP in every thread (workers, monitors; sandboxes and case
/// processes clear the mask before exec) and handles them on one: kill every sandbox and
/// case process, remove their cgroups and the batch directory, exit 130.
fn interrupt_guard(resources: std::sync::Arc<Resources>) -> Option<std::thread::JoinHandle<()>> {
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
                sockspec_engine::grade::server::kill_all_live();
                sockspec_engine::spawn::kill_all_live();
                resources.clean_up();
                workspace::clean_up_interrupted();
                eprintln!("\nsockspec: interrupted by {sig}; every sandbox was killed and removed");
                std::process::exit(i32::from(exit::INTERRUPTED));
            }
        })
        .ok()
}

/// Each server sandbox's limits: the defaults, then the suite's, then the command line's.
fn sandbox_limits(args: &GradeArgs, suite: &Suite) -> Result<Limits, String> {
    let mut l = Limits::SERVER;
    let from_suite = suite.limits;
    let memory = match &args.memory {
        Some(m) => Some(parse_size(m).map_err(|e| format!("--memory: {e}"))?),
        None => from_suite.memory,
    };
    l.memory = memory.unwrap_or(l.memory);
    l.processes = args
        .processes
        .or(from_suite.processes)
        .unwrap_or(l.processes);
    l.cpu_seconds = args.cpu.or(from_suite.cpu_seconds).unwrap_or(l.cpu_seconds);
    // Below these a correct server cannot start: /bin/sh and a dynamic loader alone take a
    // few MiB and two tasks; a CPU limit of 0 s is SIGXCPU at once.
    if l.memory < 16 << 20 {
        return Err(format!(
            "--memory {} MiB is below the 16 MiB a server needs to start",
            l.memory >> 20
        ));
    }
    if l.processes < 4 {
        return Err(format!(
            "--processes {} is below the 4 a server needs to start",
            l.processes
        ));
    }
    if l.cpu_seconds == 0 {
        return Err("--cpu 0 stops every server at once; give at least 1 second".into());
    }
    Ok(l)
}

pub fn main(args: GradeArgs) -> ExitCode {
    if !nix::unistd::geteuid().is_root() {
        return usage(
            "grading needs root: each server runs in namespaces of its own as an unprivileged uid",
        );
    }
    // First, while the process has one thread: submissions' tmpfs mounts stay in this
    // process's own mount namespace and vanish with it, however it ends.
    let tmpfs = match workspace::private_mounts() {
        Ok(()) => true,
        Err(e) => {
            eprintln!(
                "note: no private mount namespace ({e}): submissions are copied to the \
                 temporary directory without a tmpfs, and builds write there unbounded"
            );
            false
        }
    };
    if let Err(e) = check_lms(&args) {
        return usage(e);
    }
    let (dir, variant) = suite_dir(&args.suite);
    let mut suite = match Suite::load(&dir) {
        Ok(s) => s,
        Err(e) => return usage(sockspec_engine::child::error_chain(&e)),
    };
    let chosen = match (variant, args.transport.as_deref().and_then(Protocol::parse)) {
        (Some(v), Some(t)) if v != t => {
            return usage(format!(
                "suite `{}` is the {} variant; --transport {} contradicts it",
                args.suite,
                v.as_str(),
                t.as_str()
            ))
        }
        (v, t) => v.or(t),
    };
    if let Some(t) = chosen {
        if let Err(e) = suite.select_transports(t) {
            return usage(e);
        }
    }
    if args.strict {
        suite.score_advisory(true);
    }
    if !(args.port_penalty >= 0.0 && args.port_penalty.is_finite()) {
        return usage("--port-penalty must be a number of points >= 0");
    }
    if args
        .server
        .as_deref()
        .or(suite.command.as_deref())
        .is_some_and(|t| t.contains("{port"))
    {
        suite.check_given_port(args.port_penalty);
    }
    let mut subs: Vec<SubmissionInput> = Vec::new();
    for p in &args.submissions {
        if !p.is_dir() {
            return usage(format!("submission `{}` is not a directory", p.display()));
        }
        subs.push(SubmissionInput {
            name: submission_name(p),
            path: p.clone(),
            reference: false,
        });
    }
    if let Some(spec) = &args.partition {
        let part = match sockspec_reports::partition::parse_partition(spec) {
            Ok(p) => p,
            Err(e) => return usage(e),
        };
        let names: Vec<String> = subs.iter().map(|s| s.name.clone()).collect();
        let keep: Vec<String> = part.select(&names).into_iter().map(String::from).collect();
        subs.retain(|s| keep.contains(&s.name));
    }
    if let Some(r) = &args.reference {
        if !r.is_dir() {
            return usage(format!("reference `{}` is not a directory", r.display()));
        }
        subs.insert(
            0,
            SubmissionInput {
                name: submission_name(r),
                path: r.clone(),
                reference: true,
            },
        );
    }
    if subs.is_empty() {
        return usage("no submission to grade");
    }
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => return usage(format!("cannot find the sockspec binary: {e}")),
    };
    let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
    let limits = match sandbox_limits(&args, &suite) {
        Ok(l) => l,
        Err(e) => return usage(e),
    };
    let resources = std::sync::Arc::new(Resources::acquire());
    if !args.quiet {
        eprintln!("note: {}", resources.describe());
    }
    let _signals = interrupt_guard(std::sync::Arc::clone(&resources));
    let opts = BatchOptions {
        exe,
        time_scale: args.time_scale,
        template: args.server.clone(),
        build: args.build.clone(),
        jobs: args.jobs.unwrap_or(cpus * 4),
        limits,
        resources,
        budget: Budget::DEFAULT,
        tmpfs,
    };
    let started = Instant::now();
    let started_at = crate::environment::rfc3339_now();
    let bar = Bar::new(!args.quiet && std::io::stderr().is_terminal());
    let names: Vec<String> = subs.iter().map(|s| s.name.clone()).collect();
    let progress = |si: usize, case: &str, outcome: GradeOutcome, done: usize, total: usize| {
        bar.tick(&names[si], case, outcome, done, total, started);
    };
    let results = grade_batch(&suite, &subs, &opts, &progress);
    // The signal thread keeps a reference to the resources for the rest of the process,
    // so their groups are removed here rather than on drop.
    opts.resources.clean_up();
    let results = match results {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: grading failed: {e}");
            return ExitCode::from(exit::ERRORS);
        }
    };
    bar.finish();
    let class = ClassReport {
        format_version: FORMAT_VERSION,
        suite: suite.name.clone(),
        cases: suite
            .cases
            .iter()
            .map(|c| SuiteCase {
                name: c.name.clone(),
                title: c.title.clone(),
                requirement: c.requirement.clone(),
                max_points: c.points,
                advisory: c.advisory,
                hidden: c.hidden,
            })
            .collect(),
        submissions: results,
        started_at,
        duration_ms: started.elapsed().as_millis() as u64,
        partition: args.partition.clone(),
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        kernel_release: nix::sys::utsname::uname()
            .map(|u| u.release().to_string_lossy().into_owned())
            .unwrap_or_default(),
        transports: suite.protocol.names(),
        advisory_scored: suite.advisory_scored,
    };
    print_summary(&class);
    if let Err(e) = write_outputs(&args, &class) {
        eprintln!("error: {e}");
        return ExitCode::from(exit::USAGE);
    }
    if args.autolab {
        if let Some(s) = class.submissions.iter().find(|s| !s.reference) {
            println!("{}", lms::autolab_line(s));
        }
    }
    let errors: Vec<(&str, &str, &str)> = class
        .submissions
        .iter()
        .flat_map(|s| {
            s.cases
                .iter()
                .filter(|c| c.outcome == GradeOutcome::Error)
                .map(|c| {
                    (
                        s.submission.as_str(),
                        c.name.as_str(),
                        c.message.as_deref().unwrap_or("no message"),
                    )
                })
        })
        .collect();
    let reference_lost = !class.reference_losses().is_empty();
    if !errors.is_empty() {
        report_errors(&errors);
    }
    if reference_lost {
        eprintln!(
            "error: the reference solution lost a scored point (exit {REFERENCE_LOST}): the suite takes points from a correct server"
        );
        return ExitCode::from(REFERENCE_LOST);
    }
    if errors.is_empty() {
        ExitCode::from(exit::SUCCESS)
    } else {
        ExitCode::from(exit::ERRORS)
    }
}

/// Says on stderr which cases could not be judged and why: one line per distinct reason
/// (a sandbox that cannot be built fails every case the same way), with where it happened.
fn report_errors(errors: &[(&str, &str, &str)]) {
    let mut reasons: Vec<(&str, Vec<String>)> = Vec::new();
    for (sub, case, message) in errors {
        let at = format!("{} × {case}", escape_terminal(sub));
        let message = message.strip_prefix(NOT_JUDGED).unwrap_or(message);
        match reasons.iter_mut().find(|(m, _)| *m == message) {
            Some((_, places)) => places.push(at),
            None => reasons.push((message, vec![at])),
        }
    }
    eprintln!(
        "error: {} case(s) could not be judged (grader or sandbox trouble: re-grade)",
        errors.len()
    );
    for (message, places) in &reasons {
        let more = match places.len() {
            1 => String::new(),
            n => format!(" and {} more", n - 1),
        };
        eprintln!("  {}{more}: {}", places[0], escape_terminal(message));
    }
}

fn print_summary(class: &ClassReport) {
    let width = class
        .submissions
        .iter()
        .map(|s| escape_terminal(&s.submission).chars().count())
        .max()
        .unwrap_or(10);
    println!(
        "suite {} ({}{}): {} submission(s) in {:.1}s",
        class.suite,
        class.transports.join("+"),
        if class.advisory_scored {
            ", advisory cases scored"
        } else {
            ""
        },
        class.submissions.len(),
        class.duration_ms as f64 / 1000.0
    );
    let losses = class.reference_losses();
    if !losses.is_empty() {
        let names: Vec<&str> = losses.iter().map(|c| c.name.as_str()).collect();
        println!(
            "WARNING: the reference solution lost points on {}: the suite takes points from a correct server",
            names.join(", ")
        );
    }
    for s in &class.submissions {
        let failed: Vec<String> = s
            .cases
            .iter()
            .filter(|c| c.outcome != GradeOutcome::Pass)
            .map(|c| {
                if c.max_points > 0.0 {
                    c.name.clone()
                } else {
                    format!("{} (advisory)", c.name)
                }
            })
            .collect();
        let tag = if s.reference { " (reference)" } else { "" };
        let detail = match &s.root_cause {
            Some(r) => format!("  {}", escape_terminal(r)),
            None if failed.is_empty() => String::new(),
            None => format!("  lost: {}", failed.join(", ")),
        };
        println!(
            "{:width$}  {:>6.1} / {:<6.1}{tag}{detail}",
            escape_terminal(&s.submission),
            s.score,
            s.max_score
        );
    }
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .map_err(|e| format!("cannot create `{}`: {e}", parent.display()))?;
    }
    std::fs::write(path, text).map_err(|e| format!("cannot write `{}`: {e}", path.display()))
}

fn json_text<T: serde::Serialize>(v: &T) -> Result<String, String> {
    serde_json::to_string_pretty(v).map_err(|e| e.to_string())
}

/// The one submission LMS files describe (LMS graders run one at a time; `main` refuses
/// several before grading).
fn single(class: &ClassReport) -> Option<&SubmissionResult> {
    class.submissions.iter().find(|s| !s.reference)
}

/// An LMS file describes one submission: several with an LMS flag is a usage error, found
/// before anything is graded (it used to describe the first one silently).
fn check_lms(args: &GradeArgs) -> Result<(), String> {
    let flags: Vec<&str> = [
        (args.gradescope.is_some(), "--gradescope"),
        (args.prairielearn.is_some(), "--prairielearn"),
        (args.autolab, "--autolab"),
    ]
    .into_iter()
    .filter_map(|(on, f)| on.then_some(f))
    .collect();
    if !flags.is_empty() && args.submissions.len() > 1 {
        return Err(format!(
            "{} describes one submission, but {} were given: grade them one at a time \
             (the class report is --out/--json)",
            flags.join(" and "),
            args.submissions.len()
        ));
    }
    Ok(())
}

fn write_outputs(args: &GradeArgs, class: &ClassReport) -> Result<(), String> {
    if let Some(out) = &args.out {
        let names: Vec<&str> = class
            .submissions
            .iter()
            .map(|s| s.submission.as_str())
            .collect();
        for (s, stem) in class.submissions.iter().zip(report_stems(&names)) {
            write(&out.join(format!("{stem}.json")), &json_text(s)?)?;
            write(
                &out.join(format!("{stem}.html")),
                &grade_html::submission_html(s),
            )?;
        }
        write(&out.join("class.json"), &json_text(class)?)?;
        write(&out.join("class.html"), &grade_html::class_html(class))?;
    }
    if let Some(p) = &args.json {
        write(p, &json_text(class)?)?;
    }
    if let Some(p) = &args.html {
        write(p, &grade_html::class_html(class))?;
    }
    if let Some(p) = &args.junit {
        let run = to_run_report(class);
        let xml = sockspec_reports::junit::to_junit(&run).map_err(|e| e.to_string())?;
        write(p, &xml)?;
    }
    if let Some(p) = &args.gradescope {
        let s = single(class).ok_or("--gradescope needs a student submission")?;
        write(p, &json_text(&lms::gradescope(s))?)?;
    }
    if let Some(p) = &args.prairielearn {
        let s = single(class).ok_or("--prairielearn needs a student submission")?;
        write(p, &json_text(&lms::prairielearn(s))?)?;
    }
    Ok(())
}

/// Names the class report takes in `--out`: a submission never gets them.
const RESERVED_STEMS: [&str; 1] = ["class"];

/// One file name (without extension) per submission, in order: only letters, digits, `-`,
/// `_` and inner dots, so it stays inside `--out` (`...`, `../x`, `/abs` cannot climb out),
/// never the class report's name, and unique, also on a case-insensitive file system
/// (a repeated name gets `-2`, `-3`…).
fn report_stems(names: &[&str]) -> Vec<String> {
    let mut taken: std::collections::BTreeSet<String> =
        RESERVED_STEMS.iter().map(|s| s.to_string()).collect();
    names
        .iter()
        .map(|name| {
            let cleaned: String = name
                .chars()
                .map(|c| {
                    if c.is_alphanumeric() || c == '-' || c == '_' || c == '.' {
                        c
                    } else {
                        '_'
                    }
                })
                .take(100)
                .collect();
            let cleaned = cleaned.trim_matches('.');
            let base = if cleaned.is_empty() {
                "submission".to_string()
            } else {
                cleaned.to_string()
            };
            let mut stem = base.clone();
            let mut n = 1;
            while !taken.insert(stem.to_lowercase()) {
                n += 1;
                stem = format!("{base}-{n}");
            }
            stem
        })
        .collect()
}

/// Text from a submission (folder names, the server's output inside messages) made safe
/// for a terminal: control characters and bidirectional overrides are shown escaped, so a
/// name cannot move the cursor, erase a line or rewrite a score.
fn escape_terminal(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let bidi = matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}');
        if c.is_control() || bidi {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// A one-line progress bar on stderr (a terminal), or nothing.
struct Bar {
    on: bool,
    last: Mutex<Option<Instant>>,
}

impl Bar {
    fn new(on: bool) -> Bar {
        Bar {
            on,
            last: Mutex::new(None),
        }
    }

    fn tick(
        &self,
        sub: &str,
        case: &str,
        outcome: GradeOutcome,
        done: usize,
        total: usize,
        started: Instant,
    ) {
        if !self.on {
            return;
        }
        let Ok(mut last) = self.last.lock() else {
            return;
        };
        // Redraw at most 20 times a second: hundreds of cases finish in bursts.
        if last.is_some_and(|t| t.elapsed().as_millis() < 50) && done < total {
            return;
        }
        *last = Some(Instant::now());
        let width = 30;
        let filled = (done * width).checked_div(total).unwrap_or(width);
        let line = format!(
            "\r[{}{}] {done}/{total} cases {:>5.1}s  {}: {case} {}",
            "=".repeat(filled),
            " ".repeat(width - filled),
            started.elapsed().as_secs_f64(),
            escape_terminal(sub),
            outcome.as_str()
        );
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "{:<120.120}", line);
        let _ = err.flush();
    }

    fn finish(&self) {
        if self.on {
            eprintln!();
        }
    }
}

/// The class as a run of the shared model, for the JUnit writer: one theme (testsuite) per
/// submission, one case per graded case; not-run cases are skipped with their reason.
fn to_run_report(class: &ClassReport) -> sockspec_reports::RunReport {
    use sockspec_reports::{CaseResult, Environment, Outcome, RunReport};
    let cases = class
        .submissions
        .iter()
        .flat_map(|s| {
            s.cases.iter().map(move |c| CaseResult {
                name: format!("{}/{}", s.submission, c.name),
                file: c.name.clone(),
                title: c.title.clone(),
                theme: s.submission.clone(),
                flavour: None,
                tags: Vec::new(),
                claims: Vec::new(),
                // An advisory case that is not scored cannot fail the submission: JUnit
                // shows it skipped, with its verdict in the message.
                outcome: match c.outcome {
                    GradeOutcome::Pass => Outcome::Pass,
                    _ if c.advisory && c.max_points == 0.0 => Outcome::Skip,
                    GradeOutcome::Fail => Outcome::Fail,
                    GradeOutcome::Error => Outcome::Error,
                    GradeOutcome::Gated => Outcome::Skip,
                },
                message: if c.advisory && c.max_points == 0.0 && c.outcome != GradeOutcome::Pass {
                    Some(format!(
                        "advisory, not scored: {} {}",
                        c.outcome.as_str(),
                        c.message.as_deref().unwrap_or("")
                    ))
                } else {
                    c.message.clone()
                },
                failure: c.failure.clone(),
                transcript: c.transcript.clone(),
                duration_us: c.duration_ms * 1000,
                why: None,
                hint: c.hint.clone(),
                refs: Vec::new(),
                source: None,
                attempts: Vec::new(),
                known_deviation: None,
            })
        })
        .collect();
    RunReport {
        format_version: FORMAT_VERSION,
        environment: Environment {
            tool_version: class.tool_version.clone(),
            kernel_release: class.kernel_release.clone(),
            os: std::env::consts::OS.to_string(),
            arch: std::env::consts::ARCH.to_string(),
            isolation: "grading sandbox".to_string(),
            started_at: class.started_at.clone(),
            duration_ms: class.duration_ms,
            time_scale: 1.0,
            label: class.suite.clone(),
            ..Environment::default()
        },
        cases,
        claims: Vec::new(),
        measurements: Default::default(),
        properties: Vec::new(),
        differentials: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_names_stay_inside_and_never_collide() {
        let stems = report_stems(&["class", "...", "a/b", "Alice", "alice", "Alice", "", ".."]);
        assert_eq!(
            stems,
            [
                "class-2",
                "submission",
                "a_b",
                "Alice",
                "alice-2",
                "Alice-3",
                "submission-2",
                "submission-3"
            ]
        );
        for s in &stems {
            assert!(!s.contains('/') && !s.starts_with('.') && s != "class");
        }
    }

    #[test]
    fn terminal_text_cannot_steer_the_terminal() {
        let hostile = "x\r\x1b[2K\x1b[1Aalice  20.0 / 20.0\u{202e}";
        let shown = escape_terminal(hostile);
        assert!(!shown.chars().any(|c| c.is_control()), "{shown:?}");
        assert!(shown.starts_with("x\\r\\u{1b}[2K"), "{shown}");
        assert!(shown.ends_with("\\u{202e}"), "{shown}");
        assert_eq!(escape_terminal("plain ünïcode"), "plain ünïcode");
    }
}
