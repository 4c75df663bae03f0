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
    /// The requirement the case checks: an id of [`REQUIREMENTS`].
    #[serde(default)]
    pub requirement: String,
    pub points: f64,
    /// What the case is worth; 0 for an advisory case that is not scored in this run.
    pub max_points: f64,
    pub outcome: GradeOutcome,
    /// A property beyond the assignment: run and shown, scored only when the suite or the
    /// teacher turns advisory cases on (then `max_points` is its points).
    #[serde(default)]
    pub advisory: bool,
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

    /// Points and maximum per requirement, in the order requirements first appear.
    pub fn by_requirement(&self) -> Vec<RequirementScore> {
        let mut out: Vec<RequirementScore> = Vec::new();
        for c in &self.cases {
            let i = match out.iter().position(|r| r.requirement == c.requirement) {
                Some(i) => i,
                None => {
                    out.push(RequirementScore {
                        requirement: c.requirement.clone(),
                        ..RequirementScore::default()
                    });
                    out.len() - 1
                }
            };
            let r = &mut out[i];
            r.points += c.points;
            r.max_points += c.max_points;
            r.cases += 1;
            if c.outcome != GradeOutcome::Pass {
                if c.max_points > 0.0 {
                    r.lost += 1;
                } else {
                    r.advisory_failed += 1;
                }
            }
        }
        out
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

/// One requirement's share of a submission's score.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RequirementScore {
    pub requirement: String,
    pub points: f64,
    pub max_points: f64,
    pub cases: usize,
    /// Scored cases not passed.
    pub lost: usize,
    /// Advisory (unscored) cases not passed.
    pub advisory_failed: usize,
}

/// One requirement of the shared vocabulary: every grading case names the one it checks,
/// reports group points by it, and `docs/grading.md` says what a correct server must do and
/// which designs are accepted for each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Requirement {
    pub id: &'static str,
    pub title: &'static str,
}

/// The vocabulary, in the order reports list requirements. `docs/grading.md` describes
/// each (a test keeps the two in step).
pub const REQUIREMENTS: &[Requirement] = &[
    Requirement {
        id: "listens",
        title: "opens its sockets on the given port and stays up",
    },
    Requirement {
        id: "given-port",
        title: "uses the port it was given",
    },
    Requirement {
        id: "sequential-clients",
        title: "serves clients one after another",
    },
    Requirement {
        id: "basic",
        title: "the service's basic exchange",
    },
    Requirement {
        id: "format",
        title: "the reply has the service's exact format",
    },
    Requirement {
        id: "split-request",
        title: "a request split over several segments",
    },
    Requirement {
        id: "coalesced-requests",
        title: "several requests in one segment",
    },
    Requirement {
        id: "persistent-connection",
        title: "many exchanges on one connection",
    },
    Requirement {
        id: "binary-safe",
        title: "every byte value, NUL included",
    },
    Requirement {
        id: "large-transfer",
        title: "a transfer far larger than the socket buffers",
    },
    Requirement {
        id: "half-close",
        title: "the client's EOF: everything owed, then close",
    },
    Requirement {
        id: "slow-reader-integrity",
        title: "no byte lost when a client reads slowly",
    },
    Requirement {
        id: "concurrency",
        title: "a second client is served while the first is idle",
    },
    Requirement {
        id: "many-clients",
        title: "fifty clients connected at once",
    },
    Requirement {
        id: "client-leaves",
        title: "a client leaves while another stays",
    },
    Requirement {
        id: "client-reset",
        title: "survives a client that resets",
    },
    Requirement {
        id: "no-zombies",
        title: "reaps its children",
    },
    Requirement {
        id: "no-fd-leak",
        title: "closes every descriptor it is done with",
    },
    Requirement {
        id: "listener-not-in-children",
        title: "children do not hold the listener",
    },
    Requirement {
        id: "single-process",
        title: "one process, one thread (select/poll)",
    },
    Requirement {
        id: "no-starvation",
        title: "one blocked client never stalls the others",
    },
    Requirement {
        id: "whole-datagrams",
        title: "one datagram in, one whole datagram out",
    },
    Requirement {
        id: "reply-to-sender",
        title: "each reply goes to the datagram's sender",
    },
    Requirement {
        id: "many-udp-clients",
        title: "fifty distinct UDP client sockets",
    },
    Requirement {
        id: "multiple-services",
        title: "every service served at once",
    },
    Requirement {
        id: "ipv6",
        title: "serves clients over IPv6 ([::1])",
    },
];

/// The requirement with this id.
pub fn requirement(id: &str) -> Option<&'static Requirement> {
    REQUIREMENTS.iter().find(|r| r.id == id)
}

/// A suite's case as the class report lists it (one column per case would be too wide; the
/// class page lists cases as rows).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SuiteCase {
    pub name: String,
    pub title: String,
    #[serde(default)]
    pub requirement: String,
    pub max_points: f64,
    #[serde(default)]
    pub advisory: bool,
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
    /// The transports graded (`tcp`, `udp`): the suite's, or those the teacher chose.
    #[serde(default)]
    pub transports: Vec<String>,
    /// Advisory cases were scored in this run (`--strict` or the suite's `score_advisory`).
    #[serde(default)]
    pub advisory_scored: bool,
}

impl ClassReport {
    /// The reference solution, when the run had one.
    pub fn reference(&self) -> Option<&SubmissionResult> {
        self.submissions.iter().find(|s| s.reference)
    }

    /// The scored cases the reference solution did not pass: each one means the suite (or
    /// the grader) takes points from a correct server, and the class results are suspect.
    pub fn reference_losses(&self) -> Vec<&GradedCase> {
        self.reference()
            .map(|r| {
                r.cases
                    .iter()
                    .filter(|c| c.outcome != GradeOutcome::Pass && c.max_points > 0.0)
                    .collect()
            })
            .unwrap_or_default()
    }

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
            requirement: "basic".into(),
            advisory: false,
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
    fn the_docs_describe_every_requirement() {
        let docs = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/grading.md"),
        )
        .expect("docs/grading.md");
        for r in REQUIREMENTS {
            assert!(
                docs.contains(&format!("| `{}` |", r.id)),
                "docs/grading.md has no row for requirement `{}`",
                r.id
            );
        }
    }

    #[test]
    fn points_group_by_requirement_and_advisory_cases_count_apart() {
        let mut a = case("echo-tcp/one-line", GradeOutcome::Pass, 2.0);
        a.requirement = "basic".into();
        let mut b = case("echo-tcp/half-close", GradeOutcome::Fail, 3.0);
        b.requirement = "half-close".into();
        let mut c = case(
            "select-server/slow-reader-does-not-starve",
            GradeOutcome::Fail,
            0.0,
        );
        c.requirement = "no-starvation".into();
        c.advisory = true;
        let mut s = SubmissionResult {
            format_version: crate::FORMAT_VERSION,
            submission: "a".into(),
            path: "a".into(),
            suite: "s".into(),
            reference: true,
            score: 0.0,
            max_score: 0.0,
            root_cause: None,
            build: None,
            cases: vec![a, b, c],
            duration_ms: 0,
        };
        s.total();
        let by = s.by_requirement();
        assert_eq!(by.len(), 3);
        assert_eq!((by[1].requirement.as_str(), by[1].lost), ("half-close", 1));
        assert_eq!((by[2].lost, by[2].advisory_failed), (0, 1));
        let class = ClassReport {
            format_version: 1,
            suite: "s".into(),
            cases: Vec::new(),
            submissions: vec![s],
            started_at: String::new(),
            duration_ms: 0,
            partition: None,
            tool_version: String::new(),
            kernel_release: String::new(),
            transports: vec!["tcp".into()],
            advisory_scored: false,
        };
        // The advisory failure is not a lost point of the reference; the half-close is.
        let lost: Vec<&str> = class
            .reference_losses()
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(lost, vec!["echo-tcp/half-close"]);
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
