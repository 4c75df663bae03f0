//! Host names, host identifiers and the hosts database: `sethostname`, `gethostid`,
//! `sethostid`, and `gethostbyname` / `gethostbyname2` / `gethostbyaddr` with the whole
//! `struct hostent` (or `h_errno`); and the scratch files (`mount_tmpfs`, `write_file`,
//! `read_file`) a case uses to give the C library a known `/etc` without touching the
//! machine's.
//!
//! Everything that changes the system is checked here before it runs: the host name only in
//! the case's own UTS namespace, files (written or read) only inside a tmpfs the case mounted
//! or its private directory, so a scenario cannot rename the machine, edit its `/etc` or copy
//! its files into a report.

use std::ffi::CString;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use sockspec_lang::symbols::Category;
use sockspec_lang::{HostAddr, HostentCheck, Op};

use crate::exec::addr::{Addr, AddrStyle};
use crate::exec::bytes::{materialize, quote};
use crate::exec::consts::name_of;
use crate::exec::observed::{Hostent, Lookup, Observed};
use crate::exec::resolve::{sym, Resolver};
use crate::exec::sys::{cvt, errno};
use crate::exec::HarnessError;
use crate::sandbox;

/// `NETDB_INTERNAL` of <netdb.h>: the lookup failed for a reason glibc left in `errno`.
const NETDB_INTERNAL: i32 = -1;

/// The most bytes `gethostbyaddr(ADDR, LEN, …)` may be told to read: far above the 16 of an
/// IPv6 address, and the engine must own every byte the C library may read.
const MAX_HOSTADDR_LEN: u64 = 1024;

/// The file glibc's `sethostid` writes and `gethostid` reads first (`HOSTIDFILE`).
const HOSTID_FILE: &str = "/etc/hostid";

/// A call of this family with its arguments resolved.
#[derive(Debug)]
pub(crate) enum Call {
    Getservbyname(CString, CString),
    Getservbyport(i64, CString),
    Gethostname(usize),
    Sethostname(Vec<u8>),
    MountTmpfs(PathBuf),
    WriteFile(CString, Vec<u8>),
    ReadFile(CString, usize),
    Gethostid,
    Sethostid(libc::c_long),
    Gethostbyname(CString),
    Gethostbyname2(CString, i32),
    Gethostbyaddr {
        /// The address bytes, zero-padded to at least `len`.
        bytes: Vec<u8>,
        len: libc::socklen_t,
        family: i32,
    },
}

extern "C" {
    // glibc's resolver entry points and h_errno, which the libc crate does not bind on Linux.
    fn gethostbyname(name: *const libc::c_char) -> *mut libc::hostent;
    fn gethostbyname2(name: *const libc::c_char, af: libc::c_int) -> *mut libc::hostent;
    fn gethostbyaddr(
        addr: *const libc::c_void,
        len: libc::socklen_t,
        af: libc::c_int,
    ) -> *mut libc::hostent;
    fn __h_errno_location() -> *mut libc::c_int;
}

fn cstring(text: &[u8]) -> Result<CString, HarnessError> {
    CString::new(text)
        .map_err(|_| HarnessError::NulByte(String::from_utf8_lossy(text).into_owned()))
}

fn refuse(text: String) -> HarnessError {
    HarnessError::Refused(text)
}

/// An absolute path without `..`, so `starts_with` says where it really is.
fn is_plain(path: &Path) -> bool {
    path.is_absolute()
        && path
            .components()
            .all(|c| !matches!(c, Component::ParentDir))
}

impl Resolver<'_> {
    /// The path of `path("x")` or `rawpath("…")`, with its transcript text.
    fn names_path(&self, a: &sockspec_lang::AddrExpr) -> Result<(PathBuf, String), HarnessError> {
        let addr = self.addr(a)?;
        let Addr::Path(p) = &addr else {
            return Err(refuse(
                "files are named `path(\"x\")` or `rawpath(\"…\")`".into(),
            ));
        };
        let style = AddrStyle {
            private_dir: &self.ctx.private_dir,
            abstract_prefix: self.abstract_prefix,
        };
        Ok((
            PathBuf::from(std::ffi::OsStr::from_bytes(p)),
            addr.render(&style),
        ))
    }

    /// Refuses a file outside the case's private directory and its own tmpfs directories:
    /// writing elsewhere could change the machine's files, and reading elsewhere could copy
    /// them into a report. The rule is [`crate::confine::confine`]'s, the one every file
    /// name goes through ([`Resolver::addr`] already applied it); this says which call.
    fn own_file(&self, p: &Path, call: &str) -> Result<(), HarnessError> {
        crate::confine::confine(&self.ctx.private_dir, p)
            .map(|_| ())
            .map_err(|e| refuse(format!("{call} is refused: {e}")))
    }

    /// The directory `mount_tmpfs` covers: the one name not confined to the case's area,
    /// since covering a directory of the machine's (in the case's own mount namespace) is
    /// the call's purpose; [`sandbox::mount_scratch`] checks it instead.
    fn mount_point(&self, a: &sockspec_lang::AddrExpr) -> Result<(PathBuf, String), HarnessError> {
        let p = match a {
            sockspec_lang::AddrExpr::RawPath(p) => PathBuf::from(p),
            sockspec_lang::AddrExpr::Path(name) => self.ctx.private_dir.join(name),
            _ => return Err(refuse("mount_tmpfs takes `rawpath(\"/dir\")`".into())),
        };
        let addr = Addr::Path(p.as_os_str().as_bytes().to_vec());
        let style = AddrStyle {
            private_dir: &self.ctx.private_dir,
            abstract_prefix: self.abstract_prefix,
        };
        Ok((p, addr.render(&style)))
    }

    /// Resolves the calls of this module; refuses those that would change the machine.
    fn prepare_names(&self, op: &Op) -> Result<(Call, String), HarnessError> {
        let call = match op {
            Op::Getservbyname { name, proto } => (
                Call::Getservbyname(
                    crate::exec::resolve::cstring(name)?,
                    crate::exec::resolve::cstring(proto)?,
                ),
                format!("getservbyname({name:?}, {proto:?})"),
            ),
            Op::Getservbyport { port, proto } => (
                Call::Getservbyport(*port, crate::exec::resolve::cstring(proto)?),
                format!("getservbyport({port}, {proto:?})"),
            ),
            Op::Gethostname { len } => {
                // 256 is more than any host name Linux allows (HOST_NAME_MAX is 64).
                let n = len.unwrap_or(256) as usize;
                (Call::Gethostname(n), format!("gethostname({n})"))
            }
            Op::Sethostname { name } => {
                if !sandbox::owns_namespaces() {
                    return Err(refuse(format!(
                        "sethostname({name:?}) would rename the machine: this case has no UTS \
                         namespace of its own (it needs `needs isolation` and a machine where \
                         namespaces can be made)"
                    )));
                }
                let text = format!("sethostname({name:?})");
                return Ok((Call::Sethostname(name.as_bytes().to_vec()), text));
            }
            Op::MountTmpfs { path } => {
                let (p, t) = self.mount_point(path)?;
                if !is_plain(&p) || p.parent().is_none() {
                    return Err(refuse(format!(
                        "mount_tmpfs({t}) takes an absolute directory without `..`, other than `/`"
                    )));
                }
                if !sandbox::owns_namespaces() {
                    return Err(refuse(format!(
                        "mount_tmpfs({t}) would mount over the machine's directory: this case \
                         has no mount namespace of its own (it needs `needs isolation`)"
                    )));
                }
                (Call::MountTmpfs(p), format!("mount_tmpfs({t})"))
            }
            Op::WriteFile { path, data } => {
                let (p, t) = self.names_path(path)?;
                self.own_file(&p, &format!("write_file({t}, …)"))?;
                let bytes = materialize(data);
                let text = format!("write_file({t}, {})", quote_short(&bytes));
                (
                    Call::WriteFile(cstring(p.as_os_str().as_bytes())?, bytes),
                    text,
                )
            }
            Op::ReadFile { path, len } => {
                let (p, t) = self.names_path(path)?;
                self.own_file(&p, &format!("read_file({t}, {len})"))?;
                (
                    Call::ReadFile(cstring(p.as_os_str().as_bytes())?, *len as usize),
                    format!("read_file({t}, {len})"),
                )
            }
            Op::Gethostid => (Call::Gethostid, "gethostid()".to_string()),
            Op::Sethostid { id } => {
                if !sandbox::in_scratch(Path::new(HOSTID_FILE)) {
                    return Err(refuse(format!(
                        "sethostid({id}) would write the machine's {HOSTID_FILE}: cover /etc \
                         with `mount_tmpfs(rawpath(\"/etc\"))` first"
                    )));
                }
                let id = libc::c_long::try_from(*id).map_err(|_| {
                    refuse(format!("{id} does not fit in a C long on this platform"))
                })?;
                let shown = if id < 0 {
                    id.to_string()
                } else {
                    format!("{id:#x}")
                };
                (Call::Sethostid(id), format!("sethostid({shown})"))
            }
            Op::Gethostbyname { name } => (
                Call::Gethostbyname(cstring(name.as_bytes())?),
                format!("gethostbyname({name:?})"),
            ),
            Op::Gethostbyname2 { name, family } => (
                Call::Gethostbyname2(
                    cstring(name.as_bytes())?,
                    sym(Category::Domain, family)? as i32,
                ),
                format!("gethostbyname2({name:?}, AF_{})", family.name),
            ),
            Op::Gethostbyaddr { addr, len, family } => {
                if *len > MAX_HOSTADDR_LEN {
                    return Err(refuse(format!(
                        "a length of {len} bytes is more than the {MAX_HOSTADDR_LEN} the engine \
                         lends gethostbyaddr"
                    )));
                }
                let mut bytes = host_addr_bytes(addr);
                let shown = host_addr_text(&bytes);
                if bytes.len() < *len as usize {
                    bytes.resize(*len as usize, 0);
                }
                (
                    Call::Gethostbyaddr {
                        bytes,
                        len: *len as libc::socklen_t,
                        family: sym(Category::Domain, family)? as i32,
                    },
                    format!("gethostbyaddr({shown}, {len}, AF_{})", family.name),
                )
            }
            _ => {
                return Err(HarnessError::Other(
                    "not a host name or hosts database call".into(),
                ))
            }
        };
        Ok(call)
    }
}

/// Data to write, quoted when short.
fn quote_short(bytes: &[u8]) -> String {
    if bytes.len() <= 48 {
        quote(bytes)
    } else {
        format!("{}… ({} bytes)", quote(&bytes[..32]), bytes.len())
    }
}

fn host_addr_bytes(a: &HostAddr) -> Vec<u8> {
    match a {
        HostAddr::V4(b) => b.to_vec(),
        HostAddr::V6(segments) => std::net::Ipv6Addr::from(*segments).octets().to_vec(),
    }
}

/// `192.0.2.7`, `[::1]`, or the bytes in hex for other lengths.
fn host_addr_text(b: &[u8]) -> String {
    match b.len() {
        4 => std::net::Ipv4Addr::new(b[0], b[1], b[2], b[3]).to_string(),
        16 => {
            let mut o = [0u8; 16];
            o.copy_from_slice(b);
            format!("[{}]", std::net::Ipv6Addr::from(o))
        }
        _ => {
            let hex: Vec<String> = b.iter().map(|x| format!("{x:02x}")).collect();
            format!("hex\"{}\"", hex.join(" "))
        }
    }
}

/// Resolves a call of this family; refuses those that would change the machine.
pub(crate) fn prepare(r: &Resolver, op: &Op) -> Result<(Call, String), HarnessError> {
    r.prepare_names(op)
}

/// Runs one call of this family.
pub(crate) fn perform(call: &Call, o: &mut Observed) {
    match call {
        Call::Getservbyname(name, proto) => {
            // SAFETY: both are NUL-terminated; the result points into libc's static storage
            // and is read before any other netdb call.
            let ent = unsafe { libc::getservbyname(name.as_ptr(), proto.as_ptr()) };
            o.ret = if ent.is_null() {
                Err(libc::ENOENT)
            } else {
                // SAFETY: `ent` is a valid servent; s_port is in network byte order.
                Ok(i64::from(u16::from_be(unsafe { (*ent).s_port } as u16)))
            };
        }
        Call::Getservbyport(port, proto) => {
            let net = i32::from((*port as u16).to_be());
            // SAFETY: `proto` is NUL-terminated; the result is read at once.
            let ent = unsafe { libc::getservbyport(net, proto.as_ptr()) };
            if ent.is_null() {
                o.ret = Err(libc::ENOENT);
            } else {
                // SAFETY: s_name is a NUL-terminated string in libc's static storage.
                let name = unsafe { std::ffi::CStr::from_ptr((*ent).s_name) }
                    .to_bytes()
                    .to_vec();
                o.ret = Ok(name.len() as i64);
                o.data = Some(name);
            }
        }
        Call::Gethostname(len) => {
            let mut buf = vec![0u8; *len];
            // SAFETY: `buf` is valid for writes of `len` bytes.
            let r = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
            o.ret = cvt(i64::from(r)).map(|_| {
                let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
                buf.truncate(end);
                end as i64
            });
            if o.ret.is_ok() {
                o.data = Some(buf);
            }
        }
        Call::Sethostname(name) => {
            // SAFETY: `name` is readable for its length; sethostname takes no NUL.
            o.ret = cvt(unsafe { libc::sethostname(name.as_ptr().cast(), name.len()) }.into());
        }
        Call::MountTmpfs(dir) => {
            o.ret = match sandbox::mount_scratch(dir) {
                Ok(()) => Ok(0),
                Err(sandbox::ScratchError::Mount { source, .. }) => Err(source as i32),
                Err(e) => {
                    o.note = Some(e.to_string());
                    Err(libc::EPERM)
                }
            };
        }
        Call::WriteFile(path, data) => write_file(o, path, data),
        Call::ReadFile(path, len) => read_file(o, path, *len),
        Call::Gethostid => {
            // SAFETY: gethostid takes no argument and cannot fail.
            let id = unsafe { libc::gethostid() };
            // A C long is 32 bits on some platforms, where the conversion is not a no-op.
            #[allow(clippy::useless_conversion)]
            let id = i64::from(id);
            o.ret = Ok(id);
        }
        Call::Sethostid(id) => {
            // SAFETY: sethostid takes a plain integer.
            o.ret = cvt(unsafe { libc::sethostid(*id) }.into());
        }
        Call::Gethostbyname(name) => {
            // SAFETY: `name` is NUL-terminated.
            lookup(o, || unsafe { gethostbyname(name.as_ptr()) });
        }
        Call::Gethostbyname2(name, af) => {
            // SAFETY: `name` is NUL-terminated; `af` is a plain integer.
            lookup(o, || unsafe { gethostbyname2(name.as_ptr(), *af) });
        }
        Call::Gethostbyaddr { bytes, len, family } => {
            // SAFETY: `bytes` holds at least `len` readable bytes (padded when preparing).
            lookup(o, || unsafe {
                gethostbyaddr(bytes.as_ptr().cast(), *len, *family)
            });
        }
    }
}

fn write_file(o: &mut Observed, path: &CString, data: &[u8]) {
    // O_NOFOLLOW: the path was checked to lie in a scratch tmpfs; a symlink there must not
    // lead the write elsewhere.
    let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    // SAFETY: `path` is NUL-terminated; O_CREAT takes the mode argument.
    let fd = unsafe { libc::open(path.as_ptr(), flags, 0o644 as libc::c_uint) };
    if fd < 0 {
        o.ret = Err(errno());
        return;
    }
    // SAFETY: `fd` was just opened by this thread and nothing else owns it.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut file = std::fs::File::from(fd);
    o.ret = match std::io::Write::write_all(&mut file, data) {
        Ok(()) => Ok(data.len() as i64),
        Err(e) => Err(e.raw_os_error().unwrap_or(libc::EIO)),
    };
}

fn read_file(o: &mut Observed, path: &CString, len: usize) {
    // SAFETY: `path` is NUL-terminated.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        o.ret = Err(errno());
        return;
    }
    // SAFETY: `fd` was just opened by this thread and nothing else owns it.
    let file = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    let mut buf = Vec::with_capacity(len.min(1 << 20));
    let got = std::io::Read::read_to_end(&mut std::io::Read::take(file, len as u64), &mut buf);
    o.ret = match got {
        Ok(n) => Ok(n as i64),
        Err(e) => Err(e.raw_os_error().unwrap_or(libc::EIO)),
    };
    o.data = Some(buf);
}

/// Runs a resolver call and copies out its hostent, or `h_errno` (and `errno` when h_errno
/// is `NETDB_INTERNAL`) when it returned NULL.
fn lookup(o: &mut Observed, call: impl FnOnce() -> *mut libc::hostent) {
    // SAFETY: __h_errno_location returns this thread's h_errno; errno is cleared so that a
    // NETDB_INTERNAL result shows the cause glibc set, not an older error.
    unsafe {
        *__h_errno_location() = 0;
        *libc::__errno_location() = 0;
    }
    let h = call();
    let (h_errno, err) = (
        // SAFETY: as above; read before any other call can change them.
        unsafe { *__h_errno_location() },
        errno(),
    );
    // SAFETY: a non-NULL result points to a valid hostent in the C library's static storage,
    // copied out here before any other resolver call (steps run one at a time).
    match unsafe { copy_hostent(h) } {
        Some(ent) => {
            o.addr = ent.addrs.first().and_then(|a| first_addr(ent.addrtype, a));
            o.ret = Ok(0);
            o.lookup = Some(Lookup::Found(ent));
        }
        None => {
            o.ret = Err(if h_errno == NETDB_INTERNAL && err != 0 {
                err
            } else {
                libc::ENOENT
            });
            o.lookup = Some(Lookup::Null { h_errno });
        }
    }
}

/// The first address as the address value of the result (`= 192.0.2.7:*`), port 0.
fn first_addr(addrtype: i32, a: &[u8]) -> Option<Addr> {
    match (addrtype, a.len()) {
        (libc::AF_INET, 4) => Some(Addr::V4(std::net::SocketAddrV4::new(
            std::net::Ipv4Addr::new(a[0], a[1], a[2], a[3]),
            0,
        ))),
        (libc::AF_INET6, 16) => {
            let mut b = [0u8; 16];
            b.copy_from_slice(a);
            Some(Addr::V6(std::net::SocketAddrV6::new(b.into(), 0, 0, 0)))
        }
        _ => None,
    }
}

/// Copies a hostent; `None` for NULL.
///
/// # Safety
/// `h` is NULL or points to a valid hostent as the C library returns it: NUL-terminated
/// strings, NULL-terminated lists, addresses of `h_length` bytes.
unsafe fn copy_hostent(h: *const libc::hostent) -> Option<Hostent> {
    if h.is_null() {
        return None;
    }
    let h = &*h;
    let string = |p: *const libc::c_char| std::ffi::CStr::from_ptr(p).to_bytes().to_vec();
    let list = |mut p: *mut *mut libc::c_char| {
        let mut out = Vec::new();
        while !p.is_null() && !(*p).is_null() {
            out.push(*p);
            p = p.add(1);
        }
        out
    };
    let length = h.h_length.max(0) as usize;
    Some(Hostent {
        name: if h.h_name.is_null() {
            Vec::new()
        } else {
            string(h.h_name)
        },
        aliases: list(h.h_aliases).into_iter().map(|p| string(p)).collect(),
        addrtype: h.h_addrtype,
        length: h.h_length,
        addrs: list(h.h_addr_list)
            .into_iter()
            .map(|p| std::slice::from_raw_parts(p as *const u8, length).to_vec())
            .collect(),
    })
}

fn family_text(af: i32) -> String {
    name_of(Category::Domain, af.into()).map_or_else(|| af.to_string(), |n| format!("AF_{n}"))
}

fn h_errno_text(e: i32) -> String {
    name_of(Category::HErrno, e.into()).map_or_else(|| e.to_string(), str::to_string)
}

/// ` h_name "x" h_aliases [...] …` or ` h_errno HOST_NOT_FOUND`: what the transcript adds
/// after the result of a resolver call, written as the modifiers that would match it.
/// What a successful call returned, as a scenario would write it.
pub(crate) fn render(op: &Op, v: i64, o: &Observed, style: &AddrStyle<'_>) -> String {
    match op {
        Op::Gethostbyname { .. } | Op::Gethostbyname2 { .. } | Op::Gethostbyaddr { .. } => o
            .addr
            .as_ref()
            .map_or_else(|| "ok".to_string(), |a| a.render(style)),
        Op::Gethostid => hostid_text(v),
        Op::ReadFile { .. } => super::io::received(v, o),
        _ => v.to_string(),
    }
}

/// `read_file` returns the bytes it read, as the receive calls do.
pub(crate) fn receives(op: &Op) -> super::io::Receives {
    match op {
        Op::ReadFile { .. } => super::io::Receives::Data,
        _ => super::io::Receives::Nothing,
    }
}

pub(crate) fn lookup_text(l: &Lookup) -> String {
    match l {
        Lookup::Found(h) => {
            let aliases: Vec<String> = h.aliases.iter().map(|a| quote(a)).collect();
            let addrs: Vec<String> = h.addrs.iter().map(|a| host_addr_text(a)).collect();
            format!(
                " h_name {} h_aliases [{}] h_addrtype {} h_length {} h_addr_list [{}]",
                quote(&h.name),
                aliases.join(", "),
                family_text(h.addrtype),
                h.length,
                addrs.join(", ")
            )
        }
        Lookup::Null { h_errno } => format!(" h_errno {}", h_errno_text(*h_errno)),
    }
}

/// `0x00c00702`: a host identifier in hex, as `hostid(1)` prints it; a negative one (the
/// C library sign-extends the 32 bits to a long) also shows its 32-bit pattern.
pub(crate) fn hostid_text(v: i64) -> String {
    if v < 0 {
        format!("{v} ({:#010x})", v as u32)
    } else {
        format!("{v:#010x}")
    }
}

/// `None` when the hostent (or h_errno) matches the check, else what differed.
pub(crate) fn check(c: &HostentCheck, o: &Observed) -> Result<Option<String>, HarnessError> {
    let Some(l) = &o.lookup else {
        return Ok(Some(
            "only gethostbyname, gethostbyname2 and gethostbyaddr return a hostent".into(),
        ));
    };
    let h = match (c, l) {
        (HostentCheck::Errno(s), Lookup::Null { h_errno }) => {
            let want = sym(Category::HErrno, s)? as i32;
            return Ok((want != *h_errno).then(|| format!("h_errno is {}", h_errno_text(*h_errno))));
        }
        (HostentCheck::Errno(_), Lookup::Found(_)) => {
            return Ok(Some(
                "the lookup succeeded (h_errno only means something after NULL)".into(),
            ))
        }
        (_, Lookup::Null { h_errno }) => {
            return Ok(Some(format!(
                "the lookup returned NULL with h_errno {}",
                h_errno_text(*h_errno)
            )))
        }
        (_, Lookup::Found(h)) => h,
    };
    Ok(match c {
        HostentCheck::Name(n) => {
            (n.as_bytes() != h.name.as_slice()).then(|| format!("h_name is {}", quote(&h.name)))
        }
        HostentCheck::Aliases(want) => {
            let same = want.len() == h.aliases.len()
                && want
                    .iter()
                    .zip(&h.aliases)
                    .all(|(w, g)| w.as_bytes() == g.as_slice());
            (!same).then(|| {
                let got: Vec<String> = h.aliases.iter().map(|a| quote(a)).collect();
                format!("h_aliases is [{}]", got.join(", "))
            })
        }
        HostentCheck::Addrtype(s) => {
            let want = sym(Category::Domain, s)? as i32;
            (want != h.addrtype).then(|| format!("h_addrtype is {}", family_text(h.addrtype)))
        }
        HostentCheck::Length(n) => {
            (*n != i64::from(h.length)).then(|| format!("h_length is {}", h.length))
        }
        HostentCheck::AddrList(want) => {
            let want: Vec<Vec<u8>> = want.iter().map(host_addr_bytes).collect();
            (want != h.addrs).then(|| {
                let got: Vec<String> = h.addrs.iter().map(|a| host_addr_text(a)).collect();
                format!("h_addr_list is [{}]", got.join(", "))
            })
        }
        HostentCheck::Errno(_) => None,
    })
}
