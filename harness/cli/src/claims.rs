//! The claims register (`cases/claims.toml`) and the verdict on each claim from the cases
//! that decide it.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use sockspec_reports::{CaseResult, ClaimVerdict, Outcome};

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
}

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

/// The verdict on every claim of the register, from the trials that ran.
///
/// A claim holds when every deciding case passed and each says `holds`; it does not hold when
/// they all passed and say `refutes`; it holds partly when the passing cases disagree or say
/// `partly`. A failing or erroring deciding case leaves the claim undecided: the kernel
/// differs from what we expected, which says nothing certain about the claim.
pub fn verdicts(register: &Register, cases: &[CaseResult]) -> Vec<ClaimVerdict> {
    let mut deciding: BTreeMap<&str, Vec<&CaseResult>> = BTreeMap::new();
    for case in cases {
        for link in &case.claims {
            deciding.entry(link.id.as_str()).or_default().push(case);
        }
    }
    register
        .claims
        .iter()
        .map(|claim| {
            let cases = deciding.get(claim.id.as_str()).cloned().unwrap_or_default();
            let (verdict, why) = decide(&claim.id, &cases);
            let explanation = (!claim.note.is_empty()).then(|| claim.note.clone());
            ClaimVerdict {
                id: claim.id.clone(),
                source: claim.source.clone(),
                section: claim.section.clone(),
                claim: claim.claim.clone(),
                verdict: verdict.to_string(),
                explanation,
                reason: why,
                cases: cases.iter().map(|c| c.name.clone()).collect(),
            }
        })
        .collect()
}

fn decide(id: &str, cases: &[&CaseResult]) -> (&'static str, Option<String>) {
    if cases.is_empty() {
        return (
            "undecided",
            Some("no case in this run decides it".to_string()),
        );
    }
    if let Some(bad) = cases
        .iter()
        .find(|c| matches!(c.outcome, Outcome::Fail | Outcome::Error))
    {
        return (
            "undecided",
            Some(format!(
                "deciding case `{}` did not pass ({})",
                bad.name,
                bad.outcome.as_str()
            )),
        );
    }
    let stances: Vec<&str> = cases
        .iter()
        .filter(|c| c.outcome == Outcome::Pass)
        .flat_map(|c| {
            c.claims
                .iter()
                .filter(|l| l.id == id)
                .map(|l| l.stance.as_str())
        })
        .collect();
    if stances.is_empty() {
        return (
            "undecided",
            Some("every deciding case was skipped".to_string()),
        );
    }
    if stances.iter().all(|s| *s == "holds") {
        ("holds", None)
    } else if stances.iter().all(|s| *s == "refutes") {
        ("does-not-hold", None)
    } else {
        ("partly", None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sockspec_reports::ClaimLink;

    fn case(name: &str, outcome: Outcome, stance: &str) -> CaseResult {
        CaseResult {
            name: name.into(),
            file: format!("{name}.sock"),
            title: String::new(),
            theme: "t".into(),
            flavour: None,
            tags: vec![],
            claims: vec![ClaimLink {
                id: "C-1".into(),
                stance: stance.into(),
            }],
            outcome,
            message: None,
            failure: None,
            transcript: vec![],
            duration_us: 0,
            why: None,
            hint: None,
            refs: vec![],
            source: None,
            attempts: vec![],
            known_deviation: None,
        }
    }

    #[test]
    fn verdict_follows_stances_of_passing_cases() {
        assert_eq!(
            decide("C-1", &[&case("a", Outcome::Pass, "holds")]).0,
            "holds"
        );
        assert_eq!(
            decide("C-1", &[&case("a", Outcome::Pass, "refutes")]).0,
            "does-not-hold"
        );
        let (a, b) = (
            case("a", Outcome::Pass, "holds"),
            case("b", Outcome::Pass, "refutes"),
        );
        assert_eq!(decide("C-1", &[&a, &b]).0, "partly");
        let (a, b) = (
            case("a", Outcome::Pass, "holds"),
            case("b", Outcome::Fail, "holds"),
        );
        assert_eq!(decide("C-1", &[&a, &b]).0, "undecided");
        assert_eq!(
            decide("C-1", &[&case("a", Outcome::Skip, "holds")]).0,
            "undecided"
        );
        assert_eq!(decide("C-1", &[]).0, "undecided");
    }
}
