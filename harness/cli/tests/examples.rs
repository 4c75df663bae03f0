//! Examples that cannot rot: every `sockspec …` command shown in the README's `sh` blocks and
//! in `sockspec run --help` is executed here and must succeed.
//!
//! They run in a scratch folder holding what they name (`my-cases/`, `known.toml`), with
//! `SOCKSPEC_CASES` pointing at a small catalogue so a whole-catalogue example takes seconds.
//! Marking the few that cannot run here: a README block fenced as ```` ```sh no-run ```` is
//! shown but not executed (grading a class needs its submissions); `cargo …` and `bash …`
//! lines are the project's own commands, which CI runs. `sockspec grade --help`'s examples
//! need a class folder and are exercised by `tests/grade.rs` instead.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The `sockspec` commands of the README's executable `sh` blocks, continuation lines joined
/// and trailing `# comments` dropped.
fn readme_examples() -> Vec<String> {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let (mut examples, mut run_block, mut pending) = (Vec::new(), false, String::new());
    for line in readme.lines() {
        if let Some(info) = line.strip_prefix("```") {
            run_block = info.trim() == "sh";
            continue;
        }
        if !run_block {
            continue;
        }
        pending.push_str(line.trim());
        if pending.ends_with('\\') {
            pending.pop();
            pending.push(' ');
            continue;
        }
        let command = std::mem::take(&mut pending);
        let command = match command.find("  #") {
            Some(at) => command[..at].trim().to_string(),
            None => command,
        };
        if command.starts_with("sockspec ") {
            examples.push(command);
        }
    }
    examples
}

/// The commands of `sockspec run --help`'s examples: each line's command ends where two
/// spaces start its description; `then: …` is a second command.
fn help_examples() -> Vec<String> {
    let out = Command::new(env!("CARGO_BIN_EXE_sockspec"))
        .args(["run", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    let mut examples = Vec::new();
    for line in help.lines().filter(|l| l.starts_with("  sockspec ")) {
        let mut parts = line.trim().splitn(2, "   ");
        examples.push(parts.next().unwrap().trim().to_string());
        if let Some(then) = parts.next().and_then(|d| d.trim().strip_prefix("then: ")) {
            examples.push(then.trim().to_string());
        }
    }
    examples
}

/// A scratch folder with what the examples name, and a catalogue of a few cases.
fn scratch() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let catalogue = dir.path().join("catalogue");
    for rel in [
        "claims.toml",
        "stream-message/several-sends-can-be-read-by-one-recv.sock",
        "partial-io/blocking-recv-waits-until-data-arrives.sock",
    ] {
        let to = catalogue.join(rel);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(repo().join("cases").join(rel), to).unwrap();
    }
    let mine = dir.path().join("my-cases");
    std::fs::create_dir(&mine).unwrap();
    std::fs::copy(
        repo().join("fixtures/cli/passes.sock"),
        mine.join("passes.sock"),
    )
    .unwrap();
    std::fs::write(dir.path().join("known.toml"), "").unwrap();
    dir
}

/// Runs one example with `sh` (so quotes, globs and pipes work as in a terminal); a minute
/// is far more than any example takes on the small catalogue.
fn run_example(command: &str, dir: &Path) -> Result<(), String> {
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_sockspec")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(command)
        .current_dir(dir)
        .env("PATH", path)
        .env("SOCKSPEC_CASES", dir.join("catalogue"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut stderr = String::new();
            use std::io::Read;
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut stderr)
                .unwrap();
            return if status.success() {
                Ok(())
            } else {
                Err(format!("`{command}` exited with {status}:\n{stderr}"))
            };
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("`{command}` still ran after 60 s"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn every_readme_and_help_example_runs_and_succeeds() {
    let readme = readme_examples();
    let help = help_examples();
    assert!(readme.len() >= 8, "README examples not found: {readme:?}");
    assert!(help.len() >= 8, "run --help examples not found: {help:?}");
    let dir = scratch();
    let failures: Vec<String> = readme
        .iter()
        .chain(&help)
        .filter_map(|command| run_example(command, dir.path()).err())
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
