//! Resolving a call of the syntax tree against the handle table and the case context: names
//! to descriptors, symbols to numbers, address forms to socket addresses, payloads to bytes;
//! and the `call` text of the transcript (`connect(c=fd4, 127.0.0.1:40312)`).

use std::ffi::CString;
use std::os::unix::ffi::OsStringExt;
use std::path::Path;
use std::time::{Duration, Instant};

use sockspec_lang::symbols::Category;
use sockspec_lang::{
    AddrExpr, AddrLen, FcntlArg, Flags, Ident, IntOrSym, Nfds, Op, OptValue, Payload, PortExpr,
    SetArg, Sym, Timeout,
};

use super::addr::{v4, v6, Addr, AddrStyle};
use super::bytes::{materialize, quote};
use super::call::{OptKind, Prepared, RecvHow};
use super::consts::value;
use super::table::{Table, CLOSED_FD};
use super::{Context, HarnessError};

/// What the case context contributes to resolving names.
pub(crate) struct Resolver<'a> {
    pub ctx: &'a Context,
    pub table: &'a Table,
    pub abstract_prefix: &'a str,
}

/// A resolved call with its transcript text and the handles it touches.
pub(crate) struct Resolved {
    pub call: Prepared,
    pub text: String,
    pub handles: Vec<String>,
}

pub(crate) fn sym(category: Category, s: &Sym) -> Result<i64, HarnessError> {
    value(category, &s.name).ok_or_else(|| HarnessError::Unsupported {
        noun: category.noun(),
        name: s.name.clone(),
    })
}

pub(crate) fn flags(category: Category, f: &Flags) -> Result<i64, HarnessError> {
    f.names
        .iter()
        .try_fold(0, |acc, s| Ok(acc | sym(category, s)?))
}

pub(crate) fn flags_written(f: &Flags) -> String {
    if f.names.is_empty() {
        "0".to_string()
    } else {
        f.names
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>()
            .join("|")
    }
}

/// The kind of value `getsockopt` returns for an option.
pub(crate) fn opt_kind(opt: &str) -> OptKind {
    match opt {
        "SO_RCVTIMEO" | "SO_SNDTIMEO" => OptKind::Timeval,
        "SO_LINGER" => OptKind::Linger,
        "SO_PEERCRED" => OptKind::Ucred,
        "SO_TYPE" => OptKind::Named(Category::SocketType),
        "SO_DOMAIN" => OptKind::Named(Category::Domain),
        "SO_PROTOCOL" => OptKind::Named(Category::Protocol),
        "SO_ERROR" => OptKind::Named(Category::Errno),
        _ => OptKind::Int,
    }
}

/// A payload as a call argument: short bytes quoted, long ones by their form.
fn payload_text(p: &Payload) -> String {
    match p {
        Payload::Bytes(b) if b.len() <= 48 => quote(b),
        Payload::Bytes(b) => format!("{}… ({} bytes)", quote(&b[..32]), b.len()),
        Payload::Pattern(n) => format!("pattern({n})"),
        Payload::Fill(n, b) => format!("fill({n}, {b:#04x})"),
    }
}

/// `d.as_millis()` rounded up, so a 500us poll timeout is not passed as 0.
fn ceil_ms(d: Duration) -> i64 {
    d.as_micros().div_ceil(1000).min(i32::MAX as u128) as i64
}

pub(crate) fn duration_text(d: Duration) -> String {
    let us = d.as_micros();
    if us == 0 {
        "0".to_string()
    } else if us % 1_000_000 == 0 {
        format!("{}s", us / 1_000_000)
    } else if us % 1000 == 0 {
        format!("{}ms", us / 1000)
    } else {
        format!("{us}us")
    }
}

fn as_bytes<T: Copy>(v: &T) -> Vec<u8> {
    // SAFETY: only used with `c_int`, `timeval` and `linger`, plain C structures without
    // padding on Linux, so every byte is initialised.
    unsafe {
        std::slice::from_raw_parts(std::ptr::from_ref(v).cast::<u8>(), std::mem::size_of::<T>())
    }
    .to_vec()
}

impl Resolver<'_> {
    fn style(&self) -> AddrStyle<'_> {
        AddrStyle {
            private_dir: &self.ctx.private_dir,
            abstract_prefix: self.abstract_prefix,
        }
    }

    fn fd(&self, id: &Ident, handles: &mut Vec<String>) -> Result<(i32, String), HarnessError> {
        let fd = self.table.fd(id)?;
        handles.push(id.name.clone());
        let shown = if fd == CLOSED_FD {
            format!("{}=closed", id.name)
        } else {
            format!("{}=fd{fd}", id.name)
        };
        Ok((fd, shown))
    }

    fn port(&self, p: &PortExpr) -> Result<u16, HarnessError> {
        Ok(match p {
            PortExpr::Num(n) => *n,
            PortExpr::Swapped(n) => n.swap_bytes(),
            PortExpr::Of(h) => {
                self.table.local(h)?.port().ok_or_else(|| {
                    HarnessError::Other(format!("handle `{}` has no port", h.name))
                })?
            }
        })
    }

    /// An address form as the scenario means it.
    pub(crate) fn addr(&self, a: &AddrExpr) -> Result<Addr, HarnessError> {
        Ok(match a {
            AddrExpr::V4 { ip, port } => v4(*ip, self.port(port)?),
            AddrExpr::V6 { ip, port } => v6(*ip, self.port(port)?),
            AddrExpr::Handle(h) => self.table.local(h)?.clone(),
            AddrExpr::Path(name) => Addr::Path(self.confined(&self.ctx.private_dir.join(name))?),
            AddrExpr::Abstract(name) => {
                Addr::Abstract(format!("{}{name}", self.abstract_prefix).into_bytes())
            }
            AddrExpr::Unspec => Addr::Unspec,
            AddrExpr::Null => {
                return Err(HarnessError::Other(
                    "`null` is only an address for sendto (no address at all)".into(),
                ))
            }
            AddrExpr::RawPath(p) => Addr::Path(self.confined(Path::new(p))?),
            AddrExpr::Server(name) => server_addr(self.ctx, name.as_deref())?,
        })
    }

    /// Every file name a scenario gives (`path("x")`, `rawpath("…")`), for files and socket
    /// addresses alike, goes through [`crate::confine::confine`]: a name outside the case's
    /// own area is refused whatever the parser let through.
    pub(crate) fn confined(&self, path: &Path) -> Result<Vec<u8>, HarnessError> {
        crate::confine::confine(&self.ctx.private_dir, path)
            .map(|p| p.into_os_string().into_vec())
            .map_err(|e| {
                HarnessError::Other(format!(
                    "the name is refused: {e}; a case names only files in its private directory \
                     (`path(\"x\")`) or in a tmpfs of its own (its /tmp, a `mount_tmpfs` \
                     directory), so the machine's files are never touched"
                ))
            })
    }

    fn sockaddr(&self, a: &AddrExpr) -> Result<(socket2::SockAddr, String), HarnessError> {
        let addr = self.addr(a)?;
        Ok((addr.encode()?, addr.render(&self.style())))
    }

    fn file(&self, a: &AddrExpr) -> Result<(CString, String), HarnessError> {
        let addr = self.addr(a)?;
        let Addr::Path(p) = &addr else {
            return Err(HarnessError::Other(
                "files are named `path(\"x\")` or `rawpath(\"…\")`".into(),
            ));
        };
        let c = CString::new(p.clone())
            .map_err(|_| HarnessError::Other("a path cannot contain NUL".into()))?;
        Ok((c, addr.render(&self.style())))
    }

    /// Resolves every call but `pair`, `close` and `signal`, which the runner carries out.
    pub(crate) fn prepare(&self, op: &Op, deadline: Instant) -> Result<Resolved, HarnessError> {
        let mut h = Vec::new();
        let (call, text) = match op {
            Op::Socket {
                domain,
                ty,
                protocol,
            }
            | Op::Socketpair {
                domain,
                ty,
                protocol,
            } => {
                let d = sym(Category::Domain, domain)? as i32;
                let t = flags(Category::SocketType, ty)? as i32;
                let (p, ptext) = match protocol {
                    None => (0, String::new()),
                    Some(IntOrSym::Int(n)) => (*n as i32, format!(", {n}")),
                    Some(IntOrSym::Sym(s)) => {
                        (sym(Category::Protocol, s)? as i32, format!(", {}", s.name))
                    }
                };
                let pair = matches!(op, Op::Socketpair { .. });
                let name = if pair { "socketpair" } else { "socket" };
                let text = format!("{name}({}, {}{ptext})", domain.name, flags_written(ty));
                let call = if pair {
                    Prepared::Socketpair {
                        domain: d,
                        ty: t,
                        proto: p,
                    }
                } else {
                    Prepared::Socket {
                        domain: d,
                        ty: t,
                        proto: p,
                    }
                };
                (call, text)
            }
            Op::Pipe => (Prepared::Pipe, "pipe()".to_string()),
            Op::Bind { sock, addr } | Op::Connect { sock, addr } => {
                let (fd, s) = self.fd(sock, &mut h)?;
                let (sa, at) = self.sockaddr(addr)?;
                if matches!(op, Op::Bind { .. }) {
                    (Prepared::Bind { fd, addr: sa }, format!("bind({s}, {at})"))
                } else {
                    (
                        Prepared::Connect { fd, addr: sa },
                        format!("connect({s}, {at})"),
                    )
                }
            }
            Op::Listen { sock, backlog } => {
                let (fd, s) = self.fd(sock, &mut h)?;
                (
                    Prepared::Listen {
                        fd,
                        backlog: *backlog as i32,
                    },
                    format!("listen({s}, {backlog})"),
                )
            }
            Op::Accept {
                sock,
                flags: f,
                addrlen,
            } => {
                let (fd, s) = self.fd(sock, &mut h)?;
                let mut extra = if f.names.is_empty() {
                    String::new()
                } else {
                    format!(", {}", flags_written(f))
                };
                let given = match addrlen {
                    None => None,
                    Some(a) => {
                        let n = accept_len(a)?;
                        extra.push_str(&format!(", addrlen={n}"));
                        Some(n)
                    }
                };
                (
                    Prepared::Accept {
                        fd,
                        flags: flags(Category::SocketType, f)? as i32,
                        addrlen: given,
                    },
                    format!("accept({s}{extra})"),
                )
            }
            Op::Send {
                sock,
                data,
                flags: f,
            } => {
                let (fd, s) = self.fd(sock, &mut h)?;
                let call = Prepared::Send {
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
                let (fd, s) = self.fd(sock, &mut h)?;
                let (to, at) = match addr {
                    AddrExpr::Null => (None, "NULL".to_string()),
                    other => {
                        let (sa, at) = self.sockaddr(other)?;
                        (Some(sa), at)
                    }
                };
                let call = Prepared::Send {
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
                let (fd, s) = self.fd(sock, &mut h)?;
                let mut text = format!(
                    "sendmsg({s}, [{}], {}",
                    iov.iter().map(payload_text).collect::<Vec<_>>().join(", "),
                    flags_written(f)
                );
                let to = match addr {
                    Some(a) => {
                        let (sa, at) = self.sockaddr(a)?;
                        text.push_str(&format!(", to={at}"));
                        Some(sa)
                    }
                    None => None,
                };
                let mut fds = Vec::new();
                let mut shown = Vec::new();
                for r in rights {
                    let (fd, t) = self.fd(r, &mut h)?;
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
                let call = Prepared::Sendmsg {
                    fd,
                    iov: iov.iter().map(materialize).collect(),
                    flags: flags(Category::MsgFlag, f)? as i32,
                    to,
                    rights: fds,
                    creds: *creds,
                };
                (call, text)
            }
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
                let (fd, s) = self.fd(sock, &mut h)?;
                let (how, name) = match op {
                    Op::Recv { .. } => (RecvHow::Recv, "recv"),
                    Op::Recvfrom { .. } => (RecvHow::From, "recvfrom"),
                    _ => (RecvHow::Msg, "recvmsg"),
                };
                let call = Prepared::Recv {
                    fd,
                    len: *len as usize,
                    flags: flags(Category::MsgFlag, f)? as i32,
                    how,
                };
                (call, format!("{name}({s}, {len}, {})", flags_written(f)))
            }
            Op::Read { fd: id, len } => {
                let (fd, s) = self.fd(id, &mut h)?;
                (
                    Prepared::Recv {
                        fd,
                        len: *len as usize,
                        flags: 0,
                        how: RecvHow::Read,
                    },
                    format!("read({s}, {len})"),
                )
            }
            Op::RecvExact { sock, len } => {
                let (fd, s) = self.fd(sock, &mut h)?;
                (
                    Prepared::RecvExact {
                        fd,
                        len: *len as usize,
                    },
                    format!("recv_exact({s}, {len})"),
                )
            }
            Op::RecvUntil { sock, delim, max } => {
                let (fd, s) = self.fd(sock, &mut h)?;
                let text = format!("recv_until({s}, {}, {max})", payload_text(delim));
                (
                    Prepared::RecvUntil {
                        fd,
                        delim: materialize(delim),
                        max: *max as usize,
                    },
                    text,
                )
            }
            Op::SendAll { sock, data } => {
                let (fd, s) = self.fd(sock, &mut h)?;
                (
                    Prepared::SendAll {
                        fd,
                        data: materialize(data),
                    },
                    format!("send_all({s}, {})", payload_text(data)),
                )
            }
            Op::Write { fd: id, data } => {
                let (fd, s) = self.fd(id, &mut h)?;
                (
                    Prepared::Write {
                        fd,
                        data: materialize(data),
                    },
                    format!("write({s}, {})", payload_text(data)),
                )
            }
            Op::Shutdown { sock, how } => {
                let (fd, s) = self.fd(sock, &mut h)?;
                (
                    Prepared::Shutdown {
                        fd,
                        how: sym(Category::ShutHow, how)? as i32,
                    },
                    format!("shutdown({s}, {})", how.name),
                )
            }
            Op::Dup { fd: id } => {
                let (fd, s) = self.fd(id, &mut h)?;
                (Prepared::Dup { fd }, format!("dup({s})"))
            }
            Op::Getsockname { sock } => {
                let (fd, s) = self.fd(sock, &mut h)?;
                (Prepared::Getsockname { fd }, format!("getsockname({s})"))
            }
            Op::Getpeername { sock } => {
                let (fd, s) = self.fd(sock, &mut h)?;
                (Prepared::Getpeername { fd }, format!("getpeername({s})"))
            }
            Op::Setsockopt {
                sock,
                level,
                opt,
                value: v,
            } => {
                let (fd, s) = self.fd(sock, &mut h)?;
                let (bytes, vt) = match v {
                    OptValue::Int(n) => (as_bytes(&(*n as libc::c_int)), n.to_string()),
                    OptValue::Duration(d) => (
                        as_bytes(&libc::timeval {
                            tv_sec: d.as_secs() as _,
                            tv_usec: d.subsec_micros() as _,
                        }),
                        duration_text(*d),
                    ),
                    OptValue::Timeval(sec, usec) => (
                        as_bytes(&libc::timeval {
                            tv_sec: *sec as _,
                            tv_usec: *usec as _,
                        }),
                        format!("timeval({sec}, {usec})"),
                    ),
                    OptValue::Linger(on, secs) => (
                        as_bytes(&libc::linger {
                            l_onoff: *on as _,
                            l_linger: *secs as _,
                        }),
                        format!("linger({on}, {secs})"),
                    ),
                };
                let call = Prepared::Setsockopt {
                    fd,
                    level: sym(Category::Level, level)? as i32,
                    opt: sym(Category::SockOpt, opt)? as i32,
                    value: bytes,
                };
                (
                    call,
                    format!("setsockopt({s}, {}, {}, {vt})", level.name, opt.name),
                )
            }
            Op::Getsockopt { sock, level, opt } => {
                let (fd, s) = self.fd(sock, &mut h)?;
                let call = Prepared::Getsockopt {
                    fd,
                    level: sym(Category::Level, level)? as i32,
                    opt: sym(Category::SockOpt, opt)? as i32,
                    kind: opt_kind(&opt.name),
                };
                (
                    call,
                    format!("getsockopt({s}, {}, {})", level.name, opt.name),
                )
            }
            Op::Fcntl { fd: id, cmd, arg } => {
                let (fd, s) = self.fd(id, &mut h)?;
                let (a, at) = match arg {
                    None => (0, String::new()),
                    Some(FcntlArg::Flags(f)) => (
                        flags(Category::FileFlag, f)?,
                        format!(", {}", flags_written(f)),
                    ),
                    Some(FcntlArg::Int(n)) => (*n, format!(", {n}")),
                    Some(FcntlArg::SelfPid) => {
                        let pid = i64::from(std::process::id());
                        (pid, format!(", self={pid}"))
                    }
                };
                let call = Prepared::Fcntl {
                    fd,
                    cmd: sym(Category::FcntlCmd, cmd)? as i32,
                    arg: a,
                };
                (call, format!("fcntl({s}, {}{at})", cmd.name))
            }
            Op::Ioctl { fd: id, req } => {
                let (fd, s) = self.fd(id, &mut h)?;
                // FIONBIO takes an int to set; the language gives it none, so it switches
                // non-blocking mode on.
                let sets_value = req.name == "FIONBIO";
                let call = Prepared::Ioctl {
                    fd,
                    req: sym(Category::Ioctl, req)? as u64,
                    sets_value,
                };
                (call, format!("ioctl({s}, {})", req.name))
            }
            Op::Poll { fds, timeout } => {
                let mut entries = Vec::new();
                let mut shown = Vec::new();
                for (id, ev) in fds {
                    let (fd, s) = self.fd(id, &mut h)?;
                    entries.push((id.name.clone(), fd, flags(Category::PollFlag, ev)? as i16));
                    shown.push(format!("{s}: {}", flags_written(ev)));
                }
                let (ms, tt) = match timeout {
                    Timeout::After(d) => (ceil_ms(*d), duration_text(*d)),
                    Timeout::Infinite => (-1, "inf".to_string()),
                    Timeout::Negative(n) => (*n, n.to_string()),
                };
                (
                    Prepared::Poll {
                        fds: entries,
                        timeout_ms: ms as i32,
                    },
                    format!("poll([{}], {tt})", shown.join(", ")),
                )
            }
            Op::Select {
                read,
                write,
                except,
                timeout,
                nfds,
            } => {
                let mut sets: [Vec<(String, i32)>; 3] = Default::default();
                let mut shown: [Vec<String>; 3] = Default::default();
                let mut named: [Option<String>; 3] = Default::default();
                for (i, arg) in [read, write, except].into_iter().enumerate() {
                    if let SetArg::Named(id) = arg {
                        let fds = self.table.sets.members(id)?;
                        named[i] = Some(super::fdset::shown(self.table, &id.name, &fds));
                        for fd in fds {
                            let name = self
                                .table
                                .name_of(fd)
                                .map_or_else(|| format!("fd{fd}"), str::to_string);
                            sets[i].push((name, fd));
                        }
                    }
                    for id in arg.handles() {
                        let (fd, s) = self.fd(id, &mut h)?;
                        let fd = if fd == CLOSED_FD {
                            closed_select_fd()?
                        } else {
                            fd
                        };
                        if fd >= libc::FD_SETSIZE as i32 {
                            return Err(HarnessError::Other(format!(
                                "`{}` is fd {fd}, beyond select's FD_SETSIZE ({})",
                                id.name,
                                libc::FD_SETSIZE
                            )));
                        }
                        sets[i].push((id.name.clone(), fd));
                        shown[i].push(s);
                    }
                }
                let (tv, tt) = match timeout {
                    Timeout::After(d) => (
                        Some((d.as_secs() as i64, i64::from(d.subsec_micros()))),
                        duration_text(*d),
                    ),
                    Timeout::Infinite => (None, "inf".to_string()),
                    Timeout::Negative(n) => (Some((*n, 0)), n.to_string()),
                };
                let max = sets
                    .iter()
                    .flatten()
                    .map(|(_, fd)| fd + 1)
                    .max()
                    .unwrap_or(0);
                let n = match nfds {
                    None => max,
                    Some(Nfds::Int(n)) => *n as i32,
                    Some(Nfds::FdOf { handle, plus }) => {
                        let fd = self.table.fd(handle)?;
                        if fd == CLOSED_FD {
                            return Err(HarnessError::Other(format!(
                                "`{}` is closed: fd({}) has no number",
                                handle.name, handle.name
                            )));
                        }
                        h.push(handle.name.clone());
                        (i64::from(fd) + plus).clamp(i64::from(i32::MIN), i64::from(i32::MAX))
                            as i32
                    }
                };
                let set_text = |i: usize| {
                    named[i]
                        .clone()
                        .unwrap_or_else(|| format!("[{}]", shown[i].join(", ")))
                };
                let text = format!(
                    "select(nfds={n}, {}, {}, {}, {tt})",
                    set_text(0),
                    set_text(1),
                    set_text(2)
                );
                (
                    Prepared::Select {
                        sets,
                        timeout: tv,
                        nfds: n,
                    },
                    text,
                )
            }
            Op::Sleep { dur } => {
                // A sleep lets the kernel settle (data to arrive, timers to fire), so a slow
                // machine gets more of it; it never sleeps past the case deadline.
                let scaled = dur.mul_f64(self.ctx.time_scale.max(1.0));
                let bounded = scaled.min(deadline.saturating_duration_since(Instant::now()));
                (
                    Prepared::Sleep(bounded),
                    format!("sleep({})", duration_text(*dur)),
                )
            }
            Op::Unlink { path } => {
                let (p, t) = self.file(path)?;
                (Prepared::Unlink(p), format!("unlink({t})"))
            }
            Op::Stat { path } => {
                let (p, t) = self.file(path)?;
                (Prepared::Stat(p), format!("stat({t})"))
            }
            Op::Chmod { path, mode } => {
                let (p, t) = self.file(path)?;
                (Prepared::Chmod(p, *mode), format!("chmod({t}, {mode:#o})"))
            }
            Op::Touch { path } => {
                let (p, t) = self.file(path)?;
                (Prepared::Touch(p), format!("touch({t})"))
            }
            Op::Sizeof { ty } => {
                let v = super::consts::value(Category::CType, &ty.name).ok_or_else(|| {
                    HarnessError::Other(format!("no size known for `{}`", ty.name))
                })?;
                (Prepared::Value(v), format!("sizeof({})", ty.name))
            }
            Op::Constant { name } => {
                let v = super::consts::value(Category::Constant, &name.name).ok_or_else(|| {
                    HarnessError::Other(format!("`{}` is not known on this platform", name.name))
                })?;
                (Prepared::Value(v), format!("constant({})", name.name))
            }
            Op::Getservbyname { name, proto } => (
                Prepared::Getservbyname(cstring(name)?, cstring(proto)?),
                format!("getservbyname({name:?}, {proto:?})"),
            ),
            Op::Getservbyport { port, proto } => (
                Prepared::Getservbyport(*port, cstring(proto)?),
                format!("getservbyport({port}, {proto:?})"),
            ),
            Op::Gethostname { len } => {
                // 256 is more than any host name Linux allows (HOST_NAME_MAX is 64).
                let n = len.unwrap_or(256) as usize;
                (Prepared::Gethostname(n), format!("gethostname({n})"))
            }
            Op::SendRecv { sock, data, len } => {
                let (fd, s) = self.fd(sock, &mut h)?;
                (
                    Prepared::SendRecv {
                        fd,
                        data: materialize(data),
                        len: *len as usize,
                    },
                    format!("sendrecv({s}, {}, {len})", payload_text(data)),
                )
            }
            Op::SendUntilStalled { sock, stall, max } => {
                let (fd, s) = self.fd(sock, &mut h)?;
                // Like `sleep`, a stall is a settle wait: a slow machine gets more of it.
                let scaled = stall.mul_f64(self.ctx.time_scale.max(1.0));
                (
                    Prepared::SendUntilStalled {
                        fd,
                        stall: scaled,
                        max: *max as usize,
                    },
                    format!("send_until_stalled({s}, {}, {max})", duration_text(*stall)),
                )
            }
            Op::ServerSignal { sig, .. } => {
                let target = self.ctx.server.clone().ok_or_else(no_server)?;
                let signal = if sig == "SIGSTOP" {
                    libc::SIGSTOP
                } else {
                    libc::SIGCONT
                };
                (
                    Prepared::ServerSignal {
                        signal,
                        init_pid: target.init_pid,
                    },
                    format!("server_signal({sig})"),
                )
            }
            Op::ServerFact { fact, .. } => {
                let target = self.ctx.server.clone().ok_or_else(no_server)?;
                (
                    Prepared::ServerFact {
                        fact: *fact,
                        init_pid: target.init_pid,
                        netns_pid: target.netns_pid,
                    },
                    format!("server_fact({})", fact.name()),
                )
            }
            Op::DirEntries => {
                // Outside isolation the directory is shared by every case of the run, so a
                // count would depend on what other cases do at the same moment.
                if !self.ctx.facts.isolated {
                    return Err(HarnessError::Other(
                        "dir_entries() needs a private directory of the case's own: add `needs isolation`".into(),
                    ));
                }
                (
                    Prepared::DirEntries(self.ctx.private_dir.clone()),
                    "dir_entries()".to_string(),
                )
            }
            Op::Gethostbyname { .. }
            | Op::Sethostname { .. }
            | Op::MountTmpfs { .. }
            | Op::WriteFile { .. }
            | Op::ReadFile { .. }
            | Op::Gethostid
            | Op::Sethostid { .. }
            | Op::Gethostbyname2 { .. }
            | Op::Gethostbyaddr { .. } => self.prepare_names(op)?,
            Op::Tc { args, .. } => {
                // The host's qdiscs are never touched: tc runs only in a namespace of the
                // case's own (a grading case shares the server's, so it is refused too), the
                // same rule the calls of names.rs follow.
                if !crate::sandbox::owns_namespaces() {
                    return Err(HarnessError::Other(
                        "tc() runs only in a case with a network namespace of its own (`needs isolation`)".into(),
                    ));
                }
                let limit = super::tc::TC_TIMEOUT.mul_f64(self.ctx.time_scale.max(1.0));
                (
                    Prepared::Tc {
                        args: args.clone(),
                        limit,
                    },
                    format!("tc({:?})", args.join(" ")),
                )
            }
            Op::Pair { .. }
            | Op::Close { .. }
            | Op::Signal { .. }
            | Op::FdZero { .. }
            | Op::FdSet { .. }
            | Op::FdClr { .. }
            | Op::FdIsset { .. }
            | Op::Spawn { .. }
            | Op::Wait { .. }
            | Op::Kill { .. }
            | Op::Children => {
                return Err(HarnessError::Other(
                    "this call is carried out by the runner".into(),
                ))
            }
        };
        Ok(Resolved {
            call,
            text,
            handles: h,
        })
    }
}

fn no_server() -> HarnessError {
    HarnessError::Other(
        "there is no server under test: `server` and `server_fact` belong to grading suites".into(),
    )
}

/// The address of the server under test (`server`, `server(NAME)`).
pub(crate) fn server_addr(ctx: &Context, name: Option<&str>) -> Result<Addr, HarnessError> {
    let target = ctx.server.as_ref().ok_or_else(no_server)?;
    match target.addr(name) {
        Some(std::net::SocketAddr::V4(a)) => Ok(Addr::V4(a)),
        Some(std::net::SocketAddr::V6(a)) => Ok(Addr::V6(a)),
        None => Err(HarnessError::Other(format!(
            "the suite has no service `{}`",
            name.unwrap_or("")
        ))),
    }
}

/// select cannot take [`CLOSED_FD`]; a closed handle is passed as the highest descriptor
/// select accepts, after checking that it is not open, so the kernel answers `EBADF`.
fn closed_select_fd() -> Result<i32, HarnessError> {
    // The lowest free descriptor number: select() only reports EBADF for numbers inside the
    // process's descriptor table (it silently ignores bits beyond it), and a free number below
    // the highest one ever allocated is always inside it.
    (3..libc::FD_SETSIZE as i32)
        // SAFETY: F_GETFD only queries the descriptor table.
        .find(|fd| unsafe { libc::fcntl(*fd, libc::F_GETFD) } == -1)
        .ok_or_else(|| {
            HarnessError::Other(
                "no free descriptor below FD_SETSIZE to stand in for a closed handle".into(),
            )
        })
}

/// The length `accept(l, addrlen=N)` passes: at most the `sockaddr_storage` the engine gives
/// the kernel, so the kernel never writes past the buffer.
fn accept_len(a: &AddrLen) -> Result<u32, HarnessError> {
    let n = match a {
        AddrLen::Int(n) => *n,
        AddrLen::Sizeof(ty) => super::consts::value(Category::CType, &ty.name)
            .ok_or_else(|| HarnessError::Other(format!("no size known for `{}`", ty.name)))?,
    };
    let cap = super::addrlen::STORAGE_LEN as i64;
    if !(0..=cap).contains(&n) {
        return Err(HarnessError::Other(format!(
            "addrlen={n} does not fit the {cap}-byte sockaddr_storage the engine passes"
        )));
    }
    Ok(n as u32)
}

/// A C string from scenario text; an interior NUL is the scenario's mistake.
fn cstring(text: &str) -> Result<CString, HarnessError> {
    CString::new(text).map_err(|_| HarnessError::Other(format!("{text:?} contains a NUL byte")))
}
