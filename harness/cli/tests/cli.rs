//! The `sockspec` binary driven as a user drives it: exit codes, messages, deadlines,
//! interruption, and running without privileges.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sockspec"))
}

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/cli")
        .join(rel)
}

fn run(args: &[&str]) -> Output {
    bin()
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("sockspec runs")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn cases_arg(rel: &str) -> String {
    fixture(rel).display().to_string()
}

#[test]
fn a_passing_case_exits_zero() {
    let out = run(&["run", "--cases", &cases_arg("passes.sock")]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("1 passed"), "{}", text(&out));
}

#[test]
fn a_wrong_expectation_fails_with_location_expected_actual_and_transcript() {
    let out = run(&["run", "--cases", &cases_arg("wrong-expectation.sock")]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(
        all.contains("wrong-expectation.sock:6:1"),
        "no file:line:col in\n{all}"
    );
    assert!(all.contains("expected: \"goodbye\""), "{all}");
    assert!(all.contains("\"hello\""), "actual bytes missing in\n{all}");
    assert!(all.contains("transcript:"), "{all}");
    assert!(
        all.contains("send(c, \"hello\")"),
        "earlier steps missing from the transcript\n{all}"
    );
}

#[test]
fn a_malformed_file_is_a_usage_error_with_a_caret_and_a_hint() {
    let out = run(&[
        "run",
        "--cases",
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures/cli-malformed")
            .to_str()
            .unwrap(),
    ]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(all.contains("typo.sock:4:"), "{all}");
    assert!(all.contains('^'), "{all}");
    assert!(all.contains("ECONNREFUSED"), "no did-you-mean in\n{all}");
}

#[test]
fn a_case_that_blocks_forever_is_killed_at_its_deadline() {
    let started = Instant::now();
    let out = run(&["run", "--cases", &cases_arg("hangs-forever.sock")]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(3), "{all}");
    assert!(all.contains("deadline"), "{all}");
    assert!(
        all.contains("line 8"),
        "the hung step is not named in\n{all}"
    );
    assert!(
        all.contains("recv(s, 1) = \"x\""),
        "the transcript so far is missing in\n{all}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn listing_is_terse_and_cargo_compatible() {
    let out = run(&[
        "run",
        "--cases",
        &cases_arg(""),
        "--list",
        "--format",
        "terse",
    ]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(all.lines().any(|l| l == "passes: test"), "{all}");
    assert!(all.lines().any(|l| l == "wrong-expectation: test"), "{all}");
}

#[test]
fn exact_runs_only_the_named_trial() {
    let out = run(&["run", "--cases", &cases_arg(""), "--exact", "passes"]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(all.contains("1 passed"), "{all}");
}

#[test]
fn usage_errors_exit_two_with_one_clear_message() {
    let out = run(&["run", "--no-such-flag"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let out = run(&["run", "--cases", "/nonexistent/cases"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("does not exist"), "{}", text(&out));
    let out = run(&["run", "--cases", &cases_arg("passes.sock"), "no-such-case"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("no case matches"), "{}", text(&out));
    let out = run(&["run", "--time-scale", "0.5"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn json_results_carry_the_transcript_and_environment() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let out = run(&[
        "run",
        "--cases",
        &cases_arg("wrong-expectation.sock"),
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["format_version"], 1);
    assert!(report["environment"]["kernel_release"]
        .as_str()
        .is_some_and(|s| !s.is_empty()));
    let case = &report["cases"][0];
    assert_eq!(case["outcome"], "fail");
    assert_eq!(case["failure"]["line"], 6);
    assert!(case["transcript"].as_array().is_some_and(|t| t.len() >= 2));
}

/// Live case processes (`sockspec __case`) whose environment holds `MARK=needle`: the spec
/// travels on their stdin, so the environment the runner passes on is what marks them.
fn processes_mentioning(needle: &str) -> Vec<i32> {
    let mark = format!("SOCKSPEC_TEST_MARK={needle}");
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let environ = std::fs::read(entry.path().join("environ")).unwrap_or_default();
        let marked = environ.split(|b| *b == 0).any(|kv| kv == mark.as_bytes());
        if marked && String::from_utf8_lossy(&cmdline).contains("__case") {
            found.push(pid);
        }
    }
    found
}

fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    cond()
}

fn interrupt_leaves_nothing(signal: nix::sys::signal::Signal, isolation: &str) {
    let slow = cases_arg("slow");
    let mark = format!("sleeps-{}-{isolation}", std::process::id());
    let mut child = bin()
        .env("SOCKSPEC_TEST_MARK", &mark)
        .args([
            "run",
            "--cases",
            &slow,
            "--isolation",
            isolation,
            "--test-threads",
            "2",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let runner = child.id() as i32;
    assert!(
        wait_until(Duration::from_secs(10), || processes_mentioning(&mark)
            .len()
            >= 2),
        "the case processes never started"
    );
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(runner), signal).unwrap();
    let status = child.wait().unwrap();
    if signal == nix::sys::signal::Signal::SIGINT {
        assert_eq!(status.code(), Some(130));
    }
    assert!(
        wait_until(Duration::from_secs(5), || processes_mentioning(&mark)
            .is_empty()),
        "case processes outlived the runner: {:?}",
        processes_mentioning(&mark)
    );
    let prefix = format!("sockspec-{runner}-");
    if signal == nix::sys::signal::Signal::SIGINT {
        let left: Vec<_> = std::fs::read_dir(std::env::temp_dir())
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
            .collect();
        assert!(left.is_empty(), "temp dirs left behind: {left:?}");
    }
}

#[test]
fn ctrl_c_kills_every_case_process_and_removes_temp_dirs() {
    interrupt_leaves_nothing(nix::sys::signal::Signal::SIGINT, "shared");
}

#[test]
fn sigkill_of_the_runner_takes_the_case_processes_with_it() {
    interrupt_leaves_nothing(nix::sys::signal::Signal::SIGKILL, "auto");
}

#[test]
fn cases_needing_isolation_are_skipped_with_the_reason_when_there_is_none() {
    let out = run(&[
        "run",
        "--cases",
        &cases_arg("needs-isolation.sock"),
        "--isolation",
        "shared",
    ]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(all.contains("1 ignored"), "{all}");
    assert!(all.contains("needs a private network namespace"), "{all}");
}

/// As root, the same binary run as `nobody`: isolation through a user namespace when the
/// kernel allows it, and the case still passes.
#[test]
fn an_unprivileged_user_can_run_cases() {
    if !nix::unistd::geteuid().is_root() {
        let out = run(&["run", "--cases", &cases_arg("passes.sock")]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        return;
    }
    let runuser = ["/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser"]
        .into_iter()
        .find(|p| Path::new(p).exists());
    let runuser = runuser.expect(
        "runuser (util-linux) is needed to test unprivileged runs; ci/install-deps.sh installs it",
    );
    // nobody cannot read root's home, where the binary and fixtures may live: copy them.
    let dir = tempfile::Builder::new()
        .prefix("sockspec-test-unpriv")
        .tempdir()
        .unwrap();
    let exe = dir.path().join("sockspec");
    std::fs::copy(env!("CARGO_BIN_EXE_sockspec"), &exe).unwrap();
    for name in [
        "passes.sock",
        "needs-isolation.sock",
        "needs-unprivileged.sock",
    ] {
        std::fs::copy(fixture(name), dir.path().join(name)).unwrap();
    }
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = Command::new(runuser)
        .args(["-u", "nobody", "--"])
        .arg(&exe)
        .args(["run", "--cases"])
        .arg(dir.path())
        .env("TMPDIR", "/tmp")
        .output()
        .unwrap();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    let line_ok = |name: &str| {
        all.lines()
            .any(|l| l.starts_with(&format!("test {name} ")) && l.ends_with("... ok"))
    };
    assert!(line_ok("passes"), "{all}");
    assert!(
        line_ok("needs-isolation") || all.contains("needs a private network namespace"),
        "{all}"
    );
    // In a user namespace the case is uid 0: `needs unprivileged` must take its capabilities.
    assert!(
        line_ok("needs-unprivileged") || all.contains("needs a private network namespace"),
        "{all}"
    );
}

/// Verdicts (name → outcome) of a saved run.
fn verdicts(path: &Path) -> Vec<(String, String)> {
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut v: Vec<(String, String)> = report["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn merged_shards_give_the_same_verdicts_as_one_run() {
    let dir = tempfile::tempdir().unwrap();
    let cases = cases_arg("");
    let common = [
        "run", "--cases", &cases, "--skip", "slow", "--skip", "hangs", "-q",
    ];
    let whole = dir.path().join("whole.json");
    let out = bin()
        .args(common)
        .arg("--json")
        .arg(&whole)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let mut shards = Vec::new();
    for k in 1..=3 {
        let shard = dir.path().join(format!("shard{k}.json"));
        let out = bin()
            .args(common)
            .args(["--partition", &format!("{k}/3"), "--json"])
            .arg(&shard)
            .output()
            .unwrap();
        // A shard holds only passing cases (0) or the failing one too (1); an empty shard is
        // an empty run, not a usage error.
        assert!(matches!(out.status.code(), Some(0 | 1)), "{}", text(&out));
        shards.push(shard);
    }
    let merged = dir.path().join("merged.json");
    let out = bin()
        .args(["report", "merge"])
        .args(&shards)
        .arg("--json")
        .arg(&merged)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(verdicts(&merged), verdicts(&whole));
}

/// The report accounts for every trial libtest counts: one entry per listed trial, an
/// `ignore "reason"` case as a skip with its reason, a skipped need as a skip, and nothing
/// for a trial filtered out with `--skip`.
#[test]
fn the_report_has_one_entry_per_trial_libtest_counts_ignored_ones_as_skips_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let passes = std::fs::read_to_string(fixture("passes.sock")).unwrap();
    let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
    write("plain.sock", &passes);
    write(
        "ignored.sock",
        &format!("ignore \"waits for a kernel fix\"\n{passes}"),
    );
    write(
        "ignored-flavoured.sock",
        "case \"an ignored case with flavours\"\nflavours unix-stream-pair unix-dgram-pair\nignore \"flaky here\"\n\nc, s = pair()\n",
    );
    write(
        "needs-isolation.sock",
        &std::fs::read_to_string(fixture("needs-isolation.sock")).unwrap(),
    );
    write("filtered-out.sock", &passes);
    let cases = dir.path().display().to_string();
    let listed = run(&["run", "--cases", &cases, "--list", "--skip", "filtered-out"]);
    let mut names: Vec<String> = String::from_utf8_lossy(&listed.stdout)
        .lines()
        .filter_map(|l| l.strip_suffix(": test"))
        .map(str::to_string)
        .collect();
    names.sort();
    assert_eq!(names.len(), 5, "{}", text(&listed));

    let json = dir.path().join("run.json");
    let out = run(&[
        "run",
        "--cases",
        &cases,
        "--skip",
        "filtered-out",
        "--isolation",
        "shared",
        "--json",
        json.to_str().unwrap(),
    ]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(
        all.contains("1 passed; 0 failed; 4 ignored; 0 measured; 1 filtered out"),
        "{all}"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let cases = report["cases"].as_array().unwrap();
    let got: Vec<&str> = cases.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(got, names, "one entry per listed trial, in name order");
    let entry = |name: &str| {
        let c = cases.iter().find(|c| c["name"] == name).unwrap();
        (
            c["outcome"].as_str().unwrap().to_string(),
            c["message"].as_str().unwrap_or("").to_string(),
        )
    };
    assert_eq!(entry("plain").0, "pass");
    let (outcome, message) = entry("ignored");
    assert_eq!(outcome, "skip");
    assert!(message.contains("waits for a kernel fix"), "{message}");
    for flavour in ["unix-stream-pair", "unix-dgram-pair"] {
        let (outcome, message) = entry(&format!("ignored-flavoured[{flavour}]"));
        assert_eq!(outcome, "skip");
        assert!(message.contains("flaky here"), "{message}");
    }
    let (outcome, message) = entry("needs-isolation");
    assert_eq!(outcome, "skip");
    assert!(
        message.contains("needs a private network namespace"),
        "{message}"
    );

    // With --ignored, libtest runs only the ignored cases, and the report holds just those.
    let out = run(&[
        "run",
        "--cases",
        &cases_dir(&dir),
        "--ignored",
        "--isolation",
        "shared",
        "--json",
        json.to_str().unwrap(),
    ]);
    let all = text(&out);
    assert!(all.contains("3 passed; 0 failed; 0 ignored"), "{all}");
    let ran: Vec<String> = verdicts(&json).into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        ran,
        [
            "ignored",
            "ignored-flavoured[unix-dgram-pair]",
            "ignored-flavoured[unix-stream-pair]"
        ]
    );
}

fn cases_dir(dir: &tempfile::TempDir) -> String {
    dir.path().display().to_string()
}

#[test]
fn descriptors_leaked_into_the_runner_do_not_reach_cases() {
    use std::os::unix::process::CommandExt;
    let mut cmd = bin();
    cmd.args(["run", "--cases", &cases_arg("stray-descriptor.sock")])
        .stdin(Stdio::null());
    // SAFETY: dup2 and fcntl only, between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            // As a careless parent would: fd 9 open, without close-on-exec.
            if libc::dup2(2, 9) < 0 || libc::fcntl(9, libc::F_SETFD, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = cmd.output().expect("sockspec runs");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}
