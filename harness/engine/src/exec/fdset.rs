//! Named `fd_set`s with C semantics: `FD_ZERO(rs)`, `FD_SET(h, rs)`, `FD_CLR(h, rs)`,
//! `FD_ISSET(h, rs)` run the libc crate's versions of the macros on a real `fd_set` the case
//! keeps, and `select(rs, …)` passes that set and stores what the kernel rewrote in place.
//!
//! A set holds descriptor numbers, not handles: a bit set for a handle that is closed later
//! stays set, as in C.

use std::collections::HashMap;
use std::os::fd::RawFd;

use sockspec_lang::{Ident, Op, SetArg};

use super::observed::Observed;
use super::table::{Table, CLOSED_FD};
use super::HarnessError;

/// The case's fd_sets by name.
#[derive(Default)]
pub(crate) struct FdSets {
    sets: HashMap<String, Box<libc::fd_set>>,
}

impl std::fmt::Debug for FdSets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown: HashMap<&String, Vec<RawFd>> =
            self.sets.iter().map(|(n, s)| (n, members(s))).collect();
        f.debug_struct("FdSets").field("sets", &shown).finish()
    }
}

fn empty() -> Box<libc::fd_set> {
    // SAFETY: an all-zero fd_set is a valid value; FD_ZERO then clears it the C way.
    let mut set: Box<libc::fd_set> = Box::new(unsafe { std::mem::zeroed() });
    // SAFETY: `set` is a valid, exclusively borrowed fd_set.
    unsafe { libc::FD_ZERO(&mut *set) };
    set
}

/// The descriptors in a set, in increasing order.
pub(crate) fn members(set: &libc::fd_set) -> Vec<RawFd> {
    (0..libc::FD_SETSIZE as RawFd)
        // SAFETY: every number tested is below FD_SETSIZE.
        .filter(|fd| unsafe { libc::FD_ISSET(*fd, set) })
        .collect()
}

impl FdSets {
    /// The descriptors of a declared set.
    pub(crate) fn members(&self, id: &Ident) -> Result<Vec<RawFd>, HarnessError> {
        self.sets
            .get(&id.name)
            .map(|s| members(s))
            .ok_or_else(|| unknown(id))
    }

    /// Replaces a set's content with the descriptors select left in it.
    pub(crate) fn store(&mut self, name: &str, fds: &[RawFd]) {
        let mut set = empty();
        for fd in fds {
            // SAFETY: `fds` come from an fd_set, so each is below FD_SETSIZE.
            unsafe { libc::FD_SET(*fd, &mut *set) };
        }
        self.sets.insert(name.to_string(), set);
    }
}

fn unknown(id: &Ident) -> HarnessError {
    HarnessError::Other(format!(
        "fd_set `{}` is not declared (FD_ZERO it first)",
        id.name
    ))
}

/// `rs={b=fd4, fd7}`: a set's members, named by the handles that own them now.
pub(crate) fn shown(table: &Table, name: &str, fds: &[RawFd]) -> String {
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
pub(crate) fn perform(
    op: &Op,
    table: &mut Table,
) -> Result<(Observed, String, Vec<String>), HarnessError> {
    let (set, fd) = match op {
        Op::FdZero { set } => (set, None),
        Op::FdSet { fd, set } | Op::FdClr { fd, set } | Op::FdIsset { fd, set } => (set, Some(fd)),
        _ => return Err(HarnessError::Other("not an FD_* macro".into())),
    };
    if let Op::FdZero { .. } = op {
        table.sets.sets.insert(set.name.clone(), empty());
        let mut o = Observed::new(Ok(0));
        o.note = Some(shown(table, &set.name, &[]));
        return Ok((o, format!("FD_ZERO({})", set.name), Vec::new()));
    }
    let Some(id) = fd else {
        return Err(HarnessError::Other("an FD_* macro needs a handle".into()));
    };
    let n = number(table, id)?;
    let s = table
        .sets
        .sets
        .get_mut(&set.name)
        .ok_or_else(|| unknown(set))?;
    let (name, ret) = match op {
        Op::FdSet { .. } => {
            // SAFETY: `n` is below FD_SETSIZE and `s` is a valid fd_set.
            unsafe { libc::FD_SET(n, &mut **s) };
            ("FD_SET", 0)
        }
        Op::FdClr { .. } => {
            // SAFETY: as above.
            unsafe { libc::FD_CLR(n, &mut **s) };
            ("FD_CLR", 0)
        }
        // SAFETY: as above.
        _ => ("FD_ISSET", i64::from(unsafe { libc::FD_ISSET(n, &**s) })),
    };
    let after = members(s);
    let mut o = Observed::new(Ok(ret));
    o.note = Some(shown(table, &set.name, &after));
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
