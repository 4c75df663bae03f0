//! Parsing the calls of the readiness family.
//! Waiting: `poll`, `select` and its fd sets, `sleep`.

use crate::ast::*;
use crate::span::Span;
use crate::symbols::Category;

use crate::parser::args::{Arg, ArgKind};
use crate::parser::Parser;

/// `poll([h: EVENTS, ...], TIMEOUT)`.
pub(crate) fn poll(p: &mut Parser<'_>, args: &[Arg], _call_span: Span) -> Op {
    let fds = match &args[0].kind {
        ArgKind::List(items) => items
            .iter()
            .filter_map(|item| match &item.kind {
                ArgKind::Entry(h, events) => {
                    p.check_handle(&h.name, h.span);
                    Some((h.clone(), p.flags(events, Category::PollFlag)))
                }
                _ => p.wrong(
                    item,
                    "`h: EVENTS`",
                    Some("write e.g. `poll([a: POLLIN], 0)`".into()),
                    None,
                ),
            })
            .collect(),
        _ => p.wrong(&args[0], "a list `[h: EVENTS, ...]`", None, Vec::new()),
    };
    Op::Poll {
        fds,
        timeout: p.timeout(&args[1]),
    }
}

/// `select([r...] | rs, [w...] | ws, [e...] | es, TIMEOUT[, nfds=N])`.
pub(crate) fn select(p: &mut Parser<'_>, args: &[Arg], _call_span: Span) -> Op {
    let read = p.set_arg(&args[0]);
    let write = p.set_arg(&args[1]);
    let except = p.set_arg(&args[2]);
    let timeout = p.timeout(&args[3]);
    let nfds = args.get(4).map(|n| p.nfds(n));
    Op::Select {
        read,
        write,
        except,
        timeout,
        nfds,
    }
}

/// `sleep(DURATION)`.
pub(crate) fn sleep(p: &mut Parser<'_>, args: &[Arg], _call_span: Span) -> Op {
    Op::Sleep {
        dur: p.duration(&args[0]),
    }
}

/// `FD_ZERO(set)`.
pub(crate) fn fd_zero(p: &mut Parser<'_>, args: &[Arg], _call_span: Span) -> Op {
    Op::FdZero {
        set: p.declare_fd_set(&args[0]),
    }
}

/// The arguments `FD_SET`, `FD_CLR` and `FD_ISSET` share.
fn fd_args(p: &mut Parser<'_>, args: &[Arg]) -> (Ident, Ident) {
    let fd = p.handle(&args[0]);
    let set = p.fd_set(&args[1]);
    (fd, set)
}

/// `FD_SET(h, SET)`.
pub(crate) fn fd_set(p: &mut Parser<'_>, args: &[Arg], _call_span: Span) -> Op {
    let (fd, set) = fd_args(p, args);
    Op::FdSet { fd, set }
}

/// `FD_CLR(h, SET)`.
pub(crate) fn fd_clr(p: &mut Parser<'_>, args: &[Arg], _call_span: Span) -> Op {
    let (fd, set) = fd_args(p, args);
    Op::FdClr { fd, set }
}

/// `FD_ISSET(h, SET)`.
pub(crate) fn fd_isset(p: &mut Parser<'_>, args: &[Arg], _call_span: Span) -> Op {
    let (fd, set) = fd_args(p, args);
    Op::FdIsset { fd, set }
}

#[cfg(test)]
mod tests {
    use crate::parser::testkit::*;

    #[test]
    fn poll_select_sleep() {
        let Op::Poll { fds, timeout } = op("poll([s: POLLIN|POLLOUT, c: POLLIN], 100ms)") else {
            panic!()
        };
        assert_eq!(fds.len(), 2);
        assert_eq!(timeout, Timeout::After(Duration::from_millis(100)));
        assert!(matches!(
            op("poll([s: POLLIN], inf)"),
            Op::Poll {
                timeout: Timeout::Infinite,
                ..
            }
        ));
        assert!(matches!(
            op("poll([s: POLLIN], -1)"),
            Op::Poll {
                timeout: Timeout::Negative(-1),
                ..
            }
        ));
        let Op::Select {
            read, except, nfds, ..
        } = op("select([s, c], [], [l], 0, nfds=3)")
        else {
            panic!()
        };
        assert_eq!(
            (read.handles().len(), except.handles().len(), nfds),
            (2, 1, Some(Nfds::Int(3)))
        );
        assert!(
            matches!(op("sleep(500us)"), Op::Sleep { dur } if dur == Duration::from_micros(500))
        );
        assert_eq!(codes("sleep(5)\n"), vec!["bad-unit"]);
        assert_eq!(codes("poll([s: POLLINN], 0)\n"), vec!["unknown-symbol"]);
    }

    #[test]
    fn fd_sets_are_their_own_names() {
        let body = "FD_ZERO(rs)\nFD_SET(c, rs)\nFD_CLR(c, rs)\nselect(rs, [], [], 0, nfds=fd(c)+1)\nFD_ISSET(c, rs) = 1\n";
        let steps = parse_ok(body).steps;
        let StepKind::Call { call, .. } = &steps[steps.len() - 2].kind else {
            panic!()
        };
        let Op::Select { read, nfds, .. } = &call.op else {
            panic!()
        };
        assert!(matches!(read, SetArg::Named(id) if id.name == "rs"));
        assert!(matches!(nfds, Some(Nfds::FdOf { handle, plus: 1 }) if handle.name == "c"));
        assert!(matches!(
            op("select([c], [], [], 0, nfds=fd(c))"),
            Op::Select {
                nfds: Some(Nfds::FdOf { plus: 0, .. }),
                ..
            }
        ));
        assert_eq!(
            codes("FD_ZERO(rs)\nFD_SET(rs, rs)\n"),
            vec!["set-as-handle"]
        );
        assert_eq!(codes("FD_ZERO(rs)\nFD_SET(c, c)\n"), vec!["handle-as-set"]);
        assert_eq!(codes("FD_ZERO(c)\n"), vec!["handle-as-set"]);
        assert_eq!(codes("FD_SET(c, rs)\n"), vec!["unknown-fd-set"]);
        assert_eq!(codes("select(c, [], [], 0)\n"), vec!["handle-as-set"]);
        assert_eq!(
            codes("FD_ZERO(rs)\nrs = socket(INET, STREAM)\n"),
            vec!["set-as-handle"]
        );
        assert_eq!(
            codes("FD_ZERO(rs)\nsend(rs, \"x\")\n"),
            vec!["set-as-handle"]
        );
        assert_eq!(
            codes("select([c], [], [], 0, nfds=fd(rs))\n"),
            vec!["unknown-handle"]
        );
        assert_eq!(
            codes("select([c], [], [], 0, nfds=\"3\")\n"),
            vec!["wrong-argument"]
        );
    }
}
