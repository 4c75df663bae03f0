//! The grader graded: every fixture server of `fixtures/servers` is built and graded against
//! its suite, and each case's verdict must be exactly the one `fixtures/servers/README.md`
//! promises — references get full marks, each broken server loses exactly the cases of its
//! bug, and each hostile one is contained and graded with a clear reason.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use sockspec_reports::grade::{ClassReport, GradeOutcome, SubmissionResult};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// (suite, fixture, the cases it must fail). Every other case of the suite must pass.
fn contract() -> Vec<(&'static str, &'static str, Vec<&'static str>)> {
    vec![
        ("echo-tcp", "ref-echo-tcp-iterative", vec![]),
        ("echo-tcp", "ref-echo-tcp-fork", vec![]),
        ("echo-tcp", "ref-echo-tcp-select", vec![]),
        (
            "echo-tcp",
            "bug-echo-one-recv",
            vec![
                "echo-tcp/split-request",
                "echo-tcp/coalesced-requests",
                "echo-tcp/many-exchanges",
                "echo-tcp/binary-1mib",
                "echo-tcp/half-close",
            ],
        ),
        (
            "echo-tcp",
            "bug-echo-no-halfclose",
            vec!["echo-tcp/half-close"],
        ),
        (
            "echo-tcp",
            "bug-echo-short-write",
            vec!["echo-tcp/binary-1mib"],
        ),
        (
            "echo-tcp",
            "bug-echo-sigpipe",
            vec!["echo-tcp/client-reset-survives"],
        ),
        (
            "echo-tcp",
            "bug-echo-strlen",
            vec!["echo-tcp/all-byte-values", "echo-tcp/binary-1mib"],
        ),
        (
            "echo-tcp",
            "bug-exit-after-one",
            vec![
                "lifecycle/serves-sequential-clients",
                "echo-tcp/client-reset-survives",
            ],
        ),
        (
            "echo-tcp",
            "bug-no-htons",
            vec![
                "lifecycle/listens",
                "lifecycle/serves-sequential-clients",
                "echo-tcp/one-line",
                "echo-tcp/split-request",
                "echo-tcp/coalesced-requests",
                "echo-tcp/many-exchanges",
                "echo-tcp/all-byte-values",
                "echo-tcp/binary-1mib",
                "echo-tcp/half-close",
                "echo-tcp/eof-closes",
                "echo-tcp/client-reset-survives",
            ],
        ),
        ("concurrent", "ref-echo-tcp-fork", vec![]),
        ("concurrent", "ref-echo-tcp-select", vec![]),
        (
            "concurrent",
            "ref-echo-tcp-iterative",
            vec![
                "concurrent/second-client-while-first-idle",
                "concurrent/fifty-clients",
            ],
        ),
        (
            "concurrent",
            "bug-fork-zombies",
            vec!["concurrent/no-zombies"],
        ),
        (
            "concurrent",
            "bug-fork-fd-leak",
            vec!["concurrent/no-fd-leak", "concurrent/eof-after-half-close"],
        ),
        (
            "concurrent",
            "bug-fork-listener-in-child",
            vec!["concurrent/listener-closed-in-child"],
        ),
        (
            "concurrent",
            "bug-echo-iterative-for-concurrent",
            vec![
                "concurrent/second-client-while-first-idle",
                "concurrent/fifty-clients",
            ],
        ),
        ("select-server", "ref-echo-tcp-select", vec![]),
        (
            "select-server",
            "ref-echo-tcp-fork",
            vec!["select-server/single-process"],
        ),
        (
            "select-server",
            "bug-select-blocks",
            vec![
                "select-server/second-client-while-first-idle",
                "select-server/interleaved-clients",
                "select-server/slow-reader-does-not-starve",
                "select-server/fifty-clients",
            ],
        ),
        (
            "select-server",
            "bug-select-blocking-send",
            vec!["select-server/slow-reader-does-not-starve"],
        ),
        ("echo-udp", "ref-echo-udp", vec![]),
        (
            "echo-udp",
            "bug-udp-wrong-addr",
            vec![
                "echo-udp/reply-to-sender",
                "lifecycle/serves-sequential-clients",
            ],
        ),
        (
            "echo-udp",
            "bug-udp-truncate",
            vec!["echo-udp/large-datagram-whole"],
        ),
        ("daytime", "ref-daytime", vec![]),
        (
            "daytime",
            "bug-daytime-no-close",
            vec!["daytime/tcp-line-then-close", "daytime/tcp-ignores-input"],
        ),
        (
            "daytime",
            "bug-daytime-tcp-only",
            vec!["daytime/udp-reply", "daytime/udp-reply-to-sender"],
        ),
        ("time", "ref-time", vec![]),
        (
            "time",
            "bug-time-wrong-length",
            vec![
                "time/tcp-exactly-four-bytes-then-close",
                "time/udp-four-bytes",
            ],
        ),
        (
            "time",
            "bug-time-unix-epoch",
            vec!["time/tcp-seconds-since-1900", "time/udp-seconds-since-1900"],
        ),
        ("discard", "ref-discard", vec![]),
        (
            "discard",
            "bug-discard-closes-at-once",
            vec![
                "discard/tcp-swallows-16mib",
                "discard/tcp-sends-nothing",
                "lifecycle/serves-sequential-clients",
            ],
        ),
        ("chargen", "ref-chargen", vec![]),
        (
            "chargen",
            "bug-chargen-udp-oversize",
            vec!["chargen/udp-reply-per-datagram"],
        ),
        (
            "chargen",
            "bug-chargen-no-rotate",
            vec!["chargen/tcp-pattern"],
        ),
        ("multiport", "ref-multiport", vec![]),
        (
            "multiport",
            "bug-multiport-blocking-echo",
            vec!["multiport/interleaved-services"],
        ),
    ]
}

const HOSTILE: [&str; 7] = [
    "hostile-fork-bomb",
    "hostile-memory-hog",
    "hostile-output-flood",
    "hostile-busy-loop",
    "hostile-never-listens",
    "hostile-kill-all",
    "hostile-read-outside",
];

/// Resident memory the hog must stay below: it stops by itself at 4 GiB, so anything near
/// that means no limit held it (every server limit in the sandbox is far lower).
const HOG_CONTAINED_KIB: u64 = 3 << 20;

/// Builds every fixture and makes one submission directory per fixture (`NAME/server`).
fn submissions(tmp: &Path) -> PathBuf {
    let bin = tmp.join("bin");
    let status = Command::new("make")
        .arg("-s")
        .arg("-C")
        .arg(repo().join("fixtures/servers"))
        .arg(format!("OUT={}", bin.display()))
        .status()
        .expect("make runs");
    assert!(status.success(), "the fixtures must build");
    let subs = tmp.join("subs");
    for entry in std::fs::read_dir(&bin).unwrap() {
        let entry = entry.unwrap();
        let dir = subs.join(entry.file_name());
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(entry.path(), dir.join("server")).unwrap();
    }
    subs
}

/// Starts `sockspec grade` for one suite; all suites run at once (their cases mostly wait).
fn start_grade(
    suite: &str,
    subs: &Path,
    names: &[&str],
    out: &Path,
) -> (std::process::Child, PathBuf) {
    let json = out.join(format!("{suite}.json"));
    let child = Command::new(env!("CARGO_BIN_EXE_sockspec"))
        .arg("grade")
        .arg("--suite")
        .arg(suite)
        .arg("--quiet")
        .arg("--jobs")
        .arg("4")
        .arg("--json")
        .arg(&json)
        .args(names.iter().map(|n| subs.join(n)))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("sockspec grade runs");
    (child, json)
}

/// Waits for one grader; its class report, or why it is unusable. A grader that exits 3
/// still wrote its report: every case it could not judge is named with its reason, so a
/// failure in CI says which submission × case errored and why.
fn finish_grade(
    suite: &str,
    child: std::process::Child,
    json: &Path,
) -> Result<ClassReport, String> {
    let output = child.wait_with_output().expect("sockspec grade ends");
    eprintln!("{}", String::from_utf8_lossy(&output.stdout));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let class: Option<ClassReport> = std::fs::read_to_string(json)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok());
    match (output.status.code(), class) {
        (Some(0), Some(class)) => Ok(class),
        (code, Some(class)) => {
            let errors: Vec<String> = class
                .submissions
                .iter()
                .flat_map(|s| {
                    s.cases
                        .iter()
                        .filter(|c| c.outcome == GradeOutcome::Error)
                        .map(move |c| {
                            format!(
                                "    {} × {}: {} (server: {})",
                                s.submission,
                                c.name,
                                c.message.clone().unwrap_or_default(),
                                c.server.as_ref().map_or("none".into(), |f| f.exit.clone())
                            )
                        })
                })
                .collect();
            Err(format!(
                "grade --suite {suite} exited with {code:?}; cases it could not judge:\n{}\nits stderr: {stderr}",
                errors.join("\n")
            ))
        }
        (code, None) => Err(format!(
            "grade --suite {suite} exited with {code:?} and wrote no report: {stderr}"
        )),
    }
}

fn failed(s: &SubmissionResult) -> BTreeSet<String> {
    s.cases
        .iter()
        .filter(|c| c.outcome != GradeOutcome::Pass)
        .map(|c| c.name.clone())
        .collect()
}

fn stderr_of(s: &SubmissionResult) -> String {
    s.cases
        .iter()
        .filter_map(|c| c.server.as_ref())
        .map(|f| f.stderr.clone())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn every_fixture_gets_exactly_its_verdict() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: grading needs root (namespaces and an unprivileged uid per sandbox)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let subs = submissions(tmp.path());
    let started = Instant::now();
    let mut by_suite: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (suite, fixture, _) in contract() {
        by_suite.entry(suite).or_default().push(fixture);
    }
    by_suite.entry("echo-tcp").or_default().extend(HOSTILE);
    let mut results: BTreeMap<(String, String), SubmissionResult> = BTreeMap::new();
    let running: Vec<_> = by_suite
        .iter()
        .map(|(suite, names)| (suite, start_grade(suite, &subs, names, tmp.path())))
        .collect();
    let mut problems = Vec::new();
    for (suite, (child, json)) in running {
        match finish_grade(suite, child, &json) {
            Ok(class) => {
                for s in class.submissions {
                    results.insert((suite.to_string(), s.submission.clone()), s);
                }
            }
            Err(e) => problems.push(e),
        }
    }
    let elapsed = started.elapsed();
    eprintln!("all fixtures graded in {:.1}s", elapsed.as_secs_f64());
    assert!(
        problems.is_empty(),
        "{} grader run(s) unusable:\n{}",
        problems.len(),
        problems.join("\n")
    );

    for (suite, fixture, must_fail) in contract() {
        let r = &results[&(suite.to_string(), fixture.to_string())];
        let want: BTreeSet<String> = must_fail.iter().map(|s| s.to_string()).collect();
        let got = failed(r);
        if got != want {
            let detail: Vec<String> = r
                .cases
                .iter()
                .filter(|c| want.contains(&c.name) != (c.outcome != GradeOutcome::Pass))
                .map(|c| {
                    format!(
                        "    {} {}: {}",
                        c.name,
                        c.outcome.as_str(),
                        c.message.clone().unwrap_or_default()
                    )
                })
                .collect();
            problems.push(format!(
                "{suite}/{fixture}: expected to lose {want:?}, lost {got:?}\n{}",
                detail.join("\n")
            ));
        }
        let lost: f64 = r
            .cases
            .iter()
            .filter(|c| want.contains(&c.name))
            .map(|c| c.max_points)
            .sum();
        if (r.max_score - r.score - lost).abs() > 1e-9 && got == want {
            problems.push(format!(
                "{suite}/{fixture}: score {} of {}",
                r.score, r.max_score
            ));
        }
    }
    // The gate's hint and root cause for the byte-swapped port.
    let htons = &results[&("echo-tcp".into(), "bug-no-htons".into())];
    if !htons
        .case("lifecycle/listens")
        .and_then(|c| c.message.clone())
        .unwrap_or_default()
        .contains("byte-swapped port 35091")
    {
        problems.push("bug-no-htons: the gate does not name the byte-swapped port".into());
    }
    if htons.names_with(GradeOutcome::Gated).len() != htons.cases.len() - 1 {
        problems.push("bug-no-htons: every case but the gate must be not run".into());
    }

    let hostile = |name: &str| &results[&("echo-tcp".to_string(), name.to_string())];
    let all_but_gate_fail_with = |name: &str, reasons: &[&str], problems: &mut Vec<String>| {
        let r = hostile(name);
        for c in &r.cases {
            let msg = c.message.clone().unwrap_or_default();
            let ok = if c.name == "lifecycle/listens" {
                c.outcome == GradeOutcome::Pass
            } else {
                c.outcome == GradeOutcome::Fail && reasons.iter().any(|r| msg.contains(r))
            };
            if !ok {
                problems.push(format!("{name} {}: {} `{msg}`", c.name, c.outcome.as_str()));
            }
        }
    };
    all_but_gate_fail_with(
        "hostile-fork-bomb",
        &["resource limit: process count reached"],
        &mut problems,
    );
    // The hog allocates 16 MiB at a time; how far it gets before a case ends depends on how
    // much CPU a loaded machine gives it, so which contained ending a case sees varies: the
    // limit stopped it ("allocation failed", SIGKILL), or the case deadline came first while
    // it was still allocating (diagnosed "busy on CPU", or a plain time-out). What must hold
    // every time is the containment: each case fails (never passes, never errs), and the
    // hog never got near the 4 GiB at which it announces that nothing stopped it.
    all_but_gate_fail_with(
        "hostile-memory-hog",
        &[
            "allocation failed",
            "SIGKILL",
            "memory limit",
            "busy on CPU",
            "timed out",
            "no reply",
        ],
        &mut problems,
    );
    if stderr_of(hostile("hostile-memory-hog")).contains("the sandbox set no memory limit") {
        problems.push("hostile-memory-hog reached 4 GiB: the sandbox has no memory limit".into());
    }
    let hog_peak_kib = hostile("hostile-memory-hog")
        .cases
        .iter()
        .filter_map(|c| c.server.as_ref())
        .map(|f| f.peak_rss_kib)
        .max()
        .unwrap_or(0);
    if hog_peak_kib >= HOG_CONTAINED_KIB {
        problems.push(format!(
            "hostile-memory-hog: peak resident memory {hog_peak_kib} KiB, not contained"
        ));
    }
    all_but_gate_fail_with(
        "hostile-busy-loop",
        &["busy on CPU", "SIGXCPU", "CPU limit"],
        &mut problems,
    );
    let never = hostile("hostile-never-listens");
    let gate = never.case("lifecycle/listens").unwrap();
    if gate.outcome != GradeOutcome::Fail
        || !gate
            .message
            .clone()
            .unwrap_or_default()
            .contains("did not listen")
        || never.names_with(GradeOutcome::Gated).len() != never.cases.len() - 1
    {
        problems.push(format!("hostile-never-listens: {:?}", gate.message));
    }
    for name in [
        "hostile-output-flood",
        "hostile-kill-all",
        "hostile-read-outside",
    ] {
        let r = hostile(name);
        if r.score != r.max_score {
            problems.push(format!("{name}: expected full marks, lost {:?}", failed(r)));
        }
    }
    let flood = hostile("hostile-output-flood");
    if !flood
        .cases
        .iter()
        .filter_map(|c| c.server.as_ref())
        .any(|f| f.stdout_dropped > 0 || f.stderr_dropped > 0)
    {
        problems.push("hostile-output-flood: no dropped output was recorded".into());
    }
    if !stderr_of(hostile("hostile-kill-all")).contains("kill(-1") {
        problems.push("hostile-kill-all: its kill(-1) line is not in the captured stderr".into());
    }
    // Every path it could read or list must lie inside the sandbox's own directories.
    for line in stderr_of(hostile("hostile-read-outside")).lines() {
        for verb in ["READ ", "LISTED "] {
            if let Some(rest) = line.split(verb).nth(1) {
                let path = rest.split(" (").next().unwrap_or("");
                let abs = if path.starts_with('/') {
                    PathBuf::from(path)
                } else {
                    Path::new("/sandbox/home/submission").join(path)
                };
                let norm = normalise(&abs);
                if !norm.starts_with("/sandbox") {
                    problems.push(format!("hostile-read-outside escaped: `{line}`"));
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
    eprintln!(
        "verdicts: all {} fixtures as promised",
        contract().len() + HOSTILE.len()
    );
}

fn normalise(p: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in p.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::Normal(n) => out.push(n),
            _ => {}
        }
    }
    out
}
