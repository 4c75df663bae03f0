//! Socket addresses: decoded from what the kernel wrote (telling `none`, `unnamed`, abstract,
//! autobound and path names apart by their length), encoded for calls, and printed the way
//! scenarios write them.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use socket2::{SockAddr, SockAddrStorage};

use super::bytes::quote;
use super::HarnessError;

/// Byte offset of `sun_path` in `struct sockaddr_un` (the size of `sa_family_t`).
const SUN_PATH_OFFSET: usize = std::mem::size_of::<libc::sa_family_t>();

/// An address as the kernel reported it (or as a scenario named it), independent of the case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Addr {
    /// No address at all: the kernel wrote an address length of 0.
    None,
    V4(SocketAddrV4),
    V6(SocketAddrV6),
    /// An unbound Unix socket: only `sun_family` was written.
    Unnamed,
    /// A Unix path name, without its terminating NUL.
    Path(Vec<u8>),
    /// A Linux abstract name, without the leading NUL.
    Abstract(Vec<u8>),
    /// `AF_UNSPEC`.
    Unspec,
    /// A family the language has no form for.
    Other {
        family: i32,
        len: u32,
    },
    /// Fewer bytes than the family's address needs were copied out (accept with a short
    /// `addrlen`): the family (when its two bytes arrived) and how many bytes C can see.
    Truncated {
        family: Option<i32>,
        visible: u32,
    },
}

/// What printing an address needs from the case: paths are shown relative to the private
/// directory and abstract names without the per-run prefix.
#[derive(Debug, Clone)]
pub(crate) struct AddrStyle<'a> {
    pub private_dir: &'a Path,
    pub abstract_prefix: &'a str,
}

impl Addr {
    /// Decodes the address and length a call wrote.
    pub(crate) fn decode(sa: &SockAddr) -> Addr {
        let len = sa.len() as usize;
        if len == 0 {
            return Addr::None;
        }
        match i32::from(sa.family()) {
            libc::AF_INET => sa.as_socket_ipv4().map_or(
                Addr::Other {
                    family: libc::AF_INET,
                    len: len as u32,
                },
                Addr::V4,
            ),
            libc::AF_INET6 => sa.as_socket_ipv6().map_or(
                Addr::Other {
                    family: libc::AF_INET6,
                    len: len as u32,
                },
                Addr::V6,
            ),
            libc::AF_UNSPEC => Addr::Unspec,
            libc::AF_UNIX => {
                if len <= SUN_PATH_OFFSET {
                    return Addr::Unnamed;
                }
                let raw = storage_bytes(sa);
                let path = &raw[SUN_PATH_OFFSET..len.min(raw.len())];
                if path[0] == 0 {
                    Addr::Abstract(path[1..].to_vec())
                } else {
                    let end = path.iter().position(|&b| b == 0).unwrap_or(path.len());
                    Addr::Path(path[..end].to_vec())
                }
            }
            family => Addr::Other {
                family,
                len: len as u32,
            },
        }
    }

    /// Encodes the address for bind, connect, sendto and sendmsg.
    pub(crate) fn encode(&self) -> Result<SockAddr, HarnessError> {
        Ok(match self {
            Addr::V4(a) => SockAddr::from(SocketAddr::V4(*a)),
            Addr::V6(a) => SockAddr::from(SocketAddr::V6(*a)),
            Addr::None => unix_addr(libc::AF_UNSPEC, &[], 0)?,
            // Only the family: `bind` with this length asks Linux to autobind.
            Addr::Unnamed => unix_addr(libc::AF_UNIX, &[], SUN_PATH_OFFSET)?,
            Addr::Path(p) => {
                // A path that fits is passed with its NUL, as C programs do; a longer one is
                // passed as written, so the kernel (not the harness) rejects it.
                let sun_path_len = std::mem::size_of::<libc::sockaddr_un>() - SUN_PATH_OFFSET;
                let len = if p.len() < sun_path_len {
                    p.len() + 1
                } else {
                    p.len()
                };
                unix_addr(libc::AF_UNIX, p, SUN_PATH_OFFSET + len)?
            }
            Addr::Abstract(name) => {
                let mut bytes = vec![0u8];
                bytes.extend_from_slice(name);
                unix_addr(libc::AF_UNIX, &bytes, SUN_PATH_OFFSET + bytes.len())?
            }
            Addr::Unspec => unix_addr(libc::AF_UNSPEC, &[], std::mem::size_of::<libc::sockaddr>())?,
            Addr::Other { family, .. } => {
                return Err(HarnessError::Other(format!(
                    "cannot pass an address of family {family}"
                )))
            }
            Addr::Truncated { .. } => {
                return Err(HarnessError::Other(
                    "cannot pass a truncated address".to_string(),
                ))
            }
        })
    }

    /// The port of an IPv4 or IPv6 address.
    pub(crate) fn port(&self) -> Option<u16> {
        match self {
            Addr::V4(a) => Some(a.port()),
            Addr::V6(a) => Some(a.port()),
            _ => None,
        }
    }

    /// `127.0.0.1:40312`, `[::1]:5000`, `path("x")`, `abstract("x")`, `unnamed`,
    /// `autobound(@00012)`, `none`.
    pub(crate) fn render(&self, style: &AddrStyle<'_>) -> String {
        match self {
            Addr::None => "none".to_string(),
            Addr::V4(a) => a.to_string(),
            Addr::V6(a) => format!("[{}]:{}", a.ip(), a.port()),
            Addr::Unnamed => "unnamed".to_string(),
            Addr::Unspec => "unspec".to_string(),
            Addr::Path(p) => {
                let dir = style.private_dir.as_os_str().as_bytes();
                match p.strip_prefix(dir).and_then(|rest| rest.strip_prefix(b"/")) {
                    Some(rel) if !dir.is_empty() => format!("path({})", quote(rel)),
                    _ => format!("rawpath({})", quote(p)),
                }
            }
            Addr::Abstract(name) => {
                if is_autobound(name) {
                    format!("autobound(@{})", String::from_utf8_lossy(name))
                } else {
                    match name.strip_prefix(style.abstract_prefix.as_bytes()) {
                        Some(rest) => format!("abstract({})", quote(rest)),
                        None => format!("abstract(@{})", quote(name)),
                    }
                }
            }
            Addr::Other { family, len } => format!("<family {family}, {len} bytes>"),
            Addr::Truncated { family, visible } => {
                let family = family.map(|f| {
                    super::consts::name_of(sockspec_lang::symbols::Category::Domain, f.into())
                        .map_or_else(|| format!("family {f}, "), |n| format!("{n}, "))
                });
                let unit = if *visible == 1 { "byte" } else { "bytes" };
                format!("truncated({}{visible} {unit})", family.unwrap_or_default())
            }
        }
    }
}

/// Linux autobind names are five lowercase hex digits (`net/unix/af_unix.c`, `"%05x"`).
pub(crate) fn is_autobound(name: &[u8]) -> bool {
    name.len() == 5
        && name
            .iter()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
}

pub(crate) fn v4(ip: [u8; 4], port: u16) -> Addr {
    Addr::V4(SocketAddrV4::new(Ipv4Addr::from(ip), port))
}

pub(crate) fn v6(ip: [u16; 8], port: u16) -> Addr {
    let [a, b, c, d, e, f, g, h] = ip;
    Addr::V6(SocketAddrV6::new(
        Ipv6Addr::new(a, b, c, d, e, f, g, h),
        port,
        0,
        0,
    ))
}

fn storage_bytes(sa: &SockAddr) -> Vec<u8> {
    let len = std::mem::size_of::<SockAddrStorage>();
    // SAFETY: `as_ptr` points at a whole `SockAddrStorage` owned by `sa`, which lives for the
    // duration of this borrow; we only read `len` bytes of it.
    unsafe { std::slice::from_raw_parts(sa.as_ptr().cast::<u8>(), len) }.to_vec()
}

/// A Unix-family (or bare-family) address with `path` copied into `sun_path` and the given
/// total length, which may be shorter or longer than the path implies.
fn unix_addr(family: i32, path: &[u8], len: usize) -> Result<SockAddr, HarnessError> {
    let mut storage = SockAddrStorage::zeroed();
    let cap = std::mem::size_of::<SockAddrStorage>();
    if SUN_PATH_OFFSET + path.len() > cap || len > cap {
        return Err(HarnessError::Other(format!(
            "a path of {} bytes does not fit in a sockaddr_storage",
            path.len()
        )));
    }
    let base = std::ptr::from_mut(&mut storage).cast::<u8>();
    // SAFETY: `storage` is a plain-data `sockaddr_storage` of `cap` bytes, exclusively
    // borrowed here; any byte pattern is valid for it.
    let raw = unsafe { std::slice::from_raw_parts_mut(base, cap) };
    raw[..SUN_PATH_OFFSET].copy_from_slice(&(family as libc::sa_family_t).to_ne_bytes());
    raw[SUN_PATH_OFFSET..SUN_PATH_OFFSET + path.len()].copy_from_slice(path);
    // SAFETY: the first `len` bytes of `storage` are initialised (it was zeroed) and hold a
    // valid family; the kernel validates the rest.
    Ok(unsafe { SockAddr::new(storage, len as libc::socklen_t) })
}
