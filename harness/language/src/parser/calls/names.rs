//! Parsing the calls of the names family.
//! Host names, host ids, services and the hosts database, and the scratch files a case
//! gives the C library.

use crate::ast::*;
use crate::span::Span;
use crate::symbols::Category;

use crate::parser::args::{Arg, ArgKind};
use crate::parser::Parser;

/// `getservbyname("service", "proto")`.
pub(crate) fn getservbyname(p: &mut Parser<'_>, args: &[Arg], _call_span: Span) -> Op {
    Op::Getservbyname {
        name: p.string_arg(&args[0], "a service name in quotes"),
        proto: p.string_arg(&args[1], "a protocol name in quotes"),
    }
}

/// `getservbyport(PORT, "proto")`.
pub(crate) fn getservbyport(p: &mut Parser<'_>, args: &[Arg], _call_span: Span) -> Op {
    Op::Getservbyport {
        port: p.int(&args[0]),
        proto: p.string_arg(&args[1], "a protocol name in quotes"),
    }
}

/// `gethostname([LEN])`.
pub(crate) fn gethostname(p: &mut Parser<'_>, args: &[Arg], _call_span: Span) -> Op {
    Op::Gethostname {
        len: args.first().map(|a| p.int(a).max(0) as u64),
    }
}

/// `gethostbyname("name")`.
pub(crate) fn gethostbyname(p: &mut Parser<'_>, args: &[Arg], _call_span: Span) -> Op {
    Op::Gethostbyname {
        name: p.string_arg(&args[0], "a host name in quotes"),
    }
}

/// `sethostname("name")`.
pub(crate) fn sethostname(p: &mut Parser<'_>, args: &[Arg], _call_span: Span) -> Op {
    Op::Sethostname {
        name: p.string_arg(&args[0], "a host name in quotes"),
    }
}

/// `mount_tmpfs(rawpath("/dir"))`.
pub(crate) fn mount_tmpfs(p: &mut Parser<'_>, args: &[Arg], _call_span: Span) -> Op {
    let path = p.addr_anywhere(&args[0]);
    match &path {
        AddrExpr::RawPath(dir) if dir.starts_with('/') && !dir.split('/').any(|c| c == "..") => {
            p.tmpfs_dirs.push(dir.clone());
        }
        _ => p.confine(&path, args[0].span),
    }
    Op::MountTmpfs { path }
}

/// `write_file(PATH, DATA)`.
pub(crate) fn write_file(p: &mut Parser<'_>, args: &[Arg], _call_span: Span) -> Op {
    Op::WriteFile {
        path: p.addr(&args[0]),
        data: p.payload(&args[1]),
    }
}

/// `read_file(PATH, LEN)`.
pub(crate) fn read_file(p: &mut Parser<'_>, args: &[Arg], _call_span: Span) -> Op {
    Op::ReadFile {
        path: p.addr(&args[0]),
        len: p.size(&args[1]),
    }
}

/// `gethostid()`.
pub(crate) fn gethostid(_p: &mut Parser<'_>, _args: &[Arg], _call_span: Span) -> Op {
    Op::Gethostid
}

/// `sethostid(ID)`.
pub(crate) fn sethostid(p: &mut Parser<'_>, args: &[Arg], _call_span: Span) -> Op {
    Op::Sethostid {
        id: p.int(&args[0]),
    }
}

/// `gethostbyname2("name", FAMILY)`.
pub(crate) fn gethostbyname2(p: &mut Parser<'_>, args: &[Arg], _call_span: Span) -> Op {
    Op::Gethostbyname2 {
        name: p.string_arg(&args[0], "a host name in quotes"),
        family: p.sym(&args[1], Category::Domain),
    }
}

/// `gethostbyaddr(ADDR, LEN, FAMILY)`.
pub(crate) fn gethostbyaddr(p: &mut Parser<'_>, args: &[Arg], _call_span: Span) -> Op {
    Op::Gethostbyaddr {
        addr: p.host_addr(&args[0]),
        len: p.size(&args[1]),
        family: p.sym(&args[2], Category::Domain),
    }
}

impl Parser<'_> {
    /// `192.0.2.7` or `[::1]`: an address of a `struct hostent`, which has no port.
    pub(crate) fn host_addr(&mut self, arg: &Arg) -> HostAddr {
        let help = Some("write `192.0.2.7` or `[::1]`: a host address has no port".into());
        match &arg.kind {
            ArgKind::V4(text, None) => HostAddr::V4(self.ipv4(text, arg.span)),
            ArgKind::V6(text, None) => HostAddr::V6(self.ipv6(text, arg.span)),
            _ => self.wrong(
                arg,
                "an IP address without a port",
                help,
                HostAddr::V4([0; 4]),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::parser::testkit::*;

    #[test]
    fn host_names_ids_and_hostent_modifiers() {
        let e = expect(
            "gethostbyname(\"h\") = 192.0.2.7:* h_name \"h\" h_aliases [\"a\", \"b\"] \
             h_addrtype AF_INET h_length 4 h_addr_list [192.0.2.7, [::1]]\n",
        );
        let mods = &e.alternatives[0].mods;
        assert_eq!(
            mods,
            &vec![
                Modifier::Hostent(HostentCheck::Name("h".into())),
                Modifier::Hostent(HostentCheck::Aliases(vec!["a".into(), "b".into()])),
                Modifier::Hostent(HostentCheck::Addrtype(Sym {
                    name: "INET".into(),
                    span: match &mods[2] {
                        Modifier::Hostent(HostentCheck::Addrtype(s)) => s.span,
                        _ => unreachable!(),
                    },
                })),
                Modifier::Hostent(HostentCheck::Length(4)),
                Modifier::Hostent(HostentCheck::AddrList(vec![
                    HostAddr::V4([192, 0, 2, 7]),
                    HostAddr::V6([0, 0, 0, 0, 0, 0, 0, 1]),
                ])),
            ]
        );
        let e = expect("gethostbyname(\"x\") = -1 ENOENT h_errno HOST_NOT_FOUND\n");
        assert!(matches!(
            &e.alternatives[0].mods[..],
            [Modifier::Hostent(HostentCheck::Errno(s))] if s.name == "HOST_NOT_FOUND"
        ));
        match op("gethostbyaddr([2001:db8::5], 16, AF_INET6)\n") {
            Op::Gethostbyaddr { addr, len, family } => {
                assert_eq!(addr, HostAddr::V6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 5]));
                assert_eq!((len, family.name.as_str()), (16, "INET6"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(op("gethostid()\n"), Op::Gethostid));
        let isolated =
            |body: &str| parse("t.sock", &format!("case \"t\"\nneeds isolation\n{body}"));
        match isolated("sethostid(0x12345678)\n").map(|mut s| s.steps.remove(0).kind) {
            Ok(StepKind::Call { call, .. }) => {
                assert!(matches!(call.op, Op::Sethostid { id: 0x1234_5678 }))
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            op("read_file(rawpath(\"/tmp/hostid\"), 64)\n"),
            Op::ReadFile { len: 64, .. }
        ));
        // Calls that would change the machine ask for namespaces of the case's own.
        for call in [
            "sethostname(\"h\")",
            "mount_tmpfs(rawpath(\"/etc\"))",
            "sethostid(1)",
        ] {
            assert_eq!(
                codes(&format!("{call}\n")),
                vec!["needs-isolation"],
                "{call}"
            );
            assert!(isolated(&format!("{call}\n")).is_ok(), "{call}");
        }
        assert_eq!(
            codes("gethostbyname(\"x\") = ok h_errno HOST_NOT_FUND\n"),
            vec!["unknown-symbol"]
        );
        assert_eq!(
            codes("gethostbyaddr(127.0.0.1:0, 4, AF_INET)\n"),
            vec!["wrong-argument"]
        );
        assert_eq!(
            codes("gethostbyname(\"x\") = ok h_aliases \"a\"\n"),
            vec!["wrong-argument"]
        );
    }
}
