//! The runner's side of a case: start the case process in its own process group, read its
//! transcript as it streams, enforce the deadline, and reap everything it started.

use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use sockspec_reports::StepRecord;

use crate::wire::{CaseSpec, Wire};

/// What came back from one case process.
#[derive(Debug, Clone)]
pub struct ChildRun {
    pub transcript: Vec<StepRecord>,
    /// The `End` event, when the case process got that far.
    pub end: Option<Wire>,
    /// The last step announced with `Started` and not finished: the one that hung.
    pub running: Option<(usize, usize)>,
    pub timed_out: bool,
    /// `exit status 0`, `killed by SIGSEGV`…
    pub exit: String,
    /// The case process's stderr, capped at [`STDERR_CAP`] bytes.
    pub stderr: String,
    pub duration: Duration,
}

/// Enough stderr to explain a crash, not enough to flood a report.
pub const STDERR_CAP: usize = 16 * 1024;

/// How long the parent waits past the case deadline before killing the group: the child
/// enforces nothing itself, so this only covers the time to flush its last events.
const KILL_GRACE: Duration = Duration::from_millis(250);

/// Process groups of live case processes, so an interrupted runner can kill them all.
static LIVE_GROUPS: Mutex<Vec<i32>> = Mutex::new(Vec::new());

/// Kills every live case process group (used when the runner is interrupted).
pub fn kill_all_live() {
    let groups = LIVE_GROUPS.lock().map(|g| g.clone()).unwrap_or_default();
    for pgid in groups {
        let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
    }
}

fn register(pgid: i32, live: bool) {
    if let Ok(mut groups) = LIVE_GROUPS.lock() {
        if live {
            groups.push(pgid);
        } else {
            groups.retain(|g| *g != pgid);
        }
    }
}

/// Runs one case in a fresh process (`exe __case RUNNER-PID`, the spec on its stdin) and
/// collects its transcript.
///
/// The process is started with `posix_spawn` (std uses it when no fork-time hook is set),
/// which does not copy the runner's memory: a fork would copy page tables that grow with the
/// catalogue and the results collected, and its cost per case with them. What a hook used to
/// do between fork and exec (die with the runner, descriptors close-on-exec) the case process
/// does itself; std's posix_spawn empties the signal mask the runner's signal thread set.
pub fn run_case(exe: &Path, spec: &CaseSpec) -> io::Result<ChildRun> {
    let spec_json = serde_json::to_vec(spec).map_err(io::Error::other)?;
    let mut command = Command::new(exe);
    command
        .arg("__case")
        .arg(std::process::id().to_string())
        .stdin(spec_input(&spec_json)?)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let started = Instant::now();
    let mut child = command.spawn()?;
    let pgid = child.id() as i32;
    register(pgid, true);
    let result = collect(&mut child, spec, started);
    // Whatever happened, nothing the case started may outlive it.
    let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
    let status = child.wait();
    register(pgid, false);
    let mut run = result?;
    run.duration = started.elapsed();
    run.exit = match status {
        Ok(s) => match (s.code(), s.signal()) {
            (Some(code), _) => format!("exit status {code}"),
            (None, Some(sig)) => format!("killed by {}", signal_name(sig)),
            _ => "unknown exit".to_string(),
        },
        Err(e) => format!("cannot wait for the case process: {e}"),
    };
    Ok(run)
}

/// The spec as a memory file positioned at its start: the case reads it to the end, which
/// can never block the runner the way writing a large spec into a pipe could, and no argv
/// limit applies (a case file may be larger than MAX_ARG_STRLEN).
fn spec_input(json: &[u8]) -> io::Result<Stdio> {
    use std::io::{Seek, Write};
    // SAFETY: memfd_create(2) takes a NUL-terminated name and flags.
    let fd = unsafe { libc::memfd_create(c"sockspec-case-spec".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the descriptor was just returned by the kernel and nothing else owns it.
    let mut file = unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    file.write_all(json)?;
    file.rewind()?;
    Ok(Stdio::from(file))
}

fn collect(child: &mut Child, spec: &CaseSpec, started: Instant) -> io::Result<ChildRun> {
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let deadline = started + Duration::from_millis(spec.deadline_ms) + KILL_GRACE;
    let mut run = ChildRun {
        transcript: Vec::new(),
        end: None,
        running: None,
        timed_out: false,
        exit: String::new(),
        stderr: String::new(),
        duration: Duration::ZERO,
    };
    let (mut out_buf, mut err_buf) = (Vec::new(), Vec::new());
    let (mut out_open, mut err_open) = (true, true);
    let mut chunk = [0u8; 16 * 1024];
    while out_open || err_open {
        let now = Instant::now();
        if now >= deadline {
            run.timed_out = true;
            break;
        }
        let wait = (deadline - now).as_millis().min(i32::MAX as u128) as i32;
        let mut fds = Vec::new();
        if out_open {
            fds.push(PollFd::new(stdout_fd(&stdout), PollFlags::POLLIN));
        }
        if err_open {
            fds.push(PollFd::new(stdout_fd(&stderr), PollFlags::POLLIN));
        }
        match poll(
            &mut fds,
            PollTimeout::try_from(wait).unwrap_or(PollTimeout::MAX),
        ) {
            Ok(0) => continue,
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
        let ready: Vec<bool> = fds.iter().map(|f| f.any().unwrap_or(true)).collect();
        let mut next = ready.into_iter();
        if out_open && next.next().unwrap_or(false) {
            let n = stdout.read(&mut chunk)?;
            if n == 0 {
                out_open = false;
            } else {
                out_buf.extend_from_slice(&chunk[..n]);
                drain_lines(&mut out_buf, &mut run);
            }
        }
        if err_open && next.next().unwrap_or(false) {
            let n = stderr.read(&mut chunk)?;
            if n == 0 {
                err_open = false;
            } else if err_buf.len() < STDERR_CAP {
                let room = STDERR_CAP - err_buf.len();
                err_buf.extend_from_slice(&chunk[..n.min(room)]);
            }
        }
    }
    drain_lines(&mut out_buf, &mut run);
    run.stderr = String::from_utf8_lossy(&err_buf).into_owned();
    Ok(run)
}

fn stdout_fd<T: AsRawFd>(pipe: &T) -> std::os::fd::BorrowedFd<'_> {
    // SAFETY: the pipe outlives the borrow, which only lasts for one poll call.
    unsafe { std::os::fd::BorrowedFd::borrow_raw(pipe.as_raw_fd()) }
}

fn drain_lines(buf: &mut Vec<u8>, run: &mut ChildRun) {
    while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
        let line: Vec<u8> = buf.drain(..=pos).collect();
        let Ok(event) = serde_json::from_slice::<Wire>(&line) else {
            continue;
        };
        match event {
            Wire::Started { index, line } => run.running = Some((index, line)),
            Wire::Step { record } => {
                if run.running.map(|(i, _)| i) == Some(record.index) {
                    run.running = None;
                }
                run.transcript.push(record);
            }
            end @ Wire::End { .. } => {
                run.running = None;
                run.end = Some(end);
            }
        }
    }
}

/// `SIGSEGV` rather than `11`.
pub fn signal_name(sig: i32) -> String {
    Signal::try_from(sig)
        .map(|s| s.as_str().to_string())
        .unwrap_or_else(|_| format!("signal {sig}"))
}
