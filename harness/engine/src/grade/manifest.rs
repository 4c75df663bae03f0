//! A grading suite: `cases/grading/<suite>/manifest.toml` and the client scenarios it names.
//!
//! ```toml
//! suite = "echo-tcp"
//! title = "Echo over TCP (RFC 862)"
//! protocol = "tcp"            # tcp | udp | tcp+udp: which sockets the server must open
//! command = "./server {port}" # default server command (--server overrides it)
//! well_known = 7              # the port a server that picks its own may use
//!
//! [[case]]
//! name = "lifecycle/listens"  # the built-in gate: the server's socket appears
//! gate = "listens"
//! points = 2
//! hint = "…"
//!
//! [[case]]
//! name = "echo-tcp/one-line"
//! file = "one-line.sock"
//! points = 3
//! hidden = false
//! needs = ["lifecycle/listens"]   # the default for every case but the gate
//! hint = "…"
//! ```
//!
//! A suite whose servers need more than the sandbox's defaults says so (the command line's
//! `--memory`, `--processes`, `--cpu` still win): `[limits] memory = "1G"`, `processes = 256`,
//! `cpu_seconds = 10`, and `user_namespaces = true` lets its servers create user namespaces.
//!
//! Multi-service suites name their services; each runs on `{port}` + its offset:
//! `[services] echo = { offset = 0, well_known = 7 }`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// The port a `{port}` template gets: non-zero and with two different bytes, so a server
/// that forgot `htons` listens somewhere else (5001 = 0x1389, swapped 0x8913 = 35091).
pub const DEFAULT_PORT: u16 = 5001;
/// How long a server has to open its sockets (the fixtures' contract says 5 s).
pub const DEFAULT_LISTEN_TIMEOUT: Duration = Duration::from_secs(5);
/// A case's deadline when its scenario sets none: the slowest contract case (a 16 MiB
/// transfer within 5 s) with room to spare.
pub const DEFAULT_CASE_DEADLINE: Duration = Duration::from_secs(10);

/// Which sockets a suite's server must open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Protocol {
    #[serde(rename = "tcp")]
    Tcp,
    #[serde(rename = "udp")]
    Udp,
    #[serde(rename = "tcp+udp")]
    TcpUdp,
}

impl Protocol {
    pub fn has_tcp(self) -> bool {
        self != Protocol::Udp
    }
    pub fn has_udp(self) -> bool {
        self != Protocol::Tcp
    }
}

/// A built-in case the grader decides itself rather than with a scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Gate {
    /// The server's sockets appear (LISTEN for TCP, bound for UDP) on the expected ports.
    Listens,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    suite: String,
    #[serde(default)]
    title: String,
    protocol: Protocol,
    #[serde(default)]
    command: Option<String>,
    #[serde(default)]
    port: Option<u16>,
    #[serde(default)]
    well_known: Option<u16>,
    #[serde(default)]
    listen_timeout_ms: Option<u64>,
    #[serde(default)]
    services: BTreeMap<String, RawService>,
    #[serde(default, rename = "case")]
    cases: Vec<RawCase>,
    #[serde(default)]
    limits: RawLimits,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    memory: Option<String>,
    processes: Option<u64>,
    cpu_seconds: Option<u64>,
    #[serde(default)]
    user_namespaces: bool,
}

/// Sandbox limits a suite asks for instead of the defaults ([`super::holder::Limits::SERVER`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SuiteLimits {
    /// Bytes.
    pub memory: Option<u64>,
    pub processes: Option<u64>,
    pub cpu_seconds: Option<u64>,
    /// The servers may create user namespaces (refused by a seccomp filter otherwise).
    pub user_namespaces: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawService {
    offset: u16,
    #[serde(default)]
    well_known: Option<u16>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCase {
    name: String,
    #[serde(default)]
    file: Option<PathBuf>,
    #[serde(default)]
    gate: Option<Gate>,
    points: f64,
    #[serde(default)]
    hidden: bool,
    #[serde(default)]
    hint: Option<String>,
    #[serde(default)]
    needs: Option<Vec<String>>,
}

/// One service of a suite (single-service suites have one, named "").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    pub name: String,
    pub offset: u16,
    pub well_known: Option<u16>,
}

/// One case of a suite.
#[derive(Debug, Clone, PartialEq)]
pub struct SuiteCase {
    pub name: String,
    pub title: String,
    pub points: f64,
    pub hidden: bool,
    pub hint: Option<String>,
    /// Cases that must pass for this one to run (indices into [`Suite::cases`], earlier).
    pub needs: Vec<usize>,
    pub kind: CaseKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum CaseKind {
    Gate(Gate),
    Scenario {
        file: PathBuf,
        source: String,
        deadline: Duration,
    },
}

/// A loaded, checked suite.
#[derive(Debug, Clone, PartialEq)]
pub struct Suite {
    pub name: String,
    pub title: String,
    pub dir: PathBuf,
    pub protocol: Protocol,
    pub command: Option<String>,
    pub port: u16,
    pub listen_timeout: Duration,
    pub services: Vec<Service>,
    pub cases: Vec<SuiteCase>,
    pub limits: SuiteLimits,
}

#[derive(Debug, thiserror::Error)]
pub enum SuiteError {
    #[error("cannot read `{path}`")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{path}` is not a valid manifest: {message}")]
    Manifest { path: PathBuf, message: String },
    #[error("scenario `{path}` has mistakes:\n{rendered}")]
    Scenario { path: PathBuf, rendered: String },
}

impl Suite {
    /// Reads `DIR/manifest.toml` and parses every scenario it names (all mistakes at once).
    pub fn load(dir: &Path) -> Result<Suite, SuiteError> {
        let path = dir.join("manifest.toml");
        let text = std::fs::read_to_string(&path).map_err(|source| SuiteError::Read {
            path: path.clone(),
            source,
        })?;
        Suite::from_manifest(dir, &path, &text, &|p| std::fs::read_to_string(p))
    }

    /// Builds a suite from manifest text; `read` loads scenario files (injected for tests).
    pub fn from_manifest(
        dir: &Path,
        path: &Path,
        text: &str,
        read: &dyn Fn(&Path) -> std::io::Result<String>,
    ) -> Result<Suite, SuiteError> {
        let bad = |message: String| SuiteError::Manifest {
            path: path.to_path_buf(),
            message,
        };
        let raw: RawManifest = toml::from_str(text).map_err(|e| bad(e.to_string()))?;
        let limits = SuiteLimits {
            memory: match &raw.limits.memory {
                Some(m) => Some(
                    super::resources::parse_size(m)
                        .map_err(|e| bad(format!("limits.memory: {e}")))?,
                ),
                None => None,
            },
            processes: raw.limits.processes,
            cpu_seconds: raw.limits.cpu_seconds,
            user_namespaces: raw.limits.user_namespaces,
        };
        let services = if raw.services.is_empty() {
            vec![Service {
                name: String::new(),
                offset: 0,
                well_known: raw.well_known,
            }]
        } else {
            raw.services
                .iter()
                .map(|(name, s)| Service {
                    name: name.clone(),
                    offset: s.offset,
                    well_known: s.well_known,
                })
                .collect()
        };
        let gate_names: Vec<&str> = raw
            .cases
            .iter()
            .filter(|c| c.gate.is_some())
            .map(|c| c.name.as_str())
            .collect();
        let mut names: BTreeMap<String, usize> = BTreeMap::new();
        let mut cases = Vec::new();
        for (i, c) in raw.cases.iter().enumerate() {
            if names.insert(c.name.clone(), i).is_some() {
                return Err(bad(format!("case `{}` is listed twice", c.name)));
            }
            if !(c.points >= 0.0 && c.points.is_finite()) {
                return Err(bad(format!("case `{}`: points must be >= 0", c.name)));
            }
            let needs_names: Vec<String> = match (&c.needs, c.gate) {
                (Some(n), _) => n.clone(),
                (None, Some(_)) => Vec::new(),
                (None, None) => gate_names.iter().map(|s| s.to_string()).collect(),
            };
            let mut needs = Vec::new();
            for n in &needs_names {
                match names.get(n) {
                    Some(&j) if j < i => needs.push(j),
                    _ => {
                        return Err(bad(format!(
                            "case `{}` needs `{n}`, which is not a case listed before it",
                            c.name
                        )))
                    }
                }
            }
            let (kind, title) = match (c.gate, &c.file) {
                (Some(g), None) => (CaseKind::Gate(g), gate_title(g).to_string()),
                (None, Some(file)) => {
                    let full = dir.join(file);
                    let source = read(&full).map_err(|source| SuiteError::Read {
                        path: full.clone(),
                        source,
                    })?;
                    let scenario = sockspec_lang::parse(&full.display().to_string(), &source)
                        .map_err(|d| SuiteError::Scenario {
                            path: full.clone(),
                            rendered: d.render(false),
                        })?;
                    let deadline = scenario.meta.deadline.unwrap_or(DEFAULT_CASE_DEADLINE);
                    (
                        CaseKind::Scenario {
                            file: full,
                            source,
                            deadline,
                        },
                        scenario.meta.title.clone(),
                    )
                }
                _ => {
                    return Err(bad(format!(
                        "case `{}` needs exactly one of `file` or `gate`",
                        c.name
                    )))
                }
            };
            let hint = c.hint.clone().or_else(|| match &kind {
                CaseKind::Scenario { source, .. } => sockspec_lang::parse("", source)
                    .ok()
                    .and_then(|s| s.meta.hint),
                CaseKind::Gate(_) => None,
            });
            cases.push(SuiteCase {
                name: c.name.clone(),
                title,
                points: c.points,
                hidden: c.hidden,
                hint,
                needs,
                kind,
            });
        }
        if cases.is_empty() {
            return Err(bad("the suite has no `[[case]]`".into()));
        }
        let offsets: BTreeSet<u16> = services.iter().map(|s| s.offset).collect();
        if offsets.len() != services.len() {
            return Err(bad("two services share an offset".into()));
        }
        Ok(Suite {
            name: raw.suite,
            title: raw.title,
            dir: dir.to_path_buf(),
            protocol: raw.protocol,
            command: raw.command,
            port: raw.port.unwrap_or(DEFAULT_PORT),
            listen_timeout: raw
                .listen_timeout_ms
                .map_or(DEFAULT_LISTEN_TIMEOUT, Duration::from_millis),
            services,
            cases,
            limits,
        })
    }

    pub fn total_points(&self) -> f64 {
        self.cases.iter().map(|c| c.points).sum()
    }
}

fn gate_title(g: Gate) -> &'static str {
    match g {
        Gate::Listens => "the server opens its sockets on the expected port",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCENARIO: &str = "case \"one line\"\ndeadline 2s\nhint \"echo it\"\nc = socket(INET, STREAM)\nconnect(c, server)\n";

    fn load(text: &str) -> Result<Suite, SuiteError> {
        Suite::from_manifest(
            Path::new("/suite"),
            Path::new("/suite/manifest.toml"),
            text,
            &|p| {
                if p.ends_with("ok.sock") {
                    Ok(SCENARIO.to_string())
                } else if p.ends_with("bad.sock") {
                    Ok("case \"x\"\nconnect(nope, server)\n".to_string())
                } else {
                    Err(std::io::Error::from(std::io::ErrorKind::NotFound))
                }
            },
        )
    }

    #[test]
    fn a_suite_with_a_gate_and_defaults() {
        let s = load(
            r#"
suite = "echo-tcp"
protocol = "tcp"
well_known = 7
[[case]]
name = "lifecycle/listens"
gate = "listens"
points = 2
[[case]]
name = "echo-tcp/one-line"
file = "ok.sock"
points = 3
hidden = true
"#,
        )
        .unwrap();
        assert_eq!(s.port, DEFAULT_PORT);
        assert_eq!(s.services.len(), 1);
        assert_eq!(s.services[0].well_known, Some(7));
        assert_eq!(s.cases[1].needs, vec![0]);
        assert!(s.cases[1].hidden);
        assert_eq!(s.cases[1].hint.as_deref(), Some("echo it"));
        assert_eq!(s.cases[1].title, "one line");
        match &s.cases[1].kind {
            CaseKind::Scenario { deadline, .. } => assert_eq!(*deadline, Duration::from_secs(2)),
            other => panic!("{other:?}"),
        }
        assert_eq!(s.total_points(), 5.0);
    }

    #[test]
    fn mistakes_are_reported() {
        let head = "suite = \"s\"\nprotocol = \"tcp\"\n";
        let err = |body: &str| load(&format!("{head}{body}")).unwrap_err().to_string();
        assert!(err("").contains("no `[[case]]`"));
        assert!(err("[[case]]\nname = \"a\"\nfile = \"ok.sock\"\npoints = 1\n[[case]]\nname = \"a\"\nfile = \"ok.sock\"\npoints = 1\n").contains("listed twice"));
        assert!(
            err("[[case]]\nname = \"a\"\nfile = \"ok.sock\"\npoints = 1\nneeds = [\"b\"]\n")
                .contains("needs `b`")
        );
        assert!(err("[[case]]\nname = \"a\"\npoints = 1\n").contains("exactly one of"));
        assert!(
            err("[[case]]\nname = \"a\"\nfile = \"bad.sock\"\npoints = 1\n")
                .contains("unknown-handle")
                || err("[[case]]\nname = \"a\"\nfile = \"bad.sock\"\npoints = 1\n")
                    .contains("nope")
        );
        assert!(
            err("[[case]]\nname = \"a\"\nfile = \"ok.sock\"\npoints = -1\n").contains("points")
        );
        assert!(err("colour = 1\n").contains("colour"));
    }

    #[test]
    fn services_with_offsets() {
        let s = load(
            r#"
suite = "multiport"
protocol = "tcp+udp"
[services]
echo = { offset = 0, well_known = 7 }
discard = { offset = 1, well_known = 9 }
[[case]]
name = "lifecycle/listens"
gate = "listens"
points = 1
"#,
        )
        .unwrap();
        let names: Vec<&str> = s.services.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, vec!["discard", "echo"]);
        assert!(s.protocol.has_tcp() && s.protocol.has_udp());
    }
}
