//! What other programs read from `sockspec run`: TAP read by Perl's `prove`, reports on
//! stdout, listings through a closed pipe, libtest's counts.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn bin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sockspec"));
    cmd.stdin(Stdio::null());
    cmd
}

fn fixture(rel: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/cli")
        .join(rel)
        .display()
        .to_string()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `prove` reading a TAP file: `--exec cat` makes the file's content the test's output.
fn prove(tap: &Path) -> Output {
    Command::new("prove")
        .arg("--exec")
        .arg("cat")
        .arg(tap)
        .output()
        .expect("prove runs (perl ships it; ci/install-deps.sh installs perl)")
}

fn tap_of(case: &str, dir: &tempfile::TempDir) -> PathBuf {
    let tap = dir.path().join(format!("{case}.tap"));
    let out = bin()
        .args(["run", "-q", "--cases", &fixture(case), "--tap"])
        .arg(&tap)
        .output()
        .unwrap();
    assert!(tap.exists(), "{}", text(&out));
    tap
}

#[test]
fn prove_accepts_a_passing_run_and_reports_the_failures_of_a_failing_one() {
    let dir = tempfile::tempdir().unwrap();
    let passing = prove(&tap_of("passes.sock", &dir));
    assert_eq!(passing.status.code(), Some(0), "{}", text(&passing));
    assert!(
        text(&passing).contains("Result: PASS"),
        "{}",
        text(&passing)
    );
    let failing = prove(&tap_of("wrong-expectation.sock", &dir));
    assert_ne!(failing.status.code(), Some(0), "{}", text(&failing));
    let all = text(&failing);
    assert!(all.contains("Failed test:  1"), "{all}");
    assert!(all.contains("Result: FAIL"), "{all}");
}

#[test]
fn a_report_on_stdout_is_the_whole_stdout_and_the_progress_goes_to_stderr() {
    let out = bin()
        .args(["run", "--cases", &fixture("passes.sock"), "--json", "-"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let json: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("stdout is exactly the JSON report");
    assert_eq!(json["cases"][0]["outcome"], "pass");
    assert!(String::from_utf8_lossy(&out.stderr).contains("test result: ok."));
    assert!(!Path::new("-").exists(), "no file named `-`");
    let two = bin()
        .args(["run", "--cases", &fixture("passes.sock")])
        .args(["--json", "-", "--tap", "-"])
        .output()
        .unwrap();
    assert_eq!(two.status.code(), Some(2), "{}", text(&two));
    assert!(text(&two).contains("--json, --tap all write to stdout"));
}

#[test]
fn listing_into_a_pipe_closed_early_ends_quietly() {
    for args in [&["run", "--list"][..], &["claims"][..]] {
        // A pipe far smaller than the listing, so sockspec is still writing when the reader
        // goes away, as with `| head -1`.
        let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
        nix::fcntl::fcntl(&read, nix::fcntl::FcntlArg::F_SETPIPE_SZ(4096)).unwrap();
        let child = bin()
            .args(args)
            .stdout(Stdio::from(write))
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(std::fs::File::from(read))
            .read_line(&mut first)
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!first.is_empty(), "{args:?}");
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

#[test]
fn positive_filters_count_the_trials_they_leave_out() {
    let out = bin()
        .args(["run", "--cases", &fixture(""), "passes", "wrong-exp"])
        .args(["--skip", "wrong"])
        .output()
        .unwrap();
    let all = text(&out);
    let listed = bin()
        .args(["run", "--list", "--cases", &fixture("")])
        .output()
        .unwrap();
    let trials = String::from_utf8_lossy(&listed.stdout).lines().count();
    assert!(
        all.contains(&format!(
            "1 passed; 0 failed; 0 ignored; 0 measured; {} filtered out",
            trials - 1
        )),
        "{all}"
    );
    assert!(
        all.trim_end()
            .lines()
            .last()
            .unwrap()
            .starts_with("test result: ok."),
        "the verdict is last: {all}"
    );
}

#[test]
fn zero_test_threads_is_a_usage_error() {
    let out = bin()
        .args([
            "run",
            "--test-threads",
            "0",
            "--cases",
            &fixture("passes.sock"),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("at least one thread"), "{}", text(&out));
}
