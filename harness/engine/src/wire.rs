//! The line protocol a case process speaks to its parent on stdout: one JSON object a line,
//! flushed as each step starts and ends, so a case killed at its deadline still leaves the
//! transcript up to the step that hung.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use sockspec_reports::{Failure, Outcome, StepRecord};

use crate::sandbox::Isolation;

/// What the runner tells a case process to do (one JSON document on its standard input).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseSpec {
    pub file: PathBuf,
    /// The exact text the runner parsed, so the case judges the same bytes (and does not
    /// parse twice); `None`: the case process reads `file`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The flavour name for flavoured cases.
    pub flavour: Option<String>,
    pub time_scale: f64,
    /// The case deadline, already scaled; the parent kills the group shortly after it.
    pub deadline_ms: u64,
    pub isolation: Isolation,
    /// A short token that keeps abstract names apart when cases share a network namespace.
    pub unique: String,
    /// Drop root to `nobody` after entering the namespaces (`needs unprivileged`).
    pub drop_privileges: bool,
    /// The runner-made private directory when `isolation` is `shared`.
    pub shared_dir: Option<PathBuf>,
    /// Grading: the server under test; the case then joins its network namespace instead of
    /// making one of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<crate::grade::ServerTarget>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Wire {
    /// A step is about to run.
    Started { index: usize, line: usize },
    /// A step finished (or was confirmed pending).
    Step { record: StepRecord },
    /// The case finished with this verdict.
    End {
        outcome: Outcome,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        failure: Option<Failure>,
    },
}
