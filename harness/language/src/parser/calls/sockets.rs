//! Parsing the calls of the sockets family.
//! Sockets themselves: `socket`, `socketpair`, `pair`, `pipe`, `bind`, `connect`, `listen`,
//! `accept`, `shutdown`, `close`, `dup`, `getsockname`, `getpeername`.

use crate::ast::*;
use crate::diag::Mistake;
use crate::span::Span;
use crate::symbols::Category;

use crate::parser::args::{Arg, ArgKind};
use crate::parser::Parser;

/// `socket(DOMAIN, TYPE[, PROTO])`.
pub(crate) fn socket(p: &mut Parser<'_>, args: &[Arg], _call_span: Span) -> Op {
    let (domain, ty, protocol) = socket_args(p, args);
    Op::Socket {
        domain,
        ty,
        protocol,
    }
}

/// `socketpair(DOMAIN, TYPE[, PROTO])`.
pub(crate) fn socketpair(p: &mut Parser<'_>, args: &[Arg], _call_span: Span) -> Op {
    let (domain, ty, protocol) = socket_args(p, args);
    Op::Socketpair {
        domain,
        ty,
        protocol,
    }
}

/// The arguments `socket` and `socketpair` share.
fn socket_args(p: &mut Parser<'_>, args: &[Arg]) -> (Sym, Flags, Option<IntOrSym>) {
    let domain = p.sym(&args[0], Category::Domain);
    let ty = p.flags(&args[1], Category::SocketType);
    let protocol = args.get(2).map(|a| p.int_or_sym(a, Category::Protocol));
    (domain, ty, protocol)
}

/// `pair([KIND])`.
pub(crate) fn pair(p: &mut Parser<'_>, args: &[Arg], call_span: Span) -> Op {
    let flavour = match args.first() {
        Some(arg) => match &arg.kind {
            ArgKind::Name(n) => p.flavour_name(n, arg.span).map(|f| (f, arg.span)),
            _ => p.wrong(arg, "a socket kind like `tcp4`", None, None),
        },
        None => {
            if !p.flavours_declared {
                p.push(Mistake::PairWithoutFlavour, call_span);
            }
            None
        }
    };
    Op::Pair { flavour }
}

/// `pipe()`.
pub(crate) fn pipe(_p: &mut Parser<'_>, _args: &[Arg], _call_span: Span) -> Op {
    Op::Pipe
}

/// `bind(s, ADDR)`.
pub(crate) fn bind(p: &mut Parser<'_>, args: &[Arg], _call_span: Span) -> Op {
    Op::Bind {
        sock: p.handle(&args[0]),
        addr: p.addr(&args[1]),
    }
}

/// `connect(s, ADDR)`.
pub(crate) fn connect(p: &mut Parser<'_>, args: &[Arg], _call_span: Span) -> Op {
    Op::Connect {
        sock: p.handle(&args[0]),
        addr: p.addr(&args[1]),
    }
}

/// `listen(s, BACKLOG)`.
pub(crate) fn listen(p: &mut Parser<'_>, args: &[Arg], _call_span: Span) -> Op {
    Op::Listen {
        sock: p.handle(&args[0]),
        backlog: p.int(&args[1]),
    }
}

/// `accept(l[, FLAGS][, addrlen=N])`.
pub(crate) fn accept(p: &mut Parser<'_>, args: &[Arg], _call_span: Span) -> Op {
    let sock = p.handle(&args[0]);
    let (mut flags, mut addrlen) = (Flags::default(), None);
    for (i, arg) in args.iter().enumerate().skip(1) {
        match &arg.kind {
            ArgKind::Keyed(k, v) if k == "addrlen" && addrlen.is_none() => {
                addrlen = Some(p.addrlen(v));
            }
            ArgKind::Keyed(..) => {
                p.wrong(arg, "`addrlen=N`", None, ());
            }
            _ if i == 1 => flags = p.flags(arg, Category::SocketType),
            _ => p.wrong(
                arg,
                "`addrlen=N`",
                Some("the flags come second: `accept(l, SOCK_NONBLOCK, addrlen=16)`".into()),
                (),
            ),
        }
    }
    Op::Accept {
        sock,
        flags,
        addrlen,
    }
}

/// `shutdown(s, SHUT_RD|SHUT_WR|SHUT_RDWR)`.
pub(crate) fn shutdown(p: &mut Parser<'_>, args: &[Arg], _call_span: Span) -> Op {
    Op::Shutdown {
        sock: p.handle(&args[0]),
        how: p.sym(&args[1], Category::ShutHow),
    }
}

/// `close(h)`.
pub(crate) fn close(p: &mut Parser<'_>, args: &[Arg], _call_span: Span) -> Op {
    Op::Close {
        fd: p.handle(&args[0]),
    }
}

/// `dup(h)`.
pub(crate) fn dup(p: &mut Parser<'_>, args: &[Arg], _call_span: Span) -> Op {
    Op::Dup {
        fd: p.handle(&args[0]),
    }
}

/// `getsockname(s)`.
pub(crate) fn getsockname(p: &mut Parser<'_>, args: &[Arg], _call_span: Span) -> Op {
    Op::Getsockname {
        sock: p.handle(&args[0]),
    }
}

/// `getpeername(s)`.
pub(crate) fn getpeername(p: &mut Parser<'_>, args: &[Arg], _call_span: Span) -> Op {
    Op::Getpeername {
        sock: p.handle(&args[0]),
    }
}

#[cfg(test)]
mod tests {
    use crate::parser::testkit::*;

    #[test]
    fn socket_strips_prefixes() {
        let Op::Socket {
            domain,
            ty,
            protocol,
        } = op("socket(AF_INET6, SOCK_DGRAM|SOCK_CLOEXEC, IPPROTO_UDP)")
        else {
            panic!()
        };
        assert_eq!(domain.name, "INET6");
        assert_eq!(names(&ty.names), vec!["DGRAM", "SOCK_CLOEXEC"]);
        assert!(matches!(protocol, Some(IntOrSym::Sym(s)) if s.name == "IPPROTO_UDP"));
        assert!(matches!(
            op("socket(INET, RAW, 1)"),
            Op::Socket {
                protocol: Some(IntOrSym::Int(1)),
                ..
            }
        ));
    }

    #[test]
    fn pair_needs_a_kind() {
        let src = "case \"t\"\na, b = pair()\n";
        let d = parse("t.sock", src).unwrap_err();
        assert_eq!(
            d.iter().map(|d| d.code).collect::<Vec<_>>(),
            vec!["pair-without-flavour"]
        );
        let s = parse("t.sock", "case \"t\"\na, b = pair(udp6)\n").unwrap();
        assert!(matches!(
            &s.steps[0].kind,
            StepKind::Call {
                call: Call {
                    op: Op::Pair {
                        flavour: Some((Flavour::Udp6, _))
                    },
                    ..
                },
                ..
            }
        ));
    }

    #[test]
    fn accept_addrlen() {
        let Op::Accept { flags, addrlen, .. } = op("accept(l, SOCK_NONBLOCK, addrlen=16)") else {
            panic!()
        };
        assert_eq!(names(&flags.names), vec!["SOCK_NONBLOCK"]);
        assert_eq!(addrlen, Some(AddrLen::Int(16)));
        assert!(matches!(
            op("accept(l, addrlen=sizeof(sockaddr_un))"),
            Op::Accept { addrlen: Some(AddrLen::Sizeof(s)), .. } if s.name == "sockaddr_un"
        ));
        let e = expect("x = accept(l, addrlen=2) = unnamed addrlen >2");
        assert_eq!(
            e.alternatives[0].mods,
            vec![Modifier::AddrLen(IntMatch::Cmp(CmpOp::Gt, 2))]
        );
        assert_eq!(
            codes("x = accept(l, addrlen=\"16\")\n"),
            vec!["wrong-argument"]
        );
        assert_eq!(codes("x = accept(l, addrlen=-1)\n"), vec!["wrong-argument"]);
        assert_eq!(codes("x = accept(l, len=16)\n"), vec!["wrong-argument"]);
        assert_eq!(
            codes("x = accept(l, addrlen=sizeof(int))\n"),
            vec!["unknown-symbol"]
        );
    }
}
