//! Processes a case starts: `spawn` (fork + exec of a program), `wait`, `kill` and
//! `children()`, and the table that makes sure no child outlives its case.
//!
//! Each child is held by a pidfd opened right after the fork, while the child cannot have been
//! reaped yet: signals and waits go through it, so they can never reach another process that
//! reused the pid. Where pidfds do not exist (`pidfd_open` is ENOSYS: gVisor, Linux before
//! 5.3) the pid itself is as safe, since only this table ever reaps the case's children: an
//! unreaped child keeps its pid, so `kill(2)` and `waitpid(2)` on it reach that child alone. The child stays in the case's process group (the runner kills the group at
//! the deadline) and gets `PR_SET_PDEATHSIG` (it dies with the case process); at the end of
//! the case every child still running is killed and reaped.
//!
//! `spawn` is fork + exec as C does it: the child inherits every descriptor of the case that
//! is not close-on-exec, at the same number, so `SOCK_CLOEXEC` and `FD_CLOEXEC` mean what they
//! mean in C. std's `Command` is used because it only runs async-signal-safe code between
//! fork and exec, which a case with threads (`blocks`) needs.

use std::collections::HashMap;
use std::ffi::{CString, OsStr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sockspec_lang::symbols::Category;
use sockspec_lang::{ArgvItem, Ident, Op};

use crate::exec::consts::name_of;
use crate::exec::observed::Observed;
use crate::exec::resolve::{sym, wrong_family};
use crate::exec::sys::errno;
use crate::exec::table::{Table, CLOSED_FD};
use crate::exec::HarnessError;

/// How long the end of a case waits for a SIGKILLed child to die before leaving it to the
/// runner (which kills the whole process group). A killed process is gone within
/// microseconds unless it is stuck in the kernel; a second is far beyond that.
const REAP_GRACE: Duration = Duration::from_secs(1);

/// `wait`, `kill` and `children()` resolved against the process table.
#[derive(Debug)]
pub(crate) enum Call {
    /// `wait(p)`: a spawned child.
    Wait { child: Target },
    /// `kill(p, SIG)`.
    Kill { child: Target, sig: i32 },
    /// `children()`.
    Children,
}

/// Runs the call; a `wait` never waits past `deadline`.
pub(crate) fn perform(call: &Call, o: &mut Observed, deadline: Instant) {
    match call {
        Call::Wait { child } => wait(o, *child, deadline),
        Call::Kill { child, sig } => kill(o, *child, *sig),
        Call::Children => children(o),
    }
}

/// What a successful call returned, as a scenario would write it.
pub(crate) fn render(op: &Op, v: i64, o: &Observed) -> String {
    match op {
        Op::Spawn { .. } => format!("pid{v}"),
        Op::Wait { .. } if o.timed_out.is_some() => "no exit".to_string(),
        Op::Wait { .. } => match o.exit_signal {
            Some(sig) => name_of(Category::ProcSignal, sig.into())
                .map_or_else(|| format!("signal {sig}"), str::to_string),
            None => v.to_string(),
        },
        _ => v.to_string(),
    }
}

/// How long a wait without a pidfd sleeps between two `waitpid(WNOHANG)`: a short poll
/// interval, since there is no descriptor to sleep on; it only bounds how late the end of a
/// child is seen.
const PID_POLL: Duration = Duration::from_millis(2);

thread_local! {
    /// A seam for the tests: behave as a kernel without pidfds (gVisor) on this thread.
    static NO_PIDFD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// A child started by `spawn`.
#[derive(Debug)]
struct Child {
    pid: i32,
    /// `None` where the kernel has no pidfds: the pid is then used (see the module note).
    pidfd: Option<OwnedFd>,
}

impl Child {
    fn target(&self) -> Target {
        Target {
            pid: self.pid,
            pidfd: self.pidfd.as_ref().map(|f| f.as_raw_fd()),
        }
    }
}

/// What `wait` and `kill` act on: the child's pidfd, or its (unreaped) pid without one.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Target {
    pub pid: i32,
    pub pidfd: Option<RawFd>,
}

/// The processes a case spawned, by name; a name spawned again keeps its old child here
/// (as `strays`) so that it is still killed and reaped at the end.
#[derive(Debug, Default)]
pub(crate) struct Procs {
    named: HashMap<String, Child>,
    strays: Vec<Child>,
}

/// What `spawn` resolved to: the command line and the child's standard descriptors.
pub(crate) struct SpawnSpec {
    pub argv: Vec<CString>,
    /// The case's descriptors to become the child's fd 0, 1 and 2 (`None`: /dev/null).
    pub stdio: [Option<RawFd>; 3],
    pub text: String,
    pub handles: Vec<String>,
}

fn pidfd_open(pid: i32) -> Result<OwnedFd, i32> {
    // SAFETY: pidfd_open(2) takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(errno());
    }
    // SAFETY: the descriptor was just returned by the kernel and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

fn pidfd_send_signal(pidfd: RawFd, sig: i32) -> Result<i64, i32> {
    // SAFETY: pidfd_send_signal(2) with a NULL siginfo sends `sig` as kill(2) would.
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd,
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if r < 0 {
        Err(errno())
    } else {
        Ok(0)
    }
}

/// Whether `sig` is ignored in this process now; exec keeps an ignored signal ignored.
fn ignored(sig: i32) -> bool {
    // SAFETY: an all-zero sigaction is a valid value for the kernel to overwrite.
    let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: a NULL new action only reads the current one into `old`.
    let r = unsafe { libc::sigaction(sig, std::ptr::null(), &mut old) };
    r == 0 && old.sa_sigaction == libc::SIG_IGN
}

/// A new descriptor for `fd` that the child gets as one of its standard descriptors (std
/// dup2s it into place and closes this copy).
fn stdio_of(fd: Option<RawFd>) -> Result<Stdio, i32> {
    match fd {
        None => Ok(Stdio::null()),
        Some(CLOSED_FD) => Err(libc::EBADF),
        Some(fd) => {
            // SAFETY: F_DUPFD_CLOEXEC only duplicates; a bad `fd` gives EBADF.
            let new = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) };
            if new < 0 {
                return Err(errno());
            }
            // SAFETY: `new` was just returned by the kernel and nothing else owns it.
            Ok(Stdio::from(unsafe { OwnedFd::from_raw_fd(new) }))
        }
    }
}

/// Resolves `spawn`'s arguments against the handle table.
pub(crate) fn resolve_spawn(
    table: &Table,
    argv: &[ArgvItem],
    stdio: [&Option<Ident>; 3],
) -> Result<SpawnSpec, HarnessError> {
    let mut handles = Vec::new();
    let mut words = Vec::new();
    let mut shown = Vec::new();
    for item in argv {
        let word = match item {
            ArgvItem::Str(s) => s.clone(),
            ArgvItem::Fd(id) => {
                let fd = table.fd(id)?;
                if fd == CLOSED_FD {
                    return Err(HarnessError::Other(format!(
                        "`fd({})`: the handle is closed, it has no number",
                        id.name
                    )));
                }
                handles.push(id.name.clone());
                fd.to_string()
            }
        };
        shown.push(format!("{word:?}"));
        words.push(CString::new(word).map_err(|_| {
            HarnessError::Other("a word of the command contains a NUL byte".into())
        })?);
    }
    let mut fds = [None; 3];
    let mut text = format!("spawn([{}]", shown.join(", "));
    for (i, (name, id)) in ["stdin", "stdout", "stderr"]
        .into_iter()
        .zip(stdio)
        .enumerate()
    {
        if let Some(id) = id {
            let fd = table.fd(id)?;
            handles.push(id.name.clone());
            fds[i] = Some(fd);
            if fd == CLOSED_FD {
                text.push_str(&format!(", {name}={}=closed", id.name));
            } else {
                text.push_str(&format!(", {name}={}=fd{fd}", id.name));
            }
        }
    }
    text.push(')');
    Ok(SpawnSpec {
        argv: words,
        stdio: fds,
        text,
        handles,
    })
}

impl Procs {
    /// Forks and execs the program; binds the child to `name`. The result is the pid, or the
    /// errno of the failed fork, dup2 or exec (`ENOENT` for a program not in PATH).
    pub(crate) fn spawn(&mut self, name: Option<&str>, spec: &SpawnSpec, cwd: &Path) -> Observed {
        let started = Instant::now();
        let mut o = Observed::new(self.start(name, spec, cwd));
        o.took = started.elapsed();
        o
    }

    fn start(&mut self, name: Option<&str>, spec: &SpawnSpec, cwd: &Path) -> Result<i64, i32> {
        let [program, args @ ..] = spec.argv.as_slice() else {
            return Err(libc::EINVAL);
        };
        let mut cmd = Command::new(OsStr::from_bytes(program.as_bytes()));
        cmd.args(args.iter().map(|a| OsStr::from_bytes(a.as_bytes())))
            .stdin(stdio_of(spec.stdio[0])?)
            .stdout(stdio_of(spec.stdio[1])?)
            .stderr(stdio_of(spec.stdio[2])?)
            .current_dir(cwd);
        // std resets SIGPIPE to its default in the child; C's fork + exec keeps it ignored
        // when the case ignored it, so the child gets it back.
        let keep_sigpipe_ignored = ignored(libc::SIGPIPE);
        // SAFETY: getpid(2) cannot fail.
        let parent = unsafe { libc::getpid() };
        // SAFETY: the closure runs between fork and exec and only makes async-signal-safe
        // system calls (prctl, getppid, signal, sigprocmask).
        unsafe {
            cmd.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                // The case process may have died before the prctl: then nothing would kill us.
                if libc::getppid() != parent {
                    return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
                }
                if keep_sigpipe_ignored {
                    libc::signal(libc::SIGPIPE, libc::SIG_IGN);
                }
                // A program starts with no signal blocked, whatever the case's threads block.
                let mut empty: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut empty);
                libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .map_err(|e| e.raw_os_error().unwrap_or(libc::EIO))?;
        let pid = child.id() as i32;
        // The child is not reaped until we wait for it, so its pid cannot be reused yet.
        let opened = if NO_PIDFD.with(|n| n.get()) {
            Err(libc::ENOSYS)
        } else {
            pidfd_open(pid)
        };
        let pidfd = match opened {
            Ok(fd) => Some(fd),
            Err(libc::ENOSYS) => None,
            Err(e) => {
                // SAFETY: `pid` is our unreaped child.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                    libc::waitpid(pid, std::ptr::null_mut(), 0);
                }
                return Err(e);
            }
        };
        let entry = Child { pid, pidfd };
        match name {
            Some(n) => {
                if let Some(old) = self.named.insert(n.to_string(), entry) {
                    self.strays.push(old);
                }
            }
            None => self.strays.push(entry),
        }
        Ok(i64::from(pid))
    }

    fn get(&self, id: &Ident) -> Result<&Child, HarnessError> {
        self.named
            .get(&id.name)
            .ok_or_else(|| HarnessError::Other(format!("no process named `{}`", id.name)))
    }

    /// Resolves `wait`, `kill` and `children()`.
    pub(crate) fn prepare(&self, op: &Op) -> Result<(Call, String), HarnessError> {
        Ok(match op {
            Op::Wait { proc } => {
                let c = self.get(proc)?;
                (
                    Call::Wait { child: c.target() },
                    format!("wait({}=pid{})", proc.name, c.pid),
                )
            }
            Op::Kill { proc, sig: s } => {
                let c = self.get(proc)?;
                (
                    Call::Kill {
                        child: c.target(),
                        sig: sym(Category::ProcSignal, s)? as i32,
                    },
                    format!("kill({}=pid{}, {})", proc.name, c.pid, s.name),
                )
            }
            Op::Children => (Call::Children, "children()".to_string()),
            _ => return Err(wrong_family(op, "process")),
        })
    }

    /// Sends SIGKILL to every child, so that a pending `wait` returns; the pidfds stay open
    /// until [`Procs::finish`], since a pending `wait` may still be using one.
    pub(crate) fn kill_all(&self) {
        for c in self.named.values().chain(&self.strays) {
            // An already reaped child gives ESRCH, which is fine.
            let _ = signal(c.target(), libc::SIGKILL);
        }
    }

    /// Kills every child still running and reaps it; a child stuck past [`REAP_GRACE`] is
    /// left to the runner, which kills the case's process group.
    pub(crate) fn finish(&mut self) {
        self.kill_all();
        let all: Vec<Child> = self
            .named
            .drain()
            .map(|(_, c)| c)
            .chain(self.strays.drain(..))
            .collect();
        let until = Instant::now() + REAP_GRACE;
        for c in &all {
            let left = until.saturating_duration_since(Instant::now());
            let _ = reap(c.target(), left);
        }
    }
}

/// How a child ended: its exit status, or the signal that killed it.
enum End {
    Exited(i32),
    Killed(i32),
}

/// Whether the child `pid` was already reaped by a `wait`: it is no longer our child then.
fn reaped(pid: i32) -> bool {
    // SAFETY: an all-zero siginfo is a valid value for waitid to overwrite.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: `info` is writable; WNOWAIT leaves a zombie child as it is.
    let r = unsafe {
        libc::waitid(
            libc::P_PID,
            pid as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        )
    };
    r == -1 && errno() == libc::ECHILD
}

/// Sends `sig` through the pidfd, or to the pid without one; either way a child already
/// reaped gives ESRCH (its pid may belong to another process by now).
fn signal(child: Target, sig: i32) -> Result<i64, i32> {
    match child.pidfd {
        Some(fd) => pidfd_send_signal(fd, sig),
        None if reaped(child.pid) => Err(libc::ESRCH),
        None => {
            // SAFETY: kill(2) on our own unreaped child (see the module note).
            if unsafe { libc::kill(child.pid, sig) } == -1 {
                Err(errno())
            } else {
                Ok(0)
            }
        }
    }
}

/// Waits up to `left` for the process to end and reaps it. `Ok(None)`: still running when the
/// time was up.
fn reap(child: Target, left: Duration) -> Result<Option<End>, i32> {
    let until = Instant::now() + left;
    let (idtype, id) = match child.pidfd {
        Some(fd) => (libc::P_PIDFD, fd as libc::id_t),
        None => (libc::P_PID, child.pid as libc::id_t),
    };
    loop {
        // SAFETY: an all-zero siginfo is a valid value for waitid to overwrite.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: `info` is writable; P_PIDFD names exactly the process of the pidfd, P_PID
        // our own unreaped child.
        let r = unsafe { libc::waitid(idtype, id, &mut info, libc::WEXITED | libc::WNOHANG) };
        if r == -1 {
            return Err(errno());
        }
        // SAFETY: waitid filled `info` for a child that changed state; si_pid is 0 if none did.
        if unsafe { info.si_pid() } != 0 {
            // SAFETY: as above, si_status is valid for a CLD_* code.
            let status = unsafe { info.si_status() };
            return Ok(Some(match info.si_code {
                libc::CLD_EXITED => End::Exited(status),
                _ => End::Killed(status),
            }));
        }
        let remaining = until.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Ok(None);
        }
        let Some(pidfd) = child.pidfd else {
            std::thread::sleep(remaining.min(PID_POLL));
            continue;
        };
        let mut p = libc::pollfd {
            fd: pidfd,
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = remaining.as_millis().clamp(1, i32::MAX as u128) as i32;
        // SAFETY: `p` is one valid pollfd; a pidfd is readable once its process has ended.
        if unsafe { libc::poll(&mut p, 1, ms) } == -1 && errno() != libc::EINTR {
            return Err(errno());
        }
    }
}

/// `wait(p)`: the exit status, or the killing signal in `exit_signal`; bounded by `deadline`.
pub(crate) fn wait(o: &mut Observed, child: Target, deadline: Instant) {
    match reap(child, deadline.saturating_duration_since(Instant::now())) {
        Ok(Some(End::Exited(status))) => o.ret = Ok(i64::from(status)),
        Ok(Some(End::Killed(sig))) => {
            // 128 + N is the shell's convention; expectations see the signal, never this.
            o.ret = Ok(128 + i64::from(sig));
            o.exit_signal = Some(sig);
        }
        Ok(None) => {
            o.ret = Ok(0);
            o.timed_out = Some("still running at the case deadline".into());
        }
        Err(e) => o.ret = Err(e),
    }
}

/// `kill(p, SIG)`.
pub(crate) fn kill(o: &mut Observed, child: Target, sig: i32) {
    o.ret = signal(child, sig);
}

/// `children()`: the live (not zombie) children of every thread of this process, from
/// /proc/self/task/*/children; where the kernel has none (CONFIG_PROC_CHILDREN off, gVisor),
/// from the parent field of every process in /proc, which names the same children.
pub(crate) fn children(o: &mut Observed) {
    let listed = listed_children();
    let pids = match listed {
        Some(pids) => pids,
        None => match children_by_parent() {
            Some(pids) => pids,
            None => {
                o.ret = Err(libc::ENOENT);
                o.note =
                    Some("neither /proc/self/task/*/children nor /proc/*/stat can be read".into());
                return;
            }
        },
    };
    let live = pids
        .iter()
        .filter(|pid| {
            let state = stat_fields(pid).and_then(|f| f.first().and_then(|s| s.chars().next()));
            matches!(state, Some(s) if s != 'Z' && s != 'X')
        })
        .count();
    o.ret = Ok(live as i64);
}

/// The pids in /proc/self/task/*/children, or `None` when the kernel has no such file.
fn listed_children() -> Option<Vec<String>> {
    let tasks = std::fs::read_dir("/proc/self/task").ok()?;
    let (mut pids, mut read) = (Vec::new(), false);
    for task in tasks.flatten() {
        let Ok(list) = std::fs::read_to_string(task.path().join("children")) else {
            continue;
        };
        read = true;
        pids.extend(list.split_whitespace().map(str::to_string));
    }
    read.then_some(pids)
}

/// The pids whose parent is this process (a child of any of its threads has the process as
/// its parent), by scanning /proc.
fn children_by_parent() -> Option<Vec<String>> {
    let me = std::process::id().to_string();
    let entries = std::fs::read_dir("/proc").ok()?;
    Some(
        entries
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|pid| pid.bytes().all(|b| b.is_ascii_digit()))
            .filter(|pid| stat_fields(pid).and_then(|f| f.get(1).cloned()) == Some(me.clone()))
            .collect(),
    )
}

/// The fields of /proc/PID/stat after the command name (which may hold `)`): state, ppid, ….
fn stat_fields(pid: &str) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    Some(rest.split_whitespace().map(str::to_string).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(argv: &[&str]) -> SpawnSpec {
        SpawnSpec {
            argv: argv.iter().map(|a| CString::new(*a).unwrap()).collect(),
            stdio: [None, None, None],
            text: String::new(),
            handles: Vec::new(),
        }
    }

    fn target(procs: &Procs, name: &str) -> Target {
        procs.named[name].target()
    }

    /// Spawns, kills and waits for children as a case does, with pidfds or without.
    fn spawn_kill_wait(without_pidfds: bool) {
        NO_PIDFD.with(|n| n.set(without_pidfds));
        let mut procs = Procs::default();
        let dir = std::env::temp_dir();
        let deadline = || Instant::now() + Duration::from_secs(5);
        assert!(procs.spawn(Some("ok"), &spec(&["true"]), &dir).ret.is_ok());
        assert!(procs
            .spawn(Some("long"), &spec(&["sleep", "30"]), &dir)
            .ret
            .is_ok());
        assert!(procs
            .spawn(Some("left"), &spec(&["sleep", "30"]), &dir)
            .ret
            .is_ok());
        assert_eq!(procs.named["ok"].pidfd.is_none(), without_pidfds);

        let mut o = Observed::new(Ok(0));
        wait(&mut o, target(&procs, "ok"), deadline());
        assert_eq!((o.ret, o.exit_signal), (Ok(0), None));
        // Reaped: its pid may be another process's now, so it is never signalled again.
        let mut o = Observed::new(Ok(0));
        kill(&mut o, target(&procs, "ok"), libc::SIGTERM);
        assert_eq!(o.ret, Err(libc::ESRCH));

        let mut o = Observed::new(Ok(0));
        kill(&mut o, target(&procs, "long"), libc::SIGTERM);
        assert_eq!(o.ret, Ok(0));
        let mut o = Observed::new(Ok(0));
        wait(&mut o, target(&procs, "long"), deadline());
        assert_eq!(o.exit_signal, Some(libc::SIGTERM));

        // A child still running when the case ends is killed and reaped.
        let left = procs.named["left"].pid;
        procs.finish();
        // SAFETY: kill with signal 0 only checks whether the pid exists.
        let gone = unsafe { libc::kill(left, 0) } == -1 && errno() == libc::ESRCH;
        assert!(gone, "pid {left} outlived finish()");
        NO_PIDFD.with(|n| n.set(false));
    }

    #[test]
    fn children_are_counted_by_their_parent_as_by_the_children_file() {
        let mut procs = Procs::default();
        let dir = std::env::temp_dir();
        assert!(procs
            .spawn(Some("a"), &spec(&["sleep", "30"]), &dir)
            .ret
            .is_ok());
        let pid = procs.named["a"].pid.to_string();
        let by_parent = children_by_parent().expect("/proc is readable");
        assert!(by_parent.contains(&pid), "{by_parent:?} lacks {pid}");
        if let Some(listed) = listed_children() {
            assert!(listed.contains(&pid), "{listed:?} lacks {pid}");
        }
        procs.finish();
    }

    #[test]
    fn children_are_killed_and_reaped_through_pidfds() {
        spawn_kill_wait(false);
    }

    #[test]
    fn without_pidfds_children_are_killed_and_reaped_by_pid() {
        spawn_kill_wait(true);
    }
}
