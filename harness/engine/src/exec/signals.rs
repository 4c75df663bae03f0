//! Signal dispositions for `signal(SIG, ignore|default|count)` and the delivery counters that
//! `signal SIGPIPE` / `no SIGPIPE` expectations compare before and after a call.
//!
//! Counters are process-wide: a case runs in a process of its own, so every delivery belongs
//! to it.

use std::sync::atomic::{AtomicU64, Ordering};

use nix::sys::signal::{self, SaFlags, SigAction, SigHandler, SigSet, Signal};

use super::consts::{ACTION_COUNT, ACTION_DEFAULT, ACTION_IGNORE};
use super::HarnessError;

/// The signals the language names, in the order of their counters.
pub(crate) const COUNTED: [Signal; 5] = [
    Signal::SIGPIPE,
    Signal::SIGURG,
    Signal::SIGIO,
    Signal::SIGALRM,
    Signal::SIGUSR1,
];

static COUNTS: [AtomicU64; 5] = [
    AtomicU64::new(0),
    AtomicU64::new(0),
    AtomicU64::new(0),
    AtomicU64::new(0),
    AtomicU64::new(0),
];

extern "C" fn count(sig: libc::c_int) {
    // Only an atomic increment: async-signal-safe.
    if let Some(i) = COUNTED.iter().position(|s| *s as libc::c_int == sig) {
        COUNTS[i].fetch_add(1, Ordering::SeqCst);
    }
}

/// A copy of every counter.
pub(crate) type Snapshot = [u64; 5];

pub(crate) fn snapshot() -> Snapshot {
    std::array::from_fn(|i| COUNTS[i].load(Ordering::SeqCst))
}

/// How many times `sig` was delivered since `before`.
pub(crate) fn delivered_since(before: &Snapshot, sig: i32) -> u64 {
    match COUNTED.iter().position(|s| *s as i32 == sig) {
        Some(i) => COUNTS[i].load(Ordering::SeqCst).saturating_sub(before[i]),
        None => 0,
    }
}

/// Installs the counting handler for SIGPIPE and SIGURG, the defaults a case starts with.
/// `SA_RESTART` keeps a SIGURG arriving during an unrelated blocking call from turning it into
/// `EINTR` where the kernel can restart it.
pub(crate) fn install_defaults() -> Result<(), HarnessError> {
    set(Signal::SIGPIPE as i32, ACTION_COUNT, true)?;
    set(Signal::SIGURG as i32, ACTION_COUNT, true)
}

/// Sets the disposition of `sig` to one of the `ACTION_*` codes; `restart` is `SA_RESTART`,
/// which makes the kernel restart a call the handler interrupted where it can (man 7 signal,
/// "Interruption of system calls and library functions by signal handlers").
pub(crate) fn set(sig: i32, action: i64, restart: bool) -> Result<(), HarnessError> {
    let signal = Signal::try_from(sig).map_err(|source| HarnessError::BadSignal { sig, source })?;
    let handler = match action {
        ACTION_IGNORE => SigHandler::SigIgn,
        ACTION_DEFAULT => SigHandler::SigDfl,
        ACTION_COUNT => SigHandler::Handler(count),
        _ => {
            return Err(HarnessError::Other(format!(
                "unknown signal action {action}"
            )))
        }
    };
    let flags = if restart {
        SaFlags::SA_RESTART
    } else {
        SaFlags::empty()
    };
    let act = SigAction::new(handler, flags, SigSet::empty());
    // SAFETY: the handler only performs an atomic increment, which is async-signal-safe.
    unsafe { signal::sigaction(signal, &act) }
        .map(|_| ())
        .map_err(|source| HarnessError::Disposition { signal, source })
}

/// Blocks the process-directed signals in the calling thread, so that SIGURG, SIGIO and the
/// SIGALRM of `alarm` are delivered to the main thread and cannot interrupt a pending call
/// with `EINTR`. SIGPIPE stays open: it is directed at the thread that wrote, and must be
/// counted there. SIGUSR1 stays open too: the case sends it to one pending call's thread with
/// `pthread_kill`, and nothing sends it to the whole process.
pub(crate) fn block_async_in_this_thread() {
    let mut set = SigSet::empty();
    for s in [Signal::SIGURG, Signal::SIGIO, Signal::SIGALRM] {
        set.add(s);
    }
    // Failure only means the thread keeps receiving them, which is still correct, if noisier.
    let _ = set.thread_block();
}

/// The signals a pending call's thread can receive (see [`block_async_in_this_thread`]).
pub(crate) const TO_A_THREAD: [Signal; 2] = [Signal::SIGUSR1, Signal::SIGPIPE];

/// `alarm(DURATION)`: arms the process's one-shot real-time timer (`setitimer(ITIMER_REAL)`),
/// whose SIGALRM the kernel sends to the process; only the main thread leaves it unblocked,
/// so it interrupts the statement running there. `Duration::ZERO` disarms it.
pub(crate) fn alarm(after: std::time::Duration) -> Result<(), HarnessError> {
    let value = libc::timeval {
        tv_sec: after.as_secs() as libc::time_t,
        tv_usec: after.subsec_micros() as libc::suseconds_t,
    };
    let timer = libc::itimerval {
        it_interval: libc::timeval {
            tv_sec: 0,
            tv_usec: 0,
        },
        it_value: value,
    };
    // SAFETY: `timer` is a valid itimerval; the old value is not asked for.
    let r = unsafe { libc::setitimer(libc::ITIMER_REAL, &timer, std::ptr::null_mut()) };
    if r == 0 {
        Ok(())
    } else {
        Err(HarnessError::Other(format!(
            "setitimer: {}",
            std::io::Error::last_os_error()
        )))
    }
}

/// `pthread_kill(r, SIG)`: `sig` to the thread `tid` of this process.
pub(crate) fn to_thread(tid: i32, sig: i32) -> Result<(), HarnessError> {
    let signal = Signal::try_from(sig).map_err(|source| HarnessError::BadSignal { sig, source })?;
    if !TO_A_THREAD.contains(&signal) {
        return Err(HarnessError::Other(format!(
            "{signal} is blocked in the threads of `blocks` calls (it is aimed at the main thread); send SIGUSR1"
        )));
    }
    // SAFETY: tgkill(2) with this process's id and one of its thread ids; no memory is passed.
    let r = unsafe { libc::syscall(libc::SYS_tgkill, libc::getpid(), tid, sig) };
    if r == 0 {
        Ok(())
    } else {
        Err(HarnessError::Other(format!(
            "tgkill: {}",
            std::io::Error::last_os_error()
        )))
    }
}
