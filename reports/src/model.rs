//! The serialised result model: one run of the catalogue (or one grading), as every reporter
//! reads it. Versioned by [`FORMAT_VERSION`]; a reader refuses a newer major version.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Bumped when a field changes meaning or is removed (adding optional fields does not bump).
pub const FORMAT_VERSION: u32 = 1;

/// The four outcomes of a case, never blurred.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Every expectation held.
    Pass,
    /// The system under test differs from an expectation.
    Fail,
    /// The harness could not judge (bad scenario, spawn failure, deadline, crash).
    Error,
    /// A prerequisite is missing (capability, isolation, IPv6…); the reason says which.
    Skip,
}

impl Outcome {
    /// Every outcome, in the order reports list them.
    pub const ALL: [Outcome; 4] = [Outcome::Pass, Outcome::Fail, Outcome::Error, Outcome::Skip];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "fail",
            Outcome::Error => "error",
            Outcome::Skip => "skip",
        }
    }
}

/// A whole run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RunReport {
    pub format_version: u32,
    pub environment: Environment,
    pub cases: Vec<CaseResult>,
    /// Verdicts per course claim, when a claims register was loaded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub claims: Vec<ClaimVerdict>,
    /// Measured figures (e.g. `sockspec bench`), keyed by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub measurements: BTreeMap<String, Measurement>,
    /// Differential cases: the same steps under several flavours, side by side.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub differentials: Vec<Differential>,
    /// The property table (domain × type) from the catalogue, when the run derived it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub properties: Vec<PropertyRow>,
}

/// What the run saw of the machine; enough to tell two kernels apart in a merged matrix.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
pub struct Environment {
    pub tool_version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_commit: Option<String>,
    pub os: String,
    pub kernel_release: String,
    pub kernel_version: String,
    pub arch: String,
    pub cpus: u32,
    pub uid: u32,
    /// `netns` (private network, mount, UTS and pid namespaces per case), `userns+netns`,
    /// `net+uts` (network and UTS only, nothing mounted), or `shared`.
    pub isolation: String,
    /// Why isolation is not in use, when it is not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isolation_reason: Option<String>,
    /// What the isolation probe verified at the chosen level (new namespaces by inode,
    /// private mounts, a read-only host); empty in shared mode.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub isolation_checks: String,
    /// Effective capabilities of the runner, by name (e.g. `CAP_NET_RAW`).
    #[serde(default)]
    pub capabilities: Vec<String>,
    /// The sysctls expectations may depend on, as read at start.
    #[serde(default)]
    pub sysctls: BTreeMap<String, String>,
    pub command_line: Vec<String>,
    /// RFC 3339, UTC.
    pub started_at: String,
    pub duration_ms: u64,
    pub time_scale: f64,
    /// A free label for merged matrices (`--label`), defaulting to the kernel release.
    #[serde(default)]
    pub label: String,
}

/// ` (why a stronger level is not in use; what was verified)` after the isolation level,
/// for the one-line views of the environment.
pub fn isolation_why(env: &Environment) -> String {
    let parts: Vec<&str> = [
        env.isolation_reason.as_deref(),
        Some(env.isolation_checks.as_str()),
    ]
    .into_iter()
    .flatten()
    .filter(|p| !p.is_empty())
    .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!(" ({})", parts.join("; "))
    }
}

/// One trial: a case file, or one flavour of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CaseResult {
    /// The trial name: the case path relative to the catalogue, without `.sock`, plus
    /// `[flavour]` for flavoured cases (e.g. `stream-message/coalesce[tcp4]`).
    pub name: String,
    /// The case file as given to the runner.
    pub file: String,
    pub title: String,
    /// The theme: the first folder of the case path.
    pub theme: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flavour: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub claims: Vec<ClaimLink>,
    pub outcome: Outcome,
    /// One line: why it failed, errored or was skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The step that decided a failure or error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
    #[serde(default)]
    pub transcript: Vec<StepRecord>,
    pub duration_us: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refs: Vec<String>,
    /// The scenario source, for reports that show it with line numbers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Earlier attempts when `--retries` re-ran the case; the case is flaky when an earlier
    /// attempt failed and a later one passed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attempts: Vec<Attempt>,
    /// Set by a baseline: this failure is known (reason or tracking link).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub known_deviation: Option<String>,
}

/// How the runner's message for a case killed at its deadline begins; reports with a word of
/// their own for it (KTAP's `TIMEOUT`) recognise it by this.
pub const DEADLINE_KILLED: &str = "killed at its deadline";

impl CaseResult {
    /// The case could not be judged because it was killed at its deadline.
    pub fn timed_out(&self) -> bool {
        self.outcome == Outcome::Error
            && self
                .message
                .as_deref()
                .is_some_and(|m| m.starts_with(DEADLINE_KILLED))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Attempt {
    pub outcome: Outcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    pub duration_us: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ClaimLink {
    pub id: String,
    /// `holds`, `refutes` or `partly`: what a pass of this case says of the claim.
    pub stance: String,
}

/// Where and how a case went wrong.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Failure {
    /// 1-based line and column in the case file.
    pub line: usize,
    pub column: usize,
    /// The statement as written.
    pub statement: String,
    pub expected: String,
    pub actual: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

/// How one executed step went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum StepStatus {
    /// The result matched the expectation.
    Ok,
    /// The result differed: this step failed the case.
    Mismatch,
    /// Started with `blocks` and confirmed pending.
    Pending,
    /// The harness could not carry the step out.
    Error,
}

/// One line of the transcript.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StepRecord {
    /// Index in the scenario body.
    pub index: usize,
    pub line: usize,
    /// The statement as written.
    pub statement: String,
    /// The call with resolved arguments: `connect(c=fd4, 127.0.0.1:40312)`.
    pub call: String,
    /// The observed result: `= 10`, `= -1 EAGAIN (Resource temporarily unavailable)`,
    /// `= "abc" (3 bytes)`.
    pub result: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errno: Option<String>,
    /// Bytes returned by a receive, when any (capped for the report).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Bytes>,
    /// What was expected, as the scenario wrote it (after `when` selection).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    /// The bytes the expectation names, when it names bytes, so reports can set expected and
    /// received bytes side by side (capped like `data`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_data: Option<Bytes>,
    pub status: StepStatus,
    /// Wall time the call took.
    pub duration_us: u64,
    /// Time since the start of the case body.
    pub started_us: u64,
    /// The handles the step touched, for per-socket lanes in reports.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub handles: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Received bytes: their total length and the first bytes kept, hex-encoded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Bytes {
    pub len: u64,
    /// Lowercase hex of at most [`Bytes::KEEP`] leading bytes.
    pub hex: String,
}

impl Bytes {
    pub const KEEP: usize = 256;

    pub fn capture(data: &[u8]) -> Bytes {
        let kept = &data[..data.len().min(Bytes::KEEP)];
        Bytes {
            len: data.len() as u64,
            hex: kept.iter().map(|b| format!("{b:02x}")).collect(),
        }
    }

    pub fn kept(&self) -> Vec<u8> {
        (0..self.hex.len() / 2)
            .filter_map(|i| u8::from_str_radix(&self.hex[2 * i..2 * i + 2], 16).ok())
            .collect()
    }
}

/// The verdict on one course claim, from the cases that decide it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ClaimVerdict {
    pub id: String,
    pub source: String,
    pub section: String,
    /// An English paraphrase of the claim.
    pub claim: String,
    /// `holds`, `does-not-hold`, `partly`, `undecided` (no deciding case ran or a deciding
    /// case failed or errored).
    pub verdict: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explanation: Option<String>,
    /// Why the verdict is `undecided` (`no deciding case ran`, ``case `x` failed``); kept apart
    /// from `explanation`, which comes from the claims register.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub cases: Vec<String>,
}

/// One entry of the course claims register: what a verdict is computed for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ClaimInfo {
    pub id: String,
    pub source: String,
    pub section: String,
    /// An English paraphrase of the claim.
    pub claim: String,
    /// Why the claim does not (fully) hold, shown with such a verdict.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explanation: Option<String>,
    /// The claim's sub-assertions and the cases deciding each (`cases/claims.toml`); empty
    /// for a register without them, whose verdict then comes from every citing case.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub points: Vec<PointInfo>,
}

/// One sub-assertion of a claim and the cases (paths relative to the catalogue, without
/// `.sock`) that decide it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PointInfo {
    pub says: String,
    pub cases: Vec<String>,
}

/// One row of the property table: what a (domain, type) pair offers, as the catalogue found it.
/// Cells are short words (`yes`, `no`, `n/a`, `partly`) so the catalogue can qualify them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PropertyRow {
    /// `AF_INET`, `AF_INET6`, `AF_UNIX`.
    pub domain: String,
    /// `SOCK_STREAM`, `SOCK_DGRAM`, `SOCK_SEQPACKET`.
    pub socket_type: String,
    pub supported: String,
    pub connection_needed: String,
    pub boundaries_kept: String,
    pub ordered: String,
    pub reliable: String,
}

/// A measured figure with its spread.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Measurement {
    pub unit: String,
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub samples: u32,
    /// A confidence interval on the median, when the figure decides a claim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<Interval>,
}

/// A distribution-free confidence interval on a median: two order statistics of the samples
/// and the probability that the true median lies between them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Interval {
    pub low: f64,
    pub high: f64,
    /// The coverage, e.g. 0.96 (at least 0.95 once there are 6 or more samples).
    pub confidence: f64,
}

impl RunReport {
    /// An empty report of the current format for a run in `environment`.
    pub fn new(environment: Environment) -> RunReport {
        RunReport {
            format_version: FORMAT_VERSION,
            environment,
            cases: Vec::new(),
            claims: Vec::new(),
            measurements: BTreeMap::new(),
            differentials: Vec::new(),
            properties: Vec::new(),
        }
    }

    pub fn count(&self, outcome: Outcome) -> usize {
        self.cases.iter().filter(|c| c.outcome == outcome).count()
    }
}

/// One differential case: what each flavour's run of the same steps returned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Differential {
    /// The case, without the flavour (`differential/stream-vs-message`).
    pub case: String,
    pub title: String,
    pub flavours: Vec<String>,
    pub rows: Vec<DifferentialRow>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DifferentialRow {
    pub line: usize,
    pub statement: String,
    /// One result per flavour, in `flavours` order (`not reached` when that run stopped
    /// earlier); descriptor numbers and ports are folded so only behaviour differs.
    pub results: Vec<String>,
    pub differs: bool,
}
