//! Verdicts on course claims, computed from the cases that decide them.
//!
//! A case links a claim with a stance: what a *pass* of the case says of the claim (`holds`,
//! `refutes`, `partly`). A failed or errored case says nothing about the claim, only that the
//! case and the kernel disagree, so it leaves the claim `undecided`; so does a claim whose
//! deciding cases were all skipped or never selected.
//!
//! A claim of the register lists its sub-assertions (points), each with the cases deciding
//! it. Each point is decided by the rule above from its own cases, and the claim from all of
//! its points ([`combine_points`]): a point that no case decided leaves the claim
//! `undecided`, never `holds`.

use std::collections::BTreeMap;

use crate::model::{CaseResult, ClaimInfo, ClaimVerdict, Outcome, PointInfo};

impl From<&ClaimVerdict> for ClaimInfo {
    fn from(v: &ClaimVerdict) -> ClaimInfo {
        ClaimInfo {
            id: v.id.clone(),
            source: v.source.clone(),
            section: v.section.clone(),
            claim: v.claim.clone(),
            explanation: v.explanation.clone(),
            points: Vec::new(),
        }
    }
}

/// One verdict per register entry, in register order. `explanation` is copied from the
/// register; `reason` says why a verdict is `undecided`.
pub fn claim_verdicts(cases: &[CaseResult], register: &[ClaimInfo]) -> Vec<ClaimVerdict> {
    let mut deciding: BTreeMap<&str, Vec<(&CaseResult, &str)>> = BTreeMap::new();
    for case in cases {
        for link in &case.claims {
            deciding
                .entry(link.id.as_str())
                .or_default()
                .push((case, link.stance.as_str()));
        }
    }
    register
        .iter()
        .map(|info| {
            let links = deciding
                .get(info.id.as_str())
                .map(Vec::as_slice)
                .unwrap_or_default();
            let mut names: Vec<String> = links.iter().map(|(c, _)| c.name.clone()).collect();
            names.sort();
            names.dedup();
            let (verdict, reason) = if info.points.is_empty() {
                decide(links)
            } else {
                decide_points(&info.points, links)
            };
            ClaimVerdict {
                id: info.id.clone(),
                source: info.source.clone(),
                section: info.section.clone(),
                claim: info.claim.clone(),
                verdict: verdict.to_string(),
                explanation: info.explanation.clone(),
                reason,
                cases: names,
            }
        })
        .collect()
}

/// Whether trial `name` (`shutdown/x` or `shutdown/x[tcp4]`) is a trial of case `rel`.
pub fn is_trial_of(name: &str, rel: &str) -> bool {
    name.strip_prefix(rel)
        .is_some_and(|rest| rest.is_empty() || (rest.starts_with('[') && rest.ends_with(']')))
}

/// A claim's verdict from its points' verdicts: `undecided` when any point is, `holds` or
/// `does-not-hold` when every point says so, `partly` otherwise.
pub fn combine_points<'a>(verdicts: impl IntoIterator<Item = &'a str>) -> &'static str {
    let (mut holds, mut refuted, mut other) = (0, 0, 0);
    for v in verdicts {
        match v {
            "undecided" => return "undecided",
            "holds" => holds += 1,
            "does-not-hold" => refuted += 1,
            _ => other += 1,
        }
    }
    match (holds, refuted, other) {
        (0, 0, 0) => "undecided",
        (_, 0, 0) => "holds",
        (0, _, 0) => "does-not-hold",
        _ => "partly",
    }
}

fn decide_points(
    points: &[PointInfo],
    links: &[(&CaseResult, &str)],
) -> (&'static str, Option<String>) {
    let mut verdicts = Vec::new();
    for (n, point) in points.iter().enumerate() {
        let own: Vec<(&CaseResult, &str)> = links
            .iter()
            .filter(|(c, _)| point.cases.iter().any(|rel| is_trial_of(&c.name, rel)))
            .copied()
            .collect();
        let (verdict, reason) = decide(&own);
        if verdict == "undecided" {
            let why = reason.unwrap_or_default();
            return (
                "undecided",
                Some(format!("point {} ({}): {why}", n + 1, point.says)),
            );
        }
        verdicts.push(verdict);
    }
    (combine_points(verdicts), None)
}

fn decide(links: &[(&CaseResult, &str)]) -> (&'static str, Option<String>) {
    let ran: Vec<_> = links
        .iter()
        .filter(|(c, _)| c.outcome != Outcome::Skip)
        .collect();
    if ran.is_empty() {
        return ("undecided", Some("no deciding case ran".into()));
    }
    let bad: Vec<_> = ran
        .iter()
        .filter(|(c, _)| matches!(c.outcome, Outcome::Fail | Outcome::Error))
        .collect();
    if let Some((first, _)) = bad.first() {
        let more = if bad.len() > 1 {
            format!(" and {} more", bad.len() - 1)
        } else {
            String::new()
        };
        let word = if first.outcome == Outcome::Fail {
            "failed"
        } else {
            "errored"
        };
        return (
            "undecided",
            Some(format!("case `{}` {word}{more}", first.name)),
        );
    }
    let (mut holds, mut refutes, mut partly) = (0, 0, 0);
    for (case, stance) in &ran {
        match *stance {
            "holds" => holds += 1,
            "refutes" => refutes += 1,
            "partly" => partly += 1,
            other => {
                return (
                    "undecided",
                    Some(format!(
                        "case `{}` has an unknown stance `{other}`",
                        case.name
                    )),
                );
            }
        }
    }
    if partly > 0 || (holds > 0 && refutes > 0) {
        ("partly", None)
    } else if refutes > 0 {
        ("does-not-hold", None)
    } else {
        ("holds", None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ClaimLink;
    use crate::test_support::case;

    fn info(id: &str) -> ClaimInfo {
        ClaimInfo {
            id: id.into(),
            source: "notes".into(),
            section: "1".into(),
            claim: "c".into(),
            explanation: Some("e".into()),
            points: Vec::new(),
        }
    }

    fn linked(name: &str, outcome: Outcome, id: &str, stance: &str) -> CaseResult {
        let mut c = case(name, outcome);
        c.claims = vec![ClaimLink {
            id: id.into(),
            stance: stance.into(),
        }];
        c
    }

    fn verdict(cases: &[CaseResult], id: &str) -> ClaimVerdict {
        claim_verdicts(cases, &[info(id)]).remove(0)
    }

    #[test]
    fn passes_decide_by_stance() {
        assert_eq!(
            verdict(&[linked("a/1", Outcome::Pass, "X", "holds")], "X").verdict,
            "holds"
        );
        assert_eq!(
            verdict(&[linked("a/1", Outcome::Pass, "X", "refutes")], "X").verdict,
            "does-not-hold"
        );
        let mixed = [
            linked("a/1", Outcome::Pass, "X", "holds"),
            linked("a/2", Outcome::Pass, "X", "refutes"),
        ];
        let v = verdict(&mixed, "X");
        assert_eq!(v.verdict, "partly");
        assert_eq!(v.cases, vec!["a/1", "a/2"]);
        assert_eq!(v.explanation.as_deref(), Some("e"));
    }

    #[test]
    fn failures_skips_and_absence_leave_it_undecided() {
        let v = verdict(
            &[
                linked("a/1", Outcome::Pass, "X", "holds"),
                linked("a/2", Outcome::Fail, "X", "holds"),
            ],
            "X",
        );
        assert_eq!(
            (v.verdict.as_str(), v.reason.as_deref()),
            ("undecided", Some("case `a/2` failed"))
        );
        let v = verdict(&[linked("a/1", Outcome::Skip, "X", "holds")], "X");
        assert_eq!(v.reason.as_deref(), Some("no deciding case ran"));
        let v = verdict(&[], "X");
        assert_eq!((v.verdict.as_str(), v.cases.len()), ("undecided", 0));
        let v = verdict(&[linked("a/1", Outcome::Pass, "X", "maybe")], "X");
        assert_eq!(v.verdict, "undecided");
    }

    fn point(says: &str, cases: &[&str]) -> PointInfo {
        PointInfo {
            says: says.into(),
            cases: cases.iter().map(|c| c.to_string()).collect(),
        }
    }

    #[test]
    fn every_point_must_be_decided_and_the_claim_combines_them() {
        let mut with_points = info("X");
        with_points.points = vec![point("a", &["a/1"]), point("b", &["a/2"])];
        let run = |cases: &[CaseResult]| {
            claim_verdicts(cases, std::slice::from_ref(&with_points)).remove(0)
        };
        let both = [
            linked("a/1[tcp4]", Outcome::Pass, "X", "holds"),
            linked("a/2", Outcome::Pass, "X", "holds"),
        ];
        assert_eq!(run(&both).verdict, "holds");
        let mixed = [
            linked("a/1[tcp4]", Outcome::Pass, "X", "holds"),
            linked("a/2", Outcome::Pass, "X", "refutes"),
        ];
        assert_eq!(run(&mixed).verdict, "partly");
        // A point whose case did not run leaves the claim undecided, although the other holds.
        let v = run(&both[..1]);
        assert_eq!(
            (v.verdict.as_str(), v.reason.as_deref()),
            ("undecided", Some("point 2 (b): no deciding case ran"))
        );
        // A citing case of another name (a/10) does not decide point a/1.
        let v = run(&[
            linked("a/10", Outcome::Pass, "X", "holds"),
            linked("a/2", Outcome::Pass, "X", "holds"),
        ]);
        assert_eq!(v.verdict, "undecided");
    }

    #[test]
    fn points_combine_into_one_verdict() {
        assert_eq!(combine_points(["holds", "holds"]), "holds");
        assert_eq!(combine_points(["does-not-hold"]), "does-not-hold");
        assert_eq!(combine_points(["holds", "does-not-hold"]), "partly");
        assert_eq!(combine_points(["holds", "partly"]), "partly");
        assert_eq!(combine_points(["holds", "undecided"]), "undecided");
        assert_eq!(combine_points([]), "undecided");
        assert!(is_trial_of("a/b[tcp4]", "a/b"));
        assert!(is_trial_of("a/b", "a/b"));
        assert!(!is_trial_of("a/bc", "a/b"));
    }
}
