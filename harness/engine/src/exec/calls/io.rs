//! Moving bytes: `send`, `sendto`, `sendmsg` (with SCM_RIGHTS and SCM_CREDENTIALS), `recv`,
//! `recvfrom`, `recvmsg`, `read`, `write`, and the engine's loops `recv_exact`, `recv_until`,
//! `send_all`, `sendrecv` and `send_until_stalled`, which wait with poll and never past the
//! case deadline.

use std::os::fd::RawFd;
use std::time::{Duration, Instant};

use socket2::SockAddr;
use sockspec_lang::symbols::Category;
use sockspec_lang::{AddrExpr, Op};

use crate::exec::addr::AddrStyle;
use crate::exec::bytes::{describe, materialize};
use crate::exec::observed::Observed;
use crate::exec::resolve::{duration_text, flags, flags_written, payload_text};
use crate::exec::resolve::{wrong_family, Resolver};
use crate::exec::sys::{cvt, owned, with_addr};
use crate::exec::HarnessError;

/// A call of this family with every argument resolved to what the syscall takes.
#[derive(Debug)]
pub(crate) enum Call {
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
}

impl Call {
    /// The descriptors the call waits on, so the end of a case can wake it when it blocks.
    pub(crate) fn fds(&self) -> Vec<RawFd> {
        match self {
            Call::Send { fd, .. }
            | Call::Sendmsg { fd, .. }
            | Call::Recv { fd, .. }
            | Call::RecvExact { fd, .. }
            | Call::RecvUntil { fd, .. }
            | Call::SendAll { fd, .. }
            | Call::Write { fd, .. } => vec![*fd],
            _ => Vec::new(),
        }
    }
}

/// Resolves a call of this family; its transcript text comes with it.
pub(crate) fn prepare(
    r: &Resolver,
    op: &Op,
    h: &mut Vec<String>,
) -> Result<(Call, String), HarnessError> {
    Ok(match op {
        Op::Send {
            sock,
            data,
            flags: f,
        } => {
            let (fd, s) = r.fd(sock, h)?;
            let call = Call::Send {
                fd,
                data: materialize(data),
                flags: flags(Category::MsgFlag, f)? as i32,
                to: None,
            };
            (
                call,
                format!("send({s}, {}, {})", payload_text(data), flags_written(f)),
            )
        }
        Op::Sendto {
            sock,
            data,
            flags: f,
            addr,
        } => {
            let (fd, s) = r.fd(sock, h)?;
            let (to, at) = match addr {
                AddrExpr::Null => (None, "NULL".to_string()),
                other => {
                    let (sa, at) = r.sockaddr(other)?;
                    (Some(sa), at)
                }
            };
            let call = Call::Send {
                fd,
                data: materialize(data),
                flags: flags(Category::MsgFlag, f)? as i32,
                to,
            };
            (
                call,
                format!(
                    "sendto({s}, {}, {}, {at})",
                    payload_text(data),
                    flags_written(f)
                ),
            )
        }
        Op::Sendmsg {
            sock,
            iov,
            flags: f,
            addr,
            rights,
            creds,
        } => {
            let (fd, s) = r.fd(sock, h)?;
            let mut text = format!(
                "sendmsg({s}, [{}], {}",
                iov.iter().map(payload_text).collect::<Vec<_>>().join(", "),
                flags_written(f)
            );
            let to = match addr {
                Some(a) => {
                    let (sa, at) = r.sockaddr(a)?;
                    text.push_str(&format!(", to={at}"));
                    Some(sa)
                }
                None => None,
            };
            let mut fds = Vec::new();
            let mut shown = Vec::new();
            for right in rights {
                let (fd, t) = r.fd(right, h)?;
                fds.push(fd);
                shown.push(t);
            }
            if !rights.is_empty() {
                text.push_str(&format!(", rights=[{}]", shown.join(", ")));
            }
            if *creds {
                text.push_str(", creds");
            }
            text.push(')');
            let call = Call::Sendmsg {
                fd,
                iov: iov.iter().map(materialize).collect(),
                flags: flags(Category::MsgFlag, f)? as i32,
                to,
                rights: fds,
                creds: *creds,
            };
            (call, text)
        }
        _ => return prepare_rest(r, op, h),
    })
}

/// The rest of [`prepare`]: the receive calls, `write` and the engine's loops.
fn prepare_rest(
    r: &Resolver,
    op: &Op,
    h: &mut Vec<String>,
) -> Result<(Call, String), HarnessError> {
    Ok(match op {
        Op::Recv {
            sock,
            len,
            flags: f,
        }
        | Op::Recvfrom {
            sock,
            len,
            flags: f,
        }
        | Op::Recvmsg {
            sock,
            len,
            flags: f,
        } => {
            let (fd, s) = r.fd(sock, h)?;
            let (how, name) = match op {
                Op::Recv { .. } => (RecvHow::Recv, "recv"),
                Op::Recvfrom { .. } => (RecvHow::From, "recvfrom"),
                _ => (RecvHow::Msg, "recvmsg"),
            };
            let call = Call::Recv {
                fd,
                len: *len as usize,
                flags: flags(Category::MsgFlag, f)? as i32,
                how,
            };
            (call, format!("{name}({s}, {len}, {})", flags_written(f)))
        }
        Op::Read { fd: id, len } => {
            let (fd, s) = r.fd(id, h)?;
            (
                Call::Recv {
                    fd,
                    len: *len as usize,
                    flags: 0,
                    how: RecvHow::Read,
                },
                format!("read({s}, {len})"),
            )
        }
        Op::RecvExact { sock, len } => {
            let (fd, s) = r.fd(sock, h)?;
            (
                Call::RecvExact {
                    fd,
                    len: *len as usize,
                },
                format!("recv_exact({s}, {len})"),
            )
        }
        Op::RecvUntil { sock, delim, max } => {
            let (fd, s) = r.fd(sock, h)?;
            let text = format!("recv_until({s}, {}, {max})", payload_text(delim));
            (
                Call::RecvUntil {
                    fd,
                    delim: materialize(delim),
                    max: *max as usize,
                },
                text,
            )
        }
        Op::SendAll { sock, data } => {
            let (fd, s) = r.fd(sock, h)?;
            (
                Call::SendAll {
                    fd,
                    data: materialize(data),
                },
                format!("send_all({s}, {})", payload_text(data)),
            )
        }
        Op::Write { fd: id, data } => {
            let (fd, s) = r.fd(id, h)?;
            (
                Call::Write {
                    fd,
                    data: materialize(data),
                },
                format!("write({s}, {})", payload_text(data)),
            )
        }
        Op::SendRecv { sock, data, len } => {
            let (fd, s) = r.fd(sock, h)?;
            (
                Call::SendRecv {
                    fd,
                    data: materialize(data),
                    len: *len as usize,
                },
                format!("sendrecv({s}, {}, {len})", payload_text(data)),
            )
        }
        Op::SendUntilStalled { sock, stall, max } => {
            let (fd, s) = r.fd(sock, h)?;
            // Like `sleep`, a stall is a settle wait: a slow machine gets more of it.
            let scaled = stall.mul_f64(r.ctx.time_scale.max(1.0));
            (
                Call::SendUntilStalled {
                    fd,
                    stall: scaled,
                    max: *max as usize,
                },
                format!("send_until_stalled({s}, {}, {max})", duration_text(*stall)),
            )
        }
        _ => return Err(wrong_family(op, "io")),
    })
}

/// Runs the call; `deadline` bounds the engine's own loops, never the call itself.
pub(crate) fn perform(call: &Call, o: &mut Observed, deadline: Instant) {
    match call {
        Call::Send {
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
        Call::Sendmsg {
            fd,
            iov,
            flags,
            to,
            rights,
            creds,
        } => {
            o.ret = sendmsg(*fd, iov, *flags, to.as_ref(), rights, *creds);
        }
        Call::Recv {
            fd,
            len,
            flags,
            how,
        } => recv(o, *fd, *len, *flags, *how),
        Call::RecvExact { fd, len } => recv_loop(o, *fd, *len, None, deadline),
        Call::RecvUntil { fd, delim, max } => recv_loop(o, *fd, *max, Some(delim), deadline),
        Call::SendAll { fd, data } => send_all(o, *fd, data, deadline),
        Call::SendRecv { fd, data, len } => send_recv(o, *fd, data, *len, deadline),
        Call::SendUntilStalled { fd, stall, max } => {
            send_until_stalled(o, *fd, *stall, *max, deadline)
        }
        Call::Write { fd, data } => {
            // SAFETY: `data` is readable for its length.
            o.ret = cvt(unsafe { libc::write(*fd, data.as_ptr().cast(), data.len()) } as i64);
        }
    }
}

/// What a successful call returned, as a scenario would write it.
pub(crate) fn render(op: &Op, v: i64, o: &Observed, _style: &AddrStyle<'_>) -> String {
    match op {
        Op::Recv { .. }
        | Op::Recvfrom { .. }
        | Op::Recvmsg { .. }
        | Op::Read { .. }
        | Op::RecvExact { .. }
        | Op::RecvUntil { .. }
        | Op::SendRecv { .. } => received(v, o),
        _ => v.to_string(),
    }
}

/// How a call of this family receives, for the transcript: whether it returns data and
/// whether it also says where the data came from.
pub(crate) fn receives(op: &Op) -> Receives {
    match op {
        Op::Recvfrom { .. } | Op::Recvmsg { .. } => Receives::DataFrom,
        Op::Recv { .. }
        | Op::Read { .. }
        | Op::RecvExact { .. }
        | Op::RecvUntil { .. }
        | Op::SendRecv { .. } => Receives::Data,
        _ => Receives::Nothing,
    }
}

/// Whether a call returns received bytes (and their sender) for the transcript to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Receives {
    Nothing,
    Data,
    DataFrom,
}

/// `EOF`, the bytes, or `N data BYTES` when the count and the bytes differ.
pub(crate) fn received(v: i64, o: &Observed) -> String {
    let data = o.data.as_deref().unwrap_or_default();
    if v == 0 && data.is_empty() {
        "EOF".to_string()
    } else if v as usize == data.len() {
        describe(data)
    } else {
        format!("{v} data {}", describe(data))
    }
}

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
    let chunk = crate::exec::bytes::pattern(64 * 1024);
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
