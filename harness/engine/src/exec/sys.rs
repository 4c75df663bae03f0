//! The one FFI idiom of the engine: a libc call returns `-1` and sets `errno`, which becomes
//! `Err(errno)`; a descriptor the kernel returned becomes an `OwnedFd`; address storage is
//! socket2's, so every family reads an address the kernel wrote the same way.

use std::os::fd::{FromRawFd, OwnedFd, RawFd};

use socket2::SockAddr;

use super::addr::Addr;

/// The calling thread's `errno`.
pub(crate) fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// `-1` is a failure with `errno`; anything else is the call's return value.
pub(crate) fn cvt(r: i64) -> Result<i64, i32> {
    if r == -1 {
        Err(errno())
    } else {
        Ok(r)
    }
}

/// Takes ownership of a descriptor the kernel just returned.
pub(crate) fn owned(fd: RawFd) -> OwnedFd {
    // SAFETY: `fd` was just returned by a successful syscall of this thread and nothing else
    // owns it yet.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// Calls `f` with writable address storage and returns its result with the decoded address.
pub(crate) fn with_addr(
    f: impl FnOnce(*mut libc::sockaddr, *mut libc::socklen_t) -> i64,
) -> (Result<i64, i32>, Addr) {
    let mut ret = Ok(0);
    // SAFETY: `try_init` hands the closure zeroed storage and its length; the closure passes
    // them to a syscall that writes at most that many bytes and updates the length.
    let res = unsafe {
        SockAddr::try_init(|sa, len| {
            ret = cvt(f(sa.cast(), len));
            Ok(())
        })
    };
    match res {
        Ok(((), addr)) => (ret, Addr::decode(&addr)),
        Err(e) => (Err(e.raw_os_error().unwrap_or(0)), Addr::None),
    }
}
