//! Hostile scenarios: a case's daemon in another session, programs that write the host's
//! files as root. Each test proves containment by looking at the machine (`/proc`, the host's
//! files), never by trusting an exit code, and first proves that what it looks for existed
//! while the case ran, so it could fail.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Marks every process a test starts (through the environment the runner, its case
/// processes and their programs inherit), so `/proc` tells them from everything else.
const MARK: &str = "SOCKSPEC_CONTAINMENT_MARK";

fn sockspec(mark: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sockspec"));
    c.env(MARK, mark).stdin(Stdio::null());
    c
}

/// A unique mark and a scratch directory for one test, under /var/tmp: a case has a /tmp of
/// its own, so host files under /tmp would not even be visible to it.
fn scratch(test: &str) -> (String, PathBuf) {
    let mark = format!("{test}-{}", std::process::id());
    let dir = PathBuf::from(format!("/var/tmp/sockspec-containment-{mark}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    (mark, dir)
}

fn write_case(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write case");
    path
}

/// Pids of live (not zombie) processes whose environment holds `MARK=mark`.
fn marked(mark: &str) -> Vec<i32> {
    let needle = format!("{MARK}={mark}");
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| *pid != std::process::id() as i32)
        .filter(|pid| {
            let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let zombie = state
                .rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'));
            let env = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
            !zombie && env.split(|b| *b == 0).any(|kv| kv == needle.as_bytes())
        })
        .collect()
}

/// Polls until `cond` holds or `limit` passes (a process killed by the kernel is gone in
/// microseconds; the limits below leave a loaded machine two orders of magnitude more).
fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + limit;
    while Instant::now() < until {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    cond()
}

/// Whether this machine gives cases their own namespaces (root, or user namespaces).
fn isolated(mark: &str, dir: &Path) -> bool {
    let json = dir.join("probe.json");
    let case = write_case(dir, "probe.sock", "case \"probe\"\nc, s = pair(tcp4)\n");
    let _ = sockspec(mark)
        .args(["run", "-q", "--cases"])
        .arg(&case)
        .arg("--json")
        .arg(&json)
        .output();
    let text = std::fs::read_to_string(&json).unwrap_or_default();
    let full = text.contains("\"isolation\": \"netns\"")
        || text.contains("\"isolation\": \"userns+netns\"")
        || text.contains("\"isolation\":\"netns\"")
        || text.contains("\"isolation\":\"userns+netns\"");
    if !full {
        eprintln!(
            "skipped: no namespaces for cases on this machine (see `sockspec run` isolation)"
        );
    }
    full
}

/// A case that starts a double-forked daemon in a session of its own and stays alive for
/// `hold`, so a test can see the daemon while it runs.
fn daemon_case(dir: &Path, hold: &str) -> PathBuf {
    write_case(
        dir,
        "daemon.sock",
        &format!(
            "case \"a double-forking setsid daemon\"\ndeadline 20s\n\
             p = spawn([\"sh\", \"-c\", \"setsid sh -c 'sleep 777 & sleep 778 & wait' </dev/null >/dev/null 2>&1 & exit 0\"])\n\
             wait(p) = 0\nsleep({hold})\n"
        ),
    )
}

fn start(mark: &str, case: &Path) -> Child {
    sockspec(mark)
        .args(["run", "-q", "--cases"])
        .arg(case)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("sockspec starts")
}

fn sleeps(mark: &str) -> usize {
    marked(mark)
        .into_iter()
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| c.starts_with("sleep\0"))
        })
        .count()
}

#[test]
fn a_setsid_daemon_dies_with_its_case() {
    let (mark, dir) = scratch("daemon");
    if !isolated(&mark, &dir) {
        return;
    }
    let case = daemon_case(&dir, "1s");
    let mut runner = start(&mark, &case);
    assert!(
        wait_until(Duration::from_secs(10), || sleeps(&mark) == 2),
        "the daemon never ran, so this test proves nothing"
    );
    let status = runner.wait().expect("runner ends");
    assert!(status.success(), "the case failed: {status}");
    assert!(
        wait_until(Duration::from_secs(2), || marked(&mark).is_empty()),
        "left after the run: {:?}",
        marked(&mark)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_setsid_daemon_dies_when_the_runner_is_killed() {
    let (mark, dir) = scratch("sigkill");
    if !isolated(&mark, &dir) {
        return;
    }
    let case = daemon_case(&dir, "15s");
    let mut runner = start(&mark, &case);
    assert!(
        wait_until(Duration::from_secs(10), || sleeps(&mark) == 2),
        "the daemon never ran, so this test proves nothing"
    );
    runner.kill().expect("SIGKILL the runner");
    let _ = runner.wait();
    assert!(
        wait_until(Duration::from_secs(2), || marked(&mark).is_empty()),
        "left after SIGKILL of the runner: {:?}",
        marked(&mark)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn run_case(mark: &str, case: &Path) -> Output {
    sockspec(mark)
        .args(["run", "--cases"])
        .arg(case)
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

/// The case expects each program's exit status: 9 is "the write failed", 0 "it worked".
fn spawned(cmd: &str, status: u8) -> String {
    format!(
        "p = spawn([\"sh\", \"-c\", \"if {cmd}; then exit 0; else exit 9; fi\"])\nwait(p) = {status}\n"
    )
}

#[test]
fn spawned_programs_cannot_change_the_host_s_files() {
    let (mark, dir) = scratch("hostfs");
    if !isolated(&mark, &dir) {
        return;
    }
    let keep = dir.join("keep");
    std::fs::write(&keep, "original").expect("host file");
    let before = std::fs::metadata(&keep).expect("stat");
    let etc = PathBuf::from(format!("/etc/sockspec-containment-{mark}"));
    let k = keep.display();
    let mut case = String::from("case \"spawned programs meet a read-only host\"\n");
    for cmd in [
        format!("echo x > {}", etc.display()),
        format!("touch {k}"),
        format!("rm -f {k} && test ! -e {k}"),
        format!("chmod 777 {k}"),
        format!("echo y >> {k}"),
        format!("echo z > /proc/1/root{}", etc.display()),
        format!("ln -s /etc {}/link", dir.display()),
    ] {
        case.push_str(&spawned(&cmd, 9));
    }
    // What a case may write still works: its own directory, /tmp, /dev/null, /dev/shm.
    for cmd in [
        "echo ok > own-file && test -s own-file",
        "echo ok > /tmp/x && test -s /tmp/x",
        "echo ok > /dev/null",
        "echo ok > /dev/shm/x",
    ] {
        case.push_str(&spawned(cmd, 0));
    }
    let path = write_case(&dir, "hostfs.sock", &case);
    let out = run_case(&mark, &path);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(!etc.exists(), "{} was created on the host", etc.display());
    let after = std::fs::metadata(&keep).expect("the host file is still there");
    assert_eq!(std::fs::read_to_string(&keep).unwrap(), "original");
    assert_eq!(before.modified().unwrap(), after.modified().unwrap());
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(before.permissions().mode(), after.permissions().mode());
    assert!(!dir.join("link").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_case_sees_its_own_processes_only() {
    let (mark, dir) = scratch("procview");
    if !isolated(&mark, &dir) {
        return;
    }
    // The case's /proc is its pid namespace's: its init is pid 1 there, and this test
    // process (a host pid far above the handful a case starts) is not in it.
    let me = std::process::id();
    let case = String::from("case \"its own /proc\"\n")
        + &spawned(
            &format!("test -e /proc/1 && test -e /proc/self && test -e /proc/{me}"),
            9,
        );
    let path = write_case(&dir, "procview.sock", &case);
    let out = run_case(&mark, &path);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every file-taking call, given a host file by absolute name, by `..`, or through a symlink
/// the case made pointing out, is refused (the case errors, naming the refusal), in every
/// isolation level, and the host file is unchanged.
#[test]
fn scenario_calls_cannot_name_the_host_s_files() {
    let (mark, dir) = scratch("calls");
    let keep = dir.join("keep");
    std::fs::write(&keep, "original").expect("host file");
    let before = std::fs::metadata(&keep).expect("stat");
    let k = keep.display().to_string();
    let up = format!("../../../../../..{k}");
    let link = "p = spawn([\"ln\", \"-s\", \"/var/tmp\", \"out\"])\nwait(p) = 0\n";
    let calls = [
        (
            "unlink-raw",
            String::new(),
            format!("unlink(rawpath({k:?}))"),
        ),
        (
            "chmod-raw",
            String::new(),
            format!("chmod(rawpath({k:?}), 0o777)"),
        ),
        ("touch-raw", String::new(), format!("touch(rawpath({k:?}))")),
        ("stat-raw", String::new(), format!("stat(rawpath({k:?}))")),
        (
            "write-raw",
            String::new(),
            format!("write_file(rawpath({k:?}), \"x\")"),
        ),
        (
            "read-raw",
            String::new(),
            format!("read_file(rawpath({k:?}), 8)"),
        ),
        (
            "bind-raw",
            "s = socket(UNIX, STREAM)\n".to_string(),
            format!("bind(s, rawpath(\"{}/sock\"))", dir.display()),
        ),
        ("unlink-up", String::new(), format!("unlink(path({up:?}))")),
        (
            "unlink-link",
            link.to_string(),
            format!(
                "unlink(path(\"out/{}/keep\"))",
                dir.file_name().unwrap().to_string_lossy()
            ),
        ),
        (
            "write-link",
            link.to_string(),
            format!(
                "write_file(path(\"out/{}/new\"), \"x\")",
                dir.file_name().unwrap().to_string_lossy()
            ),
        ),
    ];
    // Names the parser can see leave the case's area are refused before anything runs (exit
    // 2, no case started); names that only the file system shows leaving (through a symlink a
    // spawned program made) are refused by the engine's check, before the call.
    let at_parse = dir.join("cases-parse");
    let at_run = dir.join("cases-run");
    std::fs::create_dir_all(&at_parse).unwrap();
    std::fs::create_dir_all(&at_run).unwrap();
    for (name, setup, call) in &calls {
        let folder = if name.ends_with("-link") {
            &at_run
        } else {
            &at_parse
        };
        write_case(
            folder,
            &format!("{name}.sock"),
            &format!("case \"{name}\"\nneeds isolation\n{setup}{call}\n"),
        );
    }
    let refused = sockspec(&mark)
        .args(["run", "--cases"])
        .arg(&at_parse)
        .output()
        .expect("sockspec runs");
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
    let said = String::from_utf8_lossy(&refused.stderr);
    for (name, _, _) in calls.iter().filter(|(n, _, _)| !n.ends_with("-link")) {
        assert!(
            said.contains(&format!("{name}.sock")),
            "{name} not refused: {said}"
        );
    }
    assert!(
        said.contains("names a file outside the case's own directory"),
        "{said}"
    );
    let json = dir.join("r.json");
    let out = sockspec(&mark)
        .args(["run", "--cases"])
        .arg(&at_run)
        .arg("--json")
        .arg(&json)
        .output()
        .expect("sockspec runs");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("report")).expect("json");
    let results = report["cases"].as_array().expect("cases");
    let skipped = results.iter().all(|c| c["outcome"] == "skip");
    if skipped {
        eprintln!("skipped: no namespaces for cases on this machine");
        return;
    }
    assert_eq!(results.len(), 2, "{}", text(&out));
    for c in results {
        let message = c["message"].as_str().unwrap_or("");
        assert_eq!(c["outcome"], "error", "{}: {message}", c["name"]);
        assert!(message.contains("refused"), "{}: {message}", c["name"]);
    }
    let after = std::fs::metadata(&keep).expect("the host file is still there");
    assert_eq!(std::fs::read_to_string(&keep).unwrap(), "original");
    assert_eq!(before.modified().unwrap(), after.modified().unwrap());
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(before.permissions().mode(), after.permissions().mode());
    assert!(!dir.join("sock").exists() && !dir.join("new").exists());
    let _ = std::fs::remove_dir_all(&dir);
}
