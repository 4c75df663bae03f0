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
        "The *expected* column is the expectation on Linux 6.x before any case runs. The verdict \
         on a report's claims page comes from the passing cases that cite the id, with the \
         stance each takes (`holds`, `refutes`, `partly`). The reasoning for each \
         **does-not-hold** / **partly** entry is in the register's `note` field.\n"
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
            "| id | src | kind | expected | claim | cited by |\n|---|---|---|---|---|---|"
        );
        for c in claims.iter().filter(|c| theme_of(&c.id) == *t) {
            let expected = match c.expect_on_linux.as_str() {
                "holds" | "" | "unknown" => c.expect_on_linux.clone(),
                other => format!("**{other}**"),
            };
            let cited = citations.get(&c.id).map_or_else(
                || "—".to_string(),
                |list| {
                    list.iter()
                        .map(|x| {
                            if x.stance == MEASURED {
                                return format!("`{}` (measured)", x.rel);
                            }
                            let stem = x.rel.rsplit('/').next().unwrap_or(&x.rel);
                            format!("[{stem}]({}.sock) ({})", x.rel, x.stance)
                        })
                        .collect::<Vec<_>>()
                        .join("<br>")
                },
            );
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} |",
                c.id,
                short(&c.source),
                c.kind,
                expected,
                c.claim.replace('|', "\\|"),
                cited
            );
        }
    }
    out
}
