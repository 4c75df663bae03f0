//! The claims register (`cases/claims.toml`) and the verdict on each claim from the cases
//! that decide it; the audit that keeps the register, its points and the cases consistent.

use std::path::Path;

use serde::Deserialize;
use sockspec_lang::ast::{Modifier, Op, Scenario, Stance, StepKind, Value};
use sockspec_reports::{CaseResult, ClaimInfo, ClaimVerdict, PointInfo};

#[derive(Debug, Clone, Deserialize)]
pub struct Register {
    #[serde(default, rename = "claim")]
    pub claims: Vec<Claim>,
}

/// One claim of the course material, paraphrased in English.
#[derive(Debug, Clone, Deserialize)]
pub struct Claim {
    pub id: String,
    pub source: String,
    pub section: String,
    pub claim: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub expect_on_linux: String,
    #[serde(default)]
    pub note: String,
    /// What the catalogue establishes on Linux when every deciding case passes: the verdict
    /// of its points (`holds`, `does-not-hold`, `partly`, `undecided`). The audit fails when
    /// the cases say otherwise.
    #[serde(default)]
    pub verdict: String,
    /// The claim's sub-assertions, each with the cases deciding it.
    #[serde(default, rename = "point")]
    pub points: Vec<Point>,
}

/// One sub-assertion of a claim (`[[claim.point]]`).
#[derive(Debug, Clone, Deserialize)]
pub struct Point {
    /// What this part of the claim says, in a few words.
    pub says: String,
    /// The cases deciding it: paths relative to the catalogue without `.sock`, or
    /// [`BENCH`] for a measured point. Empty: no case tests it yet, so the claim is undecided.
    #[serde(default)]
    pub cases: Vec<String>,
}

/// The name a point uses for the measurement that decides it.
pub const BENCH: &str = "sockspec bench";

#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    #[error("cannot read the claims register `{path}`")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the claims register `{path}` is not valid")]
    Parse {
        path: String,
        #[source]
        source: toml::de::Error,
    },
    #[error("the claims register `{path}` lists `{id}` twice")]
    Duplicate { path: String, id: String },
}

impl Register {
    /// Loads `claims.toml` from a catalogue folder; a folder without one has no claims.
    pub fn load(catalogue: &Path) -> Result<Register, RegisterError> {
        let path = catalogue.join("claims.toml");
        let shown = path.display().to_string();
        if !path.exists() {
            return Ok(Register { claims: Vec::new() });
        }
        let text = std::fs::read_to_string(&path).map_err(|source| RegisterError::Read {
            path: shown.clone(),
            source,
        })?;
        let register: Register = toml::from_str(&text).map_err(|source| RegisterError::Parse {
            path: shown.clone(),
            source,
        })?;
        let mut seen = std::collections::HashSet::new();
        for claim in &register.claims {
            if !seen.insert(claim.id.as_str()) {
                return Err(RegisterError::Duplicate {
                    path: shown,
                    id: claim.id.clone(),
                });
            }
        }
        Ok(register)
    }

    pub fn get(&self, id: &str) -> Option<&Claim> {
        self.claims.iter().find(|c| c.id == id)
    }
}

/// The verdict on every claim of the register, from the trials that ran (see
/// `sockspec_reports::claims` for the rule).
pub fn verdicts(register: &Register, cases: &[CaseResult]) -> Vec<ClaimVerdict> {
    let infos: Vec<ClaimInfo> = register
        .claims
        .iter()
        .map(|c| ClaimInfo {
            id: c.id.clone(),
            source: c.source.clone(),
            section: c.section.clone(),
            claim: c.claim.clone(),
            explanation: (!c.note.is_empty()).then(|| c.note.clone()),
            points: c
                .points
                .iter()
                .map(|p| PointInfo {
                    says: p.says.clone(),
                    cases: p.cases.clone(),
                })
                .collect(),
        })
        .collect();
    sockspec_reports::claims::claim_verdicts(cases, &infos)
}

/// The word a register uses for a stance, as the report model spells verdicts' inputs.
pub fn stance_word(stance: Stance) -> &'static str {
    match stance {
        Stance::Holds => "holds",
        Stance::Refutes => "refutes",
        Stance::Partly => "partly",
    }
}

/// One case file of the catalogue as the audit sees it.
pub struct AuditedCase<'a> {
    /// The path relative to the catalogue root, without `.sock`.
    pub rel: &'a str,
    pub scenario: &'a Scenario,
}

/// The verdict a claim's points establish when every deciding case passes, from the stance
/// each case takes on the claim; `measured` when a point is decided by [`BENCH`] (its verdict
/// comes from `sockspec bench`, not from the cases), and the reason when `undecided`.
pub fn established(claim: &Claim, cases: &[AuditedCase]) -> (&'static str, Option<String>) {
    if claim.points.is_empty() {
        return ("undecided", Some("the register lists no point".into()));
    }
    let mut verdicts = Vec::new();
    for (n, point) in claim.points.iter().enumerate() {
        if point.cases.iter().any(|c| c == BENCH) {
            return ("measured", None);
        }
        let stances: Vec<&str> = point
            .cases
            .iter()
            .filter_map(|rel| cases.iter().find(|c| c.rel == rel))
            .flat_map(|c| c.scenario.meta.claims.iter().filter(|r| r.id == claim.id))
            .map(|r| stance_word(r.stance))
            .collect();
        let verdict = if stances.is_empty() {
            return (
                "undecided",
                Some(format!(
                    "point {} ({}) has no deciding case",
                    n + 1,
                    point.says
                )),
            );
        } else if stances.contains(&"partly")
            || (stances.contains(&"holds") && stances.contains(&"refutes"))
        {
            "partly"
        } else if stances.contains(&"refutes") {
            "does-not-hold"
        } else {
            "holds"
        };
        verdicts.push(verdict);
    }
    (sockspec_reports::claims::combine_points(verdicts), None)
}

/// Whether a case asserts something observable about what it claims: at least one statement
/// carries a checked expectation that the system under test could fail in a way the call's
/// own arguments do not predict. That is any expectation except
/// - `ok` alone (any result but -1),
/// - a byte count on a sending call (`send`, `sendto`, `sendmsg`, `send_all`, `write`):
///   the count repeats the length the caller passed, and says nothing of what the peer got,
///
/// unless it carries a modifier (`signal SIGPIPE`, `took …`). Errnos count everywhere (a
/// refusal is observed), and so does every expectation on a receiving or querying call. In a
/// `differential` case statements without `=` only record, so they never count.
pub fn observable(scenario: &Scenario) -> bool {
    scenario.steps.iter().any(|step| {
        let (op, expect) = match &step.kind {
            StepKind::Call { call, expect, .. } => (Some(&call.op), expect),
            StepKind::Await { expect, .. } => (None, expect),
            StepKind::Require { .. } => return false,
        };
        let Some(clause) = expect else {
            return false;
        };
        let sending = matches!(
            op,
            Some(
                Op::Send { .. }
                    | Op::Sendto { .. }
                    | Op::Sendmsg { .. }
                    | Op::SendAll { .. }
                    | Op::Write { .. }
            )
        );
        std::iter::once(&clause.default)
            .chain(clause.when.iter().map(|w| &w.expect))
            .any(|e| {
                e.took.is_some()
                    || e.alternatives.iter().any(|alt| {
                        let moded = alt.mods.iter().any(|m| !matches!(m, Modifier::Data(_)));
                        match &alt.value {
                            Value::Ok => moded,
                            Value::Int(_) if sending => moded,
                            _ => true,
                        }
                    })
            })
    })
}

/// Every way the register and the catalogue disagree, one message each: a case citing a
/// claim that none of its points names, a point naming a case that does not cite the claim
/// (or does not exist), a claim without points, a registered verdict its points do not
/// establish, a citing case that asserts nothing observable.
pub fn audit(register: &Register, cases: &[AuditedCase]) -> Vec<String> {
    let mut problems = Vec::new();
    for claim in &register.claims {
        if claim.points.is_empty() {
            problems.push(format!("{}: the register lists no point", claim.id));
        }
        for point in &claim.points {
            for rel in &point.cases {
                if rel == BENCH {
                    continue;
                }
                match cases.iter().find(|c| c.rel == rel) {
                    None => problems.push(format!(
                        "{}: point `{}` names `{rel}`, which is not a case of the catalogue",
                        claim.id, point.says
                    )),
                    Some(c) if !c.scenario.meta.claims.iter().any(|r| r.id == claim.id) => problems
                        .push(format!(
                            "{}: point `{}` names `{rel}`, which does not cite the claim",
                            claim.id, point.says
                        )),
                    Some(_) => {}
                }
            }
        }
        let (verdict, why) = established(claim, cases);
        let registered = if claim.verdict.is_empty() {
            "(none)"
        } else {
            claim.verdict.as_str()
        };
        let agrees = registered == verdict || (verdict == "measured" && !claim.verdict.is_empty());
        if !agrees {
            problems.push(format!(
                "{}: the register says `{registered}` but its points establish `{verdict}`{}",
                claim.id,
                why.map(|w| format!(" ({w})")).unwrap_or_default()
            ));
        }
    }
    for case in cases {
        for r in &case.scenario.meta.claims {
            let Some(claim) = register.get(&r.id) else {
                problems.push(format!(
                    "{}: cites `{}`, which the register lacks",
                    case.rel, r.id
                ));
                continue;
            };
            if !claim
                .points
                .iter()
                .any(|p| p.cases.iter().any(|c| c == case.rel))
            {
                problems.push(format!(
                    "{}: cites {} but none of the claim's points names it",
                    case.rel, r.id
                ));
            }
        }
        if !case.scenario.meta.claims.is_empty() && !observable(case.scenario) {
            problems.push(format!(
                "{}: cites {} but asserts nothing observable (only `ok`, send counts or records)",
                case.rel,
                case.scenario
                    .meta
                    .claims
                    .iter()
                    .map(|r| r.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    problems
}

/// The stance of a claim decided by a measurement rather than a case.
pub const MEASURED: &str = "measured";

/// One case file (or, for [`MEASURED`], a command) that cites a claim, for the register's
/// index.
#[derive(Debug, Clone)]
pub struct Citation {
    /// The case's path relative to the catalogue root, without `.sock`.
    pub rel: String,
    /// `holds`, `refutes` or `partly`.
    pub stance: String,
}

/// The register as a Markdown index (`cases/CLAIMS.md`): counts, then one table per theme
/// with the cases that cite each claim. `sockspec claims --markdown` prints it; a test keeps
/// the committed file equal to it, so the index cannot drift from the register.
pub fn index_markdown(
    register: &Register,
    citations: &std::collections::BTreeMap<String, Vec<Citation>>,
) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let claims = &register.claims;
    let mut sources: Vec<&str> = claims.iter().map(|c| c.source.as_str()).collect();
    sources.sort_unstable();
    sources.dedup();
    let short = |s: &str| s.split('_').next().unwrap_or(s).to_string();
    let _ = writeln!(out, "# Course claims register — index\n");
    let _ = writeln!(
        out,
        "Generated from `cases/claims.toml`, which is the source of truth, by \
         `sockspec claims --markdown > cases/CLAIMS.md` (a test fails when this file is stale)."
    );
    let listed: Vec<String> = sources
        .iter()
        .map(|s| format!("`{}` = seed {s}", short(s)))
        .collect();
    let _ = writeln!(
        out,
        "{} claims from {} course documents: {}.",
        claims.len(),
        sources.len(),
        listed.join(", ")
    );
    let _ = writeln!(
        out,
        "The *expected* column is the expectation on Linux 6.x before any case runs; *verdict* \
         is what the claim's points establish when every deciding case passes (the claims audit \
         test keeps it true). Each point is a sub-assertion of the claim with the cases deciding \
         it and the stance each takes (`holds`, `refutes`, `partly`); a point no case decides \
         leaves the claim undecided. A run's verdict comes from the cases that ran. The \
         reasoning for each **does-not-hold** / **partly** entry is in the register's `note` \
         field.\n"
    );
    let counted = |key: fn(&Claim) -> &str| {
        let mut counts: Vec<(String, usize)> = Vec::new();
        for c in claims {
            let k = if key(c).is_empty() { "-" } else { key(c) };
            match counts.iter_mut().find(|(n, _)| n == k) {
                Some((_, n)) => *n += 1,
                None => counts.push((k.to_string(), 1)),
            }
        }
        counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        counts
    };
    let _ = writeln!(out, "| expected on Linux | count |\n|---|---|");
    for (k, n) in counted(|c| &c.expect_on_linux) {
        let _ = writeln!(out, "| {k} | {n} |");
    }
    let _ = writeln!(out, "\n| kind | count |\n|---|---|");
    for (k, n) in counted(|c| &c.kind) {
        let _ = writeln!(out, "| {k} | {n} |");
    }
    let undecided: Vec<&str> = claims
        .iter()
        .filter(|c| citations.get(&c.id).is_none_or(Vec::is_empty))
        .map(|c| c.id.as_str())
        .collect();
    let _ = writeln!(
        out,
        "\nClaims no case cites yet: {}.",
        if undecided.is_empty() {
            "none".to_string()
        } else {
            undecided.join(", ")
        }
    );
    let points: usize = claims.iter().map(|c| c.points.len()).sum();
    let open: Vec<&str> = claims
        .iter()
        .filter(|c| c.points.iter().any(|p| p.cases.is_empty()))
        .map(|c| c.id.as_str())
        .collect();
    let _ = writeln!(
        out,
        "\n{points} points (sub-assertions) in all; a claim's verdict comes from every one of them. \
         Claims with a point no case decides yet (undecided): {}.",
        if open.is_empty() {
            "none".to_string()
        } else {
            open.join(", ")
        }
    );
    let _ = writeln!(out, "\n| verdict the cases establish | count |\n|---|---|");
    for (k, n) in counted(|c| &c.verdict) {
        let _ = writeln!(out, "| {k} | {n} |");
    }
    let theme_of = |id: &str| id.rsplit_once('-').map_or(id, |(t, _)| t).to_string();
    let mut themes: Vec<String> = Vec::new();
    for c in claims {
        let t = theme_of(&c.id);
        if !themes.contains(&t) {
            themes.push(t);
        }
    }
    let _ = writeln!(out, "\n## Themes\n");
    for t in &themes {
        let n = claims.iter().filter(|c| theme_of(&c.id) == *t).count();
        let _ = writeln!(out, "- [{t}](#{}) ({n})", t.to_lowercase());
    }
    for t in &themes {
        let _ = writeln!(out, "\n## {t}\n");
        let _ = writeln!(
            out,
            "| id | src | kind | expected | verdict | claim | points and the cases deciding them |\n|---|---|---|---|---|---|---|"
        );
        for c in claims.iter().filter(|c| theme_of(&c.id) == *t) {
            let bold = |v: &str| match v {
                "holds" | "" | "unknown" | "measured" => v.to_string(),
                other => format!("**{other}**"),
            };
            let stance_of = |rel: &str| {
                citations
                    .get(&c.id)
                    .and_then(|list| list.iter().find(|x| x.rel == rel))
                    .map_or("?", |x| x.stance.as_str())
            };
            let points = c
                .points
                .iter()
                .enumerate()
                .map(|(n, p)| {
                    let cases = if p.cases.is_empty() {
                        "**no case**".to_string()
                    } else {
                        p.cases
                            .iter()
                            .map(|rel| {
                                if rel == BENCH {
                                    return format!("`{rel}` (measured)");
                                }
                                let stem = rel.rsplit('/').next().unwrap_or(rel);
                                format!("[{stem}]({rel}.sock) ({})", stance_of(rel))
                            })
                            .collect::<Vec<_>>()
                            .join(", ")
                    };
                    format!("{}. {}: {cases}", n + 1, p.says.replace('|', "\\|"))
                })
                .collect::<Vec<_>>()
                .join("<br>");
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} |",
                c.id,
                short(&c.source),
                c.kind,
                bold(&c.expect_on_linux),
                bold(&c.verdict),
                c.claim.replace('|', "\\|"),
                if points.is_empty() {
                    "—".to_string()
                } else {
                    points
                }
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(text: &str) -> Scenario {
        sockspec_lang::parse("t.sock", text).expect("the test scenario parses")
    }

    fn register(toml_text: &str) -> Register {
        toml::from_str(toml_text).expect("the test register parses")
    }

    const CLAIM: &str = r#"
[[claim]]
id = "X-01"
source = "s"
section = "1"
claim = "c"
verdict = "partly"
[[claim.point]]
says = "one"
cases = ["a/one"]
[[claim.point]]
says = "two"
cases = ["a/two"]
"#;

    #[test]
    fn a_registered_verdict_the_points_do_not_establish_is_reported() {
        let one = scenario("case \"one\"\nclaims X-01 holds\na, b = socketpair(UNIX, STREAM)\nrecv(b, 1, MSG_DONTWAIT) = -1 EAGAIN\n");
        let two = scenario("case \"two\"\nclaims X-01 refutes\na, b = socketpair(UNIX, STREAM)\nsend(a, \"x\") = 1\nrecv(b, 1) = \"x\"\n");
        let cases = [
            AuditedCase {
                rel: "a/one",
                scenario: &one,
            },
            AuditedCase {
                rel: "a/two",
                scenario: &two,
            },
        ];
        let reg = register(CLAIM);
        assert_eq!(audit(&reg, &cases), Vec::<String>::new());
        let wrong = register(&CLAIM.replace("verdict = \"partly\"", "verdict = \"holds\""));
        assert_eq!(
            audit(&wrong, &cases),
            vec!["X-01: the register says `holds` but its points establish `partly`"]
        );
        // A point without its case: undecided, and the registered verdict disagrees.
        let problems = audit(&reg, &cases[..1]);
        assert!(problems
            .iter()
            .any(|p| p.contains("`a/two`, which is not a case")));
        assert!(problems
            .iter()
            .any(|p| p.contains("point 2 (two) has no deciding case")));
    }

    #[test]
    fn a_citing_case_that_no_point_names_or_that_observes_nothing_is_reported() {
        let one = scenario("case \"one\"\nclaims X-01 holds\na, b = socketpair(UNIX, STREAM)\nrecv(b, 1, MSG_DONTWAIT) = -1 EAGAIN\n");
        let two = scenario("case \"two\"\nclaims X-01 refutes\na, b = socketpair(UNIX, STREAM)\nsend(a, \"x\") = 1\nrecv(b, 1) = \"x\"\n");
        let stray = scenario("case \"stray\"\nclaims X-01 holds\na, b = socketpair(UNIX, DGRAM)\nsend(a, \"\") = 0\nrecv(b, 1)\n");
        let cases = [
            AuditedCase {
                rel: "a/one",
                scenario: &one,
            },
            AuditedCase {
                rel: "a/two",
                scenario: &two,
            },
            AuditedCase {
                rel: "a/stray",
                scenario: &stray,
            },
        ];
        assert_eq!(
            audit(&register(CLAIM), &cases),
            vec![
                "a/stray: cites X-01 but none of the claim's points names it",
                "a/stray: cites X-01 but asserts nothing observable (only `ok`, send counts or records)",
            ]
        );
    }

    #[test]
    fn observable_means_more_than_ok_and_send_counts() {
        let sees = |body: &str| observable(&scenario(&format!("case \"t\"\n{body}")));
        assert!(!sees(
            "a, b = socketpair(UNIX, DGRAM)\nsend(a, \"x\") = 1\nrecv(b, 8) = ok\n"
        ));
        assert!(!sees(
            "a, b = socketpair(UNIX, DGRAM)\nsendmsg(a, [\"x\"]) = 1\nrecv(b, 8)\n"
        ));
        assert!(sees(
            "a, b = socketpair(UNIX, DGRAM)\nsend(a, \"x\") = 1\nrecv(b, 8) = \"x\"\n"
        ));
        assert!(sees(
            "a, b = socketpair(UNIX, DGRAM)\nclose(b)\nsend(a, \"x\") = -1 ECONNREFUSED\n"
        ));
        assert!(sees(
            "s = socket(UNIX, DGRAM)\ngetsockopt(s, SOL_SOCKET, SO_TYPE) = DGRAM\n"
        ));
        // A differential case's statements without `=` only record.
        assert!(!sees("flavours udp4 unix-dgram-pair\ndifferential\na, b = pair()\nsend(a, \"\") = 0\nrecv(b, 8, MSG_DONTWAIT)\n"));
    }
}
