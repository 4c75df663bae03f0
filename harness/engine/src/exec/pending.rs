//! `blocks` and `await`: a call started on a thread of its own, confirmed asleep in the kernel,
//! and collected later.
//!
//! "Asleep" is read from `/proc/self/task/TID/stat`: the thread must be in state `S`
//! (interruptible sleep, where a socket call waits) for a whole settle period while its result
//! has not arrived. A call that returns during that period did not block.

use std::os::fd::RawFd;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, TryRecvError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::dispatch::{perform, Prepared};
use super::observed::Observed;
use super::signals;
use super::HarnessError;

/// How long the thread must stay asleep before the call counts as blocked, before scaling.
/// A call that completes at once does so within microseconds; 20ms of continuous sleep rules
/// out a thread caught between two quick syscalls.
pub(crate) const SETTLE: Duration = Duration::from_millis(20);

/// How long to wait for a new thread to report its id; thread creation takes microseconds,
/// so a second means the machine is in trouble.
const THREAD_START: Duration = Duration::from_secs(1);

enum Msg {
    Tid(i32),
    Done(Box<Observed>),
}

/// A call confirmed to be blocked.
pub(crate) struct Pending {
    pub tid: i32,
    /// The descriptors the call uses, so the end of the case can wake it.
    pub fds: Vec<RawFd>,
    rx: Receiver<Msg>,
    thread: Option<JoinHandle<()>>,
}

/// How starting a call with `blocks` went.
pub(crate) enum Started {
    Blocked(Pending),
    /// The call returned during the settle period: it did not block.
    Returned(Box<Observed>),
}

/// The process-wide thread state letter of `tid` (`R`, `S`, `D`, …).
fn thread_state(tid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).ok()?;
    // The command name may contain spaces and parentheses; the state follows the last `)`.
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

fn gettid() -> i32 {
    // SAFETY: gettid(2) has no arguments and cannot fail.
    unsafe { libc::gettid() }
}

fn panicked(name: &str, thread: Option<JoinHandle<()>>) -> HarnessError {
    if let Some(t) = thread {
        let _ = t.join();
    }
    HarnessError::Panicked(name.to_string())
}

/// Starts `call` on its own thread and waits until it is asleep in the kernel for `settle`,
/// or returned, or the deadline passed.
pub(crate) fn start(
    name: &str,
    call: Prepared,
    settle: Duration,
    deadline: Instant,
) -> Result<Started, HarnessError> {
    let fds = call.fds();
    let (tx, rx) = mpsc::channel();
    let thread = std::thread::Builder::new()
        .name(format!("sockspec-{name}"))
        .spawn(move || {
            signals::block_async_in_this_thread();
            let _ = tx.send(Msg::Tid(gettid()));
            let o = perform(&call, deadline);
            let _ = tx.send(Msg::Done(Box::new(o)));
        })
        .map_err(|e| HarnessError::Other(format!("cannot start a thread for `{name}`: {e}")))?;
    let tid = match rx
        .recv_timeout(THREAD_START.min(deadline.saturating_duration_since(Instant::now())))
    {
        Ok(Msg::Tid(t)) => t,
        Ok(Msg::Done(o)) => return Ok(Started::Returned(o)),
        Err(RecvTimeoutError::Timeout) => {
            return Err(HarnessError::ThreadDidNotStart(name.to_string()))
        }
        Err(RecvTimeoutError::Disconnected) => return Err(panicked(name, Some(thread))),
    };
    let mut asleep_since: Option<Instant> = None;
    loop {
        match rx.try_recv() {
            Ok(Msg::Done(o)) => {
                let _ = thread.join();
                return Ok(Started::Returned(o));
            }
            Ok(Msg::Tid(_)) | Err(TryRecvError::Empty) => {}
            Err(TryRecvError::Disconnected) => return Err(panicked(name, Some(thread))),
        }
        let now = Instant::now();
        if thread_state(tid) == Some('S') {
            if now.duration_since(*asleep_since.get_or_insert(now)) >= settle {
                return Ok(Started::Blocked(Pending {
                    tid,
                    fds,
                    rx,
                    thread: Some(thread),
                }));
            }
        } else {
            asleep_since = None;
        }
        if now >= deadline {
            return Err(HarnessError::NeverSlept(name.to_string()));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

impl Pending {
    /// Waits for the call to return, until the deadline.
    pub(crate) fn wait(&mut self, name: &str, deadline: Instant) -> Result<Observed, HarnessError> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(Msg::Done(o)) => {
                    if let Some(t) = self.thread.take() {
                        let _ = t.join();
                    }
                    return Ok(*o);
                }
                Ok(Msg::Tid(_)) => continue,
                Err(RecvTimeoutError::Timeout) => {
                    return Err(HarnessError::StillPending(name.to_string()))
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(panicked(name, self.thread.take()))
                }
            }
        }
    }

    /// At the end of a case: gives the call `grace` to return after its descriptors were shut
    /// down, then leaves the thread behind (the case process is about to exit).
    pub(crate) fn abandon(mut self, grace: Duration) {
        if let Ok(Msg::Done(_)) = self.rx.recv_timeout(grace) {
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
        }
    }
}
