//! Processes a case starts: `spawn` (fork + exec of a program), `wait`, `kill` and
//! `children()`, and the table that makes sure no child outlives its case.
//!
//! Each child is held by a pidfd opened right after the fork, while the child cannot have been
//! reaped yet: signals and waits go through it, so they can never reach another process that
//! reused the pid. The child stays in the case's process group (the runner kills the group at
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
    /// `wait(p)`: the pidfd of a spawned child.
    Wait { pidfd: RawFd },
    /// `kill(p, SIG)`.
    Kill { pidfd: RawFd, sig: i32 },
    /// `children()`.
    Children,
}

/// Runs the call; a `wait` never waits past `deadline`.
pub(crate) fn perform(call: &Call, o: &mut Observed, deadline: Instant) {
    match call {
        Call::Wait { pidfd } => wait(o, *pidfd, deadline),
        Call::Kill { pidfd, sig } => kill(o, *pidfd, *sig),
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

/// A child started by `spawn`.
#[derive(Debug)]
struct Child {
    pid: i32,
    pidfd: OwnedFd,
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
        let pidfd = match pidfd_open(pid) {
            Ok(fd) => fd,
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
                    Call::Wait {
                        pidfd: c.pidfd.as_raw_fd(),
                    },
                    format!("wait({}=pid{})", proc.name, c.pid),
                )
            }
            Op::Kill { proc, sig: s } => {
                let c = self.get(proc)?;
                (
                    Call::Kill {
                        pidfd: c.pidfd.as_raw_fd(),
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
            let _ = pidfd_send_signal(c.pidfd.as_raw_fd(), libc::SIGKILL);
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
            let _ = reap(c.pidfd.as_raw_fd(), left);
        }
    }
}

/// How a child ended: its exit status, or the signal that killed it.
enum End {
    Exited(i32),
    Killed(i32),
}

/// Waits up to `left` for the process of `pidfd` to end and reaps it. `Ok(None)`: still
/// running when the time was up.
fn reap(pidfd: RawFd, left: Duration) -> Result<Option<End>, i32> {
    let until = Instant::now() + left;
    loop {
        // SAFETY: an all-zero siginfo is a valid value for waitid to overwrite.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: `info` is writable; P_PIDFD names exactly the process of `pidfd`.
        let r = unsafe {
            libc::waitid(
                libc::P_PIDFD,
                pidfd as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOHANG,
            )
        };
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
pub(crate) fn wait(o: &mut Observed, pidfd: RawFd, deadline: Instant) {
    match reap(pidfd, deadline.saturating_duration_since(Instant::now())) {
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
pub(crate) fn kill(o: &mut Observed, pidfd: RawFd, sig: i32) {
    o.ret = pidfd_send_signal(pidfd, sig);
}

/// `children()`: the live (not zombie) children of every thread of this process.
pub(crate) fn children(o: &mut Observed) {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        o.ret = Err(libc::ENOENT);
        return;
    };
    let (mut n, mut read) = (0, false);
    for task in tasks.flatten() {
        let Ok(list) = std::fs::read_to_string(task.path().join("children")) else {
            continue;
        };
        read = true;
        for pid in list.split_whitespace() {
            let state = std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|s| {
                    // The state follows the command name, which may hold `)`.
                    s.rsplit_once(')')
                        .and_then(|(_, rest)| rest.trim_start().chars().next())
                });
            if matches!(state, Some(s) if s != 'Z' && s != 'X') {
                n += 1;
            }
        }
    }
    if read {
        o.ret = Ok(n);
    } else {
        o.ret = Err(libc::ENOENT);
        o.note =
            Some("this kernel has no /proc/self/task/*/children (CONFIG_PROC_CHILDREN)".into());
    }
}
