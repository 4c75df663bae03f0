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

/// The binary alone, outside the checkout (as `cargo install` leaves it), runs the built-in
/// catalogue from the copy built into it, unpacked into the user's cache.
#[test]
fn an_installed_binary_runs_the_catalogue_without_the_checkout() {
    let root = tempfile::tempdir().unwrap();
    let bin_dir = root.path().join("bin");
    std::fs::create_dir(&bin_dir).unwrap();
    let installed = bin_dir.join("sockspec");
    std::fs::copy(env!("CARGO_BIN_EXE_sockspec"), &installed).unwrap();
    let home = root.path().join("home");
    let run = |args: &[&str]| {
        Command::new(&installed)
            .args(args)
            .current_dir(root.path())
            .env_remove("SOCKSPEC_CASES")
            .env_remove("XDG_CACHE_HOME")
            .env("HOME", &home)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let name = "stream-message/several-sends-can-be-read-by-one-recv[unix-stream-pair]";
    let out = run(&["run", "--exact", name]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("1 passed"), "{}", text(&out));
    let cache: Vec<_> = std::fs::read_dir(home.join(".cache/sockspec"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        cache.len(),
        1,
        "one unpacked catalogue, no leftovers: {cache:?}"
    );
    assert!(cache[0].starts_with("catalogue-"), "{cache:?}");
    let claims = run(&["claims"]);
    assert_eq!(claims.status.code(), Some(0), "{}", text(&claims));
    assert!(String::from_utf8_lossy(&claims.stdout).contains("decided by: "));
}

/// The JSON Schema errors of the JSON file at `path` against a checked-in schema (derived
/// from the model; `reports` checks they are current).
fn schema_violations(schema: &str, path: &Path) -> Vec<String> {
    let schema_path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../reports/schema")
        .join(schema);
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(schema_path).unwrap()).unwrap();
    let value: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    validator
        .iter_errors(&value)
        .map(|e| format!("{}: {e}", e.instance_path))
        .collect()
}

#[test]
fn a_real_run_json_validates_against_the_run_schema() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("run.json");
    // Differential cases, claims and a failing fixture: every optional part of the model.
    let out = bin()
        .args(["run", "-q", "differential/", "stream-message/several-sends"])
        .arg("--json")
        .arg(&json)
        .output()
        .unwrap();
    assert!(json.exists(), "{}", text(&out));
    let errors = schema_violations("run-report.schema.json", &json);
    assert!(errors.is_empty(), "{}", errors.join("\n"));
    let value: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert!(value["differentials"]
        .as_array()
        .is_some_and(|d| !d.is_empty()));
    assert!(value["claims"].as_array().is_some_and(|c| !c.is_empty()));
    let failing = dir.path().join("failing.json");
    bin()
        .args(["run", "-q", "--cases", &fixture("wrong-expectation.sock")])
        .arg("--json")
        .arg(&failing)
        .output()
        .unwrap();
    let errors = schema_violations("run-report.schema.json", &failing);
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

/// Grading needs root (it builds sandboxes), as the grading tests do.
#[test]
fn a_real_grading_json_validates_against_the_grade_schemas() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("subs/ref-daytime");
    std::fs::create_dir_all(&sub).unwrap();
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/servers/ref-daytime.c");
    let cc = Command::new("cc")
        .args(["-std=c11", "-O1", "-o"])
        .arg(sub.join("server"))
        .arg(source)
        .status()
        .expect("cc runs (ci/install-deps.sh installs it)");
    assert!(cc.success());
    let (class, out_dir) = (dir.path().join("class.json"), dir.path().join("out"));
    let out = bin()
        .args(["grade", "--suite", "daytime", "--quiet", "--json"])
        .arg(&class)
        .arg("--out")
        .arg(&out_dir)
        .arg(&sub)
        .output()
        .unwrap();
    assert!(class.exists(), "{}", text(&out));
    let errors = schema_violations("grade-class.schema.json", &class);
    assert!(errors.is_empty(), "{}", errors.join("\n"));
    let mut submissions = 0;
    for entry in std::fs::read_dir(&out_dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.ends_with(".json") && name != "class.json" {
            submissions += 1;
            let errors = schema_violations("grade-submission.schema.json", &path);
            assert!(errors.is_empty(), "{name}: {}", errors.join("\n"));
        } else if name == "class.json" {
            let errors = schema_violations("grade-class.schema.json", &path);
            assert!(errors.is_empty(), "{name}: {}", errors.join("\n"));
        }
    }
    assert_eq!(
        submissions,
        1,
        "one submission JSON in {}",
        out_dir.display()
    );
}
