//! Printing what a call returned the way a scenario would write it: `= -1 EAGAIN (…)`,
//! `= "abc" (3 bytes)`, `= 127.0.0.1:40312`, `= 1 [a: POLLIN]`, `= 1 ([a], [], [])`.

use std::os::fd::AsRawFd;
use std::time::Duration;

use sockspec_lang::symbols::Category;
use sockspec_lang::Op;

use super::addr::AddrStyle;
use super::bytes::describe;
use super::calls::io::Receives;
use super::consts::{errno_text, flags_text};
use super::dispatch;
use super::observed::Observed;

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

/// The observed result, without the leading `= `.
pub(crate) fn result_text(op: &Op, o: &Observed, style: &AddrStyle<'_>) -> String {
    let mut s = match o.ret {
        Err(e) => format!("-1 {}", errno_text(e)),
        Ok(v) => dispatch::ok_text(op, v, o, style),
    };
    let receives = dispatch::receives(op);
    if receives != Receives::Nothing {
        if o.ret.is_err() {
            if let Some(d) = o.data.as_ref().filter(|d| !d.is_empty()) {
                s.push_str(&format!(" after {}", describe(d)));
            }
        }
        if receives == Receives::DataFrom && o.ret.is_ok() {
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
        s.push_str(&super::calls::names::lookup_text(l));
    }
    s
}
