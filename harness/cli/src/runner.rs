//! Turns trials into libtest-mimic tests that each run one case process, and gathers the
//! results into the run report.

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
use sockspec_reports::{CaseResult, ClaimLink, Outcome, StepStatus};

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

/// Collected results, in completion order.
pub type Results = Arc<Mutex<Vec<CaseResult>>>;

/// Temp directories of live shared-mode cases, removed if the run is interrupted.
static LIVE_DIRS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
static NEXT_TOKEN: AtomicU64 = AtomicU64::new(0);
/// Set when the run is interrupted: trials then stop reporting, so the killed cases are not
/// printed as errors while the signal thread finishes cleaning up and exits.
static INTERRUPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

pub fn trials(specs: Vec<TrialSpec>, opts: &Arc<RunOptions>, results: &Results) -> Vec<Trial> {
    specs
        .into_iter()
        .map(|spec| {
            let ignored = spec.case.scenario.meta.ignore.is_some();
            let name = spec.name.clone();
            let (opts, results) = (opts.clone(), results.clone());
            Trial::ignorable_test(name, move || {
                let result = judge_with_retries(&spec, &opts);
                let known = (result.outcome == Outcome::Fail)
                    .then(|| {
                        opts.known.iter().find(|(glob, _)| {
                            sockspec_reports::baseline::glob_match(glob, &result.name)
                        })
                    })
                    .flatten();
                let verdict = match result.outcome {
                    _ if known.is_some() => {
                        let note = known.map(|(_, n)| n.as_str()).unwrap_or_default();
                        Ok(Completion::ignored_with(format!("known deviation: {note}")))
                    }
                    Outcome::Pass => Ok(Completion::Completed),
                    Outcome::Skip => Ok(Completion::ignored_with(
                        result.message.clone().unwrap_or_default(),
                    )),
                    Outcome::Fail | Outcome::Error => Err(Failed::from(explain(&result))),
                };
                results.lock().expect("results lock").push(result);
                verdict
            })
            .with_ignored_flag(ignored)
        })
        .collect()
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

/// Runs one trial and turns what came back into a result.
pub fn judge(spec: &TrialSpec, opts: &RunOptions) -> CaseResult {
    let meta = &spec.case.scenario.meta;
    let mut result = CaseResult {
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
    };
    if let Some(reason) = unmet_need(spec, opts) {
        result.message = Some(reason);
        return result;
    }
    let deadline = meta
        .deadline
        .unwrap_or(DEFAULT_DEADLINE)
        .mul_f64(opts.time_scale.max(1.0));
    let token = NEXT_TOKEN.fetch_add(1, Ordering::Relaxed);
    let shared_dir = match opts.isolation {
        Isolation::Shared => match shared_temp_dir() {
            Ok(dir) => Some(dir),
            Err(e) => return error(result, format!("cannot create a private directory: {e}")),
        },
        _ => None,
    };
    let case_spec = CaseSpec {
        file: spec.case.path.clone(),
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
                "killed at its deadline of {:.1}s{at} (raise `deadline` in the case, or --time-scale on a slow machine)",
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

/// A shared-mode private directory, named after the runner's pid so a later run can sweep
/// it up if this one is killed with SIGKILL.
fn shared_temp_dir() -> std::io::Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix(&format!("sockspec-{}-", std::process::id()))
        .tempdir()
}

/// Removes private directories left by runners that were killed (their pid is gone).
pub fn sweep_stale_dirs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix("sockspec-")
            .and_then(|r| r.split('-').next())
        else {
            continue;
        };
        let Ok(pid) = pid.parse::<i32>() else {
            continue;
        };
        let alive = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok();
        if !alive {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
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

/// The text libtest-mimic prints for a failed or erroring trial: where, what, and what next.
pub fn explain(result: &CaseResult) -> String {
    let mut out = String::new();
    let kind = if result.outcome == Outcome::Fail {
        "FAIL"
    } else {
        "ERROR"
    };
    match &result.failure {
        Some(f) => {
            out.push_str(&format!(
                "{kind} {}:{}:{}: {}\n",
                result.file,
                f.line,
                f.column,
                squeeze(&f.statement)
            ));
            out.push_str(&format!(
                "    expected: {}\n    actual:   {}\n",
                f.expected, f.actual
            ));
            if let Some(h) = f.hint.as_ref().or(result.hint.as_ref()) {
                out.push_str(&format!("    hint:     {h}\n"));
            }
        }
        None => out.push_str(&format!(
            "{kind} {}: {}\n",
            result.file,
            result.message.as_deref().unwrap_or("no message")
        )),
    }
    if !result.transcript.is_empty() {
        out.push_str("    transcript:\n");
        out.push_str(&transcript_text(result, "      "));
    }
    out
}

/// The transcript as aligned text lines.
pub fn transcript_text(result: &CaseResult, indent: &str) -> String {
    let width = result
        .transcript
        .iter()
        .map(|s| squeeze(&s.statement).chars().count())
        .max()
        .unwrap_or(0)
        .min(48);
    let mut out = String::new();
    for step in &result.transcript {
        let mark = match step.status {
            StepStatus::Ok => "  ",
            StepStatus::Pending => "..",
            StepStatus::Mismatch => "!!",
            StepStatus::Error => "EE",
        };
        out.push_str(&format!(
            "{indent}{mark} {:>4} | {:<width$} -> {}  ({})\n",
            step.line,
            squeeze(&step.statement),
            step.result,
            human_duration(step.duration_us),
        ));
    }
    out
}

pub fn human_duration(us: u64) -> String {
    if us >= 1_000_000 {
        format!("{:.2}s", us as f64 / 1e6)
    } else if us >= 1000 {
        format!("{:.1}ms", us as f64 / 1e3)
    } else {
        format!("{us}us")
    }
}

/// A statement with its alignment spaces folded (outside string literals), for one-line
/// display.
fn squeeze(statement: &str) -> String {
    let (mut out, mut quoted, mut escaped, mut space) = (String::new(), false, false, false);
    for ch in statement.trim().chars() {
        if !quoted && ch.is_whitespace() {
            space = true;
            continue;
        }
        if space {
            out.push(' ');
            space = false;
        }
        if quoted && !escaped && ch == '"' {
            quoted = false;
        } else if !quoted && ch == '"' {
            quoted = true;
        }
        escaped = quoted && !escaped && ch == '\\';
        out.push(ch);
    }
    out
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

/// Trials that check properties with `inputs` generated inputs each.
pub fn property_trials(
    selected: Vec<(String, Property, Flavour)>,
    inputs: u32,
    results: &Results,
) -> Vec<Trial> {
    selected
        .into_iter()
        .map(|(name, property, flavour)| {
            let results = results.clone();
            Trial::test(name.clone(), move || {
                let started = std::time::Instant::now();
                let out = sockspec_engine::properties::check(property, flavour, inputs);
                let result = CaseResult {
                    name,
                    file: "(built-in property)".to_string(),
                    title: property.title().to_string(),
                    theme: "properties".to_string(),
                    flavour: Some(flavour.name().to_string()),
                    tags: vec!["property-based".to_string()],
                    claims: Vec::new(),
                    outcome: if out.passed { Outcome::Pass } else { Outcome::Fail },
                    message: Some(match &out.message {
                        Some(m) => m.clone(),
                        None => format!("{} generated inputs passed", out.inputs),
                    }),
                    failure: None,
                    transcript: out.transcript,
                    duration_us: started.elapsed().as_micros() as u64,
                    why: Some("a property over generated inputs finds the sizes no hand-written case thought of; a failure is shrunk to the smallest input that still fails".to_string()),
                    hint: None,
                    refs: vec!["man 7 socket".to_string(), "man 7 unix".to_string()],
                    source: None,
                    attempts: Vec::new(),
                    known_deviation: None,
                };
                let verdict = if out.passed { Ok(()) } else { Err(Failed::from(explain(&result))) };
                results.lock().expect("results lock").push(result);
                verdict
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::squeeze;

    #[test]
    fn squeeze_folds_alignment_but_not_string_contents() {
        assert_eq!(
            squeeze("recv(s, 64)      = \"a  b\"  "),
            "recv(s, 64) = \"a  b\""
        );
        assert_eq!(
            squeeze("send(c, \"x\\\"  y\")   = 5"),
            "send(c, \"x\\\"  y\") = 5"
        );
    }
}
