//! Arguments: the untyped tree a call's arguments are read into ([`Arg`]), and the checks that
//! turn an argument into what its position expects (a handle, a size, an address, flags).

use std::time::Duration;

use crate::ast::*;
use crate::diag::{with_article, Mistake};
use crate::lexer::Tok;
use crate::span::Span;
use crate::symbols::{canonical, suggest, Category};

use super::*;

/// An argument as written, before it is checked against what its position expects.
#[derive(Debug, Clone)]
pub(crate) struct Arg {
    pub(crate) kind: ArgKind,
    pub(crate) span: Span,
}

/// `Plus` is `fd(h)+1`: a primary and a number added to it.
#[derive(Debug, Clone)]
pub(crate) enum ArgKind {
    Name(String),
    Group(String),
    Num { neg: bool, value: u64, unit: String },
    Str(Vec<u8>),
    Hex(Vec<u8>),
    V4(String, Option<Box<Arg>>),
    V6(String, Option<Box<Arg>>),
    List(Vec<Arg>),
    Tuple(Vec<Arg>),
    Func(String, Vec<Arg>),
    Keyed(String, Box<Arg>),
    Entry(Ident, Box<Arg>),
    Or(Vec<Arg>),
    Star,
    Ellipsis,
    Plus(Box<Arg>, Box<Arg>),
}

impl Arg {
    pub(crate) fn describe(&self) -> String {
        match &self.kind {
            ArgKind::Name(n) | ArgKind::Group(n) => format!("`{n}`"),
            ArgKind::Num { unit, .. } if !unit.is_empty() => "a number with a unit".into(),
            ArgKind::Num { .. } => "a number".into(),
            ArgKind::Str(_) => "a string".into(),
            ArgKind::Hex(_) => "a hex string".into(),
            ArgKind::V4(..) | ArgKind::V6(..) => "an address".into(),
            ArgKind::List(_) => "a list".into(),
            ArgKind::Tuple(_) => "a parenthesised group".into(),
            ArgKind::Func(f, _) => format!("`{f}(...)`"),
            ArgKind::Keyed(k, _) => format!("`{k}=...`"),
            ArgKind::Entry(h, _) => format!("`{}: ...`", h.name),
            ArgKind::Or(_) => "names joined by `|`".into(),
            ArgKind::Star => "`*`".into(),
            ArgKind::Ellipsis => "`...`".into(),
            ArgKind::Plus(..) => "a sum".into(),
        }
    }
}

/// The longest duration a scenario may write. No case waits a day, and a bound here means
/// the engine's arithmetic on durations (scaling, deadlines plus grace) can never overflow.
pub(crate) const LONGEST_DURATION: Duration = Duration::from_secs(24 * 60 * 60);

/// The largest size a scenario may write (a payload, a buffer, a read length): the case's
/// memory is bounded anyway, and a bound here keeps every size arithmetic in range.
pub(crate) const LARGEST_SIZE: u64 = 1 << 30;

/// A number with a unit of time: `None` for an unknown unit, `Some(None)` when out of range.
pub(crate) fn duration_of(value: u64, unit: &str) -> Option<Option<Duration>> {
    let d = match unit {
        "ns" => Some(Duration::from_nanos(value)),
        "us" => value.checked_mul(1_000).map(Duration::from_nanos),
        "ms" => Some(Duration::from_millis(value)),
        "s" => Some(Duration::from_secs(value)),
        _ => return None,
    };
    Some(d.filter(|d| *d <= LONGEST_DURATION))
}

pub(crate) fn size_factor(unit: &str) -> Option<u64> {
    match unit {
        "" | "B" => Some(1),
        "KiB" => Some(1 << 10),
        "MiB" => Some(1 << 20),
        "GiB" => Some(1 << 30),
        _ => None,
    }
}

pub(crate) fn is_duration_unit(unit: &str) -> bool {
    matches!(unit, "ns" | "us" | "ms" | "s")
}

/// The prefix family a bit-flag belongs to; `|` followed by a flag of the same family
/// continues a flags value instead of starting a new alternative.
pub(crate) fn flag_family(name: &str) -> Option<&'static str> {
    ["O_", "FD_", "POLL", "MSG_"]
        .into_iter()
        .find(|p| name.starts_with(p))
        .map(|p| if p == "FD_" { "O_" } else { p })
}

impl Parser<'_> {
    /// Items up to `close`; the opening token has been read.
    pub(crate) fn arg_list(&mut self, cur: &mut Cursor, close: &Tok) -> PResult<Vec<Arg>> {
        let mut args = Vec::new();
        if cur.eat(close).is_some() {
            return Ok(args);
        }
        let closing = if *close == Tok::RParen {
            "`,` or `)`"
        } else {
            "`,` or `]`"
        };
        loop {
            args.push(self.term(cur)?);
            if cur.eat(&Tok::Comma).is_some() {
                continue;
            }
            if cur.eat(close).is_some() {
                return Ok(args);
            }
            return self.unexpected(cur, closing, None);
        }
    }

    /// A primary, or several joined by `|`.
    pub(crate) fn term(&mut self, cur: &mut Cursor) -> PResult<Arg> {
        let first = self.primary(cur)?;
        if cur.eat(&Tok::Plus).is_some() {
            let add = self.primary(cur)?;
            let span = first.span.to(add.span);
            return Ok(Arg {
                kind: ArgKind::Plus(Box::new(first), Box::new(add)),
                span,
            });
        }
        if cur.peek() != Some(&Tok::Pipe) {
            return Ok(first);
        }
        let mut span = first.span;
        let mut items = vec![first];
        while cur.eat(&Tok::Pipe).is_some() {
            let item = self.primary(cur)?;
            span = span.to(item.span);
            items.push(item);
        }
        Ok(Arg {
            kind: ArgKind::Or(items),
            span,
        })
    }

    pub(crate) fn primary(&mut self, cur: &mut Cursor) -> PResult<Arg> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            self.depth -= 1;
            return self.fail(Mistake::TooDeep, cur.here());
        }
        let result = self.primary_inner(cur);
        self.depth = self.depth.saturating_sub(1);
        result
    }

    pub(crate) fn primary_inner(&mut self, cur: &mut Cursor) -> PResult<Arg> {
        let Some(t) = cur.next() else {
            return self.unexpected(cur, "an argument", None);
        };
        let start = t.span;
        let kind = match &t.tok {
            Tok::Name(n) => match cur.peek() {
                Some(Tok::LParen) => {
                    cur.next();
                    ArgKind::Func(n.clone(), self.arg_list(cur, &Tok::RParen)?)
                }
                Some(Tok::Eq) => {
                    cur.next();
                    ArgKind::Keyed(n.clone(), Box::new(self.term(cur)?))
                }
                Some(Tok::Colon) => {
                    cur.next();
                    ArgKind::Entry(
                        Ident {
                            name: n.clone(),
                            span: start,
                        },
                        Box::new(self.term(cur)?),
                    )
                }
                _ => ArgKind::Name(n.clone()),
            },
            Tok::Group(g) => ArgKind::Group(g.clone()),
            Tok::Num { value, unit } => ArgKind::Num {
                neg: false,
                value: *value,
                unit: unit.clone(),
            },
            Tok::Minus => match cur.next().map(|t| &t.tok) {
                Some(Tok::Num { value, unit }) => ArgKind::Num {
                    neg: true,
                    value: *value,
                    unit: unit.clone(),
                },
                _ => {
                    cur.pos -= 1;
                    return self.unexpected(cur, "a number after `-`", None);
                }
            },
            Tok::Dotted(text) => ArgKind::V4(text.clone(), self.port_part(cur)?),
            Tok::V6(text) => ArgKind::V6(text.clone(), self.port_part(cur)?),
            Tok::Str(s) => ArgKind::Str(s.clone()),
            Tok::Hex(h) => ArgKind::Hex(h.clone()),
            Tok::LBracket => ArgKind::List(self.arg_list(cur, &Tok::RBracket)?),
            Tok::LParen => ArgKind::Tuple(self.arg_list(cur, &Tok::RParen)?),
            Tok::Star => ArgKind::Star,
            Tok::Ellipsis => ArgKind::Ellipsis,
            _ => {
                cur.pos -= 1;
                return self.unexpected(cur, "an argument", None);
            }
        };
        Ok(Arg {
            kind,
            span: start.to(Span::new(cur.prev_end(), cur.prev_end())),
        })
    }

    pub(crate) fn port_part(&mut self, cur: &mut Cursor) -> PResult<Option<Box<Arg>>> {
        if cur.eat(&Tok::Colon).is_some() {
            Ok(Some(Box::new(self.primary(cur)?)))
        } else {
            Ok(None)
        }
    }

    pub(crate) fn wrong<T>(
        &mut self,
        arg: &Arg,
        expected: &str,
        help: Option<String>,
        stand_in: T,
    ) -> T {
        self.push(
            Mistake::WrongArgument {
                expected: expected.to_string(),
                found: arg.describe(),
                help,
            },
            arg.span,
        );
        stand_in
    }

    pub(crate) fn check_handle(&mut self, name: &str, span: Span) {
        if self.handles.contains(name) || self.poisoned.contains(name) {
            return;
        }
        if self.sets.iter().any(|s| s == name) {
            self.push(
                Mistake::SetAsHandle {
                    name: name.to_string(),
                },
                span,
            );
            return;
        }
        if self.processes.iter().any(|p| p == name) {
            self.push(
                Mistake::WrongArgument {
                    expected: "a handle".into(),
                    found: format!("`{name}`, a process"),
                    help: Some(
                        "a process from `spawn` is only given to `wait` and `kill`; pass it a handle as `stdin=h` to share a descriptor".into(),
                    ),
                },
                span,
            );
            return;
        }
        if self.pending.iter().any(|p| p.name == name) {
            self.push(
                Mistake::PendingHandle {
                    name: name.to_string(),
                },
                span,
            );
            return;
        }
        let suggestion = self
            .reporting()
            .then(|| closest(name, self.handles.iter().map(String::as_str)))
            .flatten();
        self.push(
            Mistake::UnknownHandle {
                name: name.to_string(),
                suggestion,
            },
            span,
        );
    }

    pub(crate) fn handle(&mut self, arg: &Arg) -> Ident {
        match &arg.kind {
            ArgKind::Name(n) => {
                self.check_handle(n, arg.span);
                Ident {
                    name: n.clone(),
                    span: arg.span,
                }
            }
            _ => self.wrong(
                arg,
                "a handle",
                Some(
                    "a handle is a name bound earlier, like `s` in `s = socket(INET, STREAM)`"
                        .into(),
                ),
                Ident {
                    name: String::new(),
                    span: arg.span,
                },
            ),
        }
    }

    /// A name of a kind other than a handle (an fd_set, a process), bound above in `known`.
    /// Returns the name and whether it is settled: bound, poisoned by an earlier mistake, or
    /// not a name at all (reported here with `expected` and `help`). An unsettled name is for
    /// the caller to report, as it knows what else the name may be.
    pub(crate) fn bound_name(
        &mut self,
        arg: &Arg,
        expected: &str,
        help: &str,
        known: fn(&Self) -> &[String],
    ) -> (Ident, bool) {
        let ArgKind::Name(n) = &arg.kind else {
            let id = Ident {
                name: String::new(),
                span: arg.span,
            };
            return (self.wrong(arg, expected, Some(help.into()), id), true);
        };
        let id = Ident {
            name: n.clone(),
            span: arg.span,
        };
        let settled = known(self).contains(n) || self.poisoned.contains(n);
        (id, settled)
    }

    /// An fd_set name declared by `FD_ZERO` above.
    pub(crate) fn fd_set(&mut self, arg: &Arg) -> Ident {
        let (id, settled) = self.bound_name(
            arg,
            "the name of an fd_set",
            "declare a set with `FD_ZERO(rs)` and name it: `FD_SET(h, rs)`",
            |p| &p.sets,
        );
        if settled {
            return id;
        }
        let n = &id.name;
        if self.handles.contains(n) || self.pending.iter().any(|p| p.name == *n) {
            self.push(Mistake::HandleAsSet { name: n.clone() }, arg.span);
        } else {
            let suggestion = self
                .reporting()
                .then(|| closest(n, self.sets.iter().map(String::as_str)))
                .flatten();
            self.push(
                Mistake::UnknownFdSet {
                    name: n.clone(),
                    suggestion,
                },
                arg.span,
            );
        }
        id
    }

    /// `FD_ZERO(rs)`: declares the set on first use.
    pub(crate) fn declare_fd_set(&mut self, arg: &Arg) -> Ident {
        if let ArgKind::Name(n) = &arg.kind {
            let is_handle = self.handles.contains(n) || self.pending.iter().any(|p| p.name == *n);
            if is_handle {
                self.push(Mistake::HandleAsSet { name: n.clone() }, arg.span);
                return Ident {
                    name: n.clone(),
                    span: arg.span,
                };
            } else if !self.sets.contains(n) {
                self.sets.push(n.clone());
            }
        }
        self.fd_set(arg)
    }

    /// One of select's sets: a list of handles or the name of an fd_set.
    pub(crate) fn set_arg(&mut self, arg: &Arg) -> SetArg {
        match &arg.kind {
            ArgKind::Name(n) if !self.handles.contains(n) => SetArg::Named(self.fd_set(arg)),
            ArgKind::Name(n) => {
                self.push(Mistake::HandleAsSet { name: n.clone() }, arg.span);
                SetArg::List(Vec::new())
            }
            ArgKind::List(_) => SetArg::List(self.handles(arg)),
            _ => self.wrong(
                arg,
                "a list of handles `[a, b]` or the name of an fd_set",
                None,
                SetArg::List(Vec::new()),
            ),
        }
    }

    /// select's `nfds=N`, `nfds=fd(h)` or `nfds=fd(h)+1`.
    pub(crate) fn nfds(&mut self, arg: &Arg) -> Nfds {
        let help = || Some("write `nfds=5`, `nfds=fd(h)` or `nfds=fd(h)+1`".to_string());
        let ArgKind::Keyed(k, v) = &arg.kind else {
            return self.wrong(arg, "`nfds=N`", help(), Nfds::Int(0));
        };
        if k != "nfds" {
            return self.wrong(arg, "`nfds=N`", help(), Nfds::Int(0));
        }
        let (base, plus) = match &v.kind {
            ArgKind::Plus(base, add) => (base.as_ref(), self.int(add)),
            _ => (v.as_ref(), 0),
        };
        match &base.kind {
            ArgKind::Num { .. } if plus == 0 => Nfds::Int(self.int(base)),
            ArgKind::Func(f, args) if f == "fd" => {
                match self.func_args(base, args, 1, "fd", "fd(h)") {
                    Some([h]) => Nfds::FdOf {
                        handle: self.handle(h),
                        plus,
                    },
                    _ => Nfds::Int(0),
                }
            }
            _ => self.wrong(v, "a number or `fd(h)`", help(), Nfds::Int(0)),
        }
    }

    /// accept's `addrlen=N` or `addrlen=sizeof(TYPE)`.
    pub(crate) fn addrlen(&mut self, arg: &Arg) -> AddrLen {
        let help = || {
            Some(
                "write the length accept is given, `addrlen=16` or `addrlen=sizeof(sockaddr_in)`"
                    .to_string(),
            )
        };
        match &arg.kind {
            ArgKind::Num { neg: false, .. } => AddrLen::Int(self.int(arg)),
            ArgKind::Num { neg: true, .. } => self.wrong(
                arg,
                "a length",
                Some("socklen_t is unsigned: a length cannot be negative".into()),
                AddrLen::Int(0),
            ),
            ArgKind::Func(f, args) if f == "sizeof" => {
                match self.func_args(arg, args, 1, "sizeof", "sizeof(TYPE)") {
                    Some([t]) => AddrLen::Sizeof(self.sym(t, Category::CType)),
                    _ => AddrLen::Int(0),
                }
            }
            _ => self.wrong(
                arg,
                "a length: a number or `sizeof(TYPE)`",
                help(),
                AddrLen::Int(0),
            ),
        }
    }

    pub(crate) fn handles(&mut self, arg: &Arg) -> Vec<Ident> {
        match &arg.kind {
            ArgKind::List(items) => items.iter().map(|i| self.handle(i)).collect(),
            _ => self.wrong(arg, "a list of handles `[a, b]`", None, Vec::new()),
        }
    }

    /// An integer; size units are allowed (`SO_RCVBUF` of `64KiB`).
    pub(crate) fn int(&mut self, arg: &Arg) -> i64 {
        match &arg.kind {
            ArgKind::Num { neg, value, unit } => {
                let Some(factor) = size_factor(unit) else {
                    if is_duration_unit(unit) {
                        return self.wrong(
                            arg,
                            "a number",
                            Some("durations are not counts here".into()),
                            0,
                        );
                    }
                    self.push(
                        Mistake::UnknownUnit {
                            what: "size",
                            unit: unit.clone(),
                        },
                        arg.span,
                    );
                    return 0;
                };
                let magnitude = value
                    .checked_mul(factor)
                    .and_then(|v| i64::try_from(v).ok());
                match magnitude {
                    Some(v) if *neg => -v,
                    Some(v) => v,
                    None => {
                        let value = *value as i128 * factor as i128;
                        self.push(
                            Mistake::OutOfRange {
                                what: "number",
                                value,
                                range: "a 64-bit integer",
                            },
                            arg.span,
                        );
                        0
                    }
                }
            }
            _ => self.wrong(arg, "a number", None, 0),
        }
    }

    pub(crate) fn size(&mut self, arg: &Arg) -> u64 {
        match &arg.kind {
            ArgKind::Num { neg: true, .. } => {
                self.wrong(arg, "a size", Some("sizes cannot be negative".into()), 0)
            }
            ArgKind::Num { .. } => {
                let size = self.int(arg).max(0) as u64;
                if size > LARGEST_SIZE {
                    self.push(
                        Mistake::OutOfRange {
                            what: "size",
                            value: size.into(),
                            range: "at most 1GiB",
                        },
                        arg.span,
                    );
                    return 0;
                }
                size
            }
            _ => self.wrong(
                arg,
                "a size",
                Some("write a byte count: `64`, `4KiB`, `1MiB`".into()),
                0,
            ),
        }
    }

    pub(crate) fn duration(&mut self, arg: &Arg) -> Duration {
        match &arg.kind {
            ArgKind::Num {
                neg: false,
                value,
                unit,
            } => {
                if unit.is_empty() {
                    if *value != 0 {
                        self.push(Mistake::MissingUnit { value: *value }, arg.span);
                    }
                    return Duration::ZERO;
                }
                match duration_of(*value, unit) {
                    Some(Some(d)) => d,
                    Some(None) => {
                        let value = *value as i128;
                        self.push(
                            Mistake::OutOfRange {
                                what: "duration",
                                value,
                                range: "at most 24 hours (86400s)",
                            },
                            arg.span,
                        );
                        Duration::ZERO
                    }
                    None => {
                        self.push(
                            Mistake::UnknownUnit {
                                what: "duration",
                                unit: unit.clone(),
                            },
                            arg.span,
                        );
                        Duration::ZERO
                    }
                }
            }
            ArgKind::Num { neg: true, .. } => self.wrong(
                arg,
                "a duration",
                Some("durations cannot be negative".into()),
                Duration::ZERO,
            ),
            _ => self.wrong(
                arg,
                "a duration",
                Some("write e.g. `150ms`, `2s` or `500us`".into()),
                Duration::ZERO,
            ),
        }
    }

    pub(crate) fn timeout(&mut self, arg: &Arg) -> Timeout {
        match &arg.kind {
            ArgKind::Name(n) if n == "inf" => Timeout::Infinite,
            ArgKind::Num {
                neg: true, unit, ..
            } if unit.is_empty() => Timeout::Negative(self.int(arg)),
            ArgKind::Num { .. } => Timeout::After(self.duration(arg)),
            _ => self.wrong(
                arg,
                "a timeout",
                Some("write a duration (`100ms`), `inf`, or a negative number".into()),
                Timeout::Infinite,
            ),
        }
    }

    pub(crate) fn symbol(&mut self, name: &str, span: Span, category: Category) -> Sym {
        let short = canonical(category, name);
        if !category.contains(&short) {
            let suggestion = suggest(category, &short).map(|s| {
                let prefix = &name[..name.len() - short.len()];
                format!("{prefix}{s}")
            });
            self.push(
                Mistake::UnknownSymbol {
                    category,
                    name: name.to_string(),
                    suggestion,
                },
                span,
            );
        }
        Sym { name: short, span }
    }

    pub(crate) fn sym(&mut self, arg: &Arg, category: Category) -> Sym {
        match &arg.kind {
            ArgKind::Name(n) => self.symbol(n, arg.span, category),
            _ => {
                let expected = format!("{} name", with_article(category));
                self.wrong(
                    arg,
                    &expected,
                    None,
                    Sym {
                        name: String::new(),
                        span: arg.span,
                    },
                )
            }
        }
    }

    pub(crate) fn flags(&mut self, arg: &Arg, category: Category) -> Flags {
        let items: Vec<&Arg> = match &arg.kind {
            ArgKind::Num {
                neg: false,
                value: 0,
                unit,
            } if unit.is_empty() => return Flags::default(),
            ArgKind::Or(items) => items.iter().collect(),
            _ => vec![arg],
        };
        let mut names = Vec::new();
        for item in items {
            match &item.kind {
                ArgKind::Name(n) => names.push(self.symbol(n, item.span, category)),
                _ => {
                    let expected = format!("{} names joined by `|`, or `0`", category.noun());
                    self.wrong(item, &expected, None, ());
                }
            }
        }
        Flags { names }
    }

    pub(crate) fn flags_match(&mut self, arg: &Arg, category: Category) -> FlagsMatch {
        let items: Vec<&Arg> = match &arg.kind {
            ArgKind::Num {
                neg: false,
                value: 0,
                unit,
            } if unit.is_empty() => Vec::new(),
            ArgKind::Or(items) => items.iter().collect(),
            _ => vec![arg],
        };
        let mut out = FlagsMatch {
            names: Vec::new(),
            others_any: false,
        };
        for item in items {
            match &item.kind {
                ArgKind::Name(n) => out.names.push(self.symbol(n, item.span, category)),
                ArgKind::Ellipsis => out.others_any = true,
                _ => {
                    let expected = format!("{} names joined by `|`, `...` or `0`", category.noun());
                    self.wrong(item, &expected, None, ());
                }
            }
        }
        out
    }

    pub(crate) fn int_or_sym(&mut self, arg: &Arg, category: Category) -> IntOrSym {
        match &arg.kind {
            ArgKind::Num { .. } => IntOrSym::Int(self.int(arg)),
            _ => IntOrSym::Sym(self.sym(arg, category)),
        }
    }

    pub(crate) fn string_arg(&mut self, arg: &Arg, what: &str) -> String {
        match &arg.kind {
            ArgKind::Str(s) => String::from_utf8_lossy(s).into_owned(),
            _ => self.wrong(arg, what, None, String::new()),
        }
    }

    /// The arguments of a helper like `fill(N, B)`, checked for count.
    pub(crate) fn func_args<'a>(
        &mut self,
        arg: &Arg,
        args: &'a [Arg],
        n: usize,
        call: &'static str,
        signature: &'static str,
    ) -> Option<&'a [Arg]> {
        if args.len() == n {
            Some(args)
        } else {
            self.push(
                Mistake::WrongArity {
                    call,
                    given: args.len(),
                    signature,
                },
                arg.span,
            );
            None
        }
    }

    pub(crate) fn payload(&mut self, arg: &Arg) -> Payload {
        match &arg.kind {
            ArgKind::Str(b) | ArgKind::Hex(b) => Payload::Bytes(b.clone()),
            ArgKind::Func(f, args) if f == "pattern" => {
                match self.func_args(arg, args, 1, "pattern", "pattern(SIZE)") {
                    Some([n]) => Payload::Pattern(self.size(n)),
                    _ => Payload::Bytes(Vec::new()),
                }
            }
            ArgKind::Func(f, args) if f == "fill" => {
                match self.func_args(arg, args, 2, "fill", "fill(SIZE, BYTE)") {
                    Some([n, b]) => {
                        let size = self.size(n);
                        let byte = self.int(b);
                        if !(0..=255).contains(&byte) {
                            self.push(
                                Mistake::OutOfRange {
                                    what: "byte",
                                    value: byte as i128,
                                    range: "a byte from 0 to 255",
                                },
                                b.span,
                            );
                        }
                        Payload::Fill(size, byte.clamp(0, 255) as u8)
                    }
                    _ => Payload::Bytes(Vec::new()),
                }
            }
            _ => self.wrong(
                arg,
                "data",
                Some(
                    "write a string, `hex\"00 ff\"`, `pattern(SIZE)` or `fill(SIZE, BYTE)`".into(),
                ),
                Payload::Bytes(Vec::new()),
            ),
        }
    }

    pub(crate) fn ipv4(&mut self, text: &str, span: Span) -> [u8; 4] {
        let parts: Vec<&str> = text.split('.').collect();
        if parts.len() != 4 {
            let why = format!(
                "expected four numbers joined by dots, found {}",
                parts.len()
            );
            self.push(
                Mistake::BadIpv4 {
                    text: text.to_string(),
                    why,
                },
                span,
            );
            return [0; 4];
        }
        let mut ip = [0u8; 4];
        for (slot, part) in ip.iter_mut().zip(&parts) {
            match part.parse::<u8>() {
                Ok(v) => *slot = v,
                Err(_) => {
                    let why = format!("`{part}` is more than 255");
                    self.push(
                        Mistake::BadIpv4 {
                            text: text.to_string(),
                            why,
                        },
                        span,
                    );
                    return [0; 4];
                }
            }
        }
        ip
    }

    pub(crate) fn ipv6(&mut self, text: &str, span: Span) -> [u16; 8] {
        match text.parse::<std::net::Ipv6Addr>() {
            Ok(ip) => ip.segments(),
            Err(_) => {
                self.push(
                    Mistake::BadIpv6 {
                        text: text.to_string(),
                    },
                    span,
                );
                [0; 8]
            }
        }
    }

    pub(crate) fn ip_span(&self, arg: &Arg, port: &Option<Box<Arg>>) -> Span {
        match port {
            Some(p) => Span::new(
                arg.span.start,
                p.span.start.saturating_sub(1).max(arg.span.start),
            ),
            None => arg.span,
        }
    }

    pub(crate) fn port_num(&mut self, arg: &Arg) -> u16 {
        match &arg.kind {
            ArgKind::Num {
                neg: false,
                value,
                unit,
            } if unit.is_empty() => match u16::try_from(*value) {
                Ok(p) => p,
                Err(_) => {
                    self.push(Mistake::PortOutOfRange { value: *value }, arg.span);
                    0
                }
            },
            _ => self.wrong(arg, "a port number", None, 0),
        }
    }

    pub(crate) fn port_expr(&mut self, port: &Option<Box<Arg>>, whole: &Arg) -> PortExpr {
        let Some(port) = port else {
            let text = self.source[whole.span.start..whole.span.end].to_string();
            self.push(Mistake::MissingPort { text }, whole.span);
            return PortExpr::Num(0);
        };
        match &port.kind {
            ArgKind::Func(f, args) if f == "port" => {
                match self.func_args(port, args, 1, "port", "port(h)") {
                    Some([h]) => PortExpr::Of(self.handle(h)),
                    _ => PortExpr::Num(0),
                }
            }
            ArgKind::Func(f, args) if f == "swapped" => {
                match self.func_args(port, args, 1, "swapped", "swapped(PORT)") {
                    Some([n]) => PortExpr::Swapped(self.port_num(n)),
                    _ => PortExpr::Num(0),
                }
            }
            ArgKind::Num { .. } => PortExpr::Num(self.port_num(port)),
            _ => self.wrong(
                port,
                "a port",
                Some("write a number, `port(h)` or `swapped(N)`".into()),
                PortExpr::Num(0),
            ),
        }
    }

    pub(crate) fn port_match(&mut self, port: &Option<Box<Arg>>, whole: &Arg) -> PortMatch {
        let Some(port) = port else {
            let text = self.source[whole.span.start..whole.span.end].to_string();
            self.push(Mistake::MissingPort { text }, whole.span);
            return PortMatch::Any;
        };
        match &port.kind {
            ArgKind::Star => PortMatch::Any,
            ArgKind::Name(n) if n == "ephemeral" => PortMatch::Ephemeral,
            ArgKind::Func(f, args) if f == "port" => {
                match self.func_args(port, args, 1, "port", "port(h)") {
                    Some([h]) => PortMatch::Of(self.handle(h)),
                    _ => PortMatch::Any,
                }
            }
            ArgKind::Num { .. } => PortMatch::Exact(self.port_num(port)),
            _ => self.wrong(
                port,
                "a port",
                Some("write a number, `*`, `ephemeral` or `port(h)`".into()),
                PortMatch::Any,
            ),
        }
    }

    /// `path("x")`, `abstract("x")`, `rawpath("x")`: the string inside.
    pub(crate) fn path_like(
        &mut self,
        arg: &Arg,
        args: &[Arg],
        which: &'static str,
        signature: &'static str,
    ) -> String {
        match self.func_args(arg, args, 1, which, signature) {
            Some([s]) => self.string_arg(s, "a name in quotes"),
            _ => String::new(),
        }
    }

    pub(crate) fn is_handle(&self, name: &str) -> bool {
        self.handles.contains(name) || self.poisoned.contains(name)
    }

    /// The NAME of `server(NAME)`: a service of a multi-service suite (`server(echo)`).
    pub(crate) fn service(&mut self, arg: &Arg, args: &[Arg]) -> Option<String> {
        match self.func_args(arg, args, 1, "server", "server(SERVICE)") {
            Some([a]) => match &a.kind {
                ArgKind::Name(n) => Some(n.clone()),
                _ => self.wrong(a, "a service name like `echo`", None, None),
            },
            _ => None,
        }
    }

    /// An address or file a call acts on: a Unix path must stay in the case's own area
    /// ([`Parser::confine`]).
    pub(crate) fn addr(&mut self, arg: &Arg) -> AddrExpr {
        let addr = self.addr_anywhere(arg);
        self.confine(&addr, arg.span);
        addr
    }

    /// The one rule for a file a scenario names, checked before anything runs (the engine
    /// checks again, on the real file system): `path("name")` is a plain name inside the
    /// case's private directory; `rawpath("…")` is relative to it, or absolute under `/tmp`
    /// (the case's private tmpfs) or under a directory this scenario covered with
    /// `mount_tmpfs` above; neither climbs with `..`.
    pub(crate) fn confine(&mut self, addr: &AddrExpr, span: Span) {
        let (which, text) = match addr {
            AddrExpr::Path(p) => ("path", p),
            AddrExpr::RawPath(p) => ("rawpath", p),
            _ => return,
        };
        let why = if text.split('/').any(|c| c == "..") {
            Some("climbs out with `..`")
        } else if which == "path" && text.starts_with('/') {
            Some("an absolute name; expected a name inside the case's directory")
        } else if which == "rawpath" && text.starts_with('/') {
            let under = |dir: &str| {
                let dir = dir.trim_end_matches('/');
                text.strip_prefix(dir)
                    .is_some_and(|rest| rest.starts_with('/'))
            };
            (!under("/tmp") && !self.tmpfs_dirs.iter().any(|d| under(d)))
                .then_some("outside `/tmp` and the directories this case mounted a tmpfs on")
        } else {
            None
        };
        if let Some(why) = why {
            self.push(
                Mistake::PathOutsideCase {
                    which,
                    text: text.clone(),
                    why,
                },
                span,
            );
        }
    }

    /// An address without the file rule: for `mount_tmpfs`, whose directory is covered in the
    /// case's own mount namespace (the call needs isolation) and becomes part of its area.
    pub(crate) fn addr_anywhere(&mut self, arg: &Arg) -> AddrExpr {
        match &arg.kind {
            ArgKind::V4(text, port) => {
                let ip = self.ipv4(text, self.ip_span(arg, port));
                AddrExpr::V4 { ip, port: self.port_expr(port, arg) }
            }
            ArgKind::V6(text, port) => {
                let ip = self.ipv6(text, self.ip_span(arg, port));
                AddrExpr::V6 { ip, port: self.port_expr(port, arg) }
            }
            ArgKind::Name(n) if n == "unspec" => AddrExpr::Unspec,
            ArgKind::Name(n) if n == "null" => AddrExpr::Null,
            ArgKind::Name(n) if n == "server" && !self.is_handle(n) => AddrExpr::Server(None),
            ArgKind::Func(f, args) if f == "server" => AddrExpr::Server(self.service(arg, args)),
            ArgKind::Name(_) => AddrExpr::Handle(self.handle(arg)),
            ArgKind::Func(f, args) if f == "path" => AddrExpr::Path(self.path_like(arg, args, "path", "path(\"name\")")),
            ArgKind::Func(f, args) if f == "abstract" => {
                AddrExpr::Abstract(self.path_like(arg, args, "abstract", "abstract(\"name\")"))
            }
            ArgKind::Func(f, args) if f == "rawpath" => {
                AddrExpr::RawPath(self.path_like(arg, args, "rawpath", "rawpath(\"path\")"))
            }
            _ => self.wrong(
                arg,
                "an address",
                Some("write `127.0.0.1:0`, `[::1]:0`, a handle, `path(\"x\")`, `abstract(\"x\")` or `unspec`".into()),
                AddrExpr::Unspec,
            ),
        }
    }

    pub(crate) fn addr_match(&mut self, arg: &Arg) -> AddrMatch {
        match &arg.kind {
            ArgKind::V4(text, port) => {
                let ip = self.ipv4(text, self.ip_span(arg, port));
                AddrMatch::V4 { ip, port: self.port_match(port, arg) }
            }
            ArgKind::V6(text, port) => {
                let ip = self.ipv6(text, self.ip_span(arg, port));
                AddrMatch::V6 { ip, port: self.port_match(port, arg) }
            }
            ArgKind::Star => AddrMatch::Any,
            ArgKind::Func(f, args) if f == "server" => AddrMatch::Server(self.service(arg, args)),
            ArgKind::Name(n) => match n.as_str() {
                "unnamed" => AddrMatch::Unnamed,
                "autobound" => AddrMatch::Autobound,
                "none" => AddrMatch::None,
                "server" if !self.is_handle(n) => AddrMatch::Server(None),
                _ => AddrMatch::Handle(self.handle(arg)),
            },
            ArgKind::Func(f, args) if f == "path" => AddrMatch::Path(self.path_like(arg, args, "path", "path(\"name\")")),
            ArgKind::Func(f, args) if f == "abstract" => {
                AddrMatch::Abstract(self.path_like(arg, args, "abstract", "abstract(\"name\")"))
            }
            _ => self.wrong(
                arg,
                "an address",
                Some("write `127.0.0.1:*`, `[::1]:ephemeral`, a handle, `path(\"x\")`, `unnamed` or `*`".into()),
                AddrMatch::Any,
            ),
        }
    }

    pub(crate) fn opt_value(&mut self, arg: &Arg) -> OptValue {
        match &arg.kind {
            // A unit that is not a size is taken for a (misspelt) duration: timeouts are the
            // only options with units of time, and their mistakes are the likely ones.
            ArgKind::Num { unit, .. } if size_factor(unit).is_none() => {
                OptValue::Duration(self.duration(arg))
            }
            ArgKind::Num { .. } => OptValue::Int(self.int(arg)),
            ArgKind::Func(f, args) if f == "timeval" || f == "linger" => {
                let (name, signature) = if f == "timeval" {
                    ("timeval", "timeval(SEC, USEC)")
                } else {
                    ("linger", "linger(ONOFF, SECS)")
                };
                let (a, b) = match self.func_args(arg, args, 2, name, signature) {
                    Some([a, b]) => (self.int(a), self.int(b)),
                    _ => (0, 0),
                };
                if name == "timeval" {
                    OptValue::Timeval(a, b)
                } else {
                    OptValue::Linger(a, b)
                }
            }
            _ => self.wrong(
                arg,
                "an option value",
                Some(
                    "write a number, a duration, `timeval(SEC, USEC)` or `linger(ONOFF, SECS)`"
                        .into(),
                ),
                OptValue::Int(0),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::parser::testkit::*;

    #[test]
    fn addresses() {
        let Op::Bind { addr, .. } = op("bind(l, 127.0.0.1:8080)") else {
            panic!()
        };
        assert_eq!(
            addr,
            AddrExpr::V4 {
                ip: [127, 0, 0, 1],
                port: PortExpr::Num(8080)
            }
        );
        let Op::Connect { addr, .. } = op("connect(c, [::1]:port(l))") else {
            panic!()
        };
        assert!(
            matches!(addr, AddrExpr::V6 { ip: [0, 0, 0, 0, 0, 0, 0, 1], port: PortExpr::Of(ref h) } if h.name == "l")
        );
        let Op::Connect { addr, .. } = op("connect(c, 0.0.0.0:swapped(7))") else {
            panic!()
        };
        assert_eq!(
            addr,
            AddrExpr::V4 {
                ip: [0; 4],
                port: PortExpr::Swapped(7)
            }
        );
        assert!(matches!(
            op("connect(c, l)"),
            Op::Connect {
                addr: AddrExpr::Handle(_),
                ..
            }
        ));
        assert!(matches!(
            op("connect(c, unspec)"),
            Op::Connect {
                addr: AddrExpr::Unspec,
                ..
            }
        ));
        assert!(
            matches!(op("bind(c, path(\"x\"))"), Op::Bind { addr: AddrExpr::Path(ref p), .. } if p == "x")
        );
        assert!(matches!(
            op("bind(c, abstract(\"x\"))"),
            Op::Bind {
                addr: AddrExpr::Abstract(_),
                ..
            }
        ));
        assert!(matches!(
            op("bind(c, rawpath(\"/tmp/x\"))"),
            Op::Bind {
                addr: AddrExpr::RawPath(_),
                ..
            }
        ));
        assert_eq!(codes("bind(c, 1.2.3:80)\n"), vec!["bad-ipv4"]);
        assert_eq!(codes("bind(c, 1.2.3.4)\n"), vec!["missing-port"]);
        assert_eq!(codes("bind(c, 1.2.3.4:65536)\n"), vec!["port-out-of-range"]);
        assert_eq!(codes("bind(c, [::1::2]:0)\n"), vec!["bad-ipv6"]);
        assert_eq!(codes("bind(c, 80)\n"), vec!["wrong-argument"]);
    }

    #[test]
    fn payloads_and_sizes() {
        let Op::Send { data, flags, .. } = op("send(c, \"a\\x00\", MSG_NOSIGNAL|MSG_MORE)") else {
            panic!()
        };
        assert_eq!(data, Payload::Bytes(vec![b'a', 0]));
        assert_eq!(names(&flags.names), vec!["MSG_NOSIGNAL", "MSG_MORE"]);
        assert!(
            matches!(op("send(c, pattern(1MiB), 0)"), Op::Send { data: Payload::Pattern(1048576), ref flags, .. } if flags.names.is_empty())
        );
        assert!(matches!(
            op("send_all(c, fill(4KiB, 0x41))"),
            Op::SendAll {
                data: Payload::Fill(4096, 0x41),
                ..
            }
        ));
        assert!(
            matches!(op("write(c, hex\"0a 0b\")"), Op::Write { data: Payload::Bytes(ref b), .. } if b == &[10, 11])
        );
        assert!(matches!(
            op("recv(s, 2KiB, MSG_PEEK)"),
            Op::Recv { len: 2048, .. }
        ));
        assert!(matches!(
            op("recv_until(s, \"\\n\", 100)"),
            Op::RecvUntil { max: 100, .. }
        ));
        assert_eq!(codes("recv(s, 4KB)\n"), vec!["bad-unit"]);
        assert_eq!(codes("recv(s, -4)\n"), vec!["wrong-argument"]);
        assert_eq!(codes("send(c, 5)\n"), vec!["wrong-argument"]);
        assert_eq!(codes("send_all(c, fill(4, 300))\n"), vec!["out-of-range"]);
    }

    #[test]
    fn grading_server_addresses() {
        match op("connect(c, server)\n") {
            Op::Connect { addr, .. } => assert_eq!(addr, AddrExpr::Server(None)),
            other => panic!("{other:?}"),
        }
        match op("sendto(c, \"x\", 0, server(echo))\n") {
            Op::Sendto { addr, .. } => assert_eq!(addr, AddrExpr::Server(Some("echo".into()))),
            other => panic!("{other:?}"),
        }
        match &expect("recvfrom(c, 10) = \"x\" from server(time)\n").alternatives[0].mods[0] {
            Modifier::From(m) => assert_eq!(*m, AddrMatch::Server(Some("time".into()))),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            value("getpeername(c) = server\n"),
            Value::Addr(AddrMatch::Server(None))
        );
        // A handle named `server` keeps its meaning.
        match op("server = socket(INET, STREAM)\nconnect(c, server)\n") {
            Op::Connect { addr, .. } => assert!(matches!(addr, AddrExpr::Handle(_))),
            other => panic!("{other:?}"),
        }
        assert_eq!(codes("connect(c, server(\"x\"))\n"), vec!["wrong-argument"]);
    }

    #[test]
    fn files_stay_in_the_case_area() {
        for body in [
            "bind(c, path(\"../x\"))\n",
            "bind(c, path(\"/etc/x\"))\n",
            "unlink(rawpath(\"/var/tmp/x/keep\"))\n",
            "stat(rawpath(\"/tmp/../etc/passwd\"))\n",
            "chmod(rawpath(\"/etc/shadow\"), 0o777)\n",
            "touch(rawpath(\"a/../../b\"))\n",
            "unlink(rawpath(\"/tmpfoo\"))\n",
        ] {
            assert_eq!(codes(body), vec!["path-outside-case"], "{body}");
        }
        for body in [
            "bind(c, path(\"sock\"))\n",
            "bind(c, path(\"dir/sock\"))\n",
            "bind(c, rawpath(\"/tmp/x\"))\n",
            "stat(rawpath(\"rel/x\"))\n",
            "bind(c, abstract(\"../x\"))\n",
        ] {
            assert_eq!(codes(body), Vec::<&str>::new(), "{body}");
        }
        // A directory the case covered with its own tmpfs becomes part of its area.
        let src = "case \"t\"\nneeds isolation\nmount_tmpfs(rawpath(\"/etc\"))\nwrite_file(rawpath(\"/etc/hosts\"), \"x\")\nread_file(rawpath(\"/etc/hosts\"), 1)\n";
        assert!(parse("t.sock", src).is_ok());
        let before = "case \"t\"\nneeds isolation\nwrite_file(rawpath(\"/etc/hosts\"), \"x\")\nmount_tmpfs(rawpath(\"/etc\"))\n";
        let codes: Vec<_> = parse("t.sock", before)
            .unwrap_err()
            .iter()
            .map(|d| d.code)
            .collect();
        assert_eq!(codes, vec!["path-outside-case"]);
    }

    #[test]
    fn durations_and_sizes_are_bounded() {
        for body in [
            "sleep(18446744073709551615s)\n",
            "sleep(86401s)\n",
            "recv(s, 1) = \"x\" took <18446744073709551615s\n",
            "recv(s, 2GiB)\n",
            "send(c, pattern(4GiB))\n",
        ] {
            assert_eq!(codes(body), vec!["out-of-range"], "{body}");
        }
        assert_eq!(codes("sleep(86400s)\nrecv(s, 1GiB)\n"), Vec::<&str>::new());
        let src = "case \"t\"\ndeadline 18446744073709551615s\n";
        let codes: Vec<_> = parse("t.sock", src)
            .unwrap_err()
            .iter()
            .map(|d| d.code)
            .collect();
        assert_eq!(codes, vec!["out-of-range"]);
    }
}
