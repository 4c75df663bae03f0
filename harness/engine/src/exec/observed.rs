//! What a call returned: its return value or errno and everything else it wrote (data,
//! addresses, descriptors, revents, option values, a hostent), as every family fills it in
//! and the renderer and the judge read it.

use std::os::fd::{OwnedFd, RawFd};
use std::time::Duration;

use super::addr::Addr;

/// A value `getsockopt` returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OptVal {
    Int(i64),
    Timeval(i64, i64),
    Linger(i32, i32),
    Ucred(i32, u32, u32),
}

/// A `struct hostent` copied out of the C library's static storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Hostent {
    pub name: Vec<u8>,
    pub aliases: Vec<Vec<u8>>,
    pub addrtype: i32,
    pub length: i32,
    pub addrs: Vec<Vec<u8>>,
}

/// What a resolver call gave: a hostent, or NULL with `h_errno`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Lookup {
    Found(Hostent),
    Null { h_errno: i32 },
}

/// Everything a call returned.
#[derive(Debug)]
pub(crate) struct Observed {
    /// The return value, or the errno of a failure.
    pub ret: Result<i64, i32>,
    /// Bytes received.
    pub data: Option<Vec<u8>>,
    /// The address a call wrote: getsockname/getpeername's result, accept/recvfrom/recvmsg's
    /// peer.
    pub addr: Option<Addr>,
    pub msg_flags: Option<i32>,
    /// Descriptors received with SCM_RIGHTS.
    pub rights: Vec<OwnedFd>,
    /// SCM_CREDENTIALS: pid, uid, gid.
    pub creds: Option<(i32, u32, u32)>,
    /// Descriptors the call created (socket, accept, dup, pipe, socketpair).
    pub new_fds: Vec<OwnedFd>,
    /// poll's revents per handle, in the order given.
    pub revents: Vec<(String, i16)>,
    /// select's rewritten read, write and except sets.
    pub sets: Option<[Vec<String>; 3]>,
    /// select's timeout as written back, in milliseconds.
    pub remaining_ms: Option<i64>,
    pub opt: Option<OptVal>,
    pub stat_mode: Option<u32>,
    /// Wall time of the call (of the whole loop for recv_exact, recv_until, send_all).
    pub took: Duration,
    /// A receive or send loop stopped at the case deadline: what it had done by then.
    pub timed_out: Option<String>,
    /// Something worth showing in the transcript.
    pub note: Option<String>,
    /// The address length accept wrote back into `*addrlen`.
    pub addrlen: Option<u32>,
    /// Every descriptor left in select's read, write and except sets after the call (named
    /// sets are rewritten from these).
    pub fd_sets: Option<[Vec<RawFd>; 3]>,
    /// `wait`: the signal that killed the process (its exit status is then meaningless).
    pub exit_signal: Option<i32>,
    /// What a resolver call returned: its hostent, or NULL and h_errno.
    pub lookup: Option<Lookup>,
}

impl Observed {
    pub(crate) fn new(ret: Result<i64, i32>) -> Observed {
        Observed {
            ret,
            data: None,
            addr: None,
            msg_flags: None,
            rights: Vec::new(),
            creds: None,
            new_fds: Vec::new(),
            revents: Vec::new(),
            sets: None,
            remaining_ms: None,
            opt: None,
            stat_mode: None,
            took: Duration::ZERO,
            timed_out: None,
            note: None,
            addrlen: None,
            fd_sets: None,
            exit_signal: None,
            lookup: None,
        }
    }
}
