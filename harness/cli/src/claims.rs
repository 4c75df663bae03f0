//! The claims register (`cases/claims.toml`) and the verdict on each claim from the cases
//! that decide it.

use std::path::Path;

use serde::Deserialize;
use sockspec_reports::{CaseResult, ClaimInfo, ClaimVerdict};

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
        })
        .collect();
    sockspec_reports::claims::claim_verdicts(cases, &infos)
}
