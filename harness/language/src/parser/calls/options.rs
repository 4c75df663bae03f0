//! Parsing the calls of the options family.
//! Settings and values: `setsockopt`, `getsockopt`, `fcntl`, `ioctl`, `sizeof`, `constant`.

use crate::ast::*;
use crate::span::Span;
use crate::symbols::Category;

use crate::parser::args::{Arg, ArgKind};
use crate::parser::Parser;

/// `setsockopt(s, LEVEL, OPT, VALUE)`.
pub(crate) fn setsockopt(p: &mut Parser<'_>, args: &[Arg], _call_span: Span) -> Op {
    Op::Setsockopt {
        sock: p.handle(&args[0]),
        level: p.sym(&args[1], Category::Level),
        opt: p.sym(&args[2], Category::SockOpt),
        value: p.opt_value(&args[3]),
    }
}

/// `getsockopt(s, LEVEL, OPT)`.
pub(crate) fn getsockopt(p: &mut Parser<'_>, args: &[Arg], _call_span: Span) -> Op {
    Op::Getsockopt {
        sock: p.handle(&args[0]),
        level: p.sym(&args[1], Category::Level),
        opt: p.sym(&args[2], Category::SockOpt),
    }
}

/// `fcntl(fd, CMD[, ARG])`.
pub(crate) fn fcntl(p: &mut Parser<'_>, args: &[Arg], _call_span: Span) -> Op {
    let fd = p.handle(&args[0]);
    let cmd = p.sym(&args[1], Category::FcntlCmd);
    let arg = args.get(2).map(|x| match &x.kind {
        ArgKind::Name(n) if n == "self" => FcntlArg::SelfPid,
        ArgKind::Num { .. } => FcntlArg::Int(p.int(x)),
        _ => FcntlArg::Flags(p.flags(x, Category::FileFlag)),
    });
    Op::Fcntl { fd, cmd, arg }
}

/// `ioctl(fd, REQUEST)`.
pub(crate) fn ioctl(p: &mut Parser<'_>, args: &[Arg], _call_span: Span) -> Op {
    Op::Ioctl {
        fd: p.handle(&args[0]),
        req: p.sym(&args[1], Category::Ioctl),
    }
}

/// `sizeof(TYPE)`.
pub(crate) fn sizeof(p: &mut Parser<'_>, args: &[Arg], _call_span: Span) -> Op {
    Op::Sizeof {
        ty: p.sym(&args[0], Category::CType),
    }
}

/// `constant(NAME)`.
pub(crate) fn constant(p: &mut Parser<'_>, args: &[Arg], _call_span: Span) -> Op {
    Op::Constant {
        name: p.sym(&args[0], Category::Constant),
    }
}

#[cfg(test)]
mod tests {
    use crate::parser::testkit::*;

    #[test]
    fn options_fcntl_ioctl_signal() {
        assert!(
            matches!(op("setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, 200ms)"), Op::Setsockopt { value: OptValue::Duration(d), .. } if d == Duration::from_millis(200))
        );
        assert!(matches!(
            op("setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, timeval(0, -1))"),
            Op::Setsockopt {
                value: OptValue::Timeval(0, -1),
                ..
            }
        ));
        assert!(matches!(
            op("setsockopt(s, SOL_SOCKET, SO_LINGER, linger(1, 0))"),
            Op::Setsockopt {
                value: OptValue::Linger(1, 0),
                ..
            }
        ));
        assert!(matches!(
            op("setsockopt(s, SOL_SOCKET, SO_RCVBUF, 64KiB)"),
            Op::Setsockopt {
                value: OptValue::Int(65536),
                ..
            }
        ));
        assert!(matches!(
            op("fcntl(s, F_SETOWN, self)"),
            Op::Fcntl {
                arg: Some(FcntlArg::SelfPid),
                ..
            }
        ));
        assert!(matches!(
            op("fcntl(s, F_SETFL, O_NONBLOCK)"),
            Op::Fcntl {
                arg: Some(FcntlArg::Flags(_)),
                ..
            }
        ));
        assert!(matches!(
            op("fcntl(s, F_GETFL)"),
            Op::Fcntl { arg: None, .. }
        ));
        assert!(
            matches!(op("ioctl(s, SIOCOUTQ)"), Op::Ioctl { ref req, .. } if req.name == "SIOCOUTQ")
        );
        assert!(
            matches!(op("signal(SIGPIPE, ignore)"), Op::Signal { ref action, .. } if action.name == "ignore")
        );
        assert!(
            matches!(op("shutdown(s, SHUT_WR)"), Op::Shutdown { ref how, .. } if how.name == "SHUT_WR")
        );
        assert!(matches!(
            op("chmod(path(\"x\"), 0o755)"),
            Op::Chmod { mode: 0o755, .. }
        ));
        assert_eq!(codes("shutdown(s, SHUT_WRITE)\n"), vec!["unknown-symbol"]);
        assert_eq!(
            codes("setsockopt(s, SOL_SOCKET, SO_RCVBUF)\n"),
            vec!["wrong-arity"]
        );
    }
}
