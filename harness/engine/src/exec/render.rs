//! Printing what a call returned the way a scenario would write it: `= -1 EAGAIN (…)`,
//! `= "abc" (3 bytes)`, `= 127.0.0.1:40312`, `= 1 [a: POLLIN]`, `= 1 ([a], [], [])`.

use std::os::fd::AsRawFd;
use std::time::Duration;

use sockspec_lang::symbols::Category;
use sockspec_lang::Op;

use super::addr::AddrStyle;
use super::bytes::describe;
use super::call::{Observed, OptKind, OptVal};
use super::consts::{errno_name, errno_text, file_flags_text, flags_text, name_of};
use super::prepare::{duration_text, opt_kind};

/// `3.2ms`, `150ms`, `1.50s`: a measured duration, for messages.
pub(crate) fn measured(d: Duration) -> String {
    let us = d.as_micros();
    if us < 1000 {
        format!("{us}us")
    } else if us < 10_000 {
        format!("{:.1}ms", us as f64 / 1000.0)
    } else if us < 10_000_000 {
        format!("{}ms", us / 1000)
    } else {
        format!("{:.2}s", d.as_secs_f64())
    }
}

fn is_receive(op: &Op) -> bool {
    matches!(
        op,
        Op::Recv { .. }
            | Op::Recvfrom { .. }
            | Op::Recvmsg { .. }
            | Op::Read { .. }
            | Op::RecvExact { .. }
            | Op::RecvUntil { .. }
            | Op::SendRecv { .. }
            | Op::ReadFile { .. }
    )
}

/// The observed result, without the leading `= `.
pub(crate) fn result_text(op: &Op, o: &Observed, style: &AddrStyle<'_>) -> String {
    let mut s = match o.ret {
        Err(e) => format!("-1 {}", errno_text(e)),
        Ok(v) => ok_text(op, v, o, style),
    };
    if is_receive(op) {
        if o.ret.is_err() {
            if let Some(d) = o.data.as_ref().filter(|d| !d.is_empty()) {
                s.push_str(&format!(" after {}", describe(d)));
            }
        }
        if matches!(op, Op::Recvfrom { .. } | Op::Recvmsg { .. }) && o.ret.is_ok() {
            if let Some(a) = &o.addr {
                s.push_str(&format!(" from {}", a.render(style)));
            }
        }
        if let Some(f) = o.msg_flags {
            s.push_str(&format!(
                " flags {}",
                flags_text(Category::MsgFlag, f.into())
            ));
        }
        if !o.rights.is_empty() {
            let fds: Vec<String> = o
                .rights
                .iter()
                .map(|f| format!("fd{}", f.as_raw_fd()))
                .collect();
            s.push_str(&format!(" rights [{}]", fds.join(", ")));
        }
        if let Some((pid, uid, gid)) = o.creds {
            s.push_str(&format!(" creds(pid={pid}, uid={uid}, gid={gid})"));
        }
    }
    if let Some(ms) = o.remaining_ms {
        s.push_str(&format!(" remaining {ms}ms"));
    }
    if let Some(t) = &o.timed_out {
        s.push_str(&format!(" ({t})"));
    }
    if let Some(l) = &o.lookup {
        s.push_str(&super::names::lookup_text(l));
    }
    s
}

fn ok_text(op: &Op, v: i64, o: &Observed, style: &AddrStyle<'_>) -> String {
    match op {
        Op::Socket { .. } | Op::Dup { .. } => format!("fd{v}"),
        Op::Spawn { .. } => format!("pid{v}"),
        Op::Wait { .. } if o.timed_out.is_some() => "no exit".to_string(),
        Op::Wait { .. } => match o.exit_signal {
            Some(sig) => name_of(Category::ProcSignal, sig.into())
                .map_or_else(|| format!("signal {sig}"), str::to_string),
            None => v.to_string(),
        },
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
        _ if is_receive(op) => {
            let data = o.data.as_deref().unwrap_or_default();
            if v == 0 && data.is_empty() {
                "EOF".to_string()
            } else if v as usize == data.len() {
                describe(data)
            } else {
                format!("{v} data {}", describe(data))
            }
        }
        Op::Getsockname { .. } | Op::Getpeername { .. } => o
            .addr
            .as_ref()
            .map_or_else(|| v.to_string(), |a| a.render(style)),
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
        Op::Poll { .. } => {
            let ready: Vec<String> = o
                .revents
                .iter()
                .filter(|(_, r)| *r != 0)
                .map(|(n, r)| {
                    format!(
                        "{n}: {}",
                        flags_text(Category::PollFlag, i64::from(*r as u16))
                    )
                })
                .collect();
            if ready.is_empty() {
                v.to_string()
            } else {
                format!("{v} [{}]", ready.join(", "))
            }
        }
        Op::Select { .. } => match &o.sets {
            Some([r, w, e]) => format!(
                "{v} ([{}], [{}], [{}])",
                r.join(", "),
                w.join(", "),
                e.join(", ")
            ),
            None => v.to_string(),
        },
        Op::Stat { .. } => match o.stat_mode {
            Some(m) => {
                let kind = name_of(Category::FileType, i64::from(m & libc::S_IFMT))
                    .map_or_else(|| format!("{:#o}", m & libc::S_IFMT), str::to_string);
                format!("sock({kind}, {:#o})", m & 0o7777)
            }
            None => v.to_string(),
        },
        Op::Gethostbyname { .. } | Op::Gethostbyname2 { .. } | Op::Gethostbyaddr { .. } => o
            .addr
            .as_ref()
            .map_or_else(|| "ok".to_string(), |a| a.render(style)),
        Op::Gethostid => super::names::hostid_text(v),
        _ => v.to_string(),
    }
}
