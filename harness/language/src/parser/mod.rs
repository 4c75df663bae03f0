//! The parser: from the lines of a `.sock` file to a [`Scenario`], reporting every mistake.
//!
//! Each line is lexed and parsed on its own. A syntax error abandons the rest of its line only;
//! a semantic error (an unknown name, a wrong kind of argument) is recorded and parsing goes on
//! with a stand-in value, so one pass reports everything. Arguments are first read into a
//! small untyped tree ([`Arg`]) and then checked against what each call expects there.

//!
//! `header` reads the directives, `statement` the steps, `args` a call's arguments, `expect`
//! what a step expects; `calls` holds the table of calls and, per family, how each call's
//! arguments become its [`Op`].

mod args;
mod calls;
mod expect;
mod header;
mod statement;
#[cfg(test)]
mod testkit;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use crate::ast::*;
use crate::diag::{Diagnostic, Diagnostics, Mistake};
use crate::lexer::{lex_line, Tok, Token};
use crate::span::Span;
use crate::symbols::Category;

/// Parses a whole scenario file; `file_name` is only used to render diagnostics.
pub fn parse(file_name: &str, source: &str) -> Result<Scenario, Diagnostics> {
    let mut parser = Parser::new(source);
    parser.run();
    if parser.diags.is_empty() {
        Ok(Scenario {
            meta: parser.meta,
            steps: parser.steps,
        })
    } else {
        Err(Diagnostics::new(file_name, source, parser.diags))
    }
}

/// A mistake was reported and the rest of the line is skipped.
pub(crate) struct Bail;

pub(crate) type PResult<T> = Result<T, Bail>;

/// How deep lists, calls and `not` may nest; far above any real scenario, low enough that
/// recursion can never exhaust the stack on hostile input.
const MAX_DEPTH: usize = 16;

const DIRECTIVES: &[&str] = &[
    "case",
    "claims",
    "tags",
    "flavours",
    "deadline",
    "needs",
    "refs",
    "why",
    "hint",
    "ignore",
    "differential",
];

/// Directives that are lists and may be split over several lines.
const REPEATABLE: &[&str] = &["claims", "tags", "needs", "refs"];

const CONDITIONS: &[&str] = &[
    "linux", "freebsd", "macos", "root", "isolated", "flavour", "kernel", "sysctl", "not",
];

const NEEDS: &[&str] = &["isolation", "root", "unprivileged", "ipv6", "cap"];

const STANCES: &[&str] = &["holds", "refutes", "partly"];

const MODIFIERS: &[&str] = &[
    "data",
    "flags",
    "from",
    "rights",
    "creds",
    "signal",
    "no",
    "remaining",
    "addrlen",
    "h_name",
    "h_aliases",
    "h_addrtype",
    "h_length",
    "h_addr_list",
    "h_errno",
];

/// Categories a bare symbol in an expectation may come from, when the call does not say.
const VALUE_CATEGORIES: &[Category] = &[
    Category::FileFlag,
    Category::SocketType,
    Category::Domain,
    Category::Protocol,
    Category::PollFlag,
    Category::MsgFlag,
];

/// The bare words an expectation may use for a [`ContentCheck`].
const CONTENT_WORDS: [&str; 3] = ["daytime_line", "chargen_lines", "chargen_pattern"];

/// What a call's result looks like, so a bare name in its expectation can be resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ctx {
    Plain,
    Addr,
    Flags(Category),
}

fn ctx_of(op: &Op) -> Ctx {
    match op {
        Op::Getsockname { .. }
        | Op::Getpeername { .. }
        | Op::Accept { .. }
        | Op::Gethostbyname { .. }
        | Op::Gethostbyname2 { .. }
        | Op::Gethostbyaddr { .. } => Ctx::Addr,
        Op::Fcntl { .. } => Ctx::Flags(Category::FileFlag),
        // A process killed by a signal is written with the signal's name (`= SIGTERM`).
        Op::Wait { .. } => Ctx::Flags(Category::ProcSignal),
        Op::Getsockopt { opt, .. } => match opt.name.as_str() {
            "SO_TYPE" => Ctx::Flags(Category::SocketType),
            "SO_DOMAIN" => Ctx::Flags(Category::Domain),
            "SO_PROTOCOL" => Ctx::Flags(Category::Protocol),
            // SO_ERROR yields the pending error itself, so it is written as a bare errno name
            // (`= ECONNREFUSED`), or `0` for none.
            "SO_ERROR" => Ctx::Flags(Category::Errno),
            _ => Ctx::Plain,
        },
        _ => Ctx::Plain,
    }
}

/// The tokens of one line and a position among them.
struct Cursor<'t> {
    toks: &'t [Token],
    pos: usize,
}

impl<'t> Cursor<'t> {
    fn peek(&self) -> Option<&'t Tok> {
        self.toks.get(self.pos).map(|t| &t.tok)
    }

    fn peek_at(&self, n: usize) -> Option<&'t Tok> {
        self.toks.get(self.pos + n).map(|t| &t.tok)
    }

    fn next(&mut self) -> Option<&'t Token> {
        let t = self.toks.get(self.pos)?;
        self.pos += 1;
        Some(t)
    }

    fn at_end(&self) -> bool {
        self.pos >= self.toks.len()
    }

    /// The span of the next token, or an empty span just after the last one.
    fn here(&self) -> Span {
        match self.toks.get(self.pos) {
            Some(t) => t.span,
            None => {
                let end = self.prev_end();
                Span::new(end, end)
            }
        }
    }

    fn prev_end(&self) -> usize {
        match self.pos.checked_sub(1).and_then(|i| self.toks.get(i)) {
            Some(t) => t.span.end,
            None => self.toks.first().map_or(0, |t| t.span.start),
        }
    }

    fn eat(&mut self, tok: &Tok) -> Option<Span> {
        if self.peek() == Some(tok) {
            self.next().map(|t| t.span)
        } else {
            None
        }
    }

    fn peek_name(&self) -> Option<&'t str> {
        match self.peek() {
            Some(Tok::Name(n)) => Some(n),
            _ => None,
        }
    }

    fn eat_name(&mut self, name: &str) -> Option<Span> {
        if self.peek_name() == Some(name) {
            self.next().map(|t| t.span)
        } else {
            None
        }
    }
}

/// What the line before a `when` was.
#[derive(Clone, Copy)]
enum Last {
    Nothing,
    Step(usize, Ctx),
    Failed,
}

struct Pending {
    name: String,
    span: Span,
    returns_fd: bool,
    ctx: Ctx,
}

struct Parser<'s> {
    source: &'s str,
    diags: Vec<Diagnostic>,
    meta: Meta,
    steps: Vec<Step>,
    /// Directive name → the line it was first given on.
    seen: HashMap<String, usize>,
    body_started: bool,
    flavours_declared: bool,
    /// Bound handle names, in binding order (for "did you mean").
    handles: Vec<String>,
    /// Process names bound by `spawn`, for `wait` and `kill`.
    processes: Vec<String>,
    /// Names bound on lines that failed: never reported again, so one mistake is one error.
    poisoned: HashSet<String>,
    pending: Vec<Pending>,
    last: Last,
    depth: usize,
    /// fd_set names declared by `FD_ZERO`, a namespace apart from handles.
    sets: Vec<String>,
}

fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(c, name), c))
        .filter(|(score, c)| *score > 0.8 || (name.len() > 1 && strsim::levenshtein(c, name) == 1))
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c.to_string())
}

fn closest_static(name: &str, candidates: &[&'static str]) -> Option<&'static str> {
    let best = closest(name, candidates.iter().copied())?;
    candidates.iter().copied().find(|c| *c == best)
}

impl<'s> Parser<'s> {
    pub(crate) fn new(source: &'s str) -> Parser<'s> {
        Parser {
            source,
            diags: Vec::new(),
            meta: Meta::default(),
            steps: Vec::new(),
            seen: HashMap::new(),
            body_started: false,
            flavours_declared: false,
            handles: Vec::new(),
            processes: Vec::new(),
            poisoned: HashSet::new(),
            pending: Vec::new(),
            last: Last::Nothing,
            depth: 0,
            sets: Vec::new(),
        }
    }

    pub(crate) fn push(&mut self, mistake: Mistake, span: Span) {
        self.diags.push(Diagnostic::new(mistake, span));
    }

    pub(crate) fn fail<T>(&mut self, mistake: Mistake, span: Span) -> PResult<T> {
        self.push(mistake, span);
        Err(Bail)
    }

    pub(crate) fn unexpected<T>(
        &mut self,
        cur: &Cursor,
        expected: &str,
        help: Option<String>,
    ) -> PResult<T> {
        let found = cur
            .peek()
            .map_or_else(|| "the end of the line".to_string(), Tok::describe);
        self.fail(
            Mistake::Unexpected {
                expected: expected.to_string(),
                found,
                help,
            },
            cur.here(),
        )
    }

    pub(crate) fn expect_tok(
        &mut self,
        cur: &mut Cursor,
        tok: &Tok,
        expected: &str,
    ) -> PResult<Span> {
        match cur.eat(tok) {
            Some(span) => Ok(span),
            None => self.unexpected(cur, expected, None),
        }
    }

    pub(crate) fn expect_end(&mut self, cur: &Cursor, expected: &str) -> PResult<()> {
        if cur.at_end() {
            Ok(())
        } else {
            self.unexpected(
                cur,
                expected,
                Some("one statement per line; `#` starts a comment".into()),
            )
        }
    }

    pub(crate) fn run(&mut self) {
        let mut offset = 0;
        for (index, raw) in self.source.split('\n').enumerate() {
            let base = offset;
            offset += raw.len() + 1;
            let line = raw.strip_suffix('\r').unwrap_or(raw);
            match lex_line(line, base) {
                Err((mistake, span)) => {
                    self.push(mistake, span);
                    if !line.trim_start().starts_with("when") {
                        self.last = Last::Failed;
                        self.mark_failed_line(line, base);
                    }
                }
                Ok(tokens) if tokens.is_empty() => {}
                Ok(tokens) => self.line(&tokens, index + 1),
            }
        }
        if !self.seen.contains_key("case") {
            self.push(Mistake::MissingTitle, Span::new(0, 0));
        }
        for p in std::mem::take(&mut self.pending) {
            self.push(Mistake::NeverAwaited { name: p.name }, p.span);
        }
    }

    /// A line that could not be lexed may still have bound names (`s = socket(INET, "`): they
    /// are poisoned so that their later uses do not add errors of their own.
    pub(crate) fn mark_failed_line(&mut self, line: &str, base: usize) {
        let Some(eq) = line.find('=') else { return };
        if let Ok(tokens) = lex_line(&line[..eq], base) {
            let names: Vec<&Token> = tokens
                .iter()
                .filter(|t| matches!(t.tok, Tok::Name(_)))
                .collect();
            if names.len() == tokens.len().div_ceil(2) {
                for t in names {
                    if let Tok::Name(n) = &t.tok {
                        self.poisoned.insert(n.clone());
                    }
                }
            }
        }
    }

    pub(crate) fn line(&mut self, toks: &[Token], line_no: usize) {
        let mut cur = Cursor { toks, pos: 0 };
        self.depth = 0;
        let first = cur.peek_name();
        let second = cur.peek_at(1);
        let starts_call = matches!(second, Some(Tok::LParen | Tok::Eq | Tok::Comma));
        match first {
            Some("when") => self.when_line(&mut cur),
            Some("require") if !starts_call => {
                self.body_started = true;
                if let Ok(step) = self.require_line(&mut cur) {
                    self.steps.push(step);
                }
                // A `when` line cannot vary a requirement: it has no expectation.
                self.last = Last::Nothing;
            }
            Some("await") if !starts_call => {
                self.body_started = true;
                self.last = match self.await_line(&mut cur) {
                    Ok((step, ctx)) => {
                        self.steps.push(step);
                        Last::Step(self.steps.len() - 1, ctx)
                    }
                    Err(Bail) => Last::Failed,
                };
            }
            Some(name) if DIRECTIVES.contains(&name) && !starts_call => {
                let _ = self.directive(&mut cur, line_no);
                self.last = Last::Nothing;
            }
            _ => {
                self.body_started = true;
                self.last = match self.statement(&mut cur) {
                    Ok((step, ctx)) => {
                        self.steps.push(step);
                        Last::Step(self.steps.len() - 1, ctx)
                    }
                    Err(Bail) => Last::Failed,
                };
            }
        }
    }
}

/// A duration as a scenario would write it: `150ms`, `2s`, `500us`.
fn show_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    match nanos {
        0 => "0".into(),
        n if n % 1_000_000_000 == 0 => format!("{}s", n / 1_000_000_000),
        n if n % 1_000_000 == 0 => format!("{}ms", n / 1_000_000),
        n if n % 1_000 == 0 => format!("{}us", n / 1_000),
        n => format!("{n}ns"),
    }
}

#[cfg(test)]
mod tests {
    use crate::parser::testkit::*;

    #[test]
    fn reports_every_error_in_order() {
        let diags = parse(
            "t",
            "tags x\nclose(a)\nsend(b, \"x)\nrecv(c, 1) = -1 EAGIN\n",
        )
        .unwrap_err();
        let found: Vec<_> = diags
            .iter()
            .map(|d| (d.code, diags.location(d).0))
            .collect();
        assert_eq!(
            found,
            vec![
                ("missing-title", 1),
                ("unknown-handle", 2),
                ("unterminated-string", 3),
                ("unknown-handle", 4),
                ("unknown-symbol", 4)
            ]
        );
    }
}
