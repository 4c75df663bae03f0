//! The grader's side of one sandboxed run: start the holder (`sockspec __server`), watch its
//! reports and the command's output (capped), discover the sockets the server listens on
//! without connecting, measure it, and stop it: SIGTERM to every process, a grace period,
//! then SIGKILL to the sandbox's init, which takes the whole pid namespace with it.

use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;
use sockspec_reports::grade::ServerFacts;

use super::holder::{dup_to_control, HolderEvent, HolderSpec};
use super::procfs::{self, Owned, Tree};
use crate::cgroup::{self, Group};

/// Enough of stdout to see what a server printed by mistake.
pub const STDOUT_CAP: usize = 16 * 1024;
/// Enough of stderr for a student's diagnostics and a crash message.
pub const STDERR_CAP: usize = 64 * 1024;
/// How often discovery looks at the socket tables: fast enough that a listening server is
/// seen within a few tens of ms, slow enough that scanning `/proc` costs nothing.
pub const DISCOVERY_POLL: Duration = Duration::from_millis(20);
/// How long the holder has to build the sandbox: a few mounts and a fork take milliseconds;
/// a loaded machine may take a hundred times longer, never more.
pub const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the holder may take to exit once it is SIGKILLed: the kernel tears its
/// namespaces down at once; this only bounds how long the reaping loop polls on a machine
/// under heavy load before it blocks in `wait`.
const REAP_TIMEOUT: Duration = Duration::from_secs(5);
/// How long init's report of an exit it already reaped may take to reach the monitor: one
/// pipe write and one read, milliseconds even on a loaded machine; it ends early when init
/// is gone (the pipe closes).
const EXIT_REPORT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long output may still be read after the holder is gone: every writer died with the
/// pid namespace, so the pipes are at EOF; this bounds a reader that is somehow not.
const DRAIN_TIMEOUT: Duration = Duration::from_millis(500);

/// Process groups of live holders, so an interrupted grader can kill every sandbox.
static LIVE_HOLDERS: Mutex<Vec<i32>> = Mutex::new(Vec::new());

/// Kills every live sandbox: the holder's group holds the holder and init, and init's
/// death ends the sandbox's pid namespace (used when the grader is interrupted).
pub fn kill_all_live() {
    let groups = LIVE_HOLDERS.lock().map(|g| g.clone()).unwrap_or_default();
    for pgid in groups {
        let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
    }
}

#[derive(Debug, Default)]
struct Capture {
    data: Vec<u8>,
    dropped: u64,
}

impl Capture {
    fn push(&mut self, bytes: &[u8], cap: usize) {
        let room = cap.saturating_sub(self.data.len());
        let kept = room.min(bytes.len());
        self.data.extend_from_slice(&bytes[..kept]);
        self.dropped += (bytes.len() - kept) as u64;
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.data).into_owned()
    }
}

/// How the command's main process ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Exit {
    pub status: String,
    pub code: Option<i32>,
    pub signal: Option<String>,
    pub cpu_ms: u64,
}

#[derive(Debug, Default)]
struct State {
    init: Option<i32>,
    exited: Option<Exit>,
    error: Option<String>,
    stdout: Capture,
    stderr: Capture,
    control_closed: bool,
    stop_reading_by: Option<Instant>,
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

/// One command running in its sandbox.
pub struct ServerRun {
    child: Child,
    pgid: i32,
    shared: Arc<Shared>,
    monitor: Option<JoinHandle<()>>,
    started: Instant,
    pub command: String,
    max_processes: u32,
    /// The sandbox's cgroup, removed once the holder is reaped.
    group: Option<Group>,
}

/// What stopping a sandbox measured besides its facts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stopped {
    /// How long the busiest live process had been runnable (ms) when it was stopped.
    pub runnable_ms: u64,
    /// Processes the OOM killer ended at the cgroup's memory.max.
    pub oom_kills: u64,
    /// Forks refused at the cgroup's pids.max.
    pub pids_max_hits: u64,
    /// The cgroup's memory.peak in bytes.
    pub memory_peak: Option<u64>,
}

/// What discovery saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Discovery {
    pub owned: Owned,
    /// The server's processes were all gone before the wanted sockets appeared.
    pub gone: bool,
}

impl ServerRun {
    /// Starts `exe __server SPEC` in its own process group, inside `group` when given (the
    /// holder joins it before exec, so every process of the sandbox is counted).
    pub fn start(exe: &Path, spec: &HolderSpec, group: Option<Group>) -> io::Result<ServerRun> {
        let procs = match &group {
            Some(g) => Some(g.procs_file().map_err(io::Error::other)?),
            None => None,
        };
        let json = serde_json::to_string(spec).map_err(io::Error::other)?;
        let (control_r, control_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
        let mut command = Command::new(exe);
        // The spec (host paths included) goes in the environment, which only root may read
        // in /proc, not in argv: /proc/1/cmdline is world-readable inside the sandbox.
        command
            .arg0("sockspec")
            .arg("__server")
            .arg(super::holder::SPEC_FROM_ENV)
            .env(super::holder::SPEC_ENV, json)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        let control_w_for_child = control_w.try_clone()?;
        let grader = std::process::id();
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            command.pre_exec(move || {
                let empty: libc::sigset_t = std::mem::zeroed();
                libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                // The grader died (SIGKILL, or exit after SIGTERM) between fork and prctl:
                // the signal will never come, so go now.
                if libc::getppid() as u32 != grader {
                    libc::_exit(1);
                }
                if let Some(p) = &procs {
                    cgroup::join_from_pre_exec(p)?;
                }
                dup_to_control(&control_w_for_child)
            });
        }
        let mut child = command.spawn()?;
        drop(command);
        drop(control_w);
        let pgid = child.id() as i32;
        if let Ok(mut live) = LIVE_HOLDERS.lock() {
            live.push(pgid);
        }
        let shared = Arc::new(Shared::default());
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        let s = Arc::clone(&shared);
        let monitor = std::thread::Builder::new()
            .name("server-monitor".into())
            .spawn(move || monitor(s, control_r, stdout, stderr))?;
        Ok(ServerRun {
            child,
            pgid,
            shared,
            monitor: Some(monitor),
            started: Instant::now(),
            command: spec.command.clone(),
            max_processes: 0,
            group,
        })
    }

    pub fn holder_pid(&self) -> i32 {
        self.pgid
    }

    pub fn init_pid(&self) -> Option<i32> {
        self.shared.state.lock().ok()?.init
    }

    pub fn exited(&self) -> Option<Exit> {
        self.shared.state.lock().ok()?.exited.clone()
    }

    pub fn stderr_text(&self) -> String {
        self.shared
            .state
            .lock()
            .map(|s| s.stderr.text())
            .unwrap_or_default()
    }

    /// Waits until the sandbox is up; the error says why it could not be built.
    pub fn wait_ready(&self, timeout: Duration) -> Result<i32, String> {
        let deadline = Instant::now() + timeout;
        let mut state = self.shared.state.lock().map_err(|e| e.to_string())?;
        loop {
            if let Some(init) = state.init {
                return Ok(init);
            }
            if let Some(e) = &state.error {
                return Err(format!("the sandbox could not be built: {e}"));
            }
            if state.control_closed {
                let err = state.stderr.text();
                return Err(format!(
                    "the sandbox holder ended before the sandbox was up{}",
                    if err.trim().is_empty() {
                        String::new()
                    } else {
                        format!(": {}", err.trim())
                    }
                ));
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(format!(
                    "the sandbox was not up within {:.0}s",
                    timeout.as_secs_f64()
                ));
            }
            state = self
                .shared
                .changed
                .wait_timeout(state, deadline - now)
                .map_err(|e| e.to_string())?
                .0;
        }
    }

    /// Waits for the main process to end, up to `timeout`.
    pub fn wait_exit(&self, timeout: Duration) -> Option<Exit> {
        let deadline = Instant::now() + timeout;
        let mut state = self.shared.state.lock().ok()?;
        loop {
            if state.exited.is_some() || state.control_closed {
                return state.exited.clone();
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            state = self
                .shared
                .changed
                .wait_timeout(state, deadline - now)
                .ok()?
                .0;
        }
    }

    /// Looks at the server's sockets every [`DISCOVERY_POLL`] until `done` holds or
    /// `timeout` passes. Never connects: a probe would take an iterative server's only
    /// accept.
    pub fn discover(&mut self, timeout: Duration, done: impl Fn(&Owned) -> bool) -> Discovery {
        let deadline = Instant::now() + timeout;
        let Some(init) = self.init_pid() else {
            return Discovery {
                owned: Owned::default(),
                gone: true,
            };
        };
        loop {
            let tree = Tree::of_init(init);
            self.max_processes = self.max_processes.max(tree.live().count() as u32);
            let owned = procfs::owned_ports(&procfs::net_sockets(self.pgid), &tree);
            let gone = tree.live().next().is_none() && self.exited().is_some();
            if done(&owned) || gone || Instant::now() >= deadline {
                return Discovery { owned, gone };
            }
            std::thread::sleep(DISCOVERY_POLL);
        }
    }

    /// Stops the command: measure, SIGTERM every process, wait up to `grace` for the main
    /// one, SIGKILL init (and with it the pid namespace), reap the holder.
    pub fn stop(self, grace: Duration) -> ServerFacts {
        self.stop_measured(grace).0
    }

    /// [`ServerRun::stop`], also returning what the sandbox's cgroup and scheduler saw.
    pub fn stop_measured(mut self, grace: Duration) -> (ServerFacts, Stopped) {
        let init = self.init_pid();
        let runnable_ms = init
            .map(|i| {
                Tree::of_init(i)
                    .live()
                    .filter_map(|p| procfs::runnable_ms(p.pid))
                    .max()
                    .unwrap_or(0)
            })
            .unwrap_or(0);
        let mut exited_before = self.exited();
        let snap = init.map(|i| procfs::snapshot(i, self.pgid));
        // The main process is gone but init's report of it may still be in the pipe (a
        // client saw the reset first): wait for it, or the exit would pass for one the
        // grader caused and the case would lose its diagnosis.
        if exited_before.is_none() && snap.as_ref().is_some_and(|s| !s.alive) {
            exited_before = self.wait_exit(EXIT_REPORT_TIMEOUT);
        }
        let mut needed_sigkill = false;
        if let Some(init) = init {
            let tree = Tree::of_init(init);
            self.max_processes = self.max_processes.max(tree.live().count() as u32);
            if exited_before.is_none() {
                for p in tree.live() {
                    let _ = kill(Pid::from_raw(p.pid), Signal::SIGTERM);
                }
                needed_sigkill = self.wait_exit(grace).is_none();
            }
            let _ = kill(Pid::from_raw(init), Signal::SIGKILL);
        }
        self.reap();
        let wall_ms = self.started.elapsed().as_millis() as u64;
        let state = self.shared.state.lock().expect("server state");
        let exit = match (&exited_before, &state.exited) {
            (Some(e), _) => e.status.clone(),
            (None, Some(e)) if !needed_sigkill => {
                format!(
                    "running until stopped by the grader ({} on SIGTERM)",
                    e.status
                )
            }
            _ => "running until stopped by the grader (SIGKILL after the grace period)".into(),
        };
        let cpu_ms = {
            let ticks = snap.as_ref().map_or(0, |s| s.cpu_ticks);
            let from_ticks = ticks * 1000 / procfs::ticks_per_second();
            from_ticks.max(state.exited.as_ref().map_or(0, |e| e.cpu_ms))
        };
        let snap = snap.unwrap_or_default();
        let facts = ServerFacts {
            command: self.command.clone(),
            exit,
            exited_early: exited_before.is_some(),
            needed_sigkill,
            cpu_ms,
            wall_ms,
            peak_rss_kib: snap.peak_rss_kib,
            children_left: snap.children as u32,
            zombies: snap.zombies as u32,
            max_processes: self.max_processes.max(snap.processes as u32),
            fds_open: snap.fds as u32,
            close_wait: snap.close_wait as u32,
            stdout: state.stdout.text(),
            stdout_dropped: state.stdout.dropped,
            stderr: state.stderr.text(),
            stderr_dropped: state.stderr.dropped,
            diagnosis: None,
        };
        let stopped = Stopped {
            runnable_ms,
            oom_kills: self.group.as_ref().and_then(Group::oom_kills).unwrap_or(0),
            pids_max_hits: self
                .group
                .as_ref()
                .and_then(Group::pids_max_hits)
                .unwrap_or(0),
            memory_peak: self.group.as_ref().and_then(Group::memory_peak),
        };
        drop(state);
        self.remove_group();
        (facts, stopped)
    }

    /// Kills whatever is left in the sandbox's cgroup (nothing, once init is gone: the pid
    /// namespace took it) and removes the group.
    fn remove_group(&mut self) {
        if let Some(g) = self.group.take() {
            let _ = g.remove(cgroup::REMOVE_TIMEOUT);
        }
    }

    /// Kills the holder's group (the holder outlives init on purpose, see `holder_main`),
    /// reaps the holder and joins the monitor.
    fn reap(&mut self) {
        let _ = killpg(Pid::from_raw(self.pgid), Signal::SIGKILL);
        let deadline = Instant::now() + REAP_TIMEOUT;
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) | Err(_) => break,
                Ok(None) if Instant::now() >= deadline => {
                    // SIGKILL of a child cannot be refused; only an uninterruptible sleep
                    // in the kernel delays it, and waiting is the one way to reap it.
                    let _ = self.child.wait();
                    break;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(2)),
            }
        }
        if let Ok(mut live) = LIVE_HOLDERS.lock() {
            live.retain(|g| *g != self.pgid);
        }
        if let Ok(mut s) = self.shared.state.lock() {
            s.stop_reading_by = Some(Instant::now() + DRAIN_TIMEOUT);
        }
        if let Some(m) = self.monitor.take() {
            let _ = m.join();
        }
    }
}

impl Drop for ServerRun {
    fn drop(&mut self) {
        if self.monitor.is_some() {
            if let Some(init) = self.init_pid() {
                let _ = kill(Pid::from_raw(init), Signal::SIGKILL);
            }
            self.reap();
        }
        self.remove_group();
    }
}

fn borrowed(fd: &impl AsRawFd) -> BorrowedFd<'_> {
    // SAFETY: the descriptor outlives the borrow, which lasts one poll call.
    unsafe { BorrowedFd::borrow_raw(fd.as_raw_fd()) }
}

/// Reads the control pipe and the command's output until all three are at EOF (or the
/// grader stops reading), keeping the capped output and the holder's events.
fn monitor(
    shared: Arc<Shared>,
    control: OwnedFd,
    mut stdout: std::process::ChildStdout,
    mut stderr: std::process::ChildStderr,
) {
    let mut control = std::fs::File::from(control);
    let mut open = [true, true, true];
    let mut line = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    while open.iter().any(|o| *o) {
        if let Ok(s) = shared.state.lock() {
            if s.stop_reading_by.is_some_and(|t| Instant::now() >= t) {
                break;
            }
        }
        let mut fds = Vec::new();
        let mut which = Vec::new();
        if open[0] {
            fds.push(PollFd::new(control.as_fd(), PollFlags::POLLIN));
            which.push(0);
        }
        if open[1] {
            fds.push(PollFd::new(borrowed(&stdout), PollFlags::POLLIN));
            which.push(1);
        }
        if open[2] {
            fds.push(PollFd::new(borrowed(&stderr), PollFlags::POLLIN));
            which.push(2);
        }
        // Past the caps, read slowly: a flooding server then blocks on its full pipe most of
        // the time instead of making the grader copy gigabytes it throws away.
        let flooded = shared
            .state
            .lock()
            .is_ok_and(|s| s.stdout.data.len() >= STDOUT_CAP || s.stderr.data.len() >= STDERR_CAP);
        if flooded {
            std::thread::sleep(Duration::from_millis(10));
        }
        // 50 ms: the loop re-checks whether the grader stopped reading this often.
        match poll(&mut fds, PollTimeout::from(50u16)) {
            Ok(0) | Err(nix::errno::Errno::EINTR) => continue,
            Ok(_) => {}
            Err(_) => break,
        }
        let ready: Vec<usize> = fds
            .iter()
            .zip(&which)
            .filter(|(f, _)| f.any().unwrap_or(true))
            .map(|(_, w)| *w)
            .collect();
        drop(fds);
        for w in ready {
            let n = match w {
                0 => control.read(&mut chunk),
                1 => stdout.read(&mut chunk),
                _ => stderr.read(&mut chunk),
            };
            let n = match n {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => 0,
            };
            let Ok(mut s) = shared.state.lock() else {
                return;
            };
            if n == 0 {
                open[w] = false;
                if w == 0 {
                    s.control_closed = true;
                }
            } else if w == 0 {
                line.extend_from_slice(&chunk[..n]);
                while let Some(pos) = line.iter().position(|b| *b == b'\n') {
                    let l: Vec<u8> = line.drain(..=pos).collect();
                    match serde_json::from_slice::<HolderEvent>(&l) {
                        Ok(HolderEvent::Ready { init }) => s.init = Some(init),
                        Ok(HolderEvent::Exited {
                            status,
                            code,
                            signal,
                            cpu_ms,
                        }) => {
                            s.exited = Some(Exit {
                                status,
                                code,
                                signal,
                                cpu_ms,
                            })
                        }
                        Ok(HolderEvent::Error { message }) => s.error = Some(message),
                        Err(_) => {}
                    }
                }
            } else if w == 1 {
                s.stdout.push(&chunk[..n], STDOUT_CAP);
            } else {
                s.stderr.push(&chunk[..n], STDERR_CAP);
            }
            shared.changed.notify_all();
        }
    }
    if let Ok(mut s) = shared.state.lock() {
        s.control_closed = true;
    }
    shared.changed.notify_all();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capture_keeps_the_head_and_counts_the_rest() {
        let mut c = Capture::default();
        c.push(b"hello ", 8);
        c.push(b"world", 8);
        assert_eq!(c.text(), "hello wo");
        assert_eq!(c.dropped, 3);
    }
}
