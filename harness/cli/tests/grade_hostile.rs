//! Submissions written to break the grader (issue 10), graded in one batch beside a
//! reference server. Each must be contained: its own grade says why, the reference keeps
//! full marks, and nothing outlives the run — no batch directory, cgroup or process — while
//! the host's disk is never what a submission fills.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use sockspec_reports::grade::{ClassReport, GradeOutcome, SubmissionResult};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The reference fork server, built alone (the full fixture set is `tests/grade.rs`'s).
fn reference_server(bin: &Path) -> PathBuf {
    let out = bin.join("ref-echo-tcp-fork");
    let status = Command::new("make")
        .arg("-s")
        .arg("-C")
        .arg(repo().join("fixtures/servers"))
        .arg(format!("OUT={}", bin.display()))
        .arg(&out)
        .status()
        .expect("make runs");
    assert!(status.success(), "the reference fixture must build");
    out
}

/// A submission folder with the reference server, a Makefile and `extra` files.
fn submission(root: &Path, name: &str, server: &Path, makefile: &str) -> PathBuf {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(server, dir.join("realserver")).unwrap();
    std::fs::write(dir.join("Makefile"), makefile).unwrap();
    dir
}

const QUIET_MAKEFILE: &str = "all:\n\t@true\n";

/// Processes that carry `needle` in their environment: the grader's holders inherit its
/// TMPDIR, which is private to this test.
fn processes_with_env(needle: &str) -> Vec<i32> {
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if let Ok(env) = std::fs::read(format!("/proc/{pid}/environ")) {
            if env.split(|b| *b == 0).any(|v| v == needle.as_bytes()) {
                found.push(pid);
            }
        }
    }
    found
}

fn by_name(class: &ClassReport) -> BTreeMap<String, &SubmissionResult> {
    class
        .submissions
        .iter()
        .map(|s| (s.submission.clone(), s))
        .collect()
}

fn all_errors_say(s: &SubmissionResult, words: &str, problems: &mut Vec<String>) {
    for c in &s.cases {
        let m = c.message.clone().unwrap_or_default();
        if c.outcome != GradeOutcome::Error || !m.contains(words) {
            problems.push(format!(
                "{} × {}: expected an error saying `{words}`, got {:?}: {m}",
                s.submission, c.name, c.outcome
            ));
        }
    }
}

#[test]
fn hostile_submissions_are_contained_and_leave_nothing() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: grading needs root (namespaces and an unprivileged uid per sandbox)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let server = reference_server(&tmp.path().join("bin"));
    let subs = tmp.path().join("subs");
    let ref_script = "#!/bin/sh\nexec ./realserver \"$@\"\n";
    let mut names = Vec::new();
    let mut add = |name: &str, makefile: &str, script: &str| {
        let dir = submission(&subs, name, &server, makefile);
        let path = dir.join("server");
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        names.push(dir);
    };
    add("reference", QUIET_MAKEFILE, ref_script);
    // Named like the class report, and with terminal escapes that would rewrite its line.
    add("class", QUIET_MAKEFILE, ref_script);
    add("x\r\x1b[2Kliar", QUIET_MAKEFILE, ref_script);
    // A build that writes 2.4 GB: its tmpfs fills, never the host's disk.
    add(
        "fills-the-disk",
        "all:\n\tfor i in $$(seq 1 40); do head -c 60000000 /dev/zero > f$$i || exit 1; done\n",
        ref_script,
    );
    // Looks for host paths and tries a user namespace, then serves correctly.
    add(
        "peeks",
        QUIET_MAKEFILE,
        "#!/bin/sh\n{ echo \"CMDLINE $(tr '\\0' ' ' < /proc/1/cmdline)\"; cat /proc/self/mountinfo; \
         unshare -U true 2>/dev/null && echo USERNS-CREATED || echo USERNS-REFUSED; } >&2\n\
         exec ./realserver \"$@\"\n",
    );
    add("sparse", QUIET_MAKEFILE, ref_script);
    std::fs::File::create(subs.join("sparse/hole"))
        .unwrap()
        .set_len(2 << 30)
        .unwrap();
    add("deep", QUIET_MAKEFILE, ref_script);
    // 40 levels: past the copy's budget of 32 (PATH_MAX is the unit tests' case).
    std::fs::create_dir_all(subs.join("deep").join(["d"; 40].join("/"))).unwrap();

    let private_tmp = tmp.path().join("t");
    std::fs::create_dir(&private_tmp).unwrap();
    let out = tmp.path().join("out");
    let json = tmp.path().join("class.json");
    let output = Command::new(env!("CARGO_BIN_EXE_sockspec"))
        .arg("grade")
        .args(["--suite", "echo-tcp", "--quiet", "--jobs", "4"])
        .args(["--build", "make", "--server", "./server {port}"])
        .arg("--out")
        .arg(&out)
        .arg("--json")
        .arg(&json)
        .args(&names)
        .env("TMPDIR", &private_tmp)
        .output()
        .expect("sockspec grade runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let class: ClassReport =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap_or_else(|e| {
            panic!("no class report ({e}); stdout: {stdout}\nstderr: {stderr}")
        }))
        .unwrap();
    let subs_by = by_name(&class);
    let mut problems = Vec::new();

    // Exit 3: the refused submissions could not be judged, and say why.
    if output.status.code() != Some(3) {
        problems.push(format!("exit {:?}, expected 3", output.status.code()));
    }
    for name in ["reference", "class", "x\r\x1b[2Kliar", "peeks"] {
        match subs_by.get(name) {
            Some(s) if s.score == s.max_score && s.max_score > 0.0 => {}
            Some(s) => problems.push(format!(
                "{name:?}: {} / {}, a correct server beside hostile ones must keep full marks: {}",
                s.score,
                s.max_score,
                s.cases
                    .iter()
                    .filter(|c| c.outcome != GradeOutcome::Pass)
                    .map(|c| format!("{}: {}", c.name, c.message.clone().unwrap_or_default()))
                    .collect::<Vec<_>>()
                    .join("; ")
            )),
            None => problems.push(format!("{name:?} missing from the report")),
        }
    }
    if let Some(s) = subs_by.get("sparse") {
        all_errors_say(s, "sparse file", &mut problems);
    }
    if let Some(s) = subs_by.get("deep") {
        all_errors_say(s, "nest deeper", &mut problems);
    }
    match subs_by.get("fills-the-disk") {
        Some(s) => {
            let build = s
                .build
                .as_ref()
                .map(|b| b.stderr.clone())
                .unwrap_or_default();
            if !build.contains("No space left on device") {
                problems.push(format!(
                    "fills-the-disk: the build was not stopped by its tmpfs: {build}"
                ));
            }
        }
        None => problems.push("fills-the-disk missing".into()),
    }
    if let Some(s) = subs_by.get("peeks") {
        let seen: String = s
            .cases
            .iter()
            .filter_map(|c| c.server.as_ref())
            .map(|f| f.stderr.clone())
            .collect();
        if !seen.contains("USERNS-REFUSED") || seen.contains("USERNS-CREATED") {
            problems.push(format!("peeks created a user namespace: {seen}"));
        }
        let host = tmp.path().display().to_string();
        if seen.contains(&host) || seen.contains("sockspec-grade-") {
            problems.push(format!("peeks saw a host path: {seen}"));
        }
    }
    // The terminal never gets a raw control character from a submission.
    if stdout.contains('\x1b') || stdout.contains('\r') {
        problems.push(format!("raw control characters on stdout: {stdout:?}"));
    }
    // Report files: inside --out, one per submission, the class report untouched.
    let files: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    if files.len() != 2 * names.len() + 2 {
        problems.push(format!("report files: {files:?}"));
    }
    let class_json = std::fs::read_to_string(out.join("class.json")).unwrap_or_default();
    if !class_json.contains("\"submissions\"") {
        problems.push("out/class.json is not the class report".into());
    }
    // Nothing outlives the run.
    let left: Vec<_> = std::fs::read_dir(&private_tmp).unwrap().flatten().collect();
    if !left.is_empty() {
        problems.push(format!("left in TMPDIR: {left:?}"));
    }
    let needle = format!("TMPDIR={}", private_tmp.display());
    let procs = processes_with_env(&needle);
    if !procs.is_empty() {
        problems.push(format!("processes of the run still alive: {procs:?}"));
    }
    for mount in ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"] {
        let slice = Path::new(mount).join("sockspec.slice");
        if let Ok(dir) = std::fs::read_dir(&slice) {
            for e in dir.flatten() {
                let n = e.file_name().to_string_lossy().into_owned();
                // Another grader's owner directory is locked; ours would not be.
                if n.starts_with("owner-")
                    && nix::fcntl::Flock::lock(
                        std::fs::File::open(e.path()).unwrap(),
                        nix::fcntl::FlockArg::LockExclusiveNonblock,
                    )
                    .is_ok()
                {
                    problems.push(format!("cgroup left behind: {}", e.path().display()));
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{}\nstdout: {stdout}\nstderr: {stderr}",
        problems.join("\n")
    );
}
