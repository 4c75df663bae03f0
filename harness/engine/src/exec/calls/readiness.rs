//! Waiting for descriptors and for time: `poll`, `select` (with named fd sets, whose
//! `FD_ZERO`/`FD_SET`/`FD_CLR`/`FD_ISSET` the runner carries out in `fdset.rs`) and `sleep`.

use std::os::fd::RawFd;
use std::time::{Duration, Instant};

use sockspec_lang::symbols::Category;
use sockspec_lang::{Ident, Nfds, Op, SetArg, Timeout};

use crate::exec::addr::AddrStyle;
use crate::exec::consts::flags_text;
use crate::exec::fdset::members;
use crate::exec::observed::Observed;
use crate::exec::resolve::{duration_text, flags, flags_written};
use crate::exec::resolve::{wrong_family, Resolver};
use crate::exec::sys::cvt;
use crate::exec::table::{Table, CLOSED_FD};
use crate::exec::HarnessError;

/// A call of this family with every argument resolved to what the syscall takes.
#[derive(Debug)]
pub(crate) enum Call {
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
}

impl Call {
    /// The descriptors the call waits on, so the end of a case can wake it when it blocks.
    pub(crate) fn fds(&self) -> Vec<RawFd> {
        match self {
            Call::Poll { fds, .. } => fds.iter().map(|(_, fd, _)| *fd).collect(),
            Call::Select { sets, .. } => sets.iter().flatten().map(|(_, fd)| *fd).collect(),
            Call::Sleep(_) => Vec::new(),
        }
    }
}

/// Resolves a call of this family; its transcript text comes with it.
pub(crate) fn prepare(
    r: &Resolver,
    op: &Op,
    h: &mut Vec<String>,
    deadline: Instant,
) -> Result<(Call, String), HarnessError> {
    Ok(match op {
        Op::Poll { fds, timeout } => {
            let mut entries = Vec::new();
            let mut shown = Vec::new();
            for (id, ev) in fds {
                let (fd, s) = r.fd(id, h)?;
                entries.push((id.name.clone(), fd, flags(Category::PollFlag, ev)? as i16));
                shown.push(format!("{s}: {}", flags_written(ev)));
            }
            let (ms, tt) = match timeout {
                Timeout::After(d) => (ceil_ms(*d), duration_text(*d)),
                Timeout::Infinite => (-1, "inf".to_string()),
                Timeout::Negative(n) => (*n, n.to_string()),
            };
            (
                Call::Poll {
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
                    let fds = r.table.sets.members(id)?;
                    named[i] = Some(members_text(r.table, &id.name, &fds));
                    for fd in fds {
                        let name = r
                            .table
                            .name_of(fd)
                            .map_or_else(|| format!("fd{fd}"), str::to_string);
                        sets[i].push((name, fd));
                    }
                }
                for id in arg.handles() {
                    let (fd, s) = r.fd(id, h)?;
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
                    let fd = r.table.fd(handle)?;
                    if fd == CLOSED_FD {
                        return Err(HarnessError::Other(format!(
                            "`{}` is closed: fd({}) has no number",
                            handle.name, handle.name
                        )));
                    }
                    h.push(handle.name.clone());
                    (i64::from(fd) + plus).clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
                }
            };
            // The kernel reads and writes `nfds` bits of each set, and the sets here are
            // glibc's fd_set of FD_SETSIZE bits: a larger nfds would let it past their end.
            if n > libc::FD_SETSIZE as i32 {
                return Err(HarnessError::Other(format!(
                    "select(nfds={n}): above FD_SETSIZE ({}), the size of the harness's fd_sets; \
                     the kernel would read and write past them",
                    libc::FD_SETSIZE
                )));
            }
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
                Call::Select {
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
            let scaled = dur.mul_f64(r.ctx.time_scale.max(1.0));
            let text = format!("sleep({})", duration_text(*dur));
            let left = deadline.saturating_duration_since(Instant::now());
            if scaled > left {
                // Cutting the sleep short and reporting `= 0` would pass a case that never
                // waited as long as it says; the deadline is the case's mistake to fix.
                return Err(HarnessError::PastDeadline {
                    call: text,
                    left: format!("{:.2}s", left.as_secs_f64()),
                });
            }
            (Call::Sleep(scaled), text)
        }
        _ => return Err(wrong_family(op, "readiness")),
    })
}

/// Runs the call; `deadline` bounds the engine's own loops, never the call itself.
pub(crate) fn perform(call: &Call, o: &mut Observed) {
    match call {
        Call::Poll { fds, timeout_ms } => {
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
        Call::Select {
            sets,
            timeout,
            nfds,
        } => select(o, sets, *timeout, *nfds),
        Call::Sleep(d) => std::thread::sleep(*d),
    }
}

/// What a successful call returned, as a scenario would write it.
pub(crate) fn render(op: &Op, v: i64, o: &Observed, _style: &AddrStyle<'_>) -> String {
    match op {
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
        _ => v.to_string(),
    }
}

/// `d.as_millis()` rounded up, so a 500us poll timeout is not passed as 0.
fn ceil_ms(d: Duration) -> i64 {
    d.as_micros().div_ceil(1000).min(i32::MAX as u128) as i64
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
        o.fd_sets = Some(std::array::from_fn(|i| members(&fdsets[i])));
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

/// `rs={b=fd4, fd7}`: a set's members, named by the handles that own them now.
pub(crate) fn members_text(table: &Table, name: &str, fds: &[RawFd]) -> String {
    let items: Vec<String> = fds
        .iter()
        .map(|fd| match table.name_of(*fd) {
            Some(h) => format!("{h}=fd{fd}"),
            None => format!("fd{fd}"),
        })
        .collect();
    format!("{name}={{{}}}", items.join(", "))
}

/// The descriptor of a handle for an FD_* macro: closed handles have no number any more, and
/// glibc aborts on numbers at or above FD_SETSIZE, so both are the scenario's mistake.
fn number(table: &Table, id: &Ident) -> Result<RawFd, HarnessError> {
    let fd = table.fd(id)?;
    if fd == CLOSED_FD {
        return Err(HarnessError::Other(format!(
            "`{}` is closed: it has no descriptor number to put in an fd_set",
            id.name
        )));
    }
    if fd >= libc::FD_SETSIZE as RawFd {
        return Err(HarnessError::Other(format!(
            "`{}` is fd {fd}, beyond FD_SETSIZE ({})",
            id.name,
            libc::FD_SETSIZE
        )));
    }
    Ok(fd)
}

/// Runs `FD_ZERO`, `FD_SET`, `FD_CLR` or `FD_ISSET` on the case's sets; returns what the
/// call gave (FD_ISSET: 1 or 0; the others: 0), the transcript text and the handles touched.
pub(crate) fn fd_macro(
    op: &Op,
    table: &mut Table,
) -> Result<(Observed, String, Vec<String>), HarnessError> {
    let (set, fd) = match op {
        Op::FdZero { set } => (set, None),
        Op::FdSet { fd, set } | Op::FdClr { fd, set } | Op::FdIsset { fd, set } => (set, Some(fd)),
        _ => return Err(HarnessError::Other("not an FD_* macro".into())),
    };
    if let Op::FdZero { .. } = op {
        table.sets.zero(&set.name);
        let mut o = Observed::new(Ok(0));
        o.note = Some(members_text(table, &set.name, &[]));
        return Ok((o, format!("FD_ZERO({})", set.name), Vec::new()));
    }
    let Some(id) = fd else {
        return Err(HarnessError::Other("an FD_* macro needs a handle".into()));
    };
    let n = number(table, id)?;
    let s = table.sets.get_mut(set)?;
    let (name, ret) = match op {
        Op::FdSet { .. } => {
            // SAFETY: `n` is below FD_SETSIZE and `s` is a valid fd_set.
            unsafe { libc::FD_SET(n, s) };
            ("FD_SET", 0)
        }
        Op::FdClr { .. } => {
            // SAFETY: as above.
            unsafe { libc::FD_CLR(n, s) };
            ("FD_CLR", 0)
        }
        // SAFETY: as above.
        _ => ("FD_ISSET", i64::from(unsafe { libc::FD_ISSET(n, s) })),
    };
    let after = members(s);
    let mut o = Observed::new(Ok(ret));
    o.note = Some(members_text(table, &set.name, &after));
    Ok((
        o,
        format!("{name}({}=fd{n}, {})", id.name, set.name),
        vec![id.name.clone()],
    ))
}

/// After a successful select, stores the rewritten sets into the named ones it was given.
pub(crate) fn write_back(op: &Op, o: &Observed, table: &mut Table) {
    let (
        Op::Select {
            read,
            write,
            except,
            ..
        },
        Ok(_),
        Some(after),
    ) = (op, &o.ret, &o.fd_sets)
    else {
        return;
    };
    for (arg, fds) in [read, write, except].into_iter().zip(after) {
        if let SetArg::Named(id) = arg {
            table.sets.store(&id.name, fds);
        }
    }
}
