//! The case's init: a small process between the case process and the scenario, so that
//! nothing a case starts outlives it, whatever session or process group it moves to.
//!
//! ```text
//! runner ── case process (runner's pid namespace; waits, passes the verdict's exit status on)
//!              └── init (pid 1 of the case's pid namespace; reaps orphans, then kills the rest)
//!                     └── the scenario (pid 2; spawns programs)
//! ```
//!
//! With a pid namespace of its own (verified new by the sandbox), the init is its pid 1: when
//! it exits the kernel kills every process left in the namespace, and it dies itself with the
//! case process (`PR_SET_PDEATHSIG`), so even a SIGKILLed runner leaves nothing. The scenario
//! is not pid 1 because pid 1 ignores signals it has no handler for (a case's SIGPIPE would
//! vanish) and adopts orphans (`children()` would count them). Without a pid namespace the
//! init is a child subreaper that kills and reaps every descendant when the scenario ends:
//! that covers a case that ends, not a runner killed with SIGKILL.

use std::os::fd::{AsFd, OwnedFd};

use nix::mount::{mount, MsFlags};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, getpid, getppid, ForkResult, Pid};

/// Why the init could not be put in place.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("cannot {what}")]
    Sys {
        what: &'static str,
        #[source]
        source: nix::Error,
    },
}

fn sys(what: &'static str) -> impl FnOnce(nix::Error) -> InitError {
    move |source| InitError::Sys { what, source }
}

/// The parts of `/proc` that change the machine rather than the case: sysctls (most are not
/// per namespace), the sysrq trigger, interrupt and bus settings.
const PROC_READ_ONLY: &[&str] = &["sys", "sysrq-trigger", "irq", "bus", "fs"];

/// Splits the case process into the three processes above and returns in the scenario's.
/// `pid_namespace`: the sandbox verified that this process's children get a new pid
/// namespace, and `own_mounts` that its mount namespace is private, so the init may mount
/// the case's `/proc`.
pub fn split(pid_namespace: bool, own_mounts: bool) -> Result<(), InitError> {
    // Held by the case process only: the init sees POLLHUP on its end once the case
    // process is gone, which closes the race between fork and PR_SET_PDEATHSIG.
    let (alive_r, alive_w) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(sys("create a pipe"))?;
    // SAFETY: the case process is single-threaded here (it has not run the scenario), so
    // the child may run any code.
    match unsafe { fork() }.map_err(sys("fork the case's init"))? {
        ForkResult::Parent { child } => {
            drop(alive_r);
            let status = wait_for(child);
            drop(alive_w);
            pass_on(status)
        }
        ForkResult::Child => {
            drop(alive_w);
            die_with_parent(&alive_r);
            drop(alive_r);
            if pid_namespace && getpid().as_raw() != 1 {
                refuse_unverified();
            }
            if pid_namespace && own_mounts {
                mount_proc().map_err(sys("mount the case's /proc"))?;
            } else {
                // SAFETY: prctl with integer arguments.
                unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
            }
            let me = getpid();
            // SAFETY: as above, still single-threaded.
            match unsafe { fork() }.map_err(sys("fork the scenario's process"))? {
                ForkResult::Child => {
                    crate::sandbox::arm_parent_death_signal();
                    if getppid() != me {
                        // SAFETY: leaving a forked child whose parent is already gone.
                        unsafe { libc::_exit(1) }
                    }
                    Ok(())
                }
                ForkResult::Parent { child } => {
                    let status = reap_until(child);
                    sweep(pid_namespace);
                    // SAFETY: the init leaves without running the case's destructors (the
                    // scenario's process owns them).
                    unsafe { libc::_exit(exit_code(status)) }
                }
            }
        }
    }
}

/// `unshare(CLONE_NEWPID)` returned 0 but the init is not pid 1: the case must not run as if
/// its processes were contained. The case process's stdout is the runner's pipe, so the
/// verdict goes there.
fn refuse_unverified() -> ! {
    let end = crate::wire::Wire::End {
        outcome: sockspec_reports::Outcome::Error,
        message: Some(format!(
            "cannot isolate the case: the pid namespace is not new (its init is pid {}, not 1)",
            getpid()
        )),
        failure: None,
    };
    if let Ok(line) = serde_json::to_string(&end) {
        use std::io::Write;
        let _ = writeln!(std::io::stdout(), "{line}");
    }
    // SAFETY: leaving the forked init without the case's destructors.
    unsafe { libc::_exit(1) }
}

/// PR_SET_PDEATHSIG, then a check that the parent had not died before it took effect.
fn die_with_parent(alive: &OwnedFd) {
    crate::sandbox::arm_parent_death_signal();
    let mut fds = [PollFd::new(alive.as_fd(), PollFlags::POLLIN)];
    let gone = poll(&mut fds, PollTimeout::ZERO).is_ok_and(|n| n > 0);
    if gone {
        // SAFETY: leaving a forked child whose parent is already gone.
        unsafe { libc::_exit(1) }
    }
}

/// A `/proc` for the case's pid namespace: `$$` and `/proc/self` agree, and the host's
/// processes (and through `/proc/PID/root`, their writable view of the host) are not in it.
fn mount_proc() -> nix::Result<()> {
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    mount(Some("proc"), "/proc", Some("proc"), flags, None::<&str>)?;
    for part in PROC_READ_ONLY {
        let path = format!("/proc/{part}");
        match mount(
            Some(path.as_str()),
            path.as_str(),
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        ) {
            Err(nix::errno::Errno::ENOENT) => continue,
            r => r?,
        }
        mount(
            None::<&str>,
            path.as_str(),
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | flags,
            None::<&str>,
        )?;
    }
    Ok(())
}

/// Waits for `child` to end, through EINTR.
fn wait_for(child: Pid) -> Option<WaitStatus> {
    loop {
        match waitpid(child, None) {
            Ok(s @ (WaitStatus::Exited(..) | WaitStatus::Signaled(..))) => return Some(s),
            Err(nix::errno::Errno::EINTR) | Ok(_) => continue,
            Err(_) => return None,
        }
    }
}

/// Reaps every child (the init adopts the case's orphans) until `scenario` has ended.
fn reap_until(scenario: Pid) -> Option<WaitStatus> {
    loop {
        match waitpid(Pid::from_raw(-1), None) {
            Ok(s @ WaitStatus::Exited(pid, _)) | Ok(s @ WaitStatus::Signaled(pid, _, _))
                if pid == scenario =>
            {
                return Some(s)
            }
            Err(nix::errno::Errno::EINTR) | Ok(_) => continue,
            Err(_) => return None,
        }
    }
}

/// Kills and reaps whatever the scenario left. The pid namespace's init kills all of it at
/// once (`kill(-1)` from a namespace's init reaches every other process in it and nothing
/// outside); a subreaper kills its children round by round, since each killed process's own
/// children are then reparented to it.
fn sweep(pid_namespace: bool) {
    loop {
        if pid_namespace {
            let _ = kill(Pid::from_raw(-1), Signal::SIGKILL);
        } else {
            for pid in children() {
                let _ = kill(pid, Signal::SIGKILL);
            }
        }
        match waitpid(Pid::from_raw(-1), None) {
            Err(nix::errno::Errno::ECHILD) => return,
            _ => continue,
        }
    }
}

/// This process's children, from `/proc/self/task/*/children`.
fn children() -> Vec<Pid> {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|list| {
            list.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .map(Pid::from_raw)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The scenario process's fate as an exit code: its status, or 128 + the signal.
fn exit_code(status: Option<WaitStatus>) -> i32 {
    match status {
        Some(WaitStatus::Exited(_, code)) => code,
        Some(WaitStatus::Signaled(_, sig, _)) => 128 + sig as i32,
        _ => 1,
    }
}

/// The case process leaves the way the scenario's process did, so the runner still reads
/// "killed by SIGSEGV" for a crash.
fn pass_on(status: Option<WaitStatus>) -> ! {
    let code = exit_code(status);
    if code > 128 {
        if let Ok(sig) = Signal::try_from(code - 128) {
            // SAFETY: restoring the default action and raising the signal on ourselves.
            unsafe {
                libc::signal(sig as i32, libc::SIG_DFL);
                libc::raise(sig as i32);
            }
        }
    }
    // SAFETY: leaving without running destructors the scenario's process owns.
    unsafe { libc::_exit(code) }
}
