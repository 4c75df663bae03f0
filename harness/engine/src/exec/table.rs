//! The handle table: scenario names to the descriptors they own, and the last local address
//! seen for each, which outlives the descriptor so a closed handle can still be named.

use std::collections::HashMap;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use sockspec_lang::Ident;

use super::addr::Addr;
use super::HarnessError;

/// The number a closed handle resolves to: never a valid descriptor, so a call on a closed
/// handle reaches the kernel and fails with `EBADF` (poll reports `POLLNVAL`) without any risk
/// of hitting a descriptor that reused the old number.
pub(crate) const CLOSED_FD: RawFd = RawFd::MAX;

#[derive(Debug)]
pub(crate) struct Handle {
    /// `None` once the scenario closed it.
    pub fd: Option<OwnedFd>,
    /// The last local address seen (after bind, connect, listen, accept or getsockname).
    pub local: Option<Addr>,
}

#[derive(Debug, Default)]
pub(crate) struct Table {
    handles: HashMap<String, Handle>,
    /// Descriptors no name owns (a rebound name's old descriptor, unclaimed SCM_RIGHTS);
    /// kept open like the C program would, and closed at the end.
    stray: Vec<OwnedFd>,
    /// The case's named fd_sets (`FD_ZERO(rs)`), a namespace apart from handles.
    pub(crate) sets: super::fdset::FdSets,
}

impl Table {
    /// The descriptor a handle names, or [`CLOSED_FD`] once it is closed.
    pub(crate) fn fd(&self, id: &Ident) -> Result<RawFd, HarnessError> {
        match self.handles.get(&id.name) {
            Some(h) => Ok(h.fd.as_ref().map_or(CLOSED_FD, AsRawFd::as_raw_fd)),
            None => Err(HarnessError::Unbound(id.name.clone())),
        }
    }

    /// The last local address recorded for a handle.
    pub(crate) fn local(&self, id: &Ident) -> Result<&Addr, HarnessError> {
        let h = self
            .handles
            .get(&id.name)
            .ok_or_else(|| HarnessError::Unbound(id.name.clone()))?;
        h.local
            .as_ref()
            .ok_or_else(|| HarnessError::NoLocalAddr(id.name.clone()))
    }

    pub(crate) fn set_local(&mut self, name: &str, addr: Addr) {
        if let Some(h) = self.handles.get_mut(name) {
            h.local = Some(addr);
        }
    }

    /// Binds `name` to a new descriptor; a descriptor the name held before stays open.
    pub(crate) fn bind(&mut self, name: &str, fd: OwnedFd) {
        let old = self.handles.insert(
            name.to_string(),
            Handle {
                fd: Some(fd),
                local: None,
            },
        );
        if let Some(Handle { fd: Some(old), .. }) = old {
            self.stray.push(old);
        }
    }

    /// Takes the descriptor out of the table for `close`; the name stays, closed.
    pub(crate) fn release(&mut self, id: &Ident) -> Result<Option<OwnedFd>, HarnessError> {
        let h = self
            .handles
            .get_mut(&id.name)
            .ok_or_else(|| HarnessError::Unbound(id.name.clone()))?;
        Ok(h.fd.take())
    }

    pub(crate) fn keep_stray(&mut self, fd: OwnedFd) {
        self.stray.push(fd);
    }

    /// Whether `fd` is a descriptor the table still owns.
    pub(crate) fn owns(&self, fd: RawFd) -> bool {
        self.handles
            .values()
            .any(|h| h.fd.as_ref().is_some_and(|f| f.as_raw_fd() == fd))
            || self.stray.iter().any(|f| f.as_raw_fd() == fd)
    }

    /// The name of the handle that owns descriptor `fd` now, if any.
    pub(crate) fn name_of(&self, fd: RawFd) -> Option<&str> {
        self.handles
            .iter()
            .find(|(_, h)| h.fd.as_ref().is_some_and(|f| f.as_raw_fd() == fd))
            .map(|(n, _)| n.as_str())
    }

    /// Closes every descriptor.
    pub(crate) fn close_all(&mut self) {
        for h in self.handles.values_mut() {
            h.fd = None;
        }
        self.stray.clear();
    }
}
