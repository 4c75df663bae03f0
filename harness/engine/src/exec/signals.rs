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
    set(Signal::SIGPIPE as i32, ACTION_COUNT)?;
    set(Signal::SIGURG as i32, ACTION_COUNT)
}

/// Sets the disposition of `sig` to one of the `ACTION_*` codes.
pub(crate) fn set(sig: i32, action: i64) -> Result<(), HarnessError> {
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
    let act = SigAction::new(handler, SaFlags::SA_RESTART, SigSet::empty());
    // SAFETY: the handler only performs an atomic increment, which is async-signal-safe.
    unsafe { signal::sigaction(signal, &act) }
        .map(|_| ())
        .map_err(|source| HarnessError::Disposition { signal, source })
}

/// Blocks the process-directed signals in the calling thread, so that SIGURG and SIGIO are
/// delivered to the main thread and cannot interrupt a pending call with `EINTR`. SIGPIPE stays
/// open: it is directed at the thread that wrote, and must be counted there.
pub(crate) fn block_async_in_this_thread() {
    let mut set = SigSet::empty();
    for s in [
        Signal::SIGURG,
        Signal::SIGIO,
        Signal::SIGALRM,
        Signal::SIGUSR1,
    ] {
        set.add(s);
    }
    // Failure only means the thread keeps receiving them, which is still correct, if noisier.
    let _ = set.thread_block();
}
