//! Deciding whether what a call returned is what the scenario expected: choosing the `when`
//! variant, matching values, modifiers and timing windows, and saying what differed.

use std::time::{Duration, Instant};

use sockspec_lang::symbols::Category;
use sockspec_lang::{
    AddrMatch, CmpOp, Cond, CredMatch, Expect, ExpectClause, Expected, FlagsMatch, Ident, IntMatch,
    Modifier, Op, PortMatch, Value, Window, WindowMax,
};

use super::addr::{is_autobound, v4, v6, Addr, AddrStyle};
use super::bytes::{payload_difference, payload_len};
use super::calls::options::{opt_kind, OptKind};
use super::consts::{errno_name, errno_text, flags_text};
use super::observed::{Observed, OptVal};
use super::render::measured;
use super::resolve::sym;
use super::signals::{self, Snapshot};
use super::table::Table;
use super::{Context, HarnessError};

/// How long a `signal SIGURG` check waits for the asynchronous delivery, before scaling. Urgent
/// data raises SIGURG from the receiving side's softirq, usually within microseconds on
/// loopback; 100ms leaves room for a loaded machine without slowing passing cases much.
const SIGURG_GRACE: Duration = Duration::from_millis(100);

/// The expectation that applies: the first `when` variant whose condition holds, or the
/// default. Returns it with the reason of the chosen variant.
pub(crate) fn choose<'a>(
    clause: &'a ExpectClause,
    ctx: &Context,
) -> Result<(&'a Expect, Option<&'a str>), HarnessError> {
    for w in &clause.when {
        if holds(&w.cond, ctx)? {
            return Ok((&w.expect, Some(w.reason.as_str())));
        }
    }
    Ok((&clause.default, None))
}

fn compare<T: Ord>(a: T, op: CmpOp, b: T) -> bool {
    match op {
        CmpOp::Lt => a < b,
        CmpOp::Le => a <= b,
        CmpOp::Eq => a == b,
        CmpOp::Ne => a != b,
        CmpOp::Ge => a >= b,
        CmpOp::Gt => a > b,
    }
}

fn read_sysctl_int(ctx: &Context, name: &str) -> Result<Vec<i64>, HarnessError> {
    let text = (ctx.facts.sysctl)(name).ok_or_else(|| HarnessError::Sysctl(name.to_string()))?;
    let values: Vec<i64> = text
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    if values.is_empty() {
        return Err(HarnessError::SysctlNotANumber {
            name: name.to_string(),
            text,
        });
    }
    Ok(values)
}

pub(crate) fn holds(cond: &Cond, ctx: &Context) -> Result<bool, HarnessError> {
    Ok(match cond {
        Cond::Platform(p) => *p == ctx.facts.platform,
        Cond::Root => ctx.facts.root,
        Cond::Isolated => ctx.facts.isolated,
        Cond::Flavour(list) => ctx.flavour.is_some_and(|f| list.contains(&f)),
        Cond::Kernel(op, v) => compare(ctx.facts.kernel, *op, *v),
        Cond::Sysctl(name, op, v) => compare(read_sysctl_int(ctx, name)?[0], *op, *v),
        Cond::Not(c) => !holds(c, ctx)?,
    })
}

/// Everything a check may consult besides the observation.
pub(crate) struct Judge<'a> {
    pub ctx: &'a Context,
    pub table: &'a Table,
    pub style: AddrStyle<'a>,
    /// Statements without `=` observe instead of requiring success (differential cases).
    pub observe: bool,
}

/// Whether the observation matched, and if not, why.
pub(crate) enum Verdict {
    /// Matched; the alternative that matched (for binding `rights`).
    Match(Option<usize>),
    Mismatch(String),
}

impl Judge<'_> {
    /// Checks `o` against `expect` (`None`: the call must not fail). `signals_before` is the
    /// counter snapshot from the start of the call.
    pub(crate) fn check(
        &self,
        op: &Op,
        expect: Option<&Expect>,
        o: &Observed,
        signals_before: &Snapshot,
    ) -> Result<Verdict, HarnessError> {
        if let (Some(t), Op::Wait { .. }) = (&o.timed_out, op) {
            return Ok(Verdict::Mismatch(format!("the process was {t}")));
        }
        if let Some(t) = &o.timed_out {
            if o.moving_at_deadline {
                return Err(HarnessError::CutWhileMoving(t.clone()));
            }
            return Ok(Verdict::Mismatch(format!(
                "{}: {t}, and nothing moved in the last {}ms before the case deadline (the peer stopped)",
                super::deadline::NEVER_RETURNED,
                super::calls::io::STALL.as_millis()
            )));
        }
        let Some(expect) = expect else {
            return Ok(match o.ret {
                _ if self.observe => Verdict::Match(None),
                Ok(_) => Verdict::Match(None),
                Err(e) => Verdict::Mismatch(match (op, &o.note) {
                    // tc is a program, not a call: what it printed says what went wrong.
                    (Op::Tc { .. }, Some(said)) => {
                        format!("tc failed ({}): {said}", errno_name(e))
                    }
                    _ => format!(
                        "the call failed with {}; a statement without `=` must not fail",
                        errno_name(e)
                    ),
                }),
            });
        };
        let mut why = Vec::new();
        let mut matched = None;
        for (i, alt) in expect.alternatives.iter().enumerate() {
            match self.alternative(op, alt, o, signals_before)? {
                None => {
                    matched = Some(i);
                    break;
                }
                Some(reason) => why.push(reason),
            }
        }
        let Some(i) = matched else {
            why.dedup();
            return Ok(Verdict::Mismatch(why.join("; or ")));
        };
        if let Some(w) = &expect.took {
            if let Some(reason) = self.window(w, o.took) {
                return Ok(Verdict::Mismatch(reason));
            }
        }
        Ok(Verdict::Match(Some(i)))
    }

    /// `took 150ms..+40ms`: the lower bound is never scaled (a kernel that is early is wrong),
    /// the upper bound is stretched by the time scale.
    fn window(&self, w: &Window, took: Duration) -> Option<String> {
        let scale = self.ctx.time_scale.max(0.0);
        if let Some(min) = w.min {
            if took < min {
                return Some(format!(
                    "returned after {}, before the lower bound of {} (lower bounds are never scaled)",
                    measured(took),
                    measured(min)
                ));
            }
        }
        let max = match &w.max {
            Some(WindowMax::Tolerance(t)) => Some(w.min.unwrap_or_default() + t.mul_f64(scale)),
            Some(WindowMax::Below(b)) => Some(b.mul_f64(scale)),
            None => None,
        };
        match max {
            Some(max) if took > max => Some(format!(
                "returned after {}, later than the upper bound of {} (time scale {})",
                measured(took),
                measured(max),
                self.ctx.time_scale
            )),
            _ => None,
        }
    }

    fn failed(e: i32) -> String {
        format!("the call failed with -1 {}", errno_text(e))
    }

    /// `None` when the alternative matches, else what differed.
    fn alternative(
        &self,
        op: &Op,
        alt: &Expected,
        o: &Observed,
        before: &Snapshot,
    ) -> Result<Option<String>, HarnessError> {
        if let Some(r) = self.value(op, &alt.value, o)? {
            return Ok(Some(r));
        }
        for m in &alt.mods {
            if let Some(r) = self.modifier(m, o, before)? {
                return Ok(Some(r));
            }
        }
        Ok(None)
    }

    fn int_result(op: &Op, o: &Observed) -> Result<i64, String> {
        match (op, o.ret) {
            (_, Err(e)) => Err(Self::failed(e)),
            (Op::Getsockopt { .. }, Ok(_)) => match o.opt {
                Some(OptVal::Int(v)) => Ok(v),
                _ => Err("the option is not an integer".to_string()),
            },
            (_, Ok(v)) => Ok(v),
        }
    }

    /// `wait(p) = 0` (exit status) or `= SIGTERM` (killed by a signal).
    fn wait_value(v: &Value, o: &Observed) -> Result<Option<Option<String>>, HarnessError> {
        let killed = |sig: i32| {
            super::consts::name_of(Category::ProcSignal, sig.into())
                .map_or_else(|| format!("signal {sig}"), str::to_string)
        };
        Ok(Some(match (v, o.ret, o.exit_signal) {
            (Value::Int(_) | Value::Flags(_), Err(e), _) => Some(Self::failed(e)),
            (Value::Int(_), Ok(_), Some(sig)) => {
                Some(format!("the process was killed by {}", killed(sig)))
            }
            (Value::Int(m), Ok(n), None) => {
                (!int_matches(m, n)).then(|| format!("the process exited with status {n}"))
            }
            (Value::Flags(fm), Ok(n), got) => {
                let [one] = fm.names.as_slice() else {
                    return Err(HarnessError::Other(
                        "a process is killed by one signal, not a set of flags".into(),
                    ));
                };
                let want = sym(Category::ProcSignal, one)? as i32;
                match got {
                    Some(sig) if sig == want => None,
                    Some(sig) => Some(format!("the process was killed by {}", killed(sig))),
                    None => Some(format!("the process exited with status {n}")),
                }
            }
            _ => return Ok(None),
        }))
    }

    fn value(&self, op: &Op, v: &Value, o: &Observed) -> Result<Option<String>, HarnessError> {
        if matches!(op, Op::Wait { .. }) {
            if let Some(verdict) = Self::wait_value(v, o)? {
                return Ok(verdict);
            }
        }
        let data = o.data.as_deref().unwrap_or_default();
        Ok(match v {
            Value::Ok => o.ret.err().map(Self::failed),
            Value::Errno(s) => {
                let want = sym(Category::Errno, s)? as i32;
                match o.ret {
                    Err(e) if e == want => None,
                    Err(e) => Some(format!(
                        "failed with {} instead of {}",
                        errno_name(e),
                        s.name
                    )),
                    Ok(_) => Some(format!(
                        "the call succeeded; expected it to fail with {}",
                        s.name
                    )),
                }
            }
            Value::Int(m) => match Self::int_result(op, o) {
                Err(r) => Some(r),
                Ok(n) if int_matches(m, n) => None,
                Ok(n) => Some(format!("returned {n}")),
            },
            Value::Eof => match o.ret {
                Err(e) => Some(Self::failed(e)),
                Ok(0) => None,
                Ok(n) => Some(format!("returned {n} bytes, not end-of-file")),
            },
            Value::Bytes(p) => match (o.ret, payload_difference(p, data)) {
                (Err(e), _) => Some(Self::failed(e)),
                (Ok(n), None) if n as usize == payload_len(p) => None,
                (Ok(n), None) => {
                    Some(format!("the bytes are right but the call returned {n} (MSG_TRUNC gives the real length)"))
                }
                (Ok(_), Some(difference)) => Some(difference),
            },
            Value::Addr(m) => match (&o.ret, &o.addr) {
                (Err(e), _) => Some(Self::failed(*e)),
                (Ok(_), None) => Some("the call returned no address".to_string()),
                (Ok(_), Some(a)) => self.addr(m, a)?,
            },
            Value::Ready {
                entries,
                others_any,
            } => self.ready(entries, *others_any, o)?,
            Value::Sets {
                read,
                write,
                except,
            } => match (&o.ret, &o.sets) {
                (Err(e), _) => Some(Self::failed(*e)),
                (Ok(_), None) => Some("select returned no sets".to_string()),
                (Ok(_), Some(got)) => {
                    let want = [read, write, except];
                    let names = ["read", "write", "except"];
                    (0..3).find_map(|i| {
                        let mut w: Vec<&str> = want[i].iter().map(|id| id.name.as_str()).collect();
                        let mut g: Vec<&str> = got[i].iter().map(String::as_str).collect();
                        w.sort_unstable();
                        g.sort_unstable();
                        (w != g).then(|| {
                            format!(
                                "the {} set is [{}], expected [{}]",
                                names[i],
                                g.join(", "),
                                w.join(", ")
                            )
                        })
                    })
                }
            },
            Value::Flags(fm) => self.flags_value(op, fm, o)?,
            Value::Linger(on, secs) => match (o.ret, o.opt) {
                (Err(e), _) => Some(Self::failed(e)),
                (Ok(_), Some(OptVal::Linger(a, b)))
                    if i64::from(a) == *on && i64::from(b) == *secs =>
                {
                    None
                }
                (Ok(_), Some(OptVal::Linger(a, b))) => {
                    Some(format!("the option is linger({a}, {b})"))
                }
                _ => Some("the option is not a linger structure".to_string()),
            },
            Value::Duration(d) => match (o.ret, o.opt) {
                (Err(e), _) => Some(Self::failed(e)),
                (Ok(_), Some(OptVal::Timeval(s, us)))
                    if s == d.as_secs() as i64 && us == i64::from(d.subsec_micros()) =>
                {
                    None
                }
                (Ok(_), Some(OptVal::Timeval(s, us))) => {
                    Some(format!("the option is timeval({s}, {us})"))
                }
                _ => Some("the option is not a timeval".to_string()),
            },
            Value::Content(check) => match o.ret {
                Err(e) => Some(Self::failed(e)),
                Ok(_) => super::content::check(check, data, std::time::SystemTime::now()),
            },
            Value::Creds { pid, uid, gid } => match (o.ret, o.opt) {
                (Err(e), _) => Some(Self::failed(e)),
                (Ok(_), Some(OptVal::Ucred(p, u, g))) => {
                    // SO_PEERCRED reports effective ids (cred_to_ucred in net/core/sock.c).
                    let me = (
                        i64::from(std::process::id()),
                        i64::from(nix::unistd::geteuid().as_raw()),
                        i64::from(nix::unistd::getegid().as_raw()),
                    );
                    let ok = |c: &CredMatch, got: i64, mine: i64| match c {
                        CredMatch::Any => true,
                        CredMatch::SelfId => got == mine,
                        CredMatch::Value(v) => got == *v,
                    };
                    (!(ok(pid, p.into(), me.0) && ok(uid, u.into(), me.1) && ok(gid, g.into(), me.2)))
                        .then(|| format!("the option is creds(pid={p}, uid={u}, gid={g}); this process is pid={}, uid={}, gid={}", me.0, me.1, me.2))
                }
                _ => Some("the option is not a ucred structure".to_string()),
            },
            Value::Stat { kind, mode } => match (o.ret, o.stat_mode) {
                (Err(e), _) => Some(Self::failed(e)),
                (Ok(_), Some(m)) => {
                    let want = sym(Category::FileType, kind)? as u32;
                    if m & libc::S_IFMT != want {
                        Some(format!(
                            "the file type is {}",
                            flags_text(Category::FileType, i64::from(m & libc::S_IFMT))
                        ))
                    } else if mode.is_some_and(|mode| mode != m & 0o7777) {
                        Some(format!("the permission bits are {:#o}", m & 0o7777))
                    } else {
                        None
                    }
                }
                (Ok(_), None) => Some("stat returned no mode".to_string()),
            },
        })
    }

    /// `O_NONBLOCK|...` for fcntl, `STREAM` for SO_TYPE, an errno name for SO_ERROR.
    fn flags_value(
        &self,
        op: &Op,
        fm: &FlagsMatch,
        o: &Observed,
    ) -> Result<Option<String>, HarnessError> {
        let got = match Self::int_result(op, o) {
            Err(r) => return Ok(Some(r)),
            Ok(v) => v,
        };
        Ok(match op {
            Op::Getsockopt { opt, .. } => match opt_kind(&opt.name) {
                OptKind::Named(cat) => {
                    let [one] = fm.names.as_slice() else {
                        return Err(HarnessError::Other(format!(
                            "{} is one {}, not a set of flags",
                            opt.name,
                            cat.noun()
                        )));
                    };
                    let want = sym(cat, one)?;
                    (want != got).then(|| {
                        let shown = if cat == Category::Errno && got != 0 {
                            errno_name(got as i32)
                        } else {
                            got.to_string()
                        };
                        format!("the option is {shown}")
                    })
                }
                _ => bits_mismatch(Category::SockOpt, fm, got)?,
            },
            Op::Fcntl { cmd, .. } if cmd.name == "F_GETFL" => {
                // The access mode is a number, not a bit: it is compared only when named.
                let accmode = i64::from(libc::O_ACCMODE);
                let mut rest = FlagsMatch {
                    names: Vec::new(),
                    others_any: fm.others_any,
                };
                let mut mode = None;
                for s in &fm.names {
                    if matches!(s.name.as_str(), "O_RDONLY" | "O_WRONLY" | "O_RDWR") {
                        mode = Some(sym(Category::FileFlag, s)?);
                    } else {
                        rest.names.push(s.clone());
                    }
                }
                match mode {
                    Some(m) if got & accmode != m => {
                        Some(format!("the access mode is {}", got & accmode))
                    }
                    _ => bits_mismatch(Category::FileFlag, &rest, got & !accmode)?,
                }
            }
            Op::Poll { .. } => bits_mismatch(Category::PollFlag, fm, got)?,
            _ => bits_mismatch(Category::FileFlag, fm, got)?,
        })
    }

    fn ready(
        &self,
        entries: &[(Ident, FlagsMatch)],
        others_any: bool,
        o: &Observed,
    ) -> Result<Option<String>, HarnessError> {
        if let Err(e) = o.ret {
            return Ok(Some(Self::failed(e)));
        }
        for (id, fm) in entries {
            let Some((_, r)) = o.revents.iter().find(|(n, _)| *n == id.name) else {
                return Ok(Some(format!("`{}` was not polled", id.name)));
            };
            if let Some(why) = bits_mismatch(Category::PollFlag, fm, i64::from(*r as u16))? {
                return Ok(Some(format!("{}: {why}", id.name)));
            }
        }
        if !others_any {
            for (name, r) in &o.revents {
                if *r != 0 && !entries.iter().any(|(id, _)| id.name == *name) {
                    return Ok(Some(format!(
                        "{name} also reported {} (end the list with `...` to allow it)",
                        flags_text(Category::PollFlag, i64::from(*r as u16))
                    )));
                }
            }
        }
        Ok(None)
    }

    fn modifier(
        &self,
        m: &Modifier,
        o: &Observed,
        before: &Snapshot,
    ) -> Result<Option<String>, HarnessError> {
        Ok(match m {
            Modifier::Data(p) => {
                let got = o.data.as_deref().unwrap_or_default();
                payload_difference(p, got).map(|d| format!("data: {d}"))
            }
            Modifier::MsgFlags(fm) => match o.msg_flags {
                None => Some("no msg_flags (only recvmsg returns them)".to_string()),
                Some(f) => bits_mismatch(Category::MsgFlag, fm, f.into())?
                    .map(|w| format!("msg_flags: {w}")),
            },
            Modifier::From(am) => match &o.addr {
                None => Some("the call returned no peer address".to_string()),
                Some(a) => self.addr(am, a)?.map(|w| format!("from: {w}")),
            },
            Modifier::Rights(ids) => (o.rights.len() != ids.len()).then(|| {
                format!(
                    "received {} descriptors with SCM_RIGHTS, expected {}",
                    o.rights.len(),
                    ids.len()
                )
            }),
            Modifier::Creds { pid, uid, gid } => match o.creds {
                None => Some("no SCM_CREDENTIALS were received (is SO_PASSCRED set?)".to_string()),
                Some((p, u, g)) => {
                    let me = (
                        i64::from(std::process::id()),
                        i64::from(nix::unistd::getuid().as_raw()),
                        i64::from(nix::unistd::getgid().as_raw()),
                    );
                    let ok = |c: &CredMatch, got: i64, mine: i64| match c {
                        CredMatch::Any => true,
                        CredMatch::SelfId => got == mine,
                        CredMatch::Value(v) => got == *v,
                    };
                    (!(ok(pid, p.into(), me.0) && ok(uid, u.into(), me.1) && ok(gid, g.into(), me.2)))
                        .then(|| format!("received creds(pid={p}, uid={u}, gid={g}); this process is pid={}, uid={}, gid={}", me.0, me.1, me.2))
                }
            },
            Modifier::Signal { sig, delivered } => {
                let n = sym(Category::Signal, sig)? as i32;
                let mut count = signals::delivered_since(before, n);
                if n == libc::SIGURG {
                    // SIGURG is raised by the receiving side, asynchronously to the call.
                    let until = (Instant::now()
                        + SIGURG_GRACE.mul_f64(self.ctx.time_scale.max(1.0)))
                    .min(self.ctx.deadline);
                    while count == 0 && Instant::now() < until {
                        std::thread::sleep(Duration::from_millis(1));
                        count = signals::delivered_since(before, n);
                    }
                }
                match (*delivered, count) {
                    (true, 0) => Some(format!("{} was not delivered", sig.name)),
                    (false, c) if c > 0 => Some(format!("{} was delivered ({c}×)", sig.name)),
                    _ => None,
                }
            }
            Modifier::Remaining(im) => match o.remaining_ms {
                None => Some("no remaining time was written back".to_string()),
                Some(ms) => (!int_matches(im, ms)).then(|| format!("remaining is {ms}ms")),
            },
            Modifier::AddrLen(im) => match o.addrlen {
                None => {
                    Some("no address length was written back (only accept has one)".to_string())
                }
                Some(n) => (!int_matches(im, n.into())).then(|| format!("addrlen is {n}")),
            },
            Modifier::Hostent(c) => super::calls::names::check(c, o)?,
        })
    }

    fn port_ok(&self, p: &PortMatch, got: u16) -> Result<bool, HarnessError> {
        Ok(match p {
            PortMatch::Any => true,
            PortMatch::Exact(n) => *n == got,
            PortMatch::Ephemeral => {
                let r = read_sysctl_int(self.ctx, "net.ipv4.ip_local_port_range")?;
                let (lo, hi) = (r[0], *r.get(1).unwrap_or(&r[0]));
                (lo..=hi).contains(&i64::from(got))
            }
            PortMatch::Of(h) => self.table.local(h)?.port() == Some(got),
        })
    }

    /// `None` when `a` matches `m`, else a description of `a`.
    fn addr(&self, m: &AddrMatch, a: &Addr) -> Result<Option<String>, HarnessError> {
        let ok = match (m, a) {
            (AddrMatch::Any, _) => true,
            (AddrMatch::Handle(h), _) => self.table.local(h)? == a,
            (AddrMatch::V4 { ip, port }, Addr::V4(got)) => {
                v4(*ip, got.port()) == *a && self.port_ok(port, got.port())?
            }
            (AddrMatch::V6 { ip, port }, Addr::V6(got)) => {
                matches!(v6(*ip, got.port()), Addr::V6(w) if w.ip() == got.ip())
                    && self.port_ok(port, got.port())?
            }
            (AddrMatch::Path(name), Addr::Path(p)) => {
                use std::os::unix::ffi::OsStrExt;
                self.ctx.private_dir.join(name).as_os_str().as_bytes() == p.as_slice()
            }
            (AddrMatch::RawPath(raw), Addr::Path(p)) => raw.as_bytes() == p.as_slice(),
            (AddrMatch::Abstract(name), Addr::Abstract(n)) => {
                format!("{}{name}", self.style.abstract_prefix).as_bytes() == n.as_slice()
            }
            (AddrMatch::Unnamed, Addr::Unnamed) => true,
            (AddrMatch::Autobound, Addr::Abstract(n)) => is_autobound(n),
            (AddrMatch::None, Addr::None) => true,
            (AddrMatch::Server(name), _) => {
                super::resolve::server_addr(self.ctx, name.as_deref())? == *a
            }
            _ => false,
        };
        Ok((!ok).then(|| format!("the address is {}", a.render(&self.style))))
    }
}

pub(crate) fn int_matches(m: &IntMatch, v: i64) -> bool {
    match m {
        IntMatch::Exact(n) => v == *n,
        IntMatch::Range(lo, hi) => (*lo..=*hi).contains(&v),
        IntMatch::Cmp(op, n) => compare(v, *op, *n),
    }
}

/// `None` when `got` has exactly the named bits (or at least them, with `...`).
fn bits_mismatch(
    category: Category,
    fm: &FlagsMatch,
    got: i64,
) -> Result<Option<String>, HarnessError> {
    let mut want = 0;
    for s in &fm.names {
        want |= sym(category, s)?;
    }
    let ok = if fm.others_any {
        got & want == want
    } else {
        got == want
    };
    Ok((!ok).then(|| format!("the flags are {}", flags_text(category, got))))
}
