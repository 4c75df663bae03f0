//! Sockets themselves: `socket`, `socketpair`, `pipe`, `bind`, `connect`, `listen`, `accept`,
//! `shutdown`, `close`, `dup`, `getsockname` and `getpeername`. (`pair()` is built by the
//! runner from these calls.)

use std::os::fd::{AsRawFd, RawFd};

use socket2::SockAddr;
use sockspec_lang::symbols::Category;
use sockspec_lang::{AddrLen, IntOrSym, Op};

use crate::exec::addr::AddrStyle;
use crate::exec::observed::Observed;
use crate::exec::resolve::{flags, flags_written, sym};
use crate::exec::resolve::{wrong_family, Resolver};
use crate::exec::sys::{cvt, owned, with_addr};
use crate::exec::HarnessError;

/// A call of this family with every argument resolved to what the syscall takes.
#[derive(Debug)]
pub(crate) enum Call {
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
}

impl Call {
    /// The descriptors the call waits on, so the end of a case can wake it when it blocks.
    pub(crate) fn fds(&self) -> Vec<RawFd> {
        match self {
            Call::Accept { fd, .. } | Call::Connect { fd, .. } => vec![*fd],
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
                Call::Socketpair {
                    domain: d,
                    ty: t,
                    proto: p,
                }
            } else {
                Call::Socket {
                    domain: d,
                    ty: t,
                    proto: p,
                }
            };
            (call, text)
        }
        Op::Pipe => (Call::Pipe, "pipe()".to_string()),
        Op::Bind { sock, addr } | Op::Connect { sock, addr } => {
            let (fd, s) = r.fd(sock, h)?;
            let (sa, at) = r.sockaddr(addr)?;
            if matches!(op, Op::Bind { .. }) {
                (Call::Bind { fd, addr: sa }, format!("bind({s}, {at})"))
            } else {
                (
                    Call::Connect { fd, addr: sa },
                    format!("connect({s}, {at})"),
                )
            }
        }
        Op::Listen { sock, backlog } => {
            let (fd, s) = r.fd(sock, h)?;
            (
                Call::Listen {
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
            let (fd, s) = r.fd(sock, h)?;
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
                Call::Accept {
                    fd,
                    flags: flags(Category::SocketType, f)? as i32,
                    addrlen: given,
                },
                format!("accept({s}{extra})"),
            )
        }
        Op::Shutdown { sock, how } => {
            let (fd, s) = r.fd(sock, h)?;
            (
                Call::Shutdown {
                    fd,
                    how: sym(Category::ShutHow, how)? as i32,
                },
                format!("shutdown({s}, {})", how.name),
            )
        }
        Op::Dup { fd: id } => {
            let (fd, s) = r.fd(id, h)?;
            (Call::Dup { fd }, format!("dup({s})"))
        }
        Op::Getsockname { sock } => {
            let (fd, s) = r.fd(sock, h)?;
            (Call::Getsockname { fd }, format!("getsockname({s})"))
        }
        Op::Getpeername { sock } => {
            let (fd, s) = r.fd(sock, h)?;
            (Call::Getpeername { fd }, format!("getpeername({s})"))
        }
        _ => return Err(wrong_family(op, "sockets")),
    })
}

/// Runs the call; `deadline` bounds the engine's own loops, never the call itself.
pub(crate) fn perform(call: &Call, o: &mut Observed) {
    match call {
        Call::Socket { domain, ty, proto } => {
            // SAFETY: socket(2) takes plain integers.
            o.ret = cvt(unsafe { libc::socket(*domain, *ty, *proto) }.into());
            if let Ok(fd) = o.ret {
                o.new_fds.push(owned(fd as RawFd));
            }
        }
        Call::Socketpair { domain, ty, proto } => {
            let mut fds = [0 as RawFd; 2];
            // SAFETY: `fds` has room for the two descriptors socketpair(2) writes.
            o.ret = cvt(unsafe { libc::socketpair(*domain, *ty, *proto, fds.as_mut_ptr()) }.into());
            if o.ret.is_ok() {
                o.new_fds.extend(fds.map(owned));
            }
        }
        Call::Pipe => {
            let mut fds = [0 as RawFd; 2];
            // SAFETY: `fds` has room for the two descriptors pipe2(2) writes.
            o.ret = cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), 0) }.into());
            if o.ret.is_ok() {
                o.new_fds.extend(fds.map(owned));
            }
        }
        Call::Bind { fd, addr } => {
            // SAFETY: `addr` is a valid sockaddr of `addr.len()` bytes.
            o.ret = cvt(unsafe { libc::bind(*fd, addr.as_ptr().cast(), addr.len()) }.into());
        }
        Call::Connect { fd, addr } => {
            // SAFETY: `addr` is a valid sockaddr of `addr.len()` bytes.
            o.ret = cvt(unsafe { libc::connect(*fd, addr.as_ptr().cast(), addr.len()) }.into());
        }
        Call::Listen { fd, backlog } => {
            // SAFETY: listen(2) takes plain integers.
            o.ret = cvt(unsafe { libc::listen(*fd, *backlog) }.into());
        }
        Call::Accept { fd, flags, addrlen } => {
            let given = addrlen.unwrap_or(crate::exec::addrlen::STORAGE_LEN as u32);
            crate::exec::addrlen::accept(o, *fd, *flags, given);
        }
        Call::Shutdown { fd, how } => {
            // SAFETY: shutdown(2) takes plain integers.
            o.ret = cvt(unsafe { libc::shutdown(*fd, *how) }.into());
        }
        Call::Close { fd } => {
            // SAFETY: the runner released ownership of `fd` to this call; it is closed once.
            o.ret = cvt(unsafe { libc::close(*fd) }.into());
        }
        Call::Dup { fd } => {
            // SAFETY: dup(2) takes a plain integer.
            o.ret = cvt(unsafe { libc::dup(*fd) }.into());
            if let Ok(new) = o.ret {
                o.new_fds.push(owned(new as RawFd));
            }
        }
        Call::Getsockname { fd } | Call::Getpeername { fd } => {
            let peer = matches!(call, Call::Getpeername { .. });
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
    }
}

/// What a successful call returned, as a scenario would write it.
pub(crate) fn render(op: &Op, v: i64, o: &Observed, style: &AddrStyle<'_>) -> String {
    match op {
        Op::Socket { .. } | Op::Dup { .. } => format!("fd{v}"),
        Op::Accept { .. } => {
            let len = o
                .addrlen
                .map(|n| format!(" addrlen {n}"))
                .unwrap_or_default();
            match &o.addr {
                Some(a) => format!("fd{v} from {}{len}", a.render(style)),
                None => format!("fd{v}{len}"),
            }
        }
        Op::Socketpair { .. } | Op::Pipe => {
            let fds: Vec<String> = o
                .new_fds
                .iter()
                .map(|f| format!("fd{}", f.as_raw_fd()))
                .collect();
            format!("{v} [{}]", fds.join(", "))
        }
        Op::Getsockname { .. } | Op::Getpeername { .. } => o
            .addr
            .as_ref()
            .map_or_else(|| v.to_string(), |a| a.render(style)),
        _ => v.to_string(),
    }
}

/// The length `accept(l, addrlen=N)` passes: at most the `sockaddr_storage` the engine gives
/// the kernel, so the kernel never writes past the buffer.
pub(crate) fn accept_len(a: &AddrLen) -> Result<u32, HarnessError> {
    let n = match a {
        AddrLen::Int(n) => *n,
        AddrLen::Sizeof(ty) => crate::exec::consts::value(Category::CType, &ty.name)
            .ok_or_else(|| HarnessError::NoSize(ty.name.clone()))?,
    };
    let cap = crate::exec::addrlen::STORAGE_LEN as i64;
    if !(0..=cap).contains(&n) {
        return Err(HarnessError::Other(format!(
            "addrlen={n} does not fit the {cap}-byte sockaddr_storage the engine passes"
        )));
    }
    Ok(n as u32)
}
