//! Resolving the arguments of a call against the handle table and the case context: names to
//! descriptors, symbols to numbers, address forms to socket addresses, payloads to bytes; and
//! the pieces of a call's transcript text (`connect(c=fd4, 127.0.0.1:40312)`). Every family's
//! `prepare` is built from these.

use std::ffi::CString;
use std::os::unix::ffi::OsStringExt;
use std::path::Path;
use std::time::Duration;

use sockspec_lang::symbols::Category;
use sockspec_lang::{AddrExpr, Flags, Ident, Op, Payload, PortExpr, Sym};

use super::addr::{v4, v6, Addr, AddrStyle};
use super::bytes::quote;
use super::consts::value;
use super::table::{Table, CLOSED_FD};
use super::{Context, HarnessError};

/// What the case context contributes to resolving names.
pub(crate) struct Resolver<'a> {
    pub ctx: &'a Context,
    pub table: &'a Table,
    pub abstract_prefix: &'a str,
}

pub(crate) fn sym(category: Category, s: &Sym) -> Result<i64, HarnessError> {
    value(category, &s.name).ok_or_else(|| HarnessError::Unsupported {
        noun: category.noun(),
        name: s.name.clone(),
    })
}

pub(crate) fn flags(category: Category, f: &Flags) -> Result<i64, HarnessError> {
    f.names
        .iter()
        .try_fold(0, |acc, s| Ok(acc | sym(category, s)?))
}

pub(crate) fn flags_written(f: &Flags) -> String {
    if f.names.is_empty() {
        "0".to_string()
    } else {
        f.names
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>()
            .join("|")
    }
}

/// A payload as a call argument: short bytes quoted, long ones by their form.
pub(crate) fn payload_text(p: &Payload) -> String {
    match p {
        Payload::Bytes(b) if b.len() <= 48 => quote(b),
        Payload::Bytes(b) => format!("{}… ({} bytes)", quote(&b[..32]), b.len()),
        Payload::Pattern(n) => format!("pattern({n})"),
        Payload::Fill(n, b) => format!("fill({n}, {b:#04x})"),
    }
}

pub(crate) fn duration_text(d: Duration) -> String {
    let us = d.as_micros();
    if us == 0 {
        "0".to_string()
    } else if us % 1_000_000 == 0 {
        format!("{}s", us / 1_000_000)
    } else if us % 1000 == 0 {
        format!("{}ms", us / 1000)
    } else {
        format!("{us}us")
    }
}

impl Resolver<'_> {
    pub(crate) fn style(&self) -> AddrStyle<'_> {
        AddrStyle {
            private_dir: &self.ctx.private_dir,
            abstract_prefix: self.abstract_prefix,
        }
    }

    pub(crate) fn fd(
        &self,
        id: &Ident,
        handles: &mut Vec<String>,
    ) -> Result<(i32, String), HarnessError> {
        let fd = self.table.fd(id)?;
        handles.push(id.name.clone());
        let shown = if fd == CLOSED_FD {
            format!("{}=closed", id.name)
        } else {
            format!("{}=fd{fd}", id.name)
        };
        Ok((fd, shown))
    }

    pub(crate) fn port(&self, p: &PortExpr) -> Result<u16, HarnessError> {
        Ok(match p {
            PortExpr::Num(n) => *n,
            PortExpr::Swapped(n) => n.swap_bytes(),
            PortExpr::Of(h) => self
                .table
                .local(h)?
                .port()
                .ok_or_else(|| HarnessError::NoPort(h.name.clone()))?,
        })
    }

    /// An address form as the scenario means it.
    pub(crate) fn addr(&self, a: &AddrExpr) -> Result<Addr, HarnessError> {
        Ok(match a {
            AddrExpr::V4 { ip, port } => v4(*ip, self.port(port)?),
            AddrExpr::V6 { ip, port } => v6(*ip, self.port(port)?),
            AddrExpr::Handle(h) => self.table.local(h)?.clone(),
            AddrExpr::Path(name) => Addr::Path(self.confined(&self.ctx.private_dir.join(name))?),
            AddrExpr::Abstract(name) => {
                Addr::Abstract(format!("{}{name}", self.abstract_prefix).into_bytes())
            }
            AddrExpr::Unspec => Addr::Unspec,
            AddrExpr::Null => {
                return Err(HarnessError::Other(
                    "`null` is only an address for sendto (no address at all)".into(),
                ))
            }
            AddrExpr::RawPath(p) => Addr::Path(self.confined(Path::new(p))?),
            AddrExpr::Server(name) => server_addr(self.ctx, name.as_deref())?,
        })
    }

    /// Every file name a scenario gives (`path("x")`, `rawpath("…")`), for files and socket
    /// addresses alike, goes through [`crate::confine::confine`]: a name outside the case's
    /// own area is refused whatever the parser let through.
    pub(crate) fn confined(&self, path: &Path) -> Result<Vec<u8>, HarnessError> {
        crate::confine::confine(&self.ctx.private_dir, path)
            .map(|p| p.into_os_string().into_vec())
            .map_err(|e| {
                HarnessError::Other(format!(
                    "the name is refused: {e}; a case names only files in its private directory \
                     (`path(\"x\")`) or in a tmpfs of its own (its /tmp, a `mount_tmpfs` \
                     directory), so the machine's files are never touched"
                ))
            })
    }

    pub(crate) fn sockaddr(
        &self,
        a: &AddrExpr,
    ) -> Result<(socket2::SockAddr, String), HarnessError> {
        let addr = self.addr(a)?;
        Ok((addr.encode()?, addr.render(&self.style())))
    }

    pub(crate) fn file(&self, a: &AddrExpr) -> Result<(CString, String), HarnessError> {
        let addr = self.addr(a)?;
        let Addr::Path(p) = &addr else {
            return Err(HarnessError::Other(
                "files are named `path(\"x\")` or `rawpath(\"…\")`".into(),
            ));
        };
        let c = CString::new(p.clone())
            .map_err(|_| HarnessError::Other("a path cannot contain NUL".into()))?;
        Ok((c, addr.render(&self.style())))
    }
}

/// A family was handed an op of another family: the dispatcher's mistake, never the scenario's.
pub(crate) fn wrong_family(op: &Op, family: &'static str) -> HarnessError {
    HarnessError::WrongFamily {
        op: format!("{op:?}"),
        family,
    }
}

pub(crate) fn no_server() -> HarnessError {
    HarnessError::NoServer
}

/// The address of the server under test (`server`, `server(NAME)`).
pub(crate) fn server_addr(ctx: &Context, name: Option<&str>) -> Result<Addr, HarnessError> {
    let target = ctx.server.as_ref().ok_or_else(no_server)?;
    match target.addr(name) {
        Some(std::net::SocketAddr::V4(a)) => Ok(Addr::V4(a)),
        Some(std::net::SocketAddr::V6(a)) => Ok(Addr::V6(a)),
        None => Err(HarnessError::NoService(name.unwrap_or("").to_string())),
    }
}

/// A C string from scenario text; an interior NUL is the scenario's mistake.
pub(crate) fn cstring(text: &str) -> Result<CString, HarnessError> {
    CString::new(text).map_err(|_| HarnessError::NulByte(format!("{text:?}")))
}
