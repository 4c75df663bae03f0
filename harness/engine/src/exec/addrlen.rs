//! accept's value-result address length: the engine passes a `sockaddr_storage` with
//! `*addrlen = N`, records the length the kernel wrote back, and decodes only the
//! `min(N, written)` bytes a C program would find in its buffer.
//!
//! The kernel copies `min(N, real length)` bytes and always writes back the real length
//! (`move_addr_to_user` in net/socket.c; man 2 accept: "the returned address is truncated if
//! the buffer provided is too small; in this case, addrlen will return a value greater than
//! was supplied"). What a truncated address reads as:
//! - no byte at all: `none`;
//! - part of the family, or an Internet address cut before its last address byte:
//!   `truncated(INET, 4 bytes)` (port and address are not all there, so no address is made
//!   up from zeroes);
//! - a Unix address with only its family: `unnamed`, exactly as an unbound peer reads;
//! - a Unix path cut short: the bytes that arrived, as a path without its end
//!   (`rawpath("/tm")`), since C finds no terminating NUL either.

use std::os::fd::RawFd;

use socket2::{SockAddr, SockAddrStorage};

use super::addr::Addr;
use super::observed::Observed;

/// The size of the buffer the engine passes: a whole `sockaddr_storage`.
pub(crate) const STORAGE_LEN: usize = std::mem::size_of::<SockAddrStorage>();

/// Bytes of `sockaddr_in` up to the end of `sin_addr` (family, port, address).
const SIN_ADDR_END: usize = 8;

/// Bytes of `sockaddr_in6` up to the end of `sin6_addr` (family, port, flow info, address);
/// a missing `sin6_scope_id` reads as 0.
const SIN6_ADDR_END: usize = 24;

/// `accept4(fd, &storage, &len, flags)` with `len = given` (at most [`STORAGE_LEN`]).
pub(crate) fn accept(o: &mut Observed, fd: RawFd, flags: i32, given: u32) {
    let mut storage = SockAddrStorage::zeroed();
    let mut len = given.min(STORAGE_LEN as u32) as libc::socklen_t;
    // SAFETY: `storage` is a writable sockaddr_storage of STORAGE_LEN bytes and `len` does
    // not exceed it, so the kernel writes inside it.
    let r = unsafe { libc::accept4(fd, std::ptr::from_mut(&mut storage).cast(), &mut len, flags) };
    if r == -1 {
        o.ret = Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0));
        return;
    }
    // SAFETY: accept4 just returned this new descriptor; nothing else owns it.
    o.new_fds
        .push(unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(r) });
    o.ret = Ok(r.into());
    o.addrlen = Some(len);
    // SAFETY: `storage` is plain data of STORAGE_LEN bytes, all initialised (zeroed, then
    // partly written by the kernel).
    let bytes = unsafe {
        std::slice::from_raw_parts(std::ptr::from_ref(&storage).cast::<u8>(), STORAGE_LEN)
    };
    o.addr = Some(visible(bytes, given.min(len) as usize));
}

/// A socket address of `len` bytes made from the first bytes of `bytes` (zeroes after).
fn sockaddr(bytes: &[u8], len: usize) -> SockAddr {
    let mut storage = SockAddrStorage::zeroed();
    let n = bytes.len().min(STORAGE_LEN);
    // SAFETY: `storage` is plain data of STORAGE_LEN bytes, exclusively borrowed here, and
    // at most that many bytes are copied into it.
    unsafe {
        std::ptr::copy_nonoverlapping(
            bytes.as_ptr(),
            std::ptr::from_mut(&mut storage).cast::<u8>(),
            n,
        );
    }
    // SAFETY: the storage is initialised and `len` does not exceed its size.
    unsafe { SockAddr::new(storage, len.min(STORAGE_LEN) as libc::socklen_t) }
}

/// The address as C sees it in a buffer of which only the first `visible` bytes were written
/// (the rest was zero before the call and stays so).
fn visible(bytes: &[u8], visible: usize) -> Addr {
    let visible = visible.min(bytes.len());
    if visible == 0 {
        return Addr::None;
    }
    let family_len = std::mem::size_of::<libc::sa_family_t>();
    if visible < family_len {
        return Addr::Truncated {
            family: None,
            visible: visible as u32,
        };
    }
    let seen = &bytes[..visible];
    let at = |len: usize| sockaddr(seen, len);
    let family = i32::from(at(visible).family());
    let whole = match family {
        libc::AF_INET => Some((SIN_ADDR_END, std::mem::size_of::<libc::sockaddr_in>())),
        libc::AF_INET6 => Some((SIN6_ADDR_END, std::mem::size_of::<libc::sockaddr_in6>())),
        _ => None,
    };
    match whole {
        Some((needed, _)) if visible < needed => Addr::Truncated {
            family: Some(family),
            visible: visible as u32,
        },
        Some((_, size)) => Addr::decode(&at(size)),
        None => Addr::decode(&at(visible)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unix(path: &[u8]) -> Vec<u8> {
        let mut raw = vec![0u8; STORAGE_LEN];
        raw[..2].copy_from_slice(&(libc::AF_UNIX as libc::sa_family_t).to_ne_bytes());
        raw[2..2 + path.len()].copy_from_slice(path);
        raw
    }

    #[test]
    fn a_unix_address_cut_after_its_family_reads_as_unnamed() {
        let raw = unix(b"/tmp/x");
        assert_eq!(visible(&raw, 0), Addr::None);
        assert_eq!(
            visible(&raw, 1),
            Addr::Truncated {
                family: None,
                visible: 1
            }
        );
        assert_eq!(visible(&raw, 2), Addr::Unnamed);
        assert_eq!(visible(&raw, 5), Addr::Path(b"/tm".to_vec()));
        assert_eq!(visible(&raw, 9), Addr::Path(b"/tmp/x".to_vec()));
    }

    #[test]
    fn an_inet_address_needs_its_port_and_address() {
        let sa = SockAddr::from(std::net::SocketAddr::from(([127, 0, 0, 1], 4242)));
        // SAFETY: `sa` owns a whole storage; only its bytes are read.
        let raw = unsafe { std::slice::from_raw_parts(sa.as_ptr().cast::<u8>(), STORAGE_LEN) };
        assert_eq!(
            visible(raw, 4),
            Addr::Truncated {
                family: Some(libc::AF_INET),
                visible: 4
            }
        );
        assert_eq!(
            visible(raw, 8),
            super::super::addr::v4([127, 0, 0, 1], 4242)
        );
    }
}
