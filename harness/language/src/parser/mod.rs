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
    handles: Names,
    /// Process names bound by `spawn`, for `wait` and `kill`.
    processes: Vec<String>,
    /// Names bound on lines that failed: never reported again, so one mistake is one error.
    poisoned: HashSet<String>,
    pending: Vec<Pending>,
    last: Last,
    depth: usize,
    /// fd_set names declared by `FD_ZERO`, a namespace apart from handles.
    sets: Vec<String>,
    /// Directories the scenario covered with `mount_tmpfs`: files under them are its own.
    pub(crate) tmpfs_dirs: Vec<String>,
    /// Mistakes reported on the line being read, and those left out past the caps.
    on_this_line: usize,
    left_out: usize,
}

/// How many mistakes one line and one file report before the rest are only counted: a
/// stranger's 10 MB file of mistakes gets a readable answer, not gigabytes of carets.
pub(crate) const MOST_PER_LINE: usize = 8;
/// The longest line read: no statement needs more (large payloads are `pattern(N)`), and
/// a bound keeps a hostile line from becoming millions of tokens in memory.
pub(crate) const LONGEST_LINE: usize = 1 << 20;
pub(crate) const MOST_PER_FILE: usize = 100;

/// The first `n` bytes of a line, cut at a character boundary.
trait FloorAt {
    fn floor_char_boundary_at(&self, n: usize) -> usize;
}

impl FloorAt for str {
    fn floor_char_boundary_at(&self, n: usize) -> usize {
        let mut n = n.min(self.len());
        while !self.is_char_boundary(n) {
            n -= 1;
        }
        n
    }
}

/// Names in the order they were bound, with a set beside them so that asking whether a name
/// is bound costs the same with forty handles as with forty thousand.
#[derive(Default)]
pub(crate) struct Names {
    order: Vec<String>,
    set: HashSet<String>,
}

impl Names {
    pub(crate) fn contains(&self, name: &str) -> bool {
        self.set.contains(name)
    }

    pub(crate) fn push(&mut self, name: &str) {
        if self.set.insert(name.to_string()) {
            self.order.push(name.to_string());
        }
    }

    pub(crate) fn remove(&mut self, name: &str) {
        if self.set.remove(name) {
            self.order.retain(|n| n != name);
        }
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &String> {
        self.order.iter()
    }
}

/// Words longer than this get no "did you mean": no name of the language is near that long,
/// and edit distance on a multi-megabyte word would cost seconds.
const LONGEST_SUGGESTIBLE: usize = 32;

fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    if name.len() > LONGEST_SUGGESTIBLE {
        return None;
    }
    candidates
        .into_iter()
        .filter(|c| c.len() <= LONGEST_SUGGESTIBLE)
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
            handles: Names::default(),
            processes: Vec::new(),
            poisoned: HashSet::new(),
            pending: Vec::new(),
            last: Last::Nothing,
            depth: 0,
            sets: Vec::new(),
            tmpfs_dirs: Vec::new(),
            on_this_line: 0,
            left_out: 0,
        }
    }

    /// Whether a mistake found now would be shown: a "did you mean" is only worth its cost
    /// (a pass over every bound name) for a mistake that is, so a file of forty thousand
    /// handles and as many mistakes stays linear.
    pub(crate) fn reporting(&self) -> bool {
        self.on_this_line < MOST_PER_LINE && self.diags.len() < MOST_PER_FILE
    }

    pub(crate) fn push(&mut self, mistake: Mistake, span: Span) {
        if !self.reporting() {
            self.left_out += 1;
            return;
        }
        self.on_this_line += 1;
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
            self.on_this_line = 0;
            if line.len() > LONGEST_LINE {
                self.push(
                    Mistake::LineTooLong { len: line.len() },
                    Span::new(base, base + line.floor_char_boundary_at(40)),
                );
                self.last = Last::Failed;
                continue;
            }
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
            self.on_this_line = 0;
            self.push(Mistake::NeverAwaited { name: p.name }, p.span);
        }
        if self.left_out > 0 {
            let span = Span::new(self.source.len(), self.source.len());
            self.diags.push(Diagnostic::new(
                Mistake::MoreMistakes {
                    count: self.left_out,
                },
                span,
            ));
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

    #[test]
    fn mistakes_are_capped_per_line_and_per_file() {
        let words: Vec<String> = (0..10_000).map(|i| format!("nosuch{i}")).collect();
        let src = format!("case \"t\"\nneeds {}\n", words.join(" "));
        let diags = parse("t", &src).unwrap_err();
        let codes: Vec<_> = diags.iter().map(|d| d.code).collect();
        assert_eq!(codes.len(), crate::parser::MOST_PER_LINE + 1);
        assert_eq!(codes.last(), Some(&"more-mistakes"));
        assert!(diags
            .render(false)
            .contains("9,992 more mistakes not shown"));

        let calls: String = (0..500).map(|i| format!("bogus{i}(1)\n")).collect();
        let diags = parse("t", &format!("case \"t\"\n{calls}")).unwrap_err();
        assert_eq!(diags.len(), crate::parser::MOST_PER_FILE + 1);
        assert!(diags.render(false).contains("400 more mistakes not shown"));
    }

    #[test]
    fn a_huge_line_is_shown_as_a_window_around_the_mistake() {
        let src = format!("case \"t\"\nclose({}) junk\n", "a".repeat(1_000_000));
        let rendered = parse("t", &src).unwrap_err().render(false);
        assert!(rendered.len() < 4_000, "{} bytes", rendered.len());
        assert!(rendered.contains("t:2:"), "{rendered}");
    }
}
