//! Named `fd_set`s with C semantics, as the case keeps them (the readiness family runs the
//! macros on them): `FD_ZERO(rs)`, `FD_SET(h, rs)`, `FD_CLR(h, rs)`,
//! `FD_ISSET(h, rs)` run the libc crate's versions of the macros on a real `fd_set` the case
//! keeps, and `select(rs, …)` passes that set and stores what the kernel rewrote in place.
//!
//! A set holds descriptor numbers, not handles: a bit set for a handle that is closed later
//! stays set, as in C.

use std::collections::HashMap;
use std::os::fd::RawFd;

use sockspec_lang::Ident;

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

    /// `FD_ZERO(name)`: declares the set, or empties it.
    pub(crate) fn zero(&mut self, name: &str) {
        self.sets.insert(name.to_string(), empty());
    }

    /// A declared set, to change in place.
    pub(crate) fn get_mut(&mut self, id: &Ident) -> Result<&mut libc::fd_set, HarnessError> {
        self.sets
            .get_mut(&id.name)
            .map(|s| &mut **s)
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
    HarnessError::UndeclaredFdSet(id.name.clone())
}
