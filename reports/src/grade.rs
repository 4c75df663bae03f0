//! The grading result model: one graded submission (score, each case with its points,
//! outcome, hint and transcript, and what the server's processes did), and a class of them
//! (submissions × cases, with an optional reference column). Versioned with
//! [`crate::FORMAT_VERSION`] like the run model.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{Failure, StepRecord};

/// How one graded case ended. `Gated` cases were not run because a case they need failed.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum GradeOutcome {
    Pass,
    /// The server under test did not do what the case requires.
    Fail,
    /// The grader could not judge (sandbox or scenario trouble): never the student's fault,
    /// but worth no points until re-graded.
    Error,
    /// Not run: a case it needs (`needs` in the manifest) did not pass.
    Gated,
}

impl GradeOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            GradeOutcome::Pass => "pass",
            GradeOutcome::Fail => "fail",
            GradeOutcome::Error => "error",
            GradeOutcome::Gated => "not run",
        }
    }
}

/// What the server's processes did during one case: recorded for every run, scored only
/// through cases that ask (`server_fact(...)`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
pub struct ServerFacts {
    /// The command as run in the sandbox.
    pub command: String,
    /// `exit status 1`, `killed by SIGPIPE`, or `running until stopped by the grader`.
    pub exit: String,
    /// The main process ended on its own before the grader stopped it.
    pub exited_early: bool,
    /// The stopped server ignored SIGTERM for the whole grace period and was SIGKILLed.
    #[serde(default)]
    pub needed_sigkill: bool,
    /// CPU time of the server's processes (user + system), in milliseconds.
    pub cpu_ms: u64,
    /// Wall time from start to stop, in milliseconds.
    pub wall_ms: u64,
    /// Peak resident memory of the main process (VmHWM), in KiB.
    pub peak_rss_kib: u64,
    /// Live processes besides the main one when the case ended.
    pub children_left: u32,
    /// Processes in state Z (exited, never waited for) when the case ended.
    pub zombies: u32,
    /// The most processes seen alive at once (watch for the process limit).
    pub max_processes: u32,
    /// Open descriptors of the main process when the case ended.
    pub fds_open: u32,
    /// TCP sockets of the server in CLOSE-WAIT when the case ended.
    pub close_wait: u32,
    /// Server output, capped; the count of bytes past the cap is kept.
    pub stdout: String,
    pub stdout_dropped: u64,
    pub stderr: String,
    pub stderr_dropped: u64,
    /// A diagnosis the grader derived from the facts ("server busy on CPU", "resource limit:
    /// process count reached (N processes)").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diagnosis: Option<String>,
}

/// One case of a suite, as graded for one submission.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct GradedCase {
    /// `suite/case`, e.g. `echo-tcp/split-request` or `lifecycle/listens`.
    pub name: String,
    pub title: String,
    pub points: f64,
    pub max_points: f64,
    pub outcome: GradeOutcome,
    /// Hidden from students until the instructor publishes them.
    #[serde(default)]
    pub hidden: bool,
    /// One line: why it failed or was not run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
    #[serde(default)]
    pub transcript: Vec<StepRecord>,
    /// The scenario source, for reports that show it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<ServerFacts>,
    pub duration_ms: u64,
}

/// One graded submission.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SubmissionResult {
    pub format_version: u32,
    /// The submission's name (its directory name).
    pub submission: String,
    /// Where it came from, as given on the command line.
    pub path: String,
    pub suite: String,
    /// The reference solution of the run, not a student.
    #[serde(default)]
    pub reference: bool,
    pub score: f64,
    pub max_score: f64,
    /// The one failure everything else depends on (did not build, never listened), when
    /// gating stopped the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_cause: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<ServerFacts>,
    pub cases: Vec<GradedCase>,
    pub duration_ms: u64,
}

impl SubmissionResult {
    pub fn case(&self, name: &str) -> Option<&GradedCase> {
        self.cases.iter().find(|c| c.name == name)
    }

    /// Sums the points of the cases into `score` and `max_score`.
    pub fn total(&mut self) {
        self.score = self.cases.iter().map(|c| c.points).sum();
        self.max_score = self.cases.iter().map(|c| c.max_points).sum();
    }

    /// Case names with the given outcome, in suite order.
    pub fn names_with(&self, outcome: GradeOutcome) -> Vec<&str> {
        self.cases
            .iter()
            .filter(|c| c.outcome == outcome)
            .map(|c| c.name.as_str())
            .collect()
    }
}

/// A suite's case as the class report lists it (one column per case would be too wide; the
/// class page lists cases as rows).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SuiteCase {
    pub name: String,
    pub title: String,
    pub max_points: f64,
    #[serde(default)]
    pub hidden: bool,
}

/// A whole batch: every submission graded against one suite.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ClassReport {
    pub format_version: u32,
    pub suite: String,
    pub cases: Vec<SuiteCase>,
    /// The reference solution first when there is one, then the students in name order.
    pub submissions: Vec<SubmissionResult>,
    /// RFC 3339, UTC.
    pub started_at: String,
    pub duration_ms: u64,
    /// `K/N` when this is one shard of a partitioned batch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
    pub tool_version: String,
    pub kernel_release: String,
}

impl ClassReport {
    /// The scores of the students (not the reference), for the distribution.
    pub fn student_scores(&self) -> Vec<f64> {
        self.submissions
            .iter()
            .filter(|s| !s.reference)
            .map(|s| s.score)
            .collect()
    }
}

/// Points for a case: all or nothing.
pub fn points_for(outcome: GradeOutcome, max_points: f64) -> f64 {
    if outcome == GradeOutcome::Pass {
        max_points
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(name: &str, outcome: GradeOutcome, max: f64) -> GradedCase {
        GradedCase {
            name: name.into(),
            title: String::new(),
            points: points_for(outcome, max),
            max_points: max,
            outcome,
            hidden: false,
            message: None,
            hint: None,
            failure: None,
            transcript: Vec::new(),
            source: None,
            server: None,
            duration_ms: 0,
        }
    }

    #[test]
    fn score_is_the_sum_of_passed_points_only() {
        let mut s = SubmissionResult {
            format_version: crate::FORMAT_VERSION,
            submission: "a".into(),
            path: "a".into(),
            suite: "echo-tcp".into(),
            reference: false,
            score: 0.0,
            max_score: 0.0,
            root_cause: None,
            build: None,
            cases: vec![
                case("lifecycle/listens", GradeOutcome::Pass, 2.0),
                case("echo-tcp/one-line", GradeOutcome::Fail, 3.0),
                case("echo-tcp/half-close", GradeOutcome::Gated, 5.0),
                case("echo-tcp/eof-closes", GradeOutcome::Error, 1.0),
                case("echo-tcp/split-request", GradeOutcome::Pass, 4.5),
            ],
            duration_ms: 0,
        };
        s.total();
        assert_eq!(s.score, 6.5);
        assert_eq!(s.max_score, 15.5);
        assert_eq!(
            s.names_with(GradeOutcome::Gated),
            vec!["echo-tcp/half-close"]
        );
        let json = serde_json::to_string(&s).unwrap();
        let back: SubmissionResult = serde_json::from_str(&json).unwrap();
        assert_eq!(back, s);
    }
}
