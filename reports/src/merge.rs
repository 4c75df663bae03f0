//! Combining reports: a matrix of several runs (`report merge`), what changed between two
//! runs (`report diff`), and the shards of one partitioned run joined back into one report.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::claims::claim_verdicts;
use crate::error::ReportError;
use crate::model::{CaseResult, ClaimInfo, Environment, Outcome, RunReport, FORMAT_VERSION};

/// Several runs side by side: cases × runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Merged {
    pub format_version: u32,
    /// The runs, in the order given; `cells` of every row follow this order.
    pub runs: Vec<MergedRun>,
    /// One row per case name seen in any run, sorted by name.
    pub rows: Vec<MatrixRow>,
    /// One row per claim seen in any run, sorted by id.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub claims: Vec<ClaimRow>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MergedRun {
    /// Unique among the runs: the run's `--label`, else its kernel release, with ` (2)`, ` (3)`…
    /// added when two runs would share one.
    pub label: String,
    pub environment: Environment,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatrixRow {
    pub name: String,
    pub theme: String,
    pub title: String,
    /// One cell per run; `None` where the run did not have the case.
    pub cells: Vec<Option<MatrixCell>>,
    /// The runs that have the case did not all reach the same outcome.
    pub disagree: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatrixCell {
    pub outcome: Outcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// What the deciding step observed, when the case failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actual: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub known_deviation: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub flaky: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClaimRow {
    pub id: String,
    pub claim: String,
    /// One verdict per run; `None` where the run had no verdict for the claim.
    pub verdicts: Vec<Option<String>>,
    pub disagree: bool,
}

/// Labels from each run's environment, made unique.
fn labels(envs: &[&Environment]) -> Vec<String> {
    let mut seen = HashSet::new();
    envs.iter()
        .enumerate()
        .map(|(i, env)| {
            let base = if !env.label.is_empty() {
                env.label.clone()
            } else if !env.kernel_release.is_empty() {
                env.kernel_release.clone()
            } else {
                format!("run {}", i + 1)
            };
            let mut label = base.clone();
            let mut n = 2;
            while !seen.insert(label.clone()) {
                label = format!("{base} ({n})");
                n += 1;
            }
            label
        })
        .collect()
}

fn cell(case: &CaseResult) -> MatrixCell {
    MatrixCell {
        outcome: case.outcome,
        message: case.message.clone(),
        actual: case.failure.as_ref().map(|f| f.actual.clone()),
        known_deviation: case.known_deviation.clone(),
        flaky: crate::common::is_flaky(case),
    }
}

/// Builds the matrix of `runs`, labelled by each run's environment.
pub fn merge(runs: Vec<RunReport>) -> Merged {
    let labels = labels(&runs.iter().map(|r| &r.environment).collect::<Vec<_>>());
    let mut rows: BTreeMap<&str, MatrixRow> = BTreeMap::new();
    for (i, run) in runs.iter().enumerate() {
        for case in &run.cases {
            let row = rows.entry(case.name.as_str()).or_insert_with(|| MatrixRow {
                name: case.name.clone(),
                theme: case.theme.clone(),
                title: case.title.clone(),
                cells: vec![None; runs.len()],
                disagree: false,
            });
            if row.cells[i].is_none() {
                row.cells[i] = Some(cell(case));
            }
        }
    }
    let mut rows: Vec<MatrixRow> = rows.into_values().collect();
    for row in &mut rows {
        let outcomes: BTreeSet<Outcome> = row.cells.iter().flatten().map(|c| c.outcome).collect();
        row.disagree = outcomes.len() > 1;
    }

    let mut claims: BTreeMap<&str, ClaimRow> = BTreeMap::new();
    for (i, run) in runs.iter().enumerate() {
        for verdict in &run.claims {
            let row = claims
                .entry(verdict.id.as_str())
                .or_insert_with(|| ClaimRow {
                    id: verdict.id.clone(),
                    claim: verdict.claim.clone(),
                    verdicts: vec![None; runs.len()],
                    disagree: false,
                });
            row.verdicts[i] = Some(verdict.verdict.clone());
        }
    }
    let mut claims: Vec<ClaimRow> = claims.into_values().collect();
    for row in &mut claims {
        let verdicts: BTreeSet<&String> = row.verdicts.iter().flatten().collect();
        row.disagree = verdicts.len() > 1;
    }

    let runs = runs
        .iter()
        .zip(labels)
        .map(|(run, label)| MergedRun {
            label,
            environment: run.environment.clone(),
        })
        .collect();
    Merged {
        format_version: FORMAT_VERSION,
        runs,
        rows,
        claims,
    }
}

/// A case whose outcome differs between the two runs (or that only one run has).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub name: String,
    pub before: Option<Outcome>,
    pub after: Option<Outcome>,
    /// Why it did not pass in the later run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// A case that failed in both runs but on a different line or with a different observation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedChange {
    pub name: String,
    pub statement: String,
    pub line_before: usize,
    pub line_after: usize,
    pub before: String,
    pub after: String,
}

/// What changed from run `a` to run `b`. A case new in `b` that fails is both in `added` and in
/// `newly_failing`, so a gate on `newly_failing` catches it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Diff {
    pub before: String,
    pub after: String,
    /// Did not fail or error before (or did not exist), fails or errors now.
    pub newly_failing: Vec<Change>,
    /// Failed or errored before, passes now.
    pub newly_passing: Vec<Change>,
    /// Every other outcome change (e.g. pass → skip).
    pub other_changes: Vec<Change>,
    pub added: Vec<Change>,
    pub removed: Vec<Change>,
    pub observed_changes: Vec<ObservedChange>,
}

impl Diff {
    pub fn is_empty(&self) -> bool {
        self.newly_failing.is_empty()
            && self.newly_passing.is_empty()
            && self.other_changes.is_empty()
            && self.added.is_empty()
            && self.removed.is_empty()
            && self.observed_changes.is_empty()
    }
}

fn bad(outcome: Option<Outcome>) -> bool {
    matches!(outcome, Some(Outcome::Fail | Outcome::Error))
}

/// What changed from `a` to `b`, case by case (cases in name order).
pub fn diff(a: &RunReport, b: &RunReport) -> Diff {
    let labels = labels(&[&a.environment, &b.environment]);
    let before: BTreeMap<&str, &CaseResult> =
        a.cases.iter().map(|c| (c.name.as_str(), c)).collect();
    let after: BTreeMap<&str, &CaseResult> = b.cases.iter().map(|c| (c.name.as_str(), c)).collect();
    let names: BTreeSet<&str> = before.keys().chain(after.keys()).copied().collect();
    let mut d = Diff {
        before: labels[0].clone(),
        after: labels[1].clone(),
        ..Diff::default()
    };
    for name in names {
        let (x, y) = (before.get(name), after.get(name));
        let change = Change {
            name: name.to_string(),
            before: x.map(|c| c.outcome),
            after: y.map(|c| c.outcome),
            message: y
                .filter(|c| bad(Some(c.outcome)))
                .map(|c| crate::common::why_not(c)),
        };
        if x.is_none() {
            d.added.push(change.clone());
        }
        if y.is_none() {
            d.removed.push(change);
            continue;
        }
        if change.before == change.after {
            if let (Some(fx), Some(fy)) = (
                x.and_then(|c| c.failure.as_ref()),
                y.and_then(|c| c.failure.as_ref()),
            ) {
                if fx.line != fy.line || fx.actual != fy.actual {
                    d.observed_changes.push(ObservedChange {
                        name: name.to_string(),
                        statement: fy.statement.clone(),
                        line_before: fx.line,
                        line_after: fy.line,
                        before: fx.actual.clone(),
                        after: fy.actual.clone(),
                    });
                }
            }
        } else if !bad(change.before) && bad(change.after) {
            d.newly_failing.push(change);
        } else if bad(change.before) && change.after == Some(Outcome::Pass) {
            d.newly_passing.push(change);
        } else if change.before.is_some() {
            d.other_changes.push(change);
        }
    }
    d
}

fn outcome_word(outcome: Option<Outcome>) -> &'static str {
    outcome.map(Outcome::as_str).unwrap_or("absent")
}

/// The diff as text for the terminal.
pub fn render_diff_text(d: &Diff) -> String {
    let mut out = format!("{} → {}\n", d.before, d.after);
    if d.is_empty() {
        out.push_str("no change\n");
        return out;
    }
    let mut section = |title: &str, changes: &[Change]| {
        if changes.is_empty() {
            return;
        }
        let _ = writeln!(out, "\n{title} ({}):", changes.len());
        for c in changes {
            let _ = write!(
                out,
                "  {}  {} → {}",
                c.name,
                outcome_word(c.before),
                outcome_word(c.after)
            );
            if let Some(m) = &c.message {
                let _ = write!(out, "  ({m})");
            }
            out.push('\n');
        }
    };
    section("Newly failing", &d.newly_failing);
    section("Newly passing", &d.newly_passing);
    section("Other outcome changes", &d.other_changes);
    section("Added cases", &d.added);
    section("Removed cases", &d.removed);
    if !d.observed_changes.is_empty() {
        let _ = writeln!(
            out,
            "\nChanged observations ({}):",
            d.observed_changes.len()
        );
        for o in &d.observed_changes {
            let _ = writeln!(out, "  {}  line {}: {}", o.name, o.line_after, o.statement);
            let _ = writeln!(out, "      before (line {}): {}", o.line_before, o.before);
            let _ = writeln!(out, "      after:  {}", o.after);
        }
    }
    out
}

/// Joins the shards of one partitioned run into one report: cases sorted by name, claims
/// recomputed from all cases. The shards must come from one environment (same tool, OS,
/// kernel, arch) and must not share a case.
pub fn join_shards(shards: Vec<RunReport>) -> Result<RunReport, ReportError> {
    let mut shards = shards.into_iter();
    let mut joined = shards.next().ok_or(ReportError::NoShards)?;
    let mut register: BTreeMap<String, ClaimInfo> = joined
        .claims
        .iter()
        .map(|v| (v.id.clone(), ClaimInfo::from(v)))
        .collect();
    let mut had_claims = !joined.claims.is_empty();
    for (i, shard) in shards.enumerate() {
        let (e0, e1) = (&joined.environment, &shard.environment);
        let fields: [(&'static str, &String, &String); 5] = [
            ("tool version", &e0.tool_version, &e1.tool_version),
            ("OS", &e0.os, &e1.os),
            ("kernel release", &e0.kernel_release, &e1.kernel_release),
            ("kernel version", &e0.kernel_version, &e1.kernel_version),
            ("architecture", &e0.arch, &e1.arch),
        ];
        for (field, first, other) in fields {
            if first != other {
                return Err(ReportError::ShardMismatch {
                    index: i + 2,
                    field,
                    first: first.clone(),
                    other: other.clone(),
                });
            }
        }
        if e1.started_at < joined.environment.started_at {
            joined.environment.started_at = e1.started_at.clone();
        }
        joined.environment.duration_ms = joined.environment.duration_ms.max(e1.duration_ms);
        joined.format_version = joined.format_version.max(shard.format_version);
        joined.cases.extend(shard.cases);
        had_claims |= !shard.claims.is_empty();
        for v in &shard.claims {
            register
                .entry(v.id.clone())
                .or_insert_with(|| ClaimInfo::from(v));
        }
        for (name, m) in shard.measurements {
            joined.measurements.entry(name).or_insert(m);
        }
        if joined.properties.is_empty() {
            joined.properties = shard.properties;
        }
    }
    joined.cases.sort_by(|a, b| a.name.cmp(&b.name));
    if let Some(w) = joined.cases.windows(2).find(|w| w[0].name == w[1].name) {
        return Err(ReportError::DuplicateCase {
            name: w[0].name.clone(),
        });
    }
    if had_claims {
        let register: Vec<ClaimInfo> = register.into_values().collect();
        joined.claims = claim_verdicts(&joined.cases, &register);
    }
    Ok(joined)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{case, sample_report};

    fn run(label: &str, outcomes: &[(&str, Outcome)]) -> RunReport {
        let mut r = sample_report();
        r.environment.label = label.into();
        r.cases = outcomes.iter().map(|(n, o)| case(n, *o)).collect();
        r
    }

    #[test]
    fn merge_lines_up_cases_and_marks_disagreements() {
        let a = run("6.1", &[("tcp/a", Outcome::Pass), ("tcp/b", Outcome::Pass)]);
        let b = run(
            "6.8",
            &[
                ("tcp/a", Outcome::Pass),
                ("tcp/b", Outcome::Fail),
                ("tcp/c", Outcome::Skip),
            ],
        );
        let m = merge(vec![a, b]);
        assert_eq!(
            m.runs.iter().map(|r| r.label.as_str()).collect::<Vec<_>>(),
            ["6.1", "6.8"]
        );
        assert_eq!(
            m.rows.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
            ["tcp/a", "tcp/b", "tcp/c"]
        );
        assert!(!m.rows[0].disagree);
        assert!(m.rows[1].disagree);
        assert!(
            !m.rows[2].disagree,
            "a case only one run has is not a disagreement"
        );
        assert!(m.rows[2].cells[0].is_none());
        assert_eq!(m.claims.len(), 3);
        assert!(!m.claims[0].disagree);
    }

    #[test]
    fn labels_fall_back_to_the_kernel_and_are_made_unique() {
        let a = run("", &[]);
        let b = run("", &[]);
        let mut c = run("", &[]);
        c.environment.kernel_release.clear();
        let m = merge(vec![a, b, c]);
        let labels: Vec<_> = m.runs.iter().map(|r| r.label.as_str()).collect();
        assert_eq!(
            labels,
            ["6.8.0-45-generic", "6.8.0-45-generic (2)", "run 3"]
        );
    }

    #[test]
    fn merged_round_trips_through_json() {
        let m = merge(vec![sample_report(), sample_report()]);
        let text = crate::json::merged_to_json(&m);
        let back = crate::json::merged_from_json(&text).unwrap();
        assert_eq!(back, m);
        assert_eq!(crate::json::merged_to_json(&back), text);
    }

    #[test]
    fn diff_sorts_changes_into_kinds() {
        let a = run(
            "old",
            &[
                ("t/regress", Outcome::Pass),
                ("t/fixed", Outcome::Fail),
                ("t/skipped-now", Outcome::Pass),
                ("t/gone", Outcome::Pass),
                ("t/same", Outcome::Pass),
            ],
        );
        let b = run(
            "new",
            &[
                ("t/regress", Outcome::Error),
                ("t/fixed", Outcome::Pass),
                ("t/skipped-now", Outcome::Skip),
                ("t/new-failing", Outcome::Fail),
                ("t/same", Outcome::Pass),
            ],
        );
        let d = diff(&a, &b);
        let names = |v: &[Change]| v.iter().map(|c| c.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(&d.newly_failing), ["t/new-failing", "t/regress"]);
        assert_eq!(names(&d.newly_passing), ["t/fixed"]);
        assert_eq!(names(&d.other_changes), ["t/skipped-now"]);
        assert_eq!(names(&d.added), ["t/new-failing"]);
        assert_eq!(names(&d.removed), ["t/gone"]);
        let text = render_diff_text(&d);
        assert!(text.starts_with("old → new\n"), "{text}");
        assert!(
            text.contains("Newly failing (2):\n  t/new-failing  absent → fail"),
            "{text}"
        );
        assert!(text.contains("  t/regress  pass → error"), "{text}");
    }

    #[test]
    fn diff_reports_a_changed_observation_on_the_deciding_step() {
        let a = sample_report();
        let mut b = sample_report();
        b.cases[0].failure.as_mut().unwrap().actual = "\"abc\" (3 bytes)".into();
        let d = diff(&a, &b);
        assert_eq!(d.observed_changes.len(), 1);
        assert_eq!(d.observed_changes[0].after, "\"abc\" (3 bytes)");
        assert!(diff(&a, &a).is_empty());
        assert!(render_diff_text(&diff(&a, &a)).ends_with("no change\n"));
    }

    #[test]
    fn shards_join_back_into_the_whole_run() {
        let whole = crate::test_support::big_report(40);
        let shards: Vec<RunReport> = (1..=3)
            .map(|k| {
                let mut s = whole.clone();
                s.cases
                    .retain(|c| crate::partition::in_partition(&c.name, k, 3));
                s
            })
            .collect();
        assert!(shards.iter().all(|s| !s.cases.is_empty()));
        let joined = join_shards(shards).unwrap();
        let mut expected = whole.cases.clone();
        expected.sort_by(|a, b| a.name.cmp(&b.name));
        assert_eq!(joined.cases, expected);
        let register: Vec<ClaimInfo> = whole.claims.iter().map(ClaimInfo::from).collect();
        assert_eq!(joined.claims, claim_verdicts(&expected, &register));
    }

    #[test]
    fn shards_from_different_kernels_or_overlapping_are_refused() {
        let a = sample_report();
        let mut b = sample_report();
        b.environment.kernel_release = "6.9.0".into();
        let err = join_shards(vec![a.clone(), b]).unwrap_err();
        assert!(
            err.to_string().contains("kernel release (`6.9.0`)"),
            "{err}"
        );
        assert!(matches!(
            join_shards(vec![a.clone(), a]),
            Err(ReportError::DuplicateCase { .. })
        ));
        assert!(matches!(join_shards(vec![]), Err(ReportError::NoShards)));
    }
}
