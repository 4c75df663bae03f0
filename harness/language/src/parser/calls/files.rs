//! Parsing the calls of the files family.
//! Files named by path: `unlink`, `stat`, `touch`, `chmod`, `dir_entries`.

use crate::ast::*;
use crate::diag::Mistake;
use crate::span::Span;

use crate::parser::args::Arg;
use crate::parser::Parser;

/// `unlink(path("name"))`.
pub(crate) fn unlink(p: &mut Parser<'_>, args: &[Arg], _call_span: Span) -> Op {
    Op::Unlink {
        path: p.addr(&args[0]),
    }
}

/// `stat(path("name"))`.
pub(crate) fn stat(p: &mut Parser<'_>, args: &[Arg], _call_span: Span) -> Op {
    Op::Stat {
        path: p.addr(&args[0]),
    }
}

/// `touch(path("name"))`.
pub(crate) fn touch(p: &mut Parser<'_>, args: &[Arg], _call_span: Span) -> Op {
    Op::Touch {
        path: p.addr(&args[0]),
    }
}

/// `chmod(path("name"), MODE)`.
pub(crate) fn chmod(p: &mut Parser<'_>, args: &[Arg], _call_span: Span) -> Op {
    let path = p.addr(&args[0]);
    let mode = p.int(&args[1]);
    if !(0..=0o7777).contains(&mode) {
        p.push(
            Mistake::OutOfRange {
                what: "mode",
                value: mode as i128,
                range: "a mode from 0o0 to 0o7777",
            },
            args[1].span,
        );
    }
    Op::Chmod {
        path,
        mode: mode.clamp(0, 0o7777) as u32,
    }
}

/// `dir_entries()`.
pub(crate) fn dir_entries(_p: &mut Parser<'_>, _args: &[Arg], _call_span: Span) -> Op {
    Op::DirEntries
}
