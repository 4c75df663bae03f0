//! Parsing the calls of the io family.
//! Moving bytes: the send and receive calls, `read`, `write` and the engine's loops.

use crate::ast::*;
use crate::span::Span;
use crate::symbols::Category;

use crate::parser::args::{Arg, ArgKind};
use crate::parser::Parser;

/// `send(s, DATA[, FLAGS])`.
pub(crate) fn send(p: &mut Parser<'_>, args: &[Arg], _call_span: Span) -> Op {
    Op::Send {
        sock: p.handle(&args[0]),
        data: p.payload(&args[1]),
        flags: args
            .get(2)
            .map(|f| p.flags(f, Category::MsgFlag))
            .unwrap_or_default(),
    }
}

/// `sendto(s, DATA, FLAGS, ADDR)`.
pub(crate) fn sendto(p: &mut Parser<'_>, args: &[Arg], _call_span: Span) -> Op {
    Op::Sendto {
        sock: p.handle(&args[0]),
        data: p.payload(&args[1]),
        flags: p.flags(&args[2], Category::MsgFlag),
        addr: p.addr(&args[3]),
    }
}

/// `sendmsg(s, [DATA, ...][, FLAGS][, to=ADDR][, rights=[h, ...]][, creds])`.
pub(crate) fn sendmsg(p: &mut Parser<'_>, args: &[Arg], _call_span: Span) -> Op {
    p.sendmsg(args)
}

/// `recv_exact(s, LEN)`.
pub(crate) fn recv_exact(p: &mut Parser<'_>, args: &[Arg], _call_span: Span) -> Op {
    Op::RecvExact {
        sock: p.handle(&args[0]),
        len: p.size(&args[1]),
    }
}

/// `recv_until(s, DELIM, MAX)`.
pub(crate) fn recv_until(p: &mut Parser<'_>, args: &[Arg], _call_span: Span) -> Op {
    Op::RecvUntil {
        sock: p.handle(&args[0]),
        delim: p.payload(&args[1]),
        max: p.size(&args[2]),
    }
}

/// `send_all(s, DATA)`.
pub(crate) fn send_all(p: &mut Parser<'_>, args: &[Arg], _call_span: Span) -> Op {
    Op::SendAll {
        sock: p.handle(&args[0]),
        data: p.payload(&args[1]),
    }
}

/// `read(fd, LEN)`.
pub(crate) fn read(p: &mut Parser<'_>, args: &[Arg], _call_span: Span) -> Op {
    Op::Read {
        fd: p.handle(&args[0]),
        len: p.size(&args[1]),
    }
}

/// `write(fd, DATA)`.
pub(crate) fn write(p: &mut Parser<'_>, args: &[Arg], _call_span: Span) -> Op {
    Op::Write {
        fd: p.handle(&args[0]),
        data: p.payload(&args[1]),
    }
}

/// `sendrecv(s, DATA, LEN)`.
pub(crate) fn sendrecv(p: &mut Parser<'_>, args: &[Arg], _call_span: Span) -> Op {
    Op::SendRecv {
        sock: p.handle(&args[0]),
        data: p.payload(&args[1]),
        len: p.size(&args[2]),
    }
}

/// `send_until_stalled(s, STALL, MAX)`.
pub(crate) fn send_until_stalled(p: &mut Parser<'_>, args: &[Arg], _call_span: Span) -> Op {
    Op::SendUntilStalled {
        sock: p.handle(&args[0]),
        stall: p.duration(&args[1]),
        max: p.size(&args[2]),
    }
}

/// The arguments `recv`, `recvfrom` and `recvmsg` share.
fn recv_args(p: &mut Parser<'_>, args: &[Arg]) -> (Ident, u64, Flags) {
    let sock = p.handle(&args[0]);
    let len = p.size(&args[1]);
    let flags = args
        .get(2)
        .map(|f| p.flags(f, Category::MsgFlag))
        .unwrap_or_default();
    (sock, len, flags)
}

/// `recv(s, LEN[, FLAGS])`.
pub(crate) fn recv(p: &mut Parser<'_>, args: &[Arg], _call_span: Span) -> Op {
    let (sock, len, flags) = recv_args(p, args);
    Op::Recv { sock, len, flags }
}

/// `recvfrom(s, LEN[, FLAGS])`.
pub(crate) fn recvfrom(p: &mut Parser<'_>, args: &[Arg], _call_span: Span) -> Op {
    let (sock, len, flags) = recv_args(p, args);
    Op::Recvfrom { sock, len, flags }
}

/// `recvmsg(s, LEN[, FLAGS])`.
pub(crate) fn recvmsg(p: &mut Parser<'_>, args: &[Arg], _call_span: Span) -> Op {
    let (sock, len, flags) = recv_args(p, args);
    Op::Recvmsg { sock, len, flags }
}

impl Parser<'_> {
    pub(crate) fn sendmsg(&mut self, args: &[Arg]) -> Op {
        let sock = self.handle(&args[0]);
        let iov = match &args[1].kind {
            ArgKind::List(items) => items.iter().map(|i| self.payload(i)).collect(),
            _ => vec![self.payload(&args[1])],
        };
        let (mut flags, mut addr, mut rights, mut creds) =
            (Flags::default(), None, Vec::new(), false);
        for arg in &args[2..] {
            match &arg.kind {
                ArgKind::Keyed(k, v) if k == "to" => addr = Some(self.addr(v)),
                ArgKind::Keyed(k, v) if k == "rights" => rights = self.handles(v),
                ArgKind::Name(n) if n == "creds" => creds = true,
                ArgKind::Keyed(..) => {
                    self.wrong(arg, "`to=ADDR`, `rights=[h, ...]` or `creds`", None, ());
                }
                _ => flags = self.flags(arg, Category::MsgFlag),
            }
        }
        Op::Sendmsg {
            sock,
            iov,
            flags,
            addr,
            rights,
            creds,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::parser::testkit::*;

    #[test]
    fn sendmsg_options() {
        let Op::Sendmsg {
            iov,
            flags,
            addr,
            rights,
            creds,
            ..
        } = op("sendmsg(c, [\"ab\", \"cd\"], MSG_EOR, to=127.0.0.1:9, rights=[s, l], creds)")
        else {
            panic!()
        };
        assert_eq!(iov.len(), 2);
        assert_eq!(names(&flags.names), vec!["MSG_EOR"]);
        assert!(addr.is_some() && creds);
        assert_eq!(rights.len(), 2);
    }
}
