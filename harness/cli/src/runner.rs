//! Turns trials into libtest-mimic tests that each run one case process, and gathers the
//! results into the run report.

use std::collections::HashSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use libtest_mimic::{Completion, Failed, Trial};
use sockspec_engine::properties::Property;
use sockspec_engine::sandbox::Isolation;
use sockspec_engine::spawn::{self, ChildRun};
use sockspec_engine::wire::{CaseSpec, Wire};
use sockspec_lang::{Flavour, Need, Stance};
use sockspec_reports::{CaseResult, ClaimLink, Outcome, DEADLINE_KILLED};

use crate::catalogue::TrialSpec;

/// A case's deadline when its file does not set one: enough for the slowest timing case of
/// the catalogue (about a second) on a loaded machine, short enough that a hung case does
/// not stall a run.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(5);

/// What every trial of a run shares.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The binary re-executed as the case process.
    pub exe: PathBuf,
    pub isolation: Isolation,
    pub isolation_reason: Option<String>,
    pub time_scale: f64,
    pub ipv6: bool,
    pub capabilities: Vec<String>,
    pub root: bool,
    /// Re-run a failed or erroring case up to this many times; a later pass makes it flaky.
    pub retries: u32,
    /// Baseline entries that apply to this platform and kernel: (case glob, note).
    pub known: Vec<(String, String)>,
}

/// Where the trials' results gather while libtest runs them, shared by every worker.
pub type Results = Arc<Ledger>;

/// The results of a run, and which trials started: after the run, [`Ledger::complete`] makes
/// sure every trial libtest counted has exactly one place in the report.
#[derive(Debug, Default)]
pub struct Ledger {
    /// In completion order.
    results: Mutex<Vec<CaseResult>>,
    started: Mutex<HashSet<String>>,
}

/// A trial as the report must show it if its own result never arrives.
#[derive(Debug, Clone)]
pub struct Expected {
    /// The result without a verdict: names, file, claims.
    pub blank: CaseResult,
    /// Why libtest counts it as ignored without running it (`ignore "reason"`), when it does.
    pub not_run: Option<String>,
}

/// The results of a run, one per trial libtest ran or ignored.
#[derive(Debug)]
pub struct Complete {
    /// Sorted by name.
    pub cases: Vec<CaseResult>,
    /// Trials that libtest counted but whose result never arrived; they are in `cases` as
    /// errors saying so.
    pub lost: Vec<String>,
}

impl Ledger {
    fn start(&self, name: &str) {
        lock(&self.started).insert(name.to_string());
    }

    fn record(&self, result: CaseResult) {
        lock(&self.results).push(result);
    }

    /// Every result recorded, plus one for each expected trial that has none: a skip with the
    /// reason for a trial libtest ignores without running it, otherwise an error saying the
    /// harness lost its result. A trial is never silently absent from the report.
    pub fn complete(&self, expected: Vec<Expected>) -> Complete {
        let mut cases = std::mem::take(&mut *lock(&self.results));
        let started = std::mem::take(&mut *lock(&self.started));
        let recorded: HashSet<String> = cases.iter().map(|c| c.name.clone()).collect();
        let mut lost = Vec::new();
        for trial in expected {
            if recorded.contains(&trial.blank.name) {
                continue;
            }
            let mut result = trial.blank;
            match trial.not_run {
                Some(reason) => {
                    result.outcome = Outcome::Skip;
                    result.message = Some(reason);
                }
                None => {
                    let what = if started.contains(&result.name) {
                        "it started but never recorded a verdict"
                    } else {
                        "libtest counted it but never ran it"
                    };
                    lost.push(result.name.clone());
                    result = error(
                        result,
                        format!("the harness lost this trial's result: {what} (a sockspec bug; please report it with this run's output)"),
                    );
                }
            }
            cases.push(result);
        }
        cases.sort_by(|a, b| a.name.cmp(&b.name));
        Complete { cases, lost }
    }
}

/// A lock whose holder panicked still guards whole values (each is one push or insert), so
/// the results it holds are kept rather than lost with the run.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What the report must hold for `trial` under libtest's `args`: nothing when libtest filters
/// it out, otherwise its blank result, marked as not run when libtest ignores it.
pub fn expected(
    trial: &Trial,
    blank: CaseResult,
    ignore_reason: Option<&str>,
    args: &libtest_mimic::Arguments,
) -> Option<Expected> {
    if args.is_filtered_out(trial) {
        return None;
    }
    let not_run = args.is_ignored(trial).then(|| match ignore_reason {
        Some(reason) => format!("ignored: {reason} (--include-ignored runs it)"),
        None => "not run: libtest ignores tests under --bench".to_string(),
    });
    Some(Expected { blank, not_run })
}

/// Temp directories of live shared-mode cases, removed if the run is interrupted.
static LIVE_DIRS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
static NEXT_TOKEN: AtomicU64 = AtomicU64::new(0);
/// Set when the run is interrupted: trials then stop reporting, so the killed cases are not
/// printed as errors while the signal thread finishes cleaning up and exits.
static INTERRUPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// One libtest trial per case flavour, each with what the report shows if its result never
/// arrives. A trial records its result before it returns its verdict, even when judging it
/// panics.
pub fn trials(
    specs: Vec<TrialSpec>,
    opts: &Arc<RunOptions>,
    results: &Results,
) -> Vec<(Trial, CaseResult, Option<String>)> {
    specs
        .into_iter()
        .map(|spec| {
            let ignore = spec.case.scenario.meta.ignore.clone();
            let blank = blank_result(&spec);
            let (opts, results) = (opts.clone(), results.clone());
            let trial = Trial::ignorable_test(spec.name.clone(), move || {
                results.start(&spec.name);
                let judged = catch_unwind(AssertUnwindSafe(|| {
                    let result = judge_with_retries(&spec, &opts);
                    let verdict = verdict(&result, &opts.known);
                    (result, verdict)
                }));
                let (result, verdict) = judged.unwrap_or_else(|panic| {
                    let result = error(
                        blank_result(&spec),
                        format!(
                            "the harness panicked while judging the case: {}",
                            panic_text(&*panic)
                        ),
                    );
                    let verdict = Err(Failed::from(explain(&result)));
                    (result, verdict)
                });
                results.record(result);
                verdict
            })
            .with_ignored_flag(ignore.is_some());
            (trial, blank, ignore)
        })
        .collect()
}

/// What libtest is told about a judged case.
fn verdict(result: &CaseResult, known: &[(String, String)]) -> Result<Completion, Failed> {
    let known = (result.outcome == Outcome::Fail)
        .then(|| {
            known
                .iter()
                .find(|(glob, _)| sockspec_reports::baseline::glob_match(glob, &result.name))
        })
        .flatten();
    match result.outcome {
        _ if known.is_some() => {
            let note = known.map(|(_, n)| n.as_str()).unwrap_or_default();
            Ok(Completion::ignored_with(format!("known deviation: {note}")))
        }
        Outcome::Pass => Ok(Completion::Completed),
        Outcome::Skip => Ok(Completion::ignored_with(
            result.message.clone().unwrap_or_default(),
        )),
        Outcome::Fail | Outcome::Error => Err(Failed::from(explain(result))),
    }
}

fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "(no message)".to_string())
}

/// Whether the case starts programs (`spawn`).
fn spawns(scenario: &sockspec_lang::Scenario) -> bool {
    scenario.steps.iter().any(|step| {
        matches!(&step.kind, sockspec_lang::StepKind::Call { call, .. }
            if matches!(call.op, sockspec_lang::Op::Spawn { .. }))
    })
}

/// Why a case cannot run here, if it cannot.
fn unmet_need(spec: &TrialSpec, opts: &RunOptions) -> Option<String> {
    for need in &spec.case.scenario.meta.needs {
        let missing = match need {
            Need::Isolation if !opts.isolation.is_isolated() => Some(format!(
                "needs a private network namespace: {}",
                opts.isolation_reason.as_deref().unwrap_or("none available")
            )),
            Need::Root if !opts.root => Some("needs root".to_string()),
            Need::Ipv6 if !opts.ipv6 => {
                Some("needs IPv6 on loopback, which is not available".to_string())
            }
            Need::Cap(cap) => {
                let full = format!("CAP_{}", cap.trim_start_matches("CAP_"));
                // Inside a namespace the case owns, it holds every capability over that namespace.
                let granted = opts.isolation.is_isolated() || opts.capabilities.contains(&full);
                (!granted).then(|| format!("needs {full}"))
            }
            _ => None,
        };
        if missing.is_some() {
            return missing;
        }
    }
    if opts.root && !opts.isolation.is_isolated() && spawns(&spec.case.scenario) {
        return Some(format!(
            "spawns programs, which would run as root over the host's writable files: isolation \
             `{}` gives no read-only view of the host",
            opts.isolation.as_str()
        ));
    }
    let uses_v6 = spec.flavour.is_some_and(|f| f.domain() == "INET6");
    if uses_v6 && !opts.ipv6 {
        return Some("flavour needs IPv6 on loopback, which is not available".to_string());
    }
    None
}

/// Runs a trial, and again up to `retries` times while it fails or errors. Every earlier
/// attempt is kept; the last one is the verdict.
pub fn judge_with_retries(spec: &TrialSpec, opts: &RunOptions) -> CaseResult {
    let mut result = judge(spec, opts);
    let mut attempts = Vec::new();
    for _ in 0..opts.retries {
        if !matches!(result.outcome, Outcome::Fail | Outcome::Error) {
            break;
        }
        attempts.push(sockspec_reports::Attempt {
            outcome: result.outcome,
            message: result
                .failure
                .as_ref()
                .map(|f| format!("line {}: {}", f.line, f.actual))
                .or(result.message.clone()),
            duration_us: result.duration_us,
        });
        result = judge(spec, opts);
    }
    result.attempts = attempts;
    result
}

/// A case's result before any verdict: what the case file says about itself.
fn blank_result(spec: &TrialSpec) -> CaseResult {
    let meta = &spec.case.scenario.meta;
    CaseResult {
        name: spec.name.clone(),
        file: crate::catalogue::display_path(&spec.case.path),
        title: meta.title.clone(),
        theme: spec.case.theme.clone(),
        flavour: spec.flavour.map(|f| f.name().to_string()),
        tags: meta.tags.clone(),
        claims: meta
            .claims
            .iter()
            .map(|c| ClaimLink {
                id: c.id.clone(),
                stance: match c.stance {
                    Stance::Holds => "holds",
                    Stance::Refutes => "refutes",
                    Stance::Partly => "partly",
                }
                .to_string(),
            })
            .collect(),
        outcome: Outcome::Skip,
        message: None,
        failure: None,
        transcript: Vec::new(),
        duration_us: 0,
        why: meta.why.clone(),
        hint: meta.hint.clone(),
        refs: meta.refs.clone(),
        source: Some(spec.case.source.clone()),
        attempts: Vec::new(),
        known_deviation: None,
    }
}

/// Runs one trial and turns what came back into a result.
pub fn judge(spec: &TrialSpec, opts: &RunOptions) -> CaseResult {
    let meta = &spec.case.scenario.meta;
    let mut result = blank_result(spec);
    if let Some(reason) = unmet_need(spec, opts) {
        result.message = Some(reason);
        return result;
    }
    let deadline = meta
        .deadline
        .unwrap_or(DEFAULT_DEADLINE)
        .mul_f64(opts.time_scale.max(1.0));
    let token = NEXT_TOKEN.fetch_add(1, Ordering::Relaxed);
    let shared_dir = match opts.isolation.private_tmp() {
        false => match shared_temp_dir() {
            Ok(dir) => Some(dir),
            Err(e) => return error(result, format!("cannot create a private directory: {e}")),
        },
        true => None,
    };
    let case_spec = CaseSpec {
        file: spec.case.path.clone(),
        source: Some(spec.case.source.clone()),
        flavour: spec.flavour.map(|f| f.name().to_string()),
        time_scale: opts.time_scale,
        deadline_ms: deadline.as_millis() as u64,
        isolation: opts.isolation,
        unique: format!("ss{:x}-{token}", std::process::id()),
        drop_privileges: meta.needs.contains(&Need::Unprivileged),
        shared_dir: shared_dir.as_ref().map(|d| d.path().to_path_buf()),
        server: None,
    };
    if let Some(dir) = &shared_dir {
        LIVE_DIRS
            .lock()
            .expect("dirs lock")
            .push(dir.path().to_path_buf());
    }
    let run = spawn::run_case(&opts.exe, &case_spec);
    while INTERRUPTED.load(Ordering::SeqCst) {
        // The signal thread exits the process once cleanup is done; this only waits for it.
        std::thread::sleep(Duration::from_millis(50));
    }
    if let Some(dir) = shared_dir {
        LIVE_DIRS
            .lock()
            .expect("dirs lock")
            .retain(|d| d != dir.path());
    }
    match run {
        Ok(run) => settle(result, run, deadline, &spec.case.source),
        Err(e) => error(
            result,
            format!(
                "cannot start the case process `{}`: {e}",
                opts.exe.display()
            ),
        ),
    }
}

fn error(mut result: CaseResult, message: String) -> CaseResult {
    result.outcome = Outcome::Error;
    result.message = Some(message);
    result
}

fn settle(mut result: CaseResult, run: ChildRun, deadline: Duration, source: &str) -> CaseResult {
    result.duration_us = run.duration.as_micros() as u64;
    result.transcript = run.transcript;
    match run.end {
        Some(Wire::End {
            outcome,
            message,
            failure,
        }) => {
            result.outcome = outcome;
            result.message = message;
            result.failure = failure;
        }
        _ if run.timed_out => {
            let at = match run.running {
                Some((_, line)) => {
                    let text = source
                        .lines()
                        .nth(line.saturating_sub(1))
                        .unwrap_or("")
                        .trim();
                    format!(" while line {line} was still running: `{text}`")
                }
                None => String::new(),
            };
            result.outcome = Outcome::Error;
            result.message = Some(format!(
                "{DEADLINE_KILLED} of {:.1}s{at} (raise `deadline` in the case, or --time-scale on a slow machine)",
                deadline.as_secs_f64()
            ));
        }
        _ => {
            let stderr = run.stderr.trim();
            let detail = if stderr.is_empty() {
                String::new()
            } else {
                format!("; its stderr:\n{stderr}")
            };
            result.outcome = Outcome::Error;
            result.message = Some(format!(
                "the case process ended without a verdict ({}){detail}",
                run.exit
            ));
        }
    }
    result
}

/// A private directory for a case without a /tmp of its own, locked by this runner so a
/// later run can sweep it up if this one is killed with SIGKILL.
fn shared_temp_dir() -> std::io::Result<sockspec_engine::shared_dir::SharedDir> {
    sockspec_engine::shared_dir::SharedDir::create()
}

/// Removes private directories left by runners that were killed (their lock is free).
pub fn sweep_stale_dirs() {
    sockspec_engine::shared_dir::sweep(&std::env::temp_dir());
}

/// Called on SIGINT/SIGTERM: kill every case process group and remove their directories.
pub fn clean_up_interrupted() {
    INTERRUPTED.store(true, Ordering::SeqCst);
    spawn::kill_all_live();
    let dirs = LIVE_DIRS.lock().map(|d| d.clone()).unwrap_or_default();
    for dir in dirs {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// The text libtest-mimic prints for a failed or erroring trial.
fn explain(result: &CaseResult) -> String {
    sockspec_reports::terminal::explain(result)
}

/// The built-in property checks, one trial per property and flavour:
/// `properties/<property>[<flavour>]`.
pub fn property_names() -> Vec<(String, Property, Flavour)> {
    Property::ALL
        .iter()
        .flat_map(|p| {
            p.flavours()
                .iter()
                .map(move |f| (format!("properties/{}[{}]", p.name(), f.name()), *p, *f))
        })
        .collect()
}

/// Trials that check properties with `inputs` generated inputs each, each with its blank
/// result (see [`trials`]).
pub fn property_trials(
    selected: Vec<(String, Property, Flavour)>,
    inputs: u32,
    results: &Results,
) -> Vec<(Trial, CaseResult)> {
    selected
        .into_iter()
        .map(|(name, property, flavour)| {
            let results = results.clone();
            let blank = property_blank(&name, property, flavour);
            let for_trial = blank.clone();
            let trial = Trial::test(name.clone(), move || {
                results.start(&name);
                let started = std::time::Instant::now();
                let checked = catch_unwind(AssertUnwindSafe(|| {
                    sockspec_engine::properties::check(property, flavour, inputs)
                }));
                let mut result = for_trial;
                result.duration_us = started.elapsed().as_micros() as u64;
                match checked {
                    Ok(out) => {
                        result.outcome = if out.passed {
                            Outcome::Pass
                        } else {
                            Outcome::Fail
                        };
                        result.message = Some(match &out.message {
                            Some(m) => m.clone(),
                            None => format!("{} generated inputs passed", out.inputs),
                        });
                        result.transcript = out.transcript;
                    }
                    Err(panic) => {
                        result = error(
                            result,
                            format!("the property check panicked: {}", panic_text(&*panic)),
                        );
                    }
                }
                let verdict = if result.outcome == Outcome::Pass {
                    Ok(())
                } else {
                    Err(Failed::from(explain(&result)))
                };
                results.record(result);
                verdict
            });
            (trial, blank)
        })
        .collect()
}

/// A property trial's result before any verdict.
fn property_blank(name: &str, property: Property, flavour: Flavour) -> CaseResult {
    CaseResult {
        name: name.to_string(),
        file: "(built-in property)".to_string(),
        title: property.title().to_string(),
        theme: "properties".to_string(),
        flavour: Some(flavour.name().to_string()),
        tags: vec!["property-based".to_string()],
        claims: Vec::new(),
        outcome: Outcome::Skip,
        message: None,
        failure: None,
        transcript: Vec::new(),
        duration_us: 0,
        why: Some("a property over generated inputs finds the sizes no hand-written case thought of; a failure is shrunk to the smallest input that still fails".to_string()),
        hint: None,
        refs: vec!["man 7 socket".to_string(), "man 7 unix".to_string()],
        source: None,
        attempts: Vec::new(),
        known_deviation: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blank(name: &str) -> CaseResult {
        property_blank(name, Property::ALL[0], Property::ALL[0].flavours()[0])
    }

    /// Trials as the runner makes them, except that `forgets` returns its verdict without
    /// recording a result: the bug the ledger must make visible. (No trial fails: libtest
    /// prints its summary to the real stdout, and a `FAILED` line there would mislead.)
    fn accounted_run(args: &libtest_mimic::Arguments) -> (libtest_mimic::Conclusion, Complete) {
        let ledger = Results::default();
        let make = |name: &'static str, outcome: Option<Outcome>, ignore: Option<&str>| {
            let ledger = ledger.clone();
            let trial = Trial::ignorable_test(name, move || {
                ledger.start(name);
                let Some(outcome) = outcome else {
                    return Ok(Completion::ignored());
                };
                let mut result = blank(name);
                result.outcome = outcome;
                let verdict = verdict(&result, &[]);
                ledger.record(result);
                verdict
            })
            .with_ignored_flag(ignore.is_some());
            let expected = expected(&trial, blank(name), ignore, args);
            (trial, expected)
        };
        let (trials, expected): (Vec<_>, Vec<_>) = [
            make("passes", Some(Outcome::Pass), None),
            make("skips", Some(Outcome::Skip), None),
            make(
                "marked-ignore",
                Some(Outcome::Pass),
                Some("waits for a fix"),
            ),
            make("forgets", None, None),
            make("filtered-out", Some(Outcome::Pass), None),
        ]
        .into_iter()
        .unzip();
        let conclusion = libtest_mimic::run(args, trials);
        let complete = ledger.complete(expected.into_iter().flatten().collect());
        (conclusion, complete)
    }

    #[test]
    fn every_trial_libtest_counts_has_exactly_one_result() {
        let args = libtest_mimic::Arguments {
            skip: vec!["filtered-out".to_string()],
            quiet: true,
            test_threads: Some(2),
            ..Default::default()
        };
        let (conclusion, complete) = accounted_run(&args);
        let counted = conclusion.num_passed + conclusion.num_failed + conclusion.num_ignored;
        assert_eq!(complete.cases.len() as u64, counted);
        assert_eq!(conclusion.num_filtered_out, 1);
        let outcome = |name: &str| {
            let c = complete.cases.iter().find(|c| c.name == name).unwrap();
            (c.outcome, c.message.clone().unwrap_or_default())
        };
        assert_eq!(outcome("passes").0, Outcome::Pass);
        assert_eq!(outcome("skips").0, Outcome::Skip);
        let (o, m) = outcome("marked-ignore");
        assert_eq!(o, Outcome::Skip);
        assert!(m.contains("waits for a fix"), "{m}");
        let (o, m) = outcome("forgets");
        assert_eq!(o, Outcome::Error);
        assert!(
            m.contains("lost this trial's result") && m.contains("started"),
            "{m}"
        );
        assert_eq!(complete.lost, ["forgets"]);
        let names: Vec<&str> = complete.cases.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["forgets", "marked-ignore", "passes", "skips"]);
    }

    #[test]
    fn with_ignored_only_the_marked_trials_are_expected_and_they_run() {
        let args = libtest_mimic::Arguments {
            ignored: true,
            quiet: true,
            ..Default::default()
        };
        let (conclusion, complete) = accounted_run(&args);
        assert_eq!(conclusion.num_passed, 1);
        let names: Vec<(&str, Outcome)> = complete
            .cases
            .iter()
            .map(|c| (c.name.as_str(), c.outcome))
            .collect();
        assert_eq!(names, [("marked-ignore", Outcome::Pass)]);
        assert!(complete.lost.is_empty());
    }

    #[test]
    fn a_trial_never_run_is_an_error_that_says_so() {
        let ledger = Ledger::default();
        let complete = ledger.complete(vec![Expected {
            blank: blank("never"),
            not_run: None,
        }]);
        assert_eq!(complete.cases[0].outcome, Outcome::Error);
        let message = complete.cases[0].message.as_deref().unwrap();
        assert!(message.contains("never ran it"), "{message}");
    }
}
