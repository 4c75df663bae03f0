//! Settings of a descriptor and values known without a call: `setsockopt`, `getsockopt` (with
//! the layout of each option's value), `fcntl`, `ioctl`, `sizeof` and `constant`.

use std::os::fd::RawFd;
use std::time::Duration;

use sockspec_lang::symbols::Category;
use sockspec_lang::{FcntlArg, Op, OptValue};

use crate::exec::addr::AddrStyle;
use crate::exec::consts::{errno_name, file_flags_text, name_of};
use crate::exec::observed::Observed;
use crate::exec::observed::OptVal;
use crate::exec::resolve::{duration_text, flags, flags_written, sym};
use crate::exec::resolve::{wrong_family, Resolver};
use crate::exec::sys::cvt;
use crate::exec::HarnessError;

/// A call of this family with every argument resolved to what the syscall takes.
#[derive(Debug)]
pub(crate) enum Call {
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
    /// A value known without a system call (`sizeof`, `constant`).
    Value(i64),
}

/// Resolves a call of this family; its transcript text comes with it.
pub(crate) fn prepare(
    r: &Resolver,
    op: &Op,
    h: &mut Vec<String>,
) -> Result<(Call, String), HarnessError> {
    Ok(match op {
        Op::Setsockopt {
            sock,
            level,
            opt,
            value: v,
        } => {
            let (fd, s) = r.fd(sock, h)?;
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
            let call = Call::Setsockopt {
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
            let (fd, s) = r.fd(sock, h)?;
            let call = Call::Getsockopt {
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
            let (fd, s) = r.fd(id, h)?;
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
            let call = Call::Fcntl {
                fd,
                cmd: sym(Category::FcntlCmd, cmd)? as i32,
                arg: a,
            };
            (call, format!("fcntl({s}, {}{at})", cmd.name))
        }
        Op::Ioctl { fd: id, req } => {
            let (fd, s) = r.fd(id, h)?;
            // FIONBIO takes an int to set; the language gives it none, so it switches
            // non-blocking mode on.
            let sets_value = req.name == "FIONBIO";
            let call = Call::Ioctl {
                fd,
                req: sym(Category::Ioctl, req)? as u64,
                sets_value,
            };
            (call, format!("ioctl({s}, {})", req.name))
        }
        Op::Sizeof { ty } => {
            let v = crate::exec::consts::value(Category::CType, &ty.name)
                .ok_or_else(|| HarnessError::NoSize(ty.name.clone()))?;
            (Call::Value(v), format!("sizeof({})", ty.name))
        }
        Op::Constant { name } => {
            let v =
                crate::exec::consts::value(Category::Constant, &name.name).ok_or_else(|| {
                    HarnessError::Other(format!("`{}` is not known on this platform", name.name))
                })?;
            (Call::Value(v), format!("constant({})", name.name))
        }
        _ => return Err(wrong_family(op, "options")),
    })
}

/// Runs the call; `deadline` bounds the engine's own loops, never the call itself.
pub(crate) fn perform(call: &Call, o: &mut Observed) {
    match call {
        Call::Setsockopt {
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
        Call::Getsockopt {
            fd,
            level,
            opt,
            kind,
        } => getsockopt(o, *fd, *level, *opt, *kind),
        Call::Fcntl { fd, cmd, arg } => {
            // SAFETY: the commands the language allows take an int argument or none.
            o.ret = cvt(unsafe { libc::fcntl(*fd, *cmd, *arg as libc::c_int) }.into());
        }
        Call::Ioctl {
            fd,
            req,
            sets_value,
        } => {
            let mut v: libc::c_int = i32::from(*sets_value);
            // SAFETY: every request the language allows reads or writes one int at `&mut v`.
            let r = cvt(unsafe { libc::ioctl(*fd, *req as _, &mut v) }.into());
            o.ret = r.map(|r| if *sets_value { r } else { v.into() });
        }
        Call::Value(v) => o.ret = Ok(*v),
    }
}

/// What a successful call returned, as a scenario would write it.
pub(crate) fn render(op: &Op, v: i64, o: &Observed, _style: &AddrStyle<'_>) -> String {
    match op {
        Op::Getsockopt { opt, .. } => match (o.opt, opt_kind(&opt.name)) {
            (Some(OptVal::Int(0)), OptKind::Named(Category::Errno)) => "0".to_string(),
            (Some(OptVal::Int(n)), OptKind::Named(Category::Errno)) => errno_name(n as i32),
            (Some(OptVal::Int(n)), OptKind::Named(c)) => {
                name_of(c, n).map_or_else(|| n.to_string(), str::to_string)
            }
            (Some(OptVal::Int(n)), _) => n.to_string(),
            (Some(OptVal::Timeval(s, us)), _) if s >= 0 && (0..1_000_000).contains(&us) => {
                duration_text(Duration::new(s as u64, us as u32 * 1000))
            }
            (Some(OptVal::Timeval(s, us)), _) => format!("timeval({s}, {us})"),
            (Some(OptVal::Linger(on, secs)), _) => format!("linger({on}, {secs})"),
            (Some(OptVal::Ucred(pid, uid, gid)), _) => {
                format!("creds(pid={pid}, uid={uid}, gid={gid})")
            }
            (None, _) => v.to_string(),
        },
        Op::Fcntl { cmd, .. } if cmd.name == "F_GETFL" => file_flags_text(v),
        Op::Fcntl { cmd, .. } if cmd.name == "F_GETFD" => {
            if v == i64::from(libc::FD_CLOEXEC) {
                "FD_CLOEXEC".to_string()
            } else {
                v.to_string()
            }
        }
        _ => v.to_string(),
    }
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

fn as_bytes<T: Copy>(v: &T) -> Vec<u8> {
    // SAFETY: only used with `c_int`, `timeval` and `linger`, plain C structures without
    // padding on Linux, so every byte is initialised.
    unsafe {
        std::slice::from_raw_parts(std::ptr::from_ref(v).cast::<u8>(), std::mem::size_of::<T>())
    }
    .to_vec()
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
