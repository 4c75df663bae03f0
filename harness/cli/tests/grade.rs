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

/// What one fixture must score in one run: the requirements whose scored cases it loses
/// (every other scored case must pass) and the advisory cases it fails (unscored).
struct Expect {
    /// The suite as given to `--suite` (`daytime-tcp` is daytime's TCP cases only).
    suite: &'static str,
    fixture: &'static str,
    lost: &'static [&'static str],
    advisory: &'static [&'static str],
}

const fn e(
    suite: &'static str,
    fixture: &'static str,
    lost: &'static [&'static str],
    advisory: &'static [&'static str],
) -> Expect {
    Expect {
        suite,
        fixture,
        lost,
        advisory,
    }
}

/// Every requirement: what a server that never listens (or listens on a byte-swapped
/// port) loses.
const ALL: &[&str] = &["*"];

/// The contract (also `fixtures/servers/README.md`): every correct server, in every
/// language, full marks on every suite and transport that applies to it; every one-bug
/// server loses exactly its requirement.
fn contract() -> Vec<Expect> {
    let mut v = Vec::new();
    for r in [
        "ref-echo-tcp-iterative",
        "ref-echo-tcp-fork",
        "ref-echo-tcp-select",
        "ref-echo-tcp-select-writeall",
        "ref-echo-tcp-thread",
        "ref-echo-tcp-python",
        "ref-echo-tcp-perl",
        "ref-echo-tcp-node",
        "ref-echo-tcp-java",
    ] {
        v.push(e("echo-tcp", r, &[], &[]));
    }
    for r in [
        "ref-echo-tcp-fork",
        "ref-echo-tcp-select",
        "ref-echo-tcp-select-writeall",
        "ref-echo-tcp-thread",
        "ref-echo-tcp-python",
        "ref-echo-tcp-perl",
        "ref-echo-tcp-node",
        "ref-echo-tcp-java",
    ] {
        v.push(e("concurrent", r, &[], &[]));
    }
    v.extend([
        e(
            "echo-tcp",
            "bug-echo-one-recv",
            &[
                "split-request",
                "coalesced-requests",
                "persistent-connection",
                "large-transfer",
                "half-close",
                "slow-reader-integrity",
            ],
            &[],
        ),
        e("echo-tcp", "bug-echo-no-halfclose", &["half-close"], &[]),
        e("echo-tcp", "bug-echo-tail-loss", &["half-close"], &[]),
        // Ignoring short writes loses data exactly when the client reads slowly.
        e(
            "echo-tcp",
            "bug-echo-short-write",
            &["large-transfer", "slow-reader-integrity"],
            &[],
        ),
        e("echo-tcp", "bug-echo-sigpipe", &["client-reset"], &[]),
        e(
            "echo-tcp",
            "bug-echo-strlen",
            &["binary-safe", "large-transfer", "slow-reader-integrity"],
            &[],
        ),
        e(
            "echo-tcp",
            "bug-exit-after-one",
            &["sequential-clients", "client-reset"],
            &[],
        ),
        e("echo-tcp", "bug-no-htons", ALL, &[]),
        e(
            "echo-tcp",
            "bug-select-drops-on-eagain",
            &["slow-reader-integrity"],
            &[],
        ),
        e("echo-tcp", "ref-echo-tcp-fixed-port", &["given-port"], &[]),
        e(
            "concurrent",
            "ref-echo-tcp-iterative",
            &["concurrency", "client-leaves"],
            &["concurrent/fifty-clients"],
        ),
        e("concurrent", "bug-fork-zombies", &["no-zombies"], &[]),
        e(
            "concurrent",
            "bug-fork-fd-leak",
            &["no-fd-leak", "half-close"],
            &[],
        ),
        e(
            "concurrent",
            "bug-fork-listener-in-child",
            &["listener-not-in-children"],
            &[],
        ),
        e(
            "concurrent",
            "bug-echo-iterative-for-concurrent",
            &["concurrency", "client-leaves"],
            &["concurrent/fifty-clients"],
        ),
        e(
            "concurrent",
            "bug-fork-sigchld-blocks",
            &["client-leaves"],
            &[],
        ),
        e(
            "concurrent",
            "bug-select-drops-on-eagain",
            &["slow-reader-integrity"],
            &[],
        ),
        e("select-server", "ref-echo-tcp-select", &[], &[]),
        e("select-server", "ref-echo-tcp-node", &[], &[]),
        e(
            "select-server",
            "ref-echo-tcp-select-writeall",
            &[],
            &["select-server/slow-reader-does-not-starve"],
        ),
        e(
            "select-server",
            "ref-echo-tcp-fork",
            &["single-process"],
            &[],
        ),
        e(
            "select-server",
            "bug-select-blocks",
            &["concurrency", "client-leaves"],
            &[
                "select-server/slow-reader-does-not-starve",
                "select-server/fifty-clients",
            ],
        ),
        e(
            "select-server",
            "bug-select-drops-on-eagain",
            &["slow-reader-integrity"],
            &[],
        ),
        e("echo-udp", "ref-echo-udp", &[], &[]),
        e(
            "echo-udp",
            "bug-udp-wrong-addr",
            &["reply-to-sender", "sequential-clients", "many-udp-clients"],
            &[],
        ),
        e("echo-udp", "bug-udp-truncate", &["whole-datagrams"], &[]),
        e("daytime", "ref-daytime", &[], &[]),
        // Never closing is also a descriptor per client, never released.
        e(
            "daytime",
            "bug-daytime-no-close",
            &["basic", "format", "no-fd-leak"],
            &[],
        ),
        // A UDP socket that is never read: the UDP cases are lost.
        e(
            "daytime",
            "bug-daytime-tcp-only",
            &["basic", "reply-to-sender"],
            &[],
        ),
        // Graded on TCP only, the same server is correct.
        e("daytime-tcp", "bug-daytime-tcp-only", &[], &[]),
        e("daytime-tcp", "ref-daytime", &[], &[]),
        e("time", "ref-time", &[], &[]),
        e("time", "bug-time-wrong-length", &["format"], &[]),
        e("time", "bug-time-unix-epoch", &["basic"], &[]),
        e("time-udp", "ref-time-udp-only", &[], &[]),
        e("time-udp", "ref-time", &[], &[]),
        e("discard", "ref-discard", &[], &[]),
        // No UDP socket at all: the gate lifecycle/binds-udp fails and the UDP case is not
        // run (its requirement, basic, is lost); never a pass without the socket.
        e(
            "discard",
            "ref-discard-tcp-only",
            &["listens", "basic"],
            &[],
        ),
        e("discard-tcp", "ref-discard-tcp-only", &[], &[]),
        e("discard-tcp", "ref-discard", &[], &[]),
        e(
            "discard",
            "bug-discard-closes-at-once",
            &["large-transfer", "basic", "sequential-clients"],
            &[],
        ),
        e("chargen", "ref-chargen", &[], &[]),
        e(
            "chargen",
            "bug-chargen-udp-oversize",
            &["whole-datagrams"],
            &[],
        ),
        e("chargen", "bug-chargen-no-rotate", &["format"], &[]),
        e("multiport", "ref-multiport", &[], &[]),
        e(
            "multiport",
            "bug-multiport-blocking-echo",
            &["multiple-services"],
            &[],
        ),
    ]);
    v
}

/// Fixtures in other languages: (fixture, the runtime its `#!` line names). A missing
/// runtime skips the fixture with the reason.
const RUNTIMES: &[(&str, &str)] = &[
    ("ref-echo-tcp-python", "/usr/bin/python3"),
    ("ref-echo-tcp-perl", "/usr/bin/perl"),
    ("ref-echo-tcp-node", "/usr/bin/node"),
    ("ref-echo-tcp-java", "/usr/bin/java"),
];

/// Runtimes that need more address space than the sandbox's RLIMIT_AS (512 MiB) allows:
/// the JVM reserves its heap and V8 its code range at start-up, and each Python thread
/// reserves an 8 MiB stack. Until the sandbox limits resident memory instead (issue 11
/// item 5, `grade-safety`), a fixture of these whose every lost case says it could not
/// reserve memory is reported as PENDING, not counted as a verdict; any other outcome is
/// held to the contract.
const NEEDS_MEMORY_LIMITS: &[&str] = &[
    "ref-echo-tcp-node",
    "ref-echo-tcp-java",
    "ref-echo-tcp-python",
];

/// Known defects of the grader (issue 11, open), each recognised by its exact symptom: where
/// the symptom shows, the fixture is reported as KNOWN OPEN and not counted as a verdict;
/// any other outcome is held to the contract, so the entry goes stale once fixed.
/// (suite, fixture, the requirements it then loses, why.)
const KNOWN_OPEN: &[(&str, &str, &str, &str)] = &[
    (
        "echo-tcp",
        "ref-echo-tcp-java",
        "listens",
        "the JVM compiling a single-file source program misses the suite's 5 s listen window in the sandbox",
    ),
    (
        "concurrent",
        "ref-echo-tcp-java",
        "listens",
        "the JVM compiling a single-file source program misses the suite's 5 s listen window in the sandbox",
    ),
    (
        "select-server",
        "ref-echo-tcp-node",
        "single-process",
        "select-server/single-process counts Node's own runtime threads (libuv pool, V8) as the server's",
    ),
];

const HOSTILE: [&str; 7] = [
    "hostile-fork-bomb",
    "hostile-memory-hog",
    "hostile-output-flood",
    "hostile-busy-loop",
    "hostile-never-listens",
    "hostile-kill-all",
    "hostile-read-outside",
];

/// Processes the fork bomb may reach: the sandbox's default process limit is 160 (`grade
/// --help`, pids.max or RLIMIT_NPROC); a few more can be seen for an instant (a fork in
/// flight when the count is read), never hundreds.
const BOMB_CONTAINED: u32 = 192;

/// Resident memory the hog must stay below: it stops by itself at 4 GiB, so anything near
/// that means no limit held it (every server limit in the sandbox is far lower).
const HOG_CONTAINED_KIB: u64 = 3 << 20;

/// The fixture whose detection depends on timing (see its use).
const EAGAIN_BUG: &str = "bug-select-drops-on-eagain";

/// How many `sockspec grade` processes the test runs at once (each with `--jobs 4`).
const GRADERS_AT_ONCE: usize = 3;

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
    extra: &[&str],
) -> (std::process::Child, PathBuf) {
    let json = out.join(format!("{suite}{}.json", extra.join("")));
    let child = Command::new(env!("CARGO_BIN_EXE_sockspec"))
        .arg("grade")
        .arg("--suite")
        .arg(suite)
        .arg("--quiet")
        .arg("--jobs")
        .arg("4")
        .arg("--json")
        .arg(&json)
        .args(extra)
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

/// The requirements of the scored cases a submission did not pass.
fn lost_requirements(s: &SubmissionResult) -> BTreeSet<String> {
    s.cases
        .iter()
        .filter(|c| c.outcome != GradeOutcome::Pass && c.max_points > 0.0)
        .map(|c| c.requirement.clone())
        .collect()
}

/// The advisory cases a submission failed.
fn advisory_failed(s: &SubmissionResult) -> BTreeSet<String> {
    s.cases
        .iter()
        .filter(|c| c.outcome != GradeOutcome::Pass && c.advisory)
        .map(|c| c.name.clone())
        .collect()
}

/// Every case a runtime lost was lost to the address-space limit (see
/// [`NEEDS_MEMORY_LIMITS`]): it could not reserve memory, or failed a case it needs that
/// way.
fn refused_by_address_space(s: &SubmissionResult) -> bool {
    let lost: Vec<String> = s
        .cases
        .iter()
        .filter(|c| c.outcome != GradeOutcome::Pass)
        .map(|c| c.message.clone().unwrap_or_default())
        .collect();
    !lost.is_empty()
        && lost.iter().all(|m| {
            ["reserve", "OOM", "heap", "can't start new thread"]
                .iter()
                .any(|w| m.contains(w))
        })
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
    let missing: BTreeMap<&str, &str> = RUNTIMES
        .iter()
        .filter(|(_, runtime)| !Path::new(runtime).exists())
        .map(|(f, r)| (*f, *r))
        .collect();
    for (fixture, runtime) in &missing {
        eprintln!("skipped: {fixture}: its runtime {runtime} is not installed (ci/install-deps.sh installs it)");
    }
    let contract: Vec<Expect> = contract()
        .into_iter()
        .filter(|x| !missing.contains_key(x.fixture))
        .collect();
    let mut by_suite: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for x in &contract {
        by_suite.entry(x.suite).or_default().push(x.fixture);
    }
    by_suite.entry("echo-tcp").or_default().extend(HOSTILE);
    let mut results: BTreeMap<(String, String), SubmissionResult> = BTreeMap::new();
    // A reference that loses a point: the run says so and exits with its own code.
    let bad_reference = start_grade(
        "time-udp",
        &subs,
        &["ref-time-udp-only"],
        tmp.path(),
        &[
            "--reference",
            subs.join("bug-time-wrong-length").to_str().unwrap(),
            "--html",
            tmp.path().join("bad-reference.html").to_str().unwrap(),
        ],
    );
    let mut problems = Vec::new();
    // At most GRADERS_AT_ONCE graders run at a time, the biggest first: all of them at
    // once (fifty sandboxes on two cores) only made every case slower, on a machine that
    // other work already loads.
    let mut queue: Vec<(&str, &Vec<&str>)> = by_suite.iter().map(|(s, n)| (*s, n)).collect();
    queue.sort_by_key(|(_, names)| std::cmp::Reverse(names.len()));
    let queue = std::sync::Mutex::new(queue.into_iter());
    let finished = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..GRADERS_AT_ONCE {
            scope.spawn(|| loop {
                let next = queue.lock().unwrap().next();
                let Some((suite, names)) = next else { break };
                let (child, json) = start_grade(suite, &subs, names, tmp.path(), &[]);
                let r = finish_grade(suite, child, &json);
                finished.lock().unwrap().push((suite, r));
            });
        }
    });
    for (suite, r) in finished.into_inner().unwrap() {
        match r {
            Ok(class) => {
                for s in class.submissions {
                    results.insert((suite.to_string(), s.submission.clone()), s);
                }
            }
            Err(e) => problems.push(e),
        }
    }
    let (child, _) = bad_reference;
    let out = child.wait_with_output().expect("sockspec grade ends");
    if out.status.code() != Some(4) {
        problems.push(format!(
            "a reference that loses points must exit 4, got {:?}: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let page = std::fs::read_to_string(tmp.path().join("bad-reference.html")).unwrap_or_default();
    if !page.contains("class=warning") || !page.contains("reference solution") {
        problems.push("the class page does not warn that the reference lost points".into());
    }
    let elapsed = started.elapsed();
    eprintln!("all fixtures graded in {:.1}s", elapsed.as_secs_f64());
    assert!(
        problems.is_empty(),
        "{} grader run(s) unusable:\n{}",
        problems.len(),
        problems.join("\n")
    );

    let mut pending = Vec::new();
    let mut eagain_caught = 0;
    for x in &contract {
        let r = &results[&(x.suite.to_string(), x.fixture.to_string())];
        if NEEDS_MEMORY_LIMITS.contains(&x.fixture) && refused_by_address_space(r) {
            pending.push(format!(
                "{}/{}: {}",
                x.suite,
                x.fixture,
                r.root_cause.clone().unwrap_or_default()
            ));
            continue;
        }
        let got = lost_requirements(r);
        if let Some((.., why)) = KNOWN_OPEN.iter().find(|(suite, fixture, symptom, _)| {
            *suite == x.suite && *fixture == x.fixture && got.contains(*symptom)
        }) {
            eprintln!("KNOWN OPEN (issue 11): {}/{}: {why}", x.suite, x.fixture);
            continue;
        }
        let want: BTreeSet<String> = if x.lost == ALL {
            r.cases
                .iter()
                .filter(|c| c.max_points > 0.0)
                .map(|c| c.requirement.clone())
                .collect()
        } else {
            x.lost.iter().map(|s| s.to_string()).collect()
        };
        let advisory = advisory_failed(r);
        let want_advisory: BTreeSet<String> = x.advisory.iter().map(|s| s.to_string()).collect();
        // Whether the EAGAIN bug drops bytes in a given run depends on how far the client's
        // reads fall behind the server's sends (its send buffer must fill), which load can
        // change: one run in several let it through in one suite. Per suite it may lose
        // nothing; across its three suites it must be caught at least once (below).
        let got = if x.fixture == EAGAIN_BUG && got.is_empty() {
            want.clone()
        } else {
            got
        };
        if x.fixture == EAGAIN_BUG && lost_requirements(r).contains("slow-reader-integrity") {
            eagain_caught += 1;
        }
        if got != want || advisory != want_advisory {
            let detail: Vec<String> = r
                .cases
                .iter()
                .filter(|c| c.outcome != GradeOutcome::Pass)
                .map(|c| {
                    format!(
                        "    {} [{}{}] {}: {}",
                        c.name,
                        c.requirement,
                        if c.advisory { ", advisory" } else { "" },
                        c.outcome.as_str(),
                        c.message.clone().unwrap_or_default()
                    )
                })
                .collect();
            problems.push(format!(
                "{}/{}: expected to lose {want:?} (advisory {want_advisory:?}), lost {got:?} (advisory {advisory:?})\n{}",
                x.suite,
                x.fixture,
                detail.join("\n")
            ));
        }
        // The score is the sum of the passed scored cases: nothing else takes points.
        let lost: f64 = r
            .cases
            .iter()
            .filter(|c| c.outcome != GradeOutcome::Pass)
            .map(|c| c.max_points)
            .sum();
        if (r.max_score - r.score - lost).abs() > 1e-9 {
            problems.push(format!(
                "{}/{}: score {} of {}",
                x.suite, x.fixture, r.score, r.max_score
            ));
        }
    }
    if eagain_caught == 0 {
        problems.push(format!(
            "{EAGAIN_BUG}: slow-reader-integrity let it through in every suite"
        ));
    }
    for p in &pending {
        eprintln!("PENDING (needs the sandbox's resident-memory limits, issue 11 item 5): {p}");
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
            let ok = if c.name == "lifecycle/listens" || c.name == "lifecycle/uses-given-port" {
                c.outcome == GradeOutcome::Pass
            } else {
                c.outcome == GradeOutcome::Fail && reasons.iter().any(|r| msg.contains(r))
            };
            if !ok {
                problems.push(format!("{name} {}: {} `{msg}`", c.name, c.outcome.as_str()));
            }
        }
    };
    // Like the memory hog, how far the bomb gets before a case ends depends on the CPU it
    // is given: the process limit, or the deadline while it is still forking. Containment
    // is what must hold: every case fails and the process count never passed the limit.
    all_but_gate_fail_with(
        "hostile-fork-bomb",
        &[
            "resource limit: process count reached",
            "busy on CPU",
            "timed out",
            "no reply",
        ],
        &mut problems,
    );
    let bomb_peak = hostile("hostile-fork-bomb")
        .cases
        .iter()
        .filter_map(|c| c.server.as_ref())
        .map(|f| f.max_processes)
        .max()
        .unwrap_or(0);
    if bomb_peak > BOMB_CONTAINED {
        problems.push(format!(
            "hostile-fork-bomb: {bomb_peak} processes at once, not contained"
        ));
    }
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
        &[
            "busy on CPU",
            "SIGXCPU",
            "CPU limit",
            "timed out",
            "no reply",
        ],
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
        "verdicts: all {} fixture gradings as promised ({} pending)",
        contract.len() + HOSTILE.len() - pending.len(),
        pending.len()
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
