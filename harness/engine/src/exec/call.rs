//! Performing one resolved call against the kernel and observing everything it returned.
//!
//! A [`Prepared`] call holds raw descriptor numbers and ready-made arguments, so it can run on
//! the main thread or on the thread of a `blocks` step. Descriptors stay owned by the handle
//! table; calls take raw `int`s as the C API does because a scenario may close a descriptor
//! while another thread is blocked on it, which no Rust borrow of the descriptor could
//! express. socket2 provides the address storage; the calls themselves are libc, one syscall
//! each, so no flag (`SOCK_CLOEXEC`, `MSG_NOSIGNAL`) is added behind the scenario's back.

use std::ffi::CString;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use socket2::SockAddr;

use super::addr::Addr;

/// Room for this many descriptors in one SCM_RIGHTS message received by `recvmsg`.
const MAX_RIGHTS: usize = 16;

/// How `recv(s, N)` and its relatives read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RecvHow {
    Recv,
    From,
    Msg,
    Read,
}

/// How a `getsockopt` value is laid out and read back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OptKind {
    Int,
    Timeval,
    Linger,
    Ucred,
    /// An int naming a constant of a category (`SO_TYPE` → `STREAM`, `SO_ERROR` → `EPIPE`).
    Named(sockspec_lang::symbols::Category),
}

/// A value `getsockopt` returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OptVal {
    Int(i64),
    Timeval(i64, i64),
    Linger(i32, i32),
    Ucred(i32, u32, u32),
}

/// A call with every argument resolved to what the syscall takes.
#[derive(Debug)]
pub(crate) enum Prepared {
    Socket {
        domain: i32,
        ty: i32,
        proto: i32,
    },
    Socketpair {
        domain: i32,
        ty: i32,
        proto: i32,
    },
    Pipe,
    Bind {
        fd: RawFd,
        addr: SockAddr,
    },
    Connect {
        fd: RawFd,
        addr: SockAddr,
    },
    Listen {
        fd: RawFd,
        backlog: i32,
    },
    /// `addrlen`: the length passed in `*addrlen`; `None` passes the whole storage.
    Accept {
        fd: RawFd,
        flags: i32,
        addrlen: Option<u32>,
    },
    Send {
        fd: RawFd,
        data: Vec<u8>,
        flags: i32,
        to: Option<SockAddr>,
    },
    Sendmsg {
        fd: RawFd,
        iov: Vec<Vec<u8>>,
        flags: i32,
        to: Option<SockAddr>,
        rights: Vec<RawFd>,
        creds: bool,
    },
    Recv {
        fd: RawFd,
        len: usize,
        flags: i32,
        how: RecvHow,
    },
    RecvExact {
        fd: RawFd,
        len: usize,
    },
    RecvUntil {
        fd: RawFd,
        delim: Vec<u8>,
        max: usize,
    },
    SendAll {
        fd: RawFd,
        data: Vec<u8>,
    },
    Write {
        fd: RawFd,
        data: Vec<u8>,
    },
    Shutdown {
        fd: RawFd,
        how: i32,
    },
    /// The runner has released the descriptor from its table; this call closes it.
    Close {
        fd: RawFd,
    },
    Dup {
        fd: RawFd,
    },
    Getsockname {
        fd: RawFd,
    },
    Getpeername {
        fd: RawFd,
    },
    Setsockopt {
        fd: RawFd,
        level: i32,
        opt: i32,
        value: Vec<u8>,
    },
    Getsockopt {
        fd: RawFd,
        level: i32,
        opt: i32,
        kind: OptKind,
    },
    Fcntl {
        fd: RawFd,
        cmd: i32,
        arg: i64,
    },
    Ioctl {
        fd: RawFd,
        req: u64,
        sets_value: bool,
    },
    Poll {
        fds: Vec<(String, RawFd, i16)>,
        timeout_ms: i32,
    },
    Select {
        sets: [Vec<(String, RawFd)>; 3],
        timeout: Option<(i64, i64)>,
        nfds: i32,
    },
    Sleep(Duration),
    SendRecv {
        fd: RawFd,
        data: Vec<u8>,
        len: usize,
    },
    SendUntilStalled {
        fd: RawFd,
        stall: Duration,
        max: usize,
    },
    ServerSignal {
        signal: i32,
        init_pid: i32,
    },
    ServerFact {
        fact: sockspec_lang::ServerFact,
        init_pid: i32,
        netns_pid: i32,
    },
    Unlink(CString),
    Stat(CString),
    Chmod(CString, u32),
    Touch(CString),
    /// A value known without a system call (`sizeof`, `constant`).
    Value(i64),
    Getservbyname(CString, CString),
    Getservbyport(i64, CString),
    Gethostname(usize),
    /// `dir_entries()`: the case's private directory.
    DirEntries(std::path::PathBuf),
    /// `wait(p)`: a spawned child.
    Wait {
        child: super::process::Target,
    },
    /// `kill(p, SIG)`.
    Kill {
        child: super::process::Target,
        sig: i32,
    },
    /// `children()`.
    Children,
    /// Host names, host ids, the hosts database and scratch files (`names.rs`).
    Names(super::names::NamesCall),
    /// `tc ARGS`, killed after `limit` (see `tc.rs`).
    Tc {
        args: Vec<String>,
        limit: Duration,
    },
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
    pub lookup: Option<super::names::Lookup>,
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

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn cvt(r: i64) -> Result<i64, i32> {
    if r == -1 {
        Err(errno())
    } else {
        Ok(r)
    }
}

/// Takes ownership of a descriptor the kernel just returned.
fn owned(fd: RawFd) -> OwnedFd {
    // SAFETY: `fd` was just returned by a successful syscall of this thread and nothing else
    // owns it yet.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// Runs the call; `deadline` bounds the engine's own loops, never the call itself.
pub(crate) fn perform(call: &Prepared, deadline: Instant) -> Observed {
    let start = Instant::now();
    let mut o = Observed::new(Ok(0));
    match call {
        Prepared::Socket { domain, ty, proto } => {
            // SAFETY: socket(2) takes plain integers.
            o.ret = cvt(unsafe { libc::socket(*domain, *ty, *proto) }.into());
            if let Ok(fd) = o.ret {
                o.new_fds.push(owned(fd as RawFd));
            }
        }
        Prepared::Socketpair { domain, ty, proto } => {
            let mut fds = [0 as RawFd; 2];
            // SAFETY: `fds` has room for the two descriptors socketpair(2) writes.
            o.ret = cvt(unsafe { libc::socketpair(*domain, *ty, *proto, fds.as_mut_ptr()) }.into());
            if o.ret.is_ok() {
                o.new_fds.extend(fds.map(owned));
            }
        }
        Prepared::Pipe => {
            let mut fds = [0 as RawFd; 2];
            // SAFETY: `fds` has room for the two descriptors pipe2(2) writes.
            o.ret = cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), 0) }.into());
            if o.ret.is_ok() {
                o.new_fds.extend(fds.map(owned));
            }
        }
        Prepared::Bind { fd, addr } => {
            // SAFETY: `addr` is a valid sockaddr of `addr.len()` bytes.
            o.ret = cvt(unsafe { libc::bind(*fd, addr.as_ptr().cast(), addr.len()) }.into());
        }
        Prepared::Connect { fd, addr } => {
            // SAFETY: `addr` is a valid sockaddr of `addr.len()` bytes.
            o.ret = cvt(unsafe { libc::connect(*fd, addr.as_ptr().cast(), addr.len()) }.into());
        }
        Prepared::Listen { fd, backlog } => {
            // SAFETY: listen(2) takes plain integers.
            o.ret = cvt(unsafe { libc::listen(*fd, *backlog) }.into());
        }
        Prepared::Accept { fd, flags, addrlen } => {
            let given = addrlen.unwrap_or(super::addrlen::STORAGE_LEN as u32);
            super::addrlen::accept(&mut o, *fd, *flags, given);
        }
        Prepared::Send {
            fd,
            data,
            flags,
            to,
        } => {
            o.ret = match to {
                // SAFETY: `data` is readable for its length.
                None => {
                    cvt(unsafe { libc::send(*fd, data.as_ptr().cast(), data.len(), *flags) } as i64)
                }
                Some(a) => cvt(
                    // SAFETY: `data` is readable for its length and `a` is a valid sockaddr.
                    unsafe {
                        libc::sendto(
                            *fd,
                            data.as_ptr().cast(),
                            data.len(),
                            *flags,
                            a.as_ptr().cast(),
                            a.len(),
                        )
                    } as i64,
                ),
            };
        }
        Prepared::Sendmsg {
            fd,
            iov,
            flags,
            to,
            rights,
            creds,
        } => {
            o.ret = sendmsg(*fd, iov, *flags, to.as_ref(), rights, *creds);
        }
        Prepared::Recv {
            fd,
            len,
            flags,
            how,
        } => recv(&mut o, *fd, *len, *flags, *how),
        Prepared::RecvExact { fd, len } => recv_loop(&mut o, *fd, *len, None, deadline),
        Prepared::RecvUntil { fd, delim, max } => {
            recv_loop(&mut o, *fd, *max, Some(delim), deadline)
        }
        Prepared::SendAll { fd, data } => send_all(&mut o, *fd, data, deadline),
        Prepared::SendRecv { fd, data, len } => send_recv(&mut o, *fd, data, *len, deadline),
        Prepared::SendUntilStalled { fd, stall, max } => {
            send_until_stalled(&mut o, *fd, *stall, *max, deadline)
        }
        Prepared::ServerFact {
            fact,
            init_pid,
            netns_pid,
        } => o.ret = Ok(server_fact(*fact, *init_pid, *netns_pid)),
        Prepared::ServerSignal { signal, init_pid } => {
            let tree = crate::grade::procfs::Tree::of_init(*init_pid);
            let mut n = 0;
            for p in tree.live() {
                // SAFETY: kill takes plain integers; the pids belong to the server's sandbox.
                if unsafe { libc::kill(p.pid, *signal) } == 0 {
                    n += 1;
                }
            }
            o.ret = Ok(n);
        }
        Prepared::Write { fd, data } => {
            // SAFETY: `data` is readable for its length.
            o.ret = cvt(unsafe { libc::write(*fd, data.as_ptr().cast(), data.len()) } as i64);
        }
        Prepared::Shutdown { fd, how } => {
            // SAFETY: shutdown(2) takes plain integers.
            o.ret = cvt(unsafe { libc::shutdown(*fd, *how) }.into());
        }
        Prepared::Close { fd } => {
            // SAFETY: the runner released ownership of `fd` to this call; it is closed once.
            o.ret = cvt(unsafe { libc::close(*fd) }.into());
        }
        Prepared::Dup { fd } => {
            // SAFETY: dup(2) takes a plain integer.
            o.ret = cvt(unsafe { libc::dup(*fd) }.into());
            if let Ok(new) = o.ret {
                o.new_fds.push(owned(new as RawFd));
            }
        }
        Prepared::Getsockname { fd } | Prepared::Getpeername { fd } => {
            let peer = matches!(call, Prepared::Getpeername { .. });
            let (ret, a) = with_addr(|sa, len| {
                // SAFETY: `sa` and `len` describe writable address storage.
                unsafe {
                    if peer {
                        libc::getpeername(*fd, sa, len)
                    } else {
                        libc::getsockname(*fd, sa, len)
                    }
                }
                .into()
            });
            o.ret = ret;
            if o.ret.is_ok() {
                o.addr = Some(a);
            }
        }
        Prepared::Setsockopt {
            fd,
            level,
            opt,
            value,
        } => {
            o.ret = cvt(
                // SAFETY: `value` is readable for its length.
                unsafe {
                    libc::setsockopt(
                        *fd,
                        *level,
                        *opt,
                        value.as_ptr().cast(),
                        value.len() as libc::socklen_t,
                    )
                }
                .into(),
            );
        }
        Prepared::Getsockopt {
            fd,
            level,
            opt,
            kind,
        } => getsockopt(&mut o, *fd, *level, *opt, *kind),
        Prepared::Fcntl { fd, cmd, arg } => {
            // SAFETY: the commands the language allows take an int argument or none.
            o.ret = cvt(unsafe { libc::fcntl(*fd, *cmd, *arg as libc::c_int) }.into());
        }
        Prepared::Ioctl {
            fd,
            req,
            sets_value,
        } => {
            let mut v: libc::c_int = i32::from(*sets_value);
            // SAFETY: every request the language allows reads or writes one int at `&mut v`.
            let r = cvt(unsafe { libc::ioctl(*fd, *req as _, &mut v) }.into());
            o.ret = r.map(|r| if *sets_value { r } else { v.into() });
        }
        Prepared::Poll { fds, timeout_ms } => {
            let mut pfds: Vec<libc::pollfd> = fds
                .iter()
                .map(|(_, fd, ev)| libc::pollfd {
                    fd: *fd,
                    events: *ev,
                    revents: 0,
                })
                .collect();
            // SAFETY: `pfds` is a valid array of `pfds.len()` pollfd structures.
            o.ret = cvt(unsafe {
                libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, *timeout_ms)
            }
            .into());
            o.revents = fds
                .iter()
                .zip(&pfds)
                .map(|((name, _, _), p)| (name.clone(), p.revents))
                .collect();
        }
        Prepared::Select {
            sets,
            timeout,
            nfds,
        } => select(&mut o, sets, *timeout, *nfds),
        Prepared::Sleep(d) => std::thread::sleep(*d),
        Prepared::Unlink(p) => {
            // SAFETY: `p` is a NUL-terminated path.
            o.ret = cvt(unsafe { libc::unlink(p.as_ptr()) }.into());
        }
        Prepared::Stat(p) => {
            // SAFETY: an all-zero `stat` is a valid value for the kernel to overwrite.
            let mut st: libc::stat = unsafe { std::mem::zeroed() };
            // SAFETY: `p` is a NUL-terminated path and `st` is writable.
            o.ret = cvt(unsafe { libc::stat(p.as_ptr(), &mut st) }.into());
            if o.ret.is_ok() {
                o.stat_mode = Some(st.st_mode);
            }
        }
        Prepared::Value(v) => o.ret = Ok(*v),
        Prepared::Getservbyname(name, proto) => {
            // SAFETY: both are NUL-terminated; the result points into libc's static storage
            // and is read before any other netdb call.
            let ent = unsafe { libc::getservbyname(name.as_ptr(), proto.as_ptr()) };
            o.ret = if ent.is_null() {
                Err(libc::ENOENT)
            } else {
                // SAFETY: `ent` is a valid servent; s_port is in network byte order.
                Ok(i64::from(u16::from_be(unsafe { (*ent).s_port } as u16)))
            };
        }
        Prepared::Getservbyport(port, proto) => {
            let net = i32::from((*port as u16).to_be());
            // SAFETY: `proto` is NUL-terminated; the result is read at once.
            let ent = unsafe { libc::getservbyport(net, proto.as_ptr()) };
            if ent.is_null() {
                o.ret = Err(libc::ENOENT);
            } else {
                // SAFETY: s_name is a NUL-terminated string in libc's static storage.
                let name = unsafe { std::ffi::CStr::from_ptr((*ent).s_name) }
                    .to_bytes()
                    .to_vec();
                o.ret = Ok(name.len() as i64);
                o.data = Some(name);
            }
        }
        Prepared::Gethostname(len) => {
            let mut buf = vec![0u8; *len];
            // SAFETY: `buf` is valid for writes of `len` bytes.
            let r = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
            o.ret = cvt(i64::from(r)).map(|_| {
                let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
                buf.truncate(end);
                end as i64
            });
            if o.ret.is_ok() {
                o.data = Some(buf);
            }
        }
        Prepared::DirEntries(dir) => match std::fs::read_dir(dir) {
            Ok(entries) => {
                let mut names: Vec<String> = entries
                    .filter_map(Result::ok)
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect();
                names.sort();
                o.ret = Ok(names.len() as i64);
                o.note = Some(format!("entries: [{}]", names.join(", ")));
            }
            Err(e) => o.ret = Err(e.raw_os_error().unwrap_or(libc::EIO)),
        },
        Prepared::Wait { child } => super::process::wait(&mut o, *child, deadline),
        Prepared::Kill { child, sig } => super::process::kill(&mut o, *child, *sig),
        Prepared::Children => super::process::children(&mut o),
        Prepared::Chmod(p, mode) => {
            // SAFETY: `p` is a NUL-terminated path.
            o.ret = cvt(unsafe { libc::chmod(p.as_ptr(), *mode as libc::mode_t) }.into());
        }
        Prepared::Touch(p) => {
            let flags = libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC;
            // SAFETY: `p` is a NUL-terminated path; O_CREAT takes the mode argument.
            o.ret = cvt(unsafe { libc::open(p.as_ptr(), flags, 0o644 as libc::c_uint) }.into())
                .map(|fd| {
                    drop(owned(fd as RawFd));
                    0
                });
        }
        Prepared::Names(c) => super::names::perform(c, &mut o),
        Prepared::Tc { args, limit } => o = super::tc::run(args, *limit, deadline),
    }
    o.took = start.elapsed();
    o
}

/// Calls `f` with writable address storage and returns its result with the decoded address.
fn with_addr(
    f: impl FnOnce(*mut libc::sockaddr, *mut libc::socklen_t) -> i64,
) -> (Result<i64, i32>, Addr) {
    let mut ret = Ok(0);
    // SAFETY: `try_init` hands the closure zeroed storage and its length; the closure passes
    // them to a syscall that writes at most that many bytes and updates the length.
    let res = unsafe {
        SockAddr::try_init(|sa, len| {
            ret = cvt(f(sa.cast(), len));
            Ok(())
        })
    };
    match res {
        Ok(((), addr)) => (ret, Addr::decode(&addr)),
        Err(e) => (Err(e.raw_os_error().unwrap_or(0)), Addr::None),
    }
}

fn recv(o: &mut Observed, fd: RawFd, len: usize, flags: i32, how: RecvHow) {
    let mut buf = vec![0u8; len];
    let ptr = buf.as_mut_ptr().cast();
    match how {
        RecvHow::Recv => {
            // SAFETY: `buf` is writable for `len` bytes.
            o.ret = cvt(unsafe { libc::recv(fd, ptr, len, flags) } as i64);
        }
        RecvHow::Read => {
            // SAFETY: `buf` is writable for `len` bytes.
            o.ret = cvt(unsafe { libc::read(fd, ptr, len) } as i64);
        }
        RecvHow::From => {
            let (ret, a) = with_addr(|sa, alen| {
                // SAFETY: `buf` is writable for `len` bytes; `sa`/`alen` describe storage.
                unsafe { libc::recvfrom(fd, ptr, len, flags, sa, alen) as i64 }
            });
            o.ret = ret;
            if ret.is_ok() {
                o.addr = Some(a);
            }
        }
        RecvHow::Msg => {
            recvmsg(o, fd, &mut buf, flags);
        }
    }
    if let Ok(n) = o.ret {
        buf.truncate((n as usize).min(len));
        o.data = Some(buf);
    }
}

/// A control buffer aligned for `cmsghdr`.
fn cmsg_buffer(bytes: usize) -> Vec<u64> {
    vec![0u64; bytes.div_ceil(8)]
}

fn recvmsg(o: &mut Observed, fd: RawFd, buf: &mut [u8], flags: i32) {
    // SAFETY: CMSG_SPACE only computes a size.
    let space = unsafe {
        libc::CMSG_SPACE((MAX_RIGHTS * std::mem::size_of::<RawFd>()) as u32)
            + libc::CMSG_SPACE(std::mem::size_of::<libc::ucred>() as u32)
    } as usize;
    let mut control = cmsg_buffer(space);
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let mut msg_flags = 0;
    let mut controllen = 0;
    let (ret, addr) = with_addr(|sa, alen| {
        // SAFETY: an all-zero msghdr is valid; every pointer set below outlives the call.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_name = sa.cast();
        // SAFETY: `alen` points at the storage length set by `try_init`.
        msg.msg_namelen = unsafe { *alen };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = space as _;
        // SAFETY: `msg` describes valid, writable name, data and control buffers.
        let r = unsafe { libc::recvmsg(fd, &mut msg, flags) } as i64;
        // SAFETY: as above, `alen` is writable.
        unsafe { *alen = msg.msg_namelen };
        msg_flags = msg.msg_flags;
        controllen = msg.msg_controllen as usize;
        r
    });
    o.ret = ret;
    if ret.is_err() {
        return;
    }
    o.addr = Some(addr);
    o.msg_flags = Some(msg_flags);
    // SAFETY: an all-zero msghdr is valid; it only frames the control bytes for the CMSG_*
    // macros, which stay inside `controllen` bytes of `control`.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = controllen as _;
    // SAFETY: see above.
    let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(&msg) };
    while !cmsg.is_null() {
        // SAFETY: CMSG_FIRSTHDR/NXTHDR only return headers inside the control buffer.
        let hdr = unsafe { &*cmsg };
        // SAFETY: CMSG_DATA points inside the same message; CMSG_LEN only computes a size.
        let (data, header) = unsafe { (libc::CMSG_DATA(cmsg), libc::CMSG_LEN(0) as usize) };
        let payload = (hdr.cmsg_len as usize).saturating_sub(header);
        if hdr.cmsg_level == libc::SOL_SOCKET && hdr.cmsg_type == libc::SCM_RIGHTS {
            for i in 0..payload / std::mem::size_of::<RawFd>() {
                // SAFETY: the kernel wrote `payload` bytes of descriptors at `data`, which
                // may be unaligned.
                let fd = unsafe { data.cast::<RawFd>().add(i).read_unaligned() };
                o.rights.push(owned(fd));
            }
        } else if hdr.cmsg_level == libc::SOL_SOCKET
            && hdr.cmsg_type == libc::SCM_CREDENTIALS
            && payload >= std::mem::size_of::<libc::ucred>()
        {
            // SAFETY: the kernel wrote a whole ucred at `data`, possibly unaligned.
            let c = unsafe { data.cast::<libc::ucred>().read_unaligned() };
            o.creds = Some((c.pid, c.uid, c.gid));
        }
        // SAFETY: `msg` and `cmsg` describe the same control buffer.
        cmsg = unsafe { libc::CMSG_NXTHDR(&msg, cmsg) };
    }
}

fn sendmsg(
    fd: RawFd,
    iov: &[Vec<u8>],
    flags: i32,
    to: Option<&SockAddr>,
    rights: &[RawFd],
    creds: bool,
) -> Result<i64, i32> {
    let mut iovecs: Vec<libc::iovec> = iov
        .iter()
        .map(|b| libc::iovec {
            iov_base: b.as_ptr() as *mut _,
            iov_len: b.len(),
        })
        .collect();
    let rights_bytes = std::mem::size_of_val(rights);
    let cred_bytes = std::mem::size_of::<libc::ucred>();
    // SAFETY: CMSG_SPACE only computes a size.
    let space = unsafe {
        (if rights.is_empty() {
            0
        } else {
            libc::CMSG_SPACE(rights_bytes as u32)
        }) + if creds {
            libc::CMSG_SPACE(cred_bytes as u32)
        } else {
            0
        }
    } as usize;
    let mut control = cmsg_buffer(space.max(1));
    // SAFETY: an all-zero msghdr is valid; every pointer set below outlives the call.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    if let Some(a) = to {
        msg.msg_name = a.as_ptr() as *mut _;
        msg.msg_namelen = a.len();
    }
    msg.msg_iov = iovecs.as_mut_ptr();
    msg.msg_iovlen = iovecs.len() as _;
    if space > 0 {
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = space as _;
        // SAFETY: the control buffer holds `space` bytes, room for the headers and payloads
        // written below, and CMSG_* stay inside it.
        unsafe {
            let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
            if !rights.is_empty() {
                (*cmsg).cmsg_level = libc::SOL_SOCKET;
                (*cmsg).cmsg_type = libc::SCM_RIGHTS;
                (*cmsg).cmsg_len = libc::CMSG_LEN(rights_bytes as u32) as _;
                std::ptr::copy_nonoverlapping(
                    rights.as_ptr().cast::<u8>(),
                    libc::CMSG_DATA(cmsg),
                    rights_bytes,
                );
                cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
            }
            if creds {
                let c = libc::ucred {
                    pid: libc::getpid(),
                    uid: libc::getuid(),
                    gid: libc::getgid(),
                };
                (*cmsg).cmsg_level = libc::SOL_SOCKET;
                (*cmsg).cmsg_type = libc::SCM_CREDENTIALS;
                (*cmsg).cmsg_len = libc::CMSG_LEN(cred_bytes as u32) as _;
                libc::CMSG_DATA(cmsg)
                    .cast::<libc::ucred>()
                    .write_unaligned(c);
            }
        }
    }
    // SAFETY: `msg` describes valid name, data and control buffers.
    cvt(unsafe { libc::sendmsg(fd, &msg, flags) } as i64)
}

/// Waits until `fd` reports one of `events` or the deadline passes; `Ok(false)` on timeout.
fn wait_fd(fd: RawFd, events: i16, deadline: Instant) -> Result<bool, i32> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(false);
        }
        let ms = left.as_millis().clamp(1, i32::MAX as u128) as i32;
        let mut p = libc::pollfd {
            fd,
            events,
            revents: 0,
        };
        // SAFETY: `p` is one valid pollfd.
        match cvt(unsafe { libc::poll(&mut p, 1, ms) }.into()) {
            Ok(0) => continue,
            Ok(_) => return Ok(true),
            Err(libc::EINTR) => continue,
            Err(e) => return Err(e),
        }
    }
}

/// `recv_exact(s, LEN)` (no delimiter) and `recv_until(s, DELIM, MAX)`: each read waits with
/// poll for what is left of the case deadline and then reads without blocking, so a peer that
/// stops sending ends the loop cleanly instead of hanging the case.
fn recv_loop(o: &mut Observed, fd: RawFd, max: usize, delim: Option<&Vec<u8>>, deadline: Instant) {
    let mut got: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; max.max(1)];
    let done = |got: &[u8]| match delim {
        Some(d) => got.len() >= max || (!d.is_empty() && got.ends_with(d)),
        None => got.len() >= max,
    };
    while !done(&got) {
        match wait_fd(fd, libc::POLLIN, deadline) {
            Ok(true) => {}
            Ok(false) => {
                o.timed_out = Some(format!("timed out after {} of {max} bytes", got.len()));
                break;
            }
            Err(e) => {
                o.ret = Err(e);
                o.data = Some(got);
                return;
            }
        }
        let want = match delim {
            // Peek first, so the read consumes nothing past the delimiter.
            Some(d) => {
                let room = max - got.len();
                // SAFETY: `buf` is writable for at least `room` bytes.
                let peeked = unsafe {
                    libc::recv(
                        fd,
                        buf.as_mut_ptr().cast(),
                        room,
                        libc::MSG_PEEK | libc::MSG_DONTWAIT,
                    )
                };
                if peeked <= 0 {
                    room
                } else {
                    let peeked = peeked as usize;
                    let from = got.len().saturating_sub(d.len().saturating_sub(1));
                    let mut joined = got[from..].to_vec();
                    joined.extend_from_slice(&buf[..peeked]);
                    match joined
                        .windows(d.len().max(1))
                        .position(|w| w == d.as_slice())
                    {
                        Some(p) if !d.is_empty() => p + d.len() - (got.len() - from),
                        _ => peeked,
                    }
                }
            }
            None => max - got.len(),
        };
        // SAFETY: `buf` is writable for at least `want` bytes.
        let r = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), want, libc::MSG_DONTWAIT) };
        match cvt(r as i64) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n as usize]),
            Err(libc::EAGAIN | libc::EINTR) => continue,
            Err(e) => {
                o.ret = Err(e);
                o.data = Some(got);
                return;
            }
        }
    }
    o.ret = Ok(got.len() as i64);
    o.data = Some(got);
}

/// `send_all(s, DATA)`: each write waits with poll for what is left of the case deadline and
/// then sends what the socket takes without blocking.
fn send_all(o: &mut Observed, fd: RawFd, data: &[u8], deadline: Instant) {
    let mut sent = 0usize;
    while sent < data.len() {
        match wait_fd(fd, libc::POLLOUT, deadline) {
            Ok(true) => {}
            Ok(false) => {
                o.timed_out = Some(format!("timed out after {sent} of {} bytes", data.len()));
                break;
            }
            Err(e) => {
                o.ret = Err(e);
                return;
            }
        }
        let rest = &data[sent..];
        // SAFETY: `rest` is readable for its length.
        let r = unsafe { libc::send(fd, rest.as_ptr().cast(), rest.len(), libc::MSG_DONTWAIT) };
        match cvt(r as i64) {
            Ok(n) => sent += n as usize,
            Err(libc::EAGAIN | libc::EINTR) => continue,
            Err(e) => {
                o.ret = Err(e);
                o.note = Some(format!("{sent} bytes were sent before the error"));
                return;
            }
        }
    }
    o.ret = Ok(sent as i64);
}

fn getsockopt(o: &mut Observed, fd: RawFd, level: i32, opt: i32, kind: OptKind) {
    let mut buf = [0u64; 4];
    let mut len: libc::socklen_t = match kind {
        OptKind::Int | OptKind::Named(_) => std::mem::size_of::<libc::c_int>(),
        OptKind::Timeval => std::mem::size_of::<libc::timeval>(),
        OptKind::Linger => std::mem::size_of::<libc::linger>(),
        OptKind::Ucred => std::mem::size_of::<libc::ucred>(),
    } as libc::socklen_t;
    // SAFETY: `buf` is 32 aligned bytes, more than any of the structures above.
    o.ret =
        cvt(unsafe { libc::getsockopt(fd, level, opt, buf.as_mut_ptr().cast(), &mut len) }.into());
    if o.ret.is_err() {
        return;
    }
    let p = buf.as_ptr();
    // SAFETY: `buf` is aligned for every type read and holds what the kernel wrote (zeroes
    // past a short write).
    o.opt = Some(unsafe {
        match kind {
            OptKind::Int | OptKind::Named(_) => OptVal::Int(p.cast::<libc::c_int>().read().into()),
            OptKind::Timeval => {
                let tv = p.cast::<libc::timeval>().read();
                OptVal::Timeval(tv.tv_sec, tv.tv_usec)
            }
            OptKind::Linger => {
                let l = p.cast::<libc::linger>().read();
                OptVal::Linger(l.l_onoff, l.l_linger)
            }
            OptKind::Ucred => {
                let c = p.cast::<libc::ucred>().read();
                OptVal::Ucred(c.pid, c.uid, c.gid)
            }
        }
    });
}

fn select(
    o: &mut Observed,
    sets: &[Vec<(String, RawFd)>; 3],
    timeout: Option<(i64, i64)>,
    nfds: i32,
) {
    // SAFETY: an all-zero fd_set is an empty set.
    let mut fdsets: [libc::fd_set; 3] = unsafe { std::mem::zeroed() };
    for (set, entries) in fdsets.iter_mut().zip(sets) {
        for (_, fd) in entries {
            // SAFETY: the runner only passes descriptors below FD_SETSIZE.
            unsafe { libc::FD_SET(*fd, set) };
        }
    }
    let mut tv = timeout.map(|(s, us)| libc::timeval {
        tv_sec: s,
        tv_usec: us,
    });
    let tvp = tv
        .as_mut()
        .map_or(std::ptr::null_mut(), |t| t as *mut libc::timeval);
    let [r, w, e] = &mut fdsets;
    // SAFETY: the three sets and the optional timeval are valid and writable.
    o.ret = cvt(unsafe { libc::select(nfds, r, w, e, tvp) }.into());
    if let Some(t) = tv {
        o.remaining_ms = Some(t.tv_sec * 1000 + t.tv_usec / 1000);
    }
    if o.ret.is_ok() {
        o.fd_sets = Some(std::array::from_fn(|i| super::fdset::members(&fdsets[i])));
        o.sets = Some(std::array::from_fn(|i| {
            sets[i]
                .iter()
                // SAFETY: `fd` is below FD_SETSIZE and the set is initialised.
                .filter(|(_, fd)| unsafe { libc::FD_ISSET(*fd, &fdsets[i]) })
                .map(|(name, _)| name.clone())
                .collect()
        }));
    }
}

/// `sendrecv(s, DATA, LEN)`: one poll loop that writes while it reads, so a peer that echoes
/// as it reads (an iterative echo server) never blocks on a full send buffer while the
/// client blocks on sending. Ends when DATA is sent and LEN bytes came back, at EOF, or at
/// the case deadline.
fn send_recv(o: &mut Observed, fd: RawFd, data: &[u8], len: usize, deadline: Instant) {
    let mut sent = 0usize;
    let mut got: Vec<u8> = Vec::with_capacity(len);
    let mut buf = vec![0u8; 64 * 1024];
    while got.len() < len {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            o.timed_out = Some(format!(
                "timed out after sending {sent} of {} bytes and receiving {} of {len}",
                data.len(),
                got.len()
            ));
            break;
        }
        let mut events = libc::POLLIN;
        if sent < data.len() {
            events |= libc::POLLOUT;
        }
        let mut p = libc::pollfd {
            fd,
            events,
            revents: 0,
        };
        let ms = left.as_millis().clamp(1, i32::MAX as u128) as i32;
        // SAFETY: `p` is one valid pollfd.
        match cvt(unsafe { libc::poll(&mut p, 1, ms) }.into()) {
            Ok(0) | Err(libc::EINTR) => continue,
            Ok(_) => {}
            Err(e) => {
                o.ret = Err(e);
                o.data = Some(got);
                return;
            }
        }
        if sent < data.len() && p.revents & (libc::POLLOUT | libc::POLLERR) != 0 {
            let rest = &data[sent..];
            // SAFETY: `rest` is readable for its length.
            let r = unsafe {
                libc::send(
                    fd,
                    rest.as_ptr().cast(),
                    rest.len(),
                    libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
                )
            };
            match cvt(r as i64) {
                Ok(n) => sent += n as usize,
                Err(libc::EAGAIN | libc::EINTR) => {}
                Err(e) => {
                    o.ret = Err(e);
                    o.note = Some(format!("{sent} bytes were sent before the error"));
                    o.data = Some(got);
                    return;
                }
            }
        }
        if p.revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 {
            let want = (len - got.len()).min(buf.len());
            // SAFETY: `buf` is writable for at least `want` bytes.
            let r = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), want, libc::MSG_DONTWAIT) };
            match cvt(r as i64) {
                Ok(0) => break,
                Ok(n) => got.extend_from_slice(&buf[..n as usize]),
                Err(libc::EAGAIN | libc::EINTR) => {}
                Err(e) => {
                    o.ret = Err(e);
                    o.note = Some(format!("{sent} bytes were sent before the error"));
                    o.data = Some(got);
                    return;
                }
            }
        }
    }
    if sent < data.len() && o.timed_out.is_none() {
        o.note = Some(format!("only {sent} of {} bytes were sent", data.len()));
    }
    o.ret = Ok(got.len() as i64);
    o.data = Some(got);
}

/// `send_until_stalled(s, STALL, MAX)`: sends the pattern stream without reading until no
/// byte could be sent for STALL (the peer stopped reading and every buffer between is
/// full), MAX bytes went out, or the case deadline.
fn send_until_stalled(o: &mut Observed, fd: RawFd, stall: Duration, max: usize, deadline: Instant) {
    let chunk = super::bytes::pattern(64 * 1024);
    let mut sent = 0usize;
    let mut last_progress = Instant::now();
    while sent < max {
        let now = Instant::now();
        if now >= deadline {
            o.timed_out = Some(format!("still sending at the deadline after {sent} bytes"));
            break;
        }
        let until = (last_progress + stall).min(deadline);
        if now >= last_progress + stall {
            break;
        }
        let ms = until
            .saturating_duration_since(now)
            .as_millis()
            .clamp(1, i32::MAX as u128) as i32;
        let mut p = libc::pollfd {
            fd,
            events: libc::POLLOUT,
            revents: 0,
        };
        // SAFETY: `p` is one valid pollfd.
        match cvt(unsafe { libc::poll(&mut p, 1, ms) }.into()) {
            Ok(0) | Err(libc::EINTR) => continue,
            Ok(_) => {}
            Err(e) => {
                o.ret = Err(e);
                return;
            }
        }
        let n = chunk.len().min(max - sent);
        // SAFETY: `chunk` is readable for `n` bytes.
        let r = unsafe {
            libc::send(
                fd,
                chunk.as_ptr().cast(),
                n,
                libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
            )
        };
        match cvt(r as i64) {
            Ok(k) if k > 0 => {
                sent += k as usize;
                last_progress = Instant::now();
            }
            Ok(_) | Err(libc::EAGAIN | libc::EINTR) => {}
            Err(e) => {
                o.ret = Err(e);
                o.note = Some(format!("{sent} bytes were sent before the error"));
                return;
            }
        }
    }
    o.ret = Ok(sent as i64);
}

/// The descriptor count of the last `server_fact(fds)`, for `fd_growth`.
static LAST_FDS: std::sync::Mutex<Option<i64>> = std::sync::Mutex::new(None);

fn server_fact(fact: sockspec_lang::ServerFact, init: i32, netns: i32) -> i64 {
    use sockspec_lang::ServerFact as F;
    let s = crate::grade::procfs::snapshot(init, netns);
    let n = |v: usize| v as i64;
    match fact {
        F::Alive => i64::from(s.alive),
        F::Processes => n(s.processes),
        F::Threads => n(s.threads),
        F::Children => n(s.children),
        F::Zombies => n(s.zombies),
        F::Fds => {
            if let Ok(mut last) = LAST_FDS.lock() {
                *last = Some(n(s.fds));
            }
            n(s.fds)
        }
        F::FdGrowth => {
            let base = LAST_FDS.lock().ok().and_then(|l| *l).unwrap_or(0);
            n(s.fds) - base
        }
        F::CloseWait => n(s.close_wait),
        F::ListenersInChildren => n(s.listeners_in_children),
    }
}
