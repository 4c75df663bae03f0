//! Baselines: the known deviations of a platform (`known.toml`), so CI stays green on a known
//! kernel bug while still catching new failures and noticing when a listed one is fixed.
//!
//! ```toml
//! [[deviation]]
//! case = "stream-message/coalesce*"   # a case name, or a glob: `*` any run, `?` one char
//! platform = "linux"                   # optional: compared with the run's `os`
//! kernel = ">=6.1, <6.9"               # optional: comparators on the release's numbers
//! reason = "Linux merges the two segments"
//! link = "tracking issue or mailing-list thread"
//! ```
//!
//! Every entry needs `case` and at least one of `reason` or `link`. A `kernel` range is a
//! comma-separated list of `>=`, `>`, `<=`, `<` and `=` comparators that must all hold; a bare
//! version (`6.8`) or `=6.8` matches every release starting with those numbers (6.8.0-45-…).
//!
//! How a listed case is represented: a listed `fail` keeps `outcome = fail` and gets
//! `known_deviation = Some(reason)`. The model stays truthful (the kernel does differ), the
//! renderers show it as an expected failure, and the CLI must not count it towards the exit
//! status. A listed `error` is left alone: the harness could not judge, which a baseline of
//! kernel behaviour cannot excuse. A listed case that passed is an *unexpected pass*, returned
//! so the CLI can say the entry may be removed.

use std::fmt::{self, Write as _};

use serde::Deserialize;
use thiserror::Error;

use crate::model::{Outcome, RunReport};

/// One `[[deviation]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deviation {
    pub case: String,
    #[serde(default)]
    pub platform: Option<String>,
    #[serde(default)]
    pub kernel: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub link: Option<String>,
}

impl Deviation {
    /// What a listed failure records as its `known_deviation`.
    pub fn note(&self) -> String {
        match (&self.reason, &self.link) {
            (Some(r), Some(l)) => format!("{r} ({l})"),
            (Some(r), None) => r.clone(),
            (None, Some(l)) => l.clone(),
            (None, None) => "listed in the baseline".into(),
        }
    }
}

/// A parsed, checked baseline.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Baseline {
    #[serde(default)]
    pub deviation: Vec<Deviation>,
}

/// One mistake in one entry; entries are numbered from 1 as they appear in the file.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DeviationProblem {
    #[error("deviation {0}: `case` is empty")]
    EmptyCase(usize),
    #[error("deviation {0} (`{1}`): give a `reason` or a `link` so the next reader knows why")]
    NoReason(usize, String),
    #[error("deviation {index} (`{case}`): kernel range `{range}`: {problem}")]
    BadKernelRange {
        index: usize,
        case: String,
        range: String,
        problem: String,
    },
}

#[derive(Debug, Error)]
pub enum BaselineError {
    #[error("cannot read the baseline as TOML")]
    Toml(#[source] toml::de::Error),
    #[error("the baseline has {} problem(s):\n{}", .0.len(), ProblemList(.0))]
    Invalid(Vec<DeviationProblem>),
}

struct ProblemList<'a>(&'a [DeviationProblem]);

impl fmt::Display for ProblemList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in self.0 {
            writeln!(f, "  - {p}")?;
        }
        Ok(())
    }
}

/// Parses and checks a baseline, reporting every problem at once.
pub fn parse_baseline(text: &str) -> Result<Baseline, BaselineError> {
    let baseline: Baseline = toml::from_str(text).map_err(BaselineError::Toml)?;
    let mut problems = Vec::new();
    for (i, d) in baseline.deviation.iter().enumerate() {
        let index = i + 1;
        if d.case.trim().is_empty() {
            problems.push(DeviationProblem::EmptyCase(index));
        }
        if d.reason.as_deref().is_none_or(|r| r.trim().is_empty())
            && d.link.as_deref().is_none_or(|l| l.trim().is_empty())
        {
            problems.push(DeviationProblem::NoReason(index, d.case.clone()));
        }
        if let Some(range) = &d.kernel {
            if let Err(problem) = KernelRange::parse(range) {
                problems.push(DeviationProblem::BadKernelRange {
                    index,
                    case: d.case.clone(),
                    range: range.clone(),
                    problem,
                });
            }
        }
    }
    if problems.is_empty() {
        Ok(baseline)
    } else {
        Err(BaselineError::Invalid(problems))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Ge,
    Gt,
    Le,
    Lt,
    /// Equal on the numbers given: `6.8` matches 6.8.0 and 6.8.12.
    Prefix,
}

/// A conjunction of comparators on kernel version numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
struct KernelRange(Vec<(Op, Vec<u64>)>);

impl KernelRange {
    fn parse(text: &str) -> Result<KernelRange, String> {
        let mut parts = Vec::new();
        for part in text.split(',') {
            let part = part.trim();
            let (op, version) = [
                (">=", Op::Ge),
                ("<=", Op::Le),
                ("==", Op::Prefix),
                (">", Op::Gt),
                ("<", Op::Lt),
                ("=", Op::Prefix),
            ]
            .iter()
            .find_map(|(p, op)| part.strip_prefix(p).map(|v| (*op, v.trim())))
            .unwrap_or((Op::Prefix, part));
            if version.is_empty() {
                return Err(format!("`{part}` has no version; write e.g. `>=6.1`"));
            }
            let numbers: Result<Vec<u64>, _> = version.split('.').map(str::parse::<u64>).collect();
            match numbers {
                Ok(n) => parts.push((op, n)),
                Err(_) => {
                    return Err(format!(
                        "`{version}` is not a version like `6.1` or `5.15.0`"
                    ))
                }
            }
        }
        Ok(KernelRange(parts))
    }

    fn contains(&self, release: &[u64]) -> bool {
        self.0.iter().all(|(op, v)| {
            let width = v.len().max(release.len());
            let pad = |x: &[u64]| {
                (0..width)
                    .map(|i| x.get(i).copied().unwrap_or(0))
                    .collect::<Vec<_>>()
            };
            let (r, v2) = (pad(release), pad(v));
            match op {
                Op::Ge => r >= v2,
                Op::Gt => r > v2,
                Op::Le => r <= v2,
                Op::Lt => r < v2,
                Op::Prefix => release.len() >= v.len() && release[..v.len()] == v[..],
            }
        })
    }
}

/// The leading numbers of a kernel release: `6.8.0-45-generic` → `[6, 8, 0]`.
fn release_numbers(release: &str) -> Vec<u64> {
    let end = release
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(release.len());
    release[..end]
        .split('.')
        .map_while(|p| p.parse().ok())
        .collect()
}

/// `*` matches any run of characters (slashes included), `?` exactly one.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

impl Baseline {
    /// The entries that apply to this run's platform and kernel.
    pub fn applicable<'a>(&'a self, report: &RunReport) -> Vec<(usize, &'a Deviation)> {
        let env = &report.environment;
        let release = release_numbers(&env.kernel_release);
        self.deviation
            .iter()
            .enumerate()
            .filter(|(_, d)| {
                d.platform
                    .as_deref()
                    .is_none_or(|p| p.eq_ignore_ascii_case(&env.os))
            })
            .filter(|(_, d)| match &d.kernel {
                None => true,
                // A release without numbers matches no range rather than every range.
                Some(range) => {
                    !release.is_empty()
                        && KernelRange::parse(range).is_ok_and(|r| r.contains(&release))
                }
            })
            .collect()
    }
}

/// A listed case that passed: its entry may be stale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnexpectedPass {
    pub case: String,
    /// 1-based entry number in the baseline.
    pub entry: usize,
    pub note: String,
}

/// What applying a baseline did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Applied {
    /// Failures now marked as known deviations.
    pub expected_failures: Vec<String>,
    pub unexpected_passes: Vec<UnexpectedPass>,
    /// 1-based numbers of applicable entries that matched no case of the run.
    pub unused: Vec<usize>,
}

/// Marks the listed failures of `report` as known deviations and returns what happened.
pub fn apply(report: &mut RunReport, baseline: &Baseline) -> Applied {
    let entries = baseline.applicable(report);
    let mut used = vec![false; entries.len()];
    let mut applied = Applied::default();
    for case in &mut report.cases {
        let Some((slot, (index, dev))) = entries
            .iter()
            .enumerate()
            .find(|(_, (_, d))| glob_match(&d.case, &case.name))
        else {
            continue;
        };
        used[slot] = true;
        match case.outcome {
            Outcome::Fail => {
                case.known_deviation = Some(dev.note());
                applied.expected_failures.push(case.name.clone());
            }
            Outcome::Pass => applied.unexpected_passes.push(UnexpectedPass {
                case: case.name.clone(),
                entry: index + 1,
                note: dev.note(),
            }),
            Outcome::Error | Outcome::Skip => {}
        }
    }
    applied.unused = entries
        .iter()
        .zip(used)
        .filter(|(_, u)| !u)
        .map(|((i, _), _)| i + 1)
        .collect();
    applied
}

/// A TOML basic string.
fn toml_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A baseline listing every failure of `report` (not errors: those need fixing, not listing),
/// limited to the run's platform. Reasons default to the failure message; edit them.
pub fn write_baseline(report: &RunReport) -> String {
    let env = &report.environment;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# sockspec baseline: known deviations, written from a run on {} {} ({}).",
        env.os, env.kernel_release, env.started_at
    );
    out.push_str("# Each entry turns a listed failure into an expected failure. Give a real reason or link.\n");
    let mut failing: Vec<_> = report
        .cases
        .iter()
        .filter(|c| c.outcome == Outcome::Fail)
        .collect();
    failing.sort_by(|a, b| a.name.cmp(&b.name));
    for case in failing {
        let reason = case
            .known_deviation
            .clone()
            .unwrap_or_else(|| crate::common::why_not(case));
        let _ = write!(
            out,
            "\n[[deviation]]\ncase = {}\nplatform = {}\n# seen on kernel {}\nreason = {}\n",
            toml_str(&case.name),
            toml_str(&env.os),
            env.kernel_release,
            toml_str(&reason)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{case, sample_report};

    #[test]
    fn globs_match_names() {
        assert!(glob_match(
            "stream-message/coalesce*",
            "stream-message/coalesce[tcp4]"
        ));
        assert!(glob_match("*", "anything/at/all"));
        assert!(glob_match("a?c", "abc"));
        assert!(glob_match("*/x*y", "a/b/xzzy"));
        assert!(!glob_match("udp/*", "tcp/a"));
        assert!(!glob_match("a?c", "ac"));
        assert!(glob_match("exact", "exact") && !glob_match("exact", "exactly"));
    }

    #[test]
    fn kernel_ranges() {
        let r = KernelRange::parse(">=6.1, <6.9").unwrap();
        assert!(r.contains(&release_numbers("6.1.0-13-amd64")));
        assert!(r.contains(&release_numbers("6.8.12")));
        assert!(!r.contains(&release_numbers("6.9")));
        assert!(!r.contains(&release_numbers("5.15.0-91-generic")));
        let p = KernelRange::parse("6.8").unwrap();
        assert!(p.contains(&[6, 8, 0]) && !p.contains(&[6, 9, 0]) && !p.contains(&[6]));
        assert!(KernelRange::parse(">=").is_err());
        assert!(KernelRange::parse(">=six").is_err());
    }

    const KNOWN: &str = r#"
[[deviation]]
case = "stream-message/coalesce*"
platform = "linux"
kernel = ">=6.1, <6.9"
reason = "segments merge"
link = "bug-123"

[[deviation]]
case = "udp/sendto-connected"
reason = "flaky on this box"

[[deviation]]
case = "never/*"
link = "nothing matches"

[[deviation]]
case = "freebsd/only"
platform = "freebsd"
reason = "not on linux"
"#;

    #[test]
    fn apply_marks_failures_and_reports_unexpected_passes() {
        let mut report = sample_report();
        let baseline = parse_baseline(KNOWN).unwrap();
        let applied = apply(&mut report, &baseline);
        assert_eq!(applied.expected_failures, ["stream-message/coalesce[tcp4]"]);
        assert_eq!(
            report.cases[0].known_deviation.as_deref(),
            Some("segments merge (bug-123)")
        );
        assert_eq!(
            report.cases[0].outcome,
            Outcome::Fail,
            "the outcome stays truthful"
        );
        assert_eq!(applied.unexpected_passes.len(), 1);
        assert_eq!(applied.unexpected_passes[0].case, "udp/sendto-connected");
        assert_eq!(applied.unexpected_passes[0].entry, 2);
        assert_eq!(
            applied.unused,
            [3],
            "the freebsd entry does not apply here at all"
        );
    }

    #[test]
    fn kernel_outside_the_range_keeps_the_failure() {
        let mut report = sample_report();
        report.environment.kernel_release = "6.10.0".into();
        let applied = apply(&mut report, &parse_baseline(KNOWN).unwrap());
        assert!(applied.expected_failures.is_empty());
        assert!(report.cases[0].known_deviation.is_none());
    }

    #[test]
    fn errors_are_not_excused() {
        let mut report = sample_report();
        let baseline =
            parse_baseline("[[deviation]]\ncase = \"udp/bad-scenario\"\nreason = \"x\"\n").unwrap();
        let applied = apply(&mut report, &baseline);
        assert!(applied.expected_failures.is_empty());
        assert!(report.cases.iter().all(|c| c.known_deviation.is_none()));
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let text = "[[deviation]]\ncase = \"\"\n\n[[deviation]]\ncase = \"a\"\nkernel = \">=x\"\nreason = \"r\"\n";
        let Err(BaselineError::Invalid(problems)) = parse_baseline(text) else {
            panic!("expected problems")
        };
        assert_eq!(problems.len(), 3, "{problems:?}");
        let message = BaselineError::Invalid(problems).to_string();
        assert!(
            message.contains("3 problem(s)") && message.contains("deviation 2 (`a`): kernel range"),
            "{message}"
        );
    }

    #[test]
    fn unknown_keys_and_bad_toml_are_refused() {
        assert!(matches!(
            parse_baseline("[[deviation]]\ncase = \"a\"\nreson = \"typo\"\n"),
            Err(BaselineError::Toml(_))
        ));
        assert!(matches!(
            parse_baseline("[[deviation]\n"),
            Err(BaselineError::Toml(_))
        ));
        assert_eq!(parse_baseline("").unwrap(), Baseline::default());
    }

    #[test]
    fn a_written_baseline_excuses_exactly_the_run_it_came_from() {
        let mut report = sample_report();
        report.cases.push({
            let mut c = case("tcp/quote\"and\\back", Outcome::Fail);
            c.message = Some("line\nbreak".into());
            c
        });
        let text = write_baseline(&report);
        assert!(
            text.contains("case = \"tcp/quote\\\"and\\\\back\""),
            "{text}"
        );
        let baseline = parse_baseline(&text).unwrap();
        assert_eq!(
            baseline.deviation.len(),
            2,
            "failures only, not errors: {text}"
        );
        let applied = apply(&mut report, &baseline);
        assert_eq!(applied.expected_failures.len(), 2);
        assert!(applied.unexpected_passes.is_empty() && applied.unused.is_empty());
    }
}
