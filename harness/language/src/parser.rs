//! The parser: from the lines of a `.sock` file to a [`Scenario`], reporting every mistake.
//!
//! Each line is lexed and parsed on its own. A syntax error abandons the rest of its line only;
//! a semantic error (an unknown name, a wrong kind of argument) is recorded and parsing goes on
//! with a stand-in value, so one pass reports everything. Arguments are first read into a
//! small untyped tree ([`Arg`]) and then checked against what each call expects there.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use crate::ast::*;
use crate::diag::{with_article, Diagnostic, Diagnostics, Mistake};
use crate::lexer::{lex_line, Tok, Token};
use crate::span::Span;
use crate::symbols::{canonical, suggest, Category};

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
struct Bail;

type PResult<T> = Result<T, Bail>;

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

/// How many handles a call returns.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Returns {
    Nothing,
    One,
    Two,
    /// A process name (`p = spawn(...)`), given to `wait` and `kill`, never a descriptor.
    Process,
}

struct CallSpec {
    name: &'static str,
    signature: &'static str,
    min: usize,
    max: usize,
    returns: Returns,
}

const fn spec(
    name: &'static str,
    signature: &'static str,
    min: usize,
    max: usize,
    returns: Returns,
) -> CallSpec {
    CallSpec {
        name,
        signature,
        min,
        max,
        returns,
    }
}

const CALLS: &[CallSpec] = &[
    spec(
        "socket",
        "socket(DOMAIN, TYPE[, PROTO])",
        2,
        3,
        Returns::One,
    ),
    spec(
        "socketpair",
        "socketpair(DOMAIN, TYPE[, PROTO])",
        2,
        3,
        Returns::Two,
    ),
    spec("pair", "pair([KIND])", 0, 1, Returns::Two),
    spec("pipe", "pipe()", 0, 0, Returns::Two),
    spec("bind", "bind(s, ADDR)", 2, 2, Returns::Nothing),
    spec("connect", "connect(s, ADDR)", 2, 2, Returns::Nothing),
    spec("listen", "listen(s, BACKLOG)", 2, 2, Returns::Nothing),
    spec(
        "accept",
        "accept(l[, FLAGS][, addrlen=N])",
        1,
        3,
        Returns::One,
    ),
    spec("send", "send(s, DATA[, FLAGS])", 2, 3, Returns::Nothing),
    spec(
        "sendto",
        "sendto(s, DATA, FLAGS, ADDR)",
        4,
        4,
        Returns::Nothing,
    ),
    spec(
        "sendmsg",
        "sendmsg(s, [DATA, ...][, FLAGS][, to=ADDR][, rights=[h, ...]][, creds])",
        2,
        6,
        Returns::Nothing,
    ),
    spec("recv", "recv(s, LEN[, FLAGS])", 2, 3, Returns::Nothing),
    spec(
        "recvfrom",
        "recvfrom(s, LEN[, FLAGS])",
        2,
        3,
        Returns::Nothing,
    ),
    spec(
        "recvmsg",
        "recvmsg(s, LEN[, FLAGS])",
        2,
        3,
        Returns::Nothing,
    ),
    spec("recv_exact", "recv_exact(s, LEN)", 2, 2, Returns::Nothing),
    spec(
        "recv_until",
        "recv_until(s, DELIM, MAX)",
        3,
        3,
        Returns::Nothing,
    ),
    spec("send_all", "send_all(s, DATA)", 2, 2, Returns::Nothing),
    spec("read", "read(fd, LEN)", 2, 2, Returns::Nothing),
    spec("write", "write(fd, DATA)", 2, 2, Returns::Nothing),
    spec(
        "shutdown",
        "shutdown(s, SHUT_RD|SHUT_WR|SHUT_RDWR)",
        2,
        2,
        Returns::Nothing,
    ),
    spec("close", "close(h)", 1, 1, Returns::Nothing),
    spec("dup", "dup(h)", 1, 1, Returns::One),
    spec("getsockname", "getsockname(s)", 1, 1, Returns::Nothing),
    spec("getpeername", "getpeername(s)", 1, 1, Returns::Nothing),
    spec(
        "setsockopt",
        "setsockopt(s, LEVEL, OPT, VALUE)",
        4,
        4,
        Returns::Nothing,
    ),
    spec(
        "getsockopt",
        "getsockopt(s, LEVEL, OPT)",
        3,
        3,
        Returns::Nothing,
    ),
    spec("fcntl", "fcntl(fd, CMD[, ARG])", 2, 3, Returns::Nothing),
    spec("ioctl", "ioctl(fd, REQUEST)", 2, 2, Returns::Nothing),
    spec(
        "poll",
        "poll([h: EVENTS, ...], TIMEOUT)",
        2,
        2,
        Returns::Nothing,
    ),
    spec(
        "select",
        "select([r...] | rs, [w...] | ws, [e...] | es, TIMEOUT[, nfds=N])",
        4,
        5,
        Returns::Nothing,
    ),
    spec("sleep", "sleep(DURATION)", 1, 1, Returns::Nothing),
    spec("unlink", "unlink(path(\"name\"))", 1, 1, Returns::Nothing),
    spec("stat", "stat(path(\"name\"))", 1, 1, Returns::Nothing),
    spec(
        "chmod",
        "chmod(path(\"name\"), MODE)",
        2,
        2,
        Returns::Nothing,
    ),
    spec("touch", "touch(path(\"name\"))", 1, 1, Returns::Nothing),
    spec("sizeof", "sizeof(TYPE)", 1, 1, Returns::Nothing),
    spec("constant", "constant(NAME)", 1, 1, Returns::Nothing),
    spec(
        "getservbyname",
        "getservbyname(\"service\", \"proto\")",
        2,
        2,
        Returns::Nothing,
    ),
    spec(
        "getservbyport",
        "getservbyport(PORT, \"proto\")",
        2,
        2,
        Returns::Nothing,
    ),
    spec("gethostname", "gethostname([LEN])", 0, 1, Returns::Nothing),
    spec(
        "gethostbyname",
        "gethostbyname(\"name\")",
        1,
        1,
        Returns::Nothing,
    ),
    spec(
        "signal",
        "signal(SIGNAL, ignore|default|count)",
        2,
        2,
        Returns::Nothing,
    ),
    spec("sendrecv", "sendrecv(s, DATA, LEN)", 3, 3, Returns::Nothing),
    spec(
        "send_until_stalled",
        "send_until_stalled(s, STALL, MAX)",
        3,
        3,
        Returns::Nothing,
    ),
    spec("server_fact", "server_fact(FACT)", 1, 1, Returns::Nothing),
    spec(
        "server_signal",
        "server_signal(SIGSTOP|SIGCONT)",
        1,
        1,
        Returns::Nothing,
    ),
    spec("FD_ZERO", "FD_ZERO(set)", 1, 1, Returns::Nothing),
    spec("FD_SET", "FD_SET(h, set)", 2, 2, Returns::Nothing),
    spec("FD_CLR", "FD_CLR(h, set)", 2, 2, Returns::Nothing),
    spec("FD_ISSET", "FD_ISSET(h, set)", 2, 2, Returns::Nothing),
    spec("dir_entries", "dir_entries()", 0, 0, Returns::Nothing),
    spec(
        "spawn",
        "spawn([\"program\", ARG...][, stdin=h][, stdout=h][, stderr=h])",
        1,
        4,
        Returns::Process,
    ),
    spec("wait", "wait(p)", 1, 1, Returns::Nothing),
    spec("kill", "kill(p, SIGNAL)", 2, 2, Returns::Nothing),
    spec("children", "children()", 0, 0, Returns::Nothing),
    spec(
        "sethostname",
        "sethostname(\"name\")",
        1,
        1,
        Returns::Nothing,
    ),
    spec(
        "mount_tmpfs",
        "mount_tmpfs(rawpath(\"/dir\"))",
        1,
        1,
        Returns::Nothing,
    ),
    spec(
        "write_file",
        "write_file(PATH, DATA)",
        2,
        2,
        Returns::Nothing,
    ),
    spec("read_file", "read_file(PATH, LEN)", 2, 2, Returns::Nothing),
    spec("gethostid", "gethostid()", 0, 0, Returns::Nothing),
    spec("sethostid", "sethostid(ID)", 1, 1, Returns::Nothing),
    spec(
        "gethostbyname2",
        "gethostbyname2(\"name\", FAMILY)",
        2,
        2,
        Returns::Nothing,
    ),
    spec(
        "gethostbyaddr",
        "gethostbyaddr(ADDR, LEN, FAMILY)",
        3,
        3,
        Returns::Nothing,
    ),
    spec("tc", "tc(\"ARGUMENTS\")", 1, 1, Returns::Nothing),
];

/// Calls that change the host name, the mounts, `/etc` or the network (`tc`): only a case with a namespace of
/// its own may make them, so the parser asks for `needs isolation` (without it the case
/// would run, and be refused, on a machine without namespaces).
const ISOLATED_CALLS: &[&str] = &["sethostname", "mount_tmpfs", "sethostid", "tc"];

/// The bare words an expectation may use for a [`ContentCheck`].
const CONTENT_WORDS: [&str; 3] = ["daytime_line", "chargen_lines", "chargen_pattern"];

/// An argument as written, before it is checked against what its position expects.
#[derive(Debug, Clone)]
struct Arg {
    kind: ArgKind,
    span: Span,
}

/// `Plus` is `fd(h)+1`: a primary and a number added to it.
#[derive(Debug, Clone)]
enum ArgKind {
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
    fn describe(&self) -> String {
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

fn duration_of(value: u64, unit: &str) -> Option<Option<Duration>> {
    Some(match unit {
        "ns" => Some(Duration::from_nanos(value)),
        "us" => value.checked_mul(1_000).map(Duration::from_nanos),
        "ms" => Some(Duration::from_millis(value)),
        "s" => Some(Duration::from_secs(value)),
        _ => return None,
    })
}

fn size_factor(unit: &str) -> Option<u64> {
    match unit {
        "" | "B" => Some(1),
        "KiB" => Some(1 << 10),
        "MiB" => Some(1 << 20),
        "GiB" => Some(1 << 30),
        _ => None,
    }
}

fn is_duration_unit(unit: &str) -> bool {
    matches!(unit, "ns" | "us" | "ms" | "s")
}

/// The prefix family a bit-flag belongs to; `|` followed by a flag of the same family
/// continues a flags value instead of starting a new alternative.
fn flag_family(name: &str) -> Option<&'static str> {
    ["O_", "FD_", "POLL", "MSG_"]
        .into_iter()
        .find(|p| name.starts_with(p))
        .map(|p| if p == "FD_" { "O_" } else { p })
}

impl<'s> Parser<'s> {
    fn new(source: &'s str) -> Parser<'s> {
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

    fn push(&mut self, mistake: Mistake, span: Span) {
        self.diags.push(Diagnostic::new(mistake, span));
    }

    fn fail<T>(&mut self, mistake: Mistake, span: Span) -> PResult<T> {
        self.push(mistake, span);
        Err(Bail)
    }

    fn unexpected<T>(&mut self, cur: &Cursor, expected: &str, help: Option<String>) -> PResult<T> {
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

    fn expect_tok(&mut self, cur: &mut Cursor, tok: &Tok, expected: &str) -> PResult<Span> {
        match cur.eat(tok) {
            Some(span) => Ok(span),
            None => self.unexpected(cur, expected, None),
        }
    }

    fn expect_end(&mut self, cur: &Cursor, expected: &str) -> PResult<()> {
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

    fn run(&mut self) {
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
    fn mark_failed_line(&mut self, line: &str, base: usize) {
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

    fn line(&mut self, toks: &[Token], line_no: usize) {
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

    // ----- header -------------------------------------------------------------------------

    fn directive(&mut self, cur: &mut Cursor, line_no: usize) -> PResult<()> {
        let head = cur.next().ok_or(Bail)?;
        let Tok::Name(name) = &head.tok else {
            return Err(Bail);
        };
        if name == "flavours" {
            self.flavours_declared = true;
        }
        if name == "case" {
            // A misplaced title is still a title: do not also report it missing.
            self.seen.entry("case".into()).or_insert(line_no);
        }
        if self.body_started {
            return self.fail(Mistake::HeaderAfterBody { name: name.clone() }, head.span);
        }
        if let Some(first_line) = self.seen.get(name.as_str()) {
            if !REPEATABLE.contains(&name.as_str()) && *first_line != line_no {
                let first_line = *first_line;
                return self.fail(
                    Mistake::DuplicateDirective {
                        name: name.clone(),
                        first_line,
                    },
                    head.span,
                );
            }
        }
        self.seen.insert(name.clone(), line_no);
        match name.as_str() {
            "case" => self.meta.title = self.one_string(cur, "a title in quotes")?,
            "why" => self.meta.why = Some(self.one_string(cur, "a reason in quotes")?),
            "hint" => self.meta.hint = Some(self.one_string(cur, "a hint in quotes")?),
            "ignore" => {
                self.meta.ignore =
                    Some(self.one_string(cur, "the reason to ignore the case, in quotes")?)
            }
            "refs" => {
                let first = self.one_string_start(cur, "a reference in quotes")?;
                self.meta.refs.push(first);
                while let Some(Tok::Str(s)) = cur.peek() {
                    self.meta.refs.push(String::from_utf8_lossy(s).into_owned());
                    cur.next();
                }
            }
            "differential" => self.meta.differential = true,
            "deadline" => {
                let arg = self.primary(cur)?;
                self.meta.deadline = Some(self.duration(&arg));
            }
            "tags" => {
                if cur.at_end() {
                    return self.unexpected(cur, "a tag", None);
                }
                while !cur.at_end() {
                    let (text, _) = self.glued(cur);
                    self.meta.tags.push(text);
                }
            }
            "claims" => self.claims(cur)?,
            "flavours" => self.flavours(cur)?,
            "needs" => self.needs(cur)?,
            _ => return Err(Bail),
        }
        self.expect_end(cur, "the end of the directive")
    }

    fn one_string_start(&mut self, cur: &mut Cursor, expected: &str) -> PResult<String> {
        match cur.peek() {
            Some(Tok::Str(s)) => {
                let s = String::from_utf8_lossy(s).into_owned();
                cur.next();
                Ok(s)
            }
            _ => self.unexpected(cur, expected, None),
        }
    }

    fn one_string(&mut self, cur: &mut Cursor, expected: &str) -> PResult<String> {
        let s = self.one_string_start(cur, expected)?;
        self.expect_end(cur, "the end of the directive")?;
        Ok(s)
    }

    /// Tokens written without spaces between them, as one word (`3WAY-01`, `tcp`).
    fn glued(&self, cur: &mut Cursor) -> (String, Span) {
        let Some(first) = cur.next() else {
            return (String::new(), cur.here());
        };
        let mut span = first.span;
        while let Some(t) = cur.toks.get(cur.pos) {
            let word_like = matches!(
                t.tok,
                Tok::Name(_) | Tok::Num { .. } | Tok::Dotted(_) | Tok::Minus
            );
            if t.span.start != span.end || !word_like {
                break;
            }
            span = span.to(t.span);
            cur.pos += 1;
        }
        (self.source[span.start..span.end].to_string(), span)
    }

    fn claims(&mut self, cur: &mut Cursor) -> PResult<()> {
        loop {
            if cur.at_end() {
                return self.unexpected(cur, "a claim id", None);
            }
            let (id, id_span) = self.glued(cur);
            let id_ok = !id.is_empty()
                && id
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-');
            if !id_ok {
                self.push(Mistake::BadClaimId { id: id.clone() }, id_span);
            }
            let stance = match cur.peek() {
                Some(Tok::Name(word)) => {
                    let span = cur.here();
                    cur.next();
                    match word.as_str() {
                        "holds" => Some(Stance::Holds),
                        "refutes" => Some(Stance::Refutes),
                        "partly" => Some(Stance::Partly),
                        _ => {
                            let suggestion = closest_static(word, STANCES);
                            self.push(
                                Mistake::UnknownStance {
                                    word: word.clone(),
                                    suggestion,
                                },
                                span,
                            );
                            None
                        }
                    }
                }
                _ => {
                    self.push(Mistake::MissingStance { id: id.clone() }, cur.here());
                    if !cur.at_end() && cur.peek() != Some(&Tok::Comma) {
                        return Err(Bail);
                    }
                    None
                }
            };
            if let Some(stance) = stance {
                self.meta.claims.push(ClaimRef {
                    id,
                    stance,
                    span: id_span.to(Span::new(cur.prev_end(), cur.prev_end())),
                });
            }
            if cur.eat(&Tok::Comma).is_none() {
                return Ok(());
            }
        }
    }

    fn flavours(&mut self, cur: &mut Cursor) -> PResult<()> {
        if cur.at_end() {
            return self.unexpected(cur, "a socket kind or an `@group`", None);
        }
        while !cur.at_end() {
            cur.eat(&Tok::Comma);
            let Some(t) = cur.next() else { break };
            let found = match &t.tok {
                Tok::Name(n) => self.flavour_name(n, t.span).map(|f| vec![f]),
                Tok::Group(g) => self.flavour_group(g, t.span),
                _ => {
                    cur.pos -= 1;
                    return self.unexpected(cur, "a socket kind or an `@group`", None);
                }
            };
            for f in found.unwrap_or_default() {
                if !self.meta.flavours.contains(&f) {
                    self.meta.flavours.push(f);
                }
            }
        }
        Ok(())
    }

    fn flavour_name(&mut self, name: &str, span: Span) -> Option<Flavour> {
        let found = Flavour::from_name(name);
        if found.is_none() {
            let names: Vec<&'static str> = Flavour::ALL.iter().map(|f| f.name()).collect();
            let suggestion = closest_static(name, &names);
            self.push(
                Mistake::UnknownFlavour {
                    name: name.to_string(),
                    suggestion,
                },
                span,
            );
        }
        found
    }

    fn flavour_group(&mut self, name: &str, span: Span) -> Option<Vec<Flavour>> {
        let found = Flavour::group(name);
        if found.is_none() {
            let suggestion = closest_static(name, &Flavour::GROUPS);
            self.push(
                Mistake::UnknownFlavour {
                    name: name.to_string(),
                    suggestion,
                },
                span,
            );
        }
        found
    }

    fn needs(&mut self, cur: &mut Cursor) -> PResult<()> {
        if cur.at_end() {
            return self.unexpected(cur, "a prerequisite", None);
        }
        while !cur.at_end() {
            cur.eat(&Tok::Comma);
            let arg = self.primary(cur)?;
            let need = match &arg.kind {
                ArgKind::Name(n) => match n.as_str() {
                    "isolation" => Some(Need::Isolation),
                    "root" => Some(Need::Root),
                    "unprivileged" => Some(Need::Unprivileged),
                    "ipv6" => Some(Need::Ipv6),
                    _ => None,
                },
                ArgKind::Func(f, args) if f == "cap" => match args.as_slice() {
                    [Arg {
                        kind: ArgKind::Name(cap),
                        ..
                    }] => Some(Need::Cap(cap.clone())),
                    _ => {
                        self.push(
                            Mistake::WrongArgument {
                                expected: "a capability name".into(),
                                found: arg.describe(),
                                help: Some("write e.g. `cap(NET_RAW)`".into()),
                            },
                            arg.span,
                        );
                        continue;
                    }
                },
                _ => None,
            };
            match need {
                Some(need) => {
                    if !self.meta.needs.contains(&need) {
                        self.meta.needs.push(need);
                    }
                }
                None => {
                    let name = match &arg.kind {
                        ArgKind::Name(n) | ArgKind::Func(n, _) => n.clone(),
                        _ => self.source[arg.span.start..arg.span.end].to_string(),
                    };
                    let suggestion = closest_static(&name, NEEDS);
                    self.push(Mistake::UnknownNeed { name, suggestion }, arg.span);
                }
            }
        }
        Ok(())
    }

    // ----- statements ---------------------------------------------------------------------

    fn statement(&mut self, cur: &mut Cursor) -> PResult<(Step, Ctx)> {
        let start = cur.here().start;
        let mut binds: Vec<Ident> = Vec::new();
        let has_binds = matches!(cur.peek(), Some(Tok::Name(_)))
            && matches!(cur.peek_at(1), Some(Tok::Comma | Tok::Eq));
        if has_binds {
            loop {
                match cur.peek() {
                    Some(Tok::Name(n)) => {
                        binds.push(Ident {
                            name: n.clone(),
                            span: cur.here(),
                        });
                        cur.next();
                    }
                    _ => return self.bail_binding(cur, &binds, "a name to bind"),
                }
                if cur.eat(&Tok::Comma).is_some() {
                    continue;
                }
                if cur.eat(&Tok::Eq).is_none() {
                    return self.bail_binding(cur, &binds, "`,` or `=`");
                }
                break;
            }
        }
        let outcome = self.statement_rest(cur, &binds);
        match outcome {
            Ok((call, spec, expect, blocks)) => {
                let ctx = ctx_of(&call.op);
                self.bind(spec, &binds, blocks, call.span, ctx, start, cur.prev_end());
                if let Some(clause) = &expect {
                    self.bind_rights(&clause.default);
                }
                let span = Span::new(start, cur.prev_end());
                let step = Step {
                    span,
                    kind: StepKind::Call {
                        bind: binds,
                        call,
                        expect,
                        blocks,
                    },
                };
                Ok((step, ctx))
            }
            Err(Bail) => {
                for b in &binds {
                    self.poisoned.insert(b.name.clone());
                }
                Err(Bail)
            }
        }
    }

    fn bail_binding<T>(&mut self, cur: &Cursor, binds: &[Ident], expected: &str) -> PResult<T> {
        for b in binds {
            self.poisoned.insert(b.name.clone());
        }
        self.unexpected(cur, expected, None)
    }

    #[allow(clippy::type_complexity)]
    fn statement_rest(
        &mut self,
        cur: &mut Cursor,
        binds: &[Ident],
    ) -> PResult<(Call, &'static CallSpec, Option<ExpectClause>, bool)> {
        let name_span = cur.here();
        let name = match cur.peek() {
            Some(Tok::Name(n)) => n.clone(),
            _ => return self.unexpected(cur, "a call", None),
        };
        cur.next();
        let spec = CALLS.iter().find(|c| c.name == name);
        if cur.peek() != Some(&Tok::LParen) {
            let names: Vec<&'static str> = CALLS.iter().map(|c| c.name).collect();
            if spec.is_some() || !binds.is_empty() {
                return self.unexpected(
                    cur,
                    "`(`",
                    Some(format!("calls are written like C: `{name}(...)`")),
                );
            }
            if let Some(suggestion) = closest_static(&name, DIRECTIVES) {
                return self.fail(
                    Mistake::UnknownDirective {
                        name,
                        suggestion: Some(suggestion),
                    },
                    name_span,
                );
            }
            if let Some(suggestion) = closest_static(&name, &names) {
                return self.fail(
                    Mistake::UnknownCall {
                        name,
                        suggestion: Some(suggestion),
                    },
                    name_span,
                );
            }
            return self.fail(
                Mistake::UnknownDirective {
                    name,
                    suggestion: None,
                },
                name_span,
            );
        }
        cur.next();
        let args = self.arg_list(cur, &Tok::RParen)?;
        let call_span = name_span.to(Span::new(cur.prev_end(), cur.prev_end()));
        let Some(spec) = spec else {
            let names: Vec<&'static str> = CALLS.iter().map(|c| c.name).collect();
            let suggestion = closest_static(&name, &names);
            return self.fail(Mistake::UnknownCall { name, suggestion }, name_span);
        };
        let op = self.op(spec, &args, call_span)?;
        if ISOLATED_CALLS.contains(&spec.name) && !self.meta.needs.contains(&Need::Isolation) {
            self.push(Mistake::NeedsIsolation { call: spec.name }, name_span);
        }
        let ctx = ctx_of(&op);
        let call = Call {
            span: call_span,
            op,
        };
        let mut blocks = cur.eat_name("blocks").is_some();
        let mut expect = None;
        if let Some(eq) = cur.eat(&Tok::Eq) {
            let clause = ExpectClause {
                default: self.expect(cur, ctx)?,
                when: Vec::new(),
            };
            if matches!(call.op, Op::Spawn { .. }) {
                self.check_spawn_expect(&clause.default);
            }
            if blocks {
                self.push(Mistake::BlocksWithExpectation, eq.to(clause.default.span));
            }
            expect = Some(clause);
        }
        if !blocks {
            if let Some(span) = cur.eat_name("blocks") {
                blocks = true;
                if expect.is_some() {
                    self.push(Mistake::BlocksWithExpectation, span);
                }
            }
        }
        self.expect_end(cur, "the end of the statement")?;
        Ok((call, spec, expect, blocks))
    }

    /// A process id is never compared: `spawn` succeeds (`ok`) or fails with an errno.
    fn check_spawn_expect(&mut self, expect: &Expect) {
        for alt in &expect.alternatives {
            if !matches!(alt.value, Value::Ok | Value::Errno(_)) {
                self.push(
                    Mistake::WrongArgument {
                        expected: "`ok` or `-1 ERRNO`".into(),
                        found: "another value".into(),
                        help: Some("a process id differs from run to run: write `= ok`, or `= -1 ENOENT` for a missing program".into()),
                    },
                    alt.span,
                );
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn bind(
        &mut self,
        spec: &CallSpec,
        binds: &[Ident],
        blocks: bool,
        call_span: Span,
        ctx: Ctx,
        start: usize,
        end: usize,
    ) {
        let binds_span = match (binds.first(), binds.last()) {
            (Some(a), Some(b)) => a.span.to(b.span),
            _ => call_span,
        };
        if blocks {
            match binds {
                [] => self.push(Mistake::BlocksWithoutName { call: spec.name }, call_span),
                [one] => self.pending.push(Pending {
                    name: one.name.clone(),
                    span: Span::new(start, end),
                    returns_fd: spec.returns == Returns::One,
                    ctx,
                }),
                _ => self.push(Mistake::BlocksBindsOne { given: binds.len() }, binds_span),
            }
            return;
        }
        let ok = match (spec.returns, binds.len()) {
            (_, 0) | (Returns::One, 1) | (Returns::Two, 2) => true,
            (Returns::Process, 1) => {
                let name = &binds[0].name;
                self.handles.retain(|h| h != name);
                if !self.processes.contains(name) {
                    self.processes.push(name.clone());
                }
                return;
            }
            (Returns::Nothing, _) => {
                self.push(Mistake::NothingToBind { call: spec.name }, binds_span);
                false
            }
            (Returns::One | Returns::Process, given) => {
                self.push(
                    Mistake::BindingCount {
                        call: spec.name,
                        expected: 1,
                        given,
                    },
                    binds_span,
                );
                false
            }
            (Returns::Two, given) => {
                self.push(
                    Mistake::BindingCount {
                        call: spec.name,
                        expected: 2,
                        given,
                    },
                    binds_span,
                );
                false
            }
        };
        for b in binds {
            if ok && self.sets.contains(&b.name) {
                self.push(
                    Mistake::SetAsHandle {
                        name: b.name.clone(),
                    },
                    b.span,
                );
                self.poisoned.insert(b.name.clone());
            } else if ok {
                self.add_handle(&b.name);
            } else {
                self.poisoned.insert(b.name.clone());
            }
        }
    }

    fn add_handle(&mut self, name: &str) {
        self.pending.retain(|p| p.name != name);
        self.processes.retain(|p| p != name);
        if !self.handles.iter().any(|h| h == name) {
            self.handles.push(name.to_string());
        }
    }

    fn bind_rights(&mut self, expect: &Expect) {
        for alt in &expect.alternatives {
            for m in &alt.mods {
                if let Modifier::Rights(names) = m {
                    for n in names {
                        self.add_handle(&n.name);
                    }
                }
            }
        }
    }

    fn await_line(&mut self, cur: &mut Cursor) -> PResult<(Step, Ctx)> {
        let start = cur.here().start;
        cur.next();
        let name = match cur.peek() {
            Some(Tok::Name(n)) => Ident {
                name: n.clone(),
                span: cur.here(),
            },
            _ => return self.unexpected(cur, "the name of a pending call", None),
        };
        cur.next();
        let index = self.pending.iter().position(|p| p.name == name.name);
        let ctx = index.map_or(Ctx::Plain, |i| self.pending[i].ctx);
        match index {
            Some(i) => {
                let p = self.pending.remove(i);
                if p.returns_fd {
                    self.add_handle(&p.name);
                }
            }
            None if self.poisoned.contains(&name.name) => {}
            None => {
                let is_handle = self.handles.contains(&name.name);
                let pending: Vec<String> = self.pending.iter().map(|p| p.name.clone()).collect();
                let suggestion = closest(&name.name, pending.iter().map(String::as_str));
                self.push(
                    Mistake::NotPending {
                        name: name.name.clone(),
                        is_handle,
                        suggestion,
                        pending,
                    },
                    name.span,
                );
            }
        }
        let expect = match cur.eat(&Tok::Eq) {
            Some(_) => Some(ExpectClause {
                default: self.expect(cur, ctx)?,
                when: Vec::new(),
            }),
            None => None,
        };
        if let Some(clause) = &expect {
            self.bind_rights(&clause.default);
        }
        self.expect_end(cur, "the end of the statement")?;
        Ok((
            Step {
                span: Span::new(start, cur.prev_end()),
                kind: StepKind::Await { name, expect },
            },
            ctx,
        ))
    }

    /// `require tc(...) because "needs sch_tbf"` or `require CALL = EXPECTATION because "…"`:
    /// the call, its expectation (any call but `tc`), then the mandatory reason.
    fn require_line(&mut self, cur: &mut Cursor) -> PResult<Step> {
        let start = cur.here().start;
        cur.next();
        let name_span = cur.here();
        let name = match cur.peek() {
            Some(Tok::Name(n)) => n.clone(),
            _ => return self.unexpected(cur, "a call such as `tc(...)`", None),
        };
        cur.next();
        self.expect_tok(cur, &Tok::LParen, "`(`")?;
        let args = self.arg_list(cur, &Tok::RParen)?;
        let call_span = name_span.to(Span::new(cur.prev_end(), cur.prev_end()));
        let Some(spec) = CALLS.iter().find(|c| c.name == name) else {
            let names: Vec<&'static str> = CALLS.iter().map(|c| c.name).collect();
            let suggestion = closest_static(&name, &names);
            return self.fail(Mistake::UnknownCall { name, suggestion }, name_span);
        };
        let op = self.op(spec, &args, call_span)?;
        let is_tc = matches!(op, Op::Tc { .. });
        let expect = match cur.peek() {
            Some(Tok::Eq) if !is_tc => {
                cur.next();
                Some(ExpectClause {
                    default: self.expect(cur, ctx_of(&op))?,
                    when: Vec::new(),
                })
            }
            _ => None,
        };
        if !is_tc && expect.is_none() {
            return self.fail(Mistake::RequireOnlyTc { call: spec.name }, call_span);
        }
        let reason = match cur.eat_name("because") {
            Some(_) => self.one_string_start(cur, "a reason in quotes")?,
            None if cur.at_end() || cur.peek() == Some(&Tok::Eq) => {
                return self.fail(Mistake::RequireWithoutReason, cur.here())
            }
            None => return self.unexpected(cur, "`because \"...\"`", None),
        };
        self.expect_end(cur, "the end of the statement")?;
        Ok(Step {
            span: Span::new(start, cur.prev_end()),
            kind: StepKind::Require {
                call: Call {
                    span: call_span,
                    op,
                },
                expect,
                reason,
            },
        })
    }

    fn when_line(&mut self, cur: &mut Cursor) {
        let when_span = cur.here();
        let (index, ctx) = match self.last {
            Last::Step(i, ctx) => (Some(i), ctx),
            Last::Failed => (None, Ctx::Plain),
            Last::Nothing => {
                self.push(Mistake::OrphanWhen, when_span);
                return;
            }
        };
        cur.next();
        let Ok(when) = self.when_rest(cur, ctx, when_span) else {
            return;
        };
        let Some(step) = index.and_then(|i| self.steps.get_mut(i)) else {
            return;
        };
        let slot = match &mut step.kind {
            StepKind::Call { expect, .. } => expect,
            StepKind::Await { expect, .. } => expect,
            StepKind::Require { .. } => return,
        };
        // `when` on a step without an expectation varies "must not fail", which is `ok`.
        let clause = slot.get_or_insert_with(|| {
            let at = Span::new(step.span.end, step.span.end);
            ExpectClause {
                default: Expect {
                    alternatives: vec![Expected {
                        value: Value::Ok,
                        mods: Vec::new(),
                        span: at,
                    }],
                    took: None,
                    span: at,
                },
                when: Vec::new(),
            }
        });
        clause.when.push(when);
        if let Some(last) = clause.when.last().cloned() {
            self.bind_rights(&last.expect);
        }
    }

    fn when_rest(&mut self, cur: &mut Cursor, ctx: Ctx, when_span: Span) -> PResult<WhenExpect> {
        let cond = self.cond(cur)?;
        self.expect_tok(
            cur,
            &Tok::Eq,
            "`=` and the result expected when the condition holds",
        )?;
        let expect = self.expect(cur, ctx)?;
        let reason = match cur.eat_name("because") {
            Some(_) => self.one_string_start(cur, "a reason in quotes")?,
            None if cur.at_end() => return self.fail(Mistake::MissingReason, cur.here()),
            None => return self.unexpected(cur, "`because \"...\"`", None),
        };
        self.expect_end(cur, "the end of the line")?;
        Ok(WhenExpect {
            cond,
            expect,
            reason,
            span: when_span.to(Span::new(cur.prev_end(), cur.prev_end())),
        })
    }

    fn cond(&mut self, cur: &mut Cursor) -> PResult<Cond> {
        let span = cur.here();
        let Some(name) = cur.peek_name() else {
            return self.unexpected(cur, "a condition", None);
        };
        cur.next();
        Ok(match name {
            "linux" | "freebsd" | "macos" => Cond::Platform(name.to_string()),
            "root" => Cond::Root,
            "isolated" => Cond::Isolated,
            "not" => {
                self.depth += 1;
                if self.depth > MAX_DEPTH {
                    self.depth -= 1;
                    return self.fail(Mistake::TooDeep, span);
                }
                let inner = self.cond(cur);
                self.depth -= 1;
                Cond::Not(Box::new(inner?))
            }
            "flavour" => {
                let mut kinds = Vec::new();
                loop {
                    let Some(t) = cur.next() else {
                        return self.unexpected(cur, "a socket kind or an `@group`", None);
                    };
                    let found = match &t.tok {
                        Tok::Name(n) => self.flavour_name(n, t.span).map(|f| vec![f]),
                        Tok::Group(g) => self.flavour_group(g, t.span),
                        _ => {
                            cur.pos -= 1;
                            return self.unexpected(cur, "a socket kind or an `@group`", None);
                        }
                    };
                    for f in found.unwrap_or_default() {
                        if !kinds.contains(&f) {
                            kinds.push(f);
                        }
                    }
                    if cur.eat(&Tok::Pipe).is_none() {
                        break;
                    }
                }
                Cond::Flavour(kinds)
            }
            "kernel" => {
                let op = self.cmp_op(cur)?;
                let version = match cur.next().map(|t| (&t.tok, t.span)) {
                    Some((Tok::Dotted(text), span)) => {
                        let parts: Vec<Option<u32>> =
                            text.split('.').map(|p| p.parse().ok()).collect();
                        match parts.as_slice() {
                            [Some(a), Some(b)] => (*a, *b),
                            _ => {
                                return self.fail(
                                    Mistake::WrongArgument {
                                        expected: "a kernel version `MAJOR.MINOR`".into(),
                                        found: format!("`{text}`"),
                                        help: Some("write e.g. `kernel >= 5.14`".into()),
                                    },
                                    span,
                                )
                            }
                        }
                    }
                    Some((Tok::Num { value, unit }, _))
                        if unit.is_empty() && *value <= u32::MAX as u64 =>
                    {
                        (*value as u32, 0)
                    }
                    _ => {
                        cur.pos = cur.pos.saturating_sub(1);
                        return self.unexpected(cur, "a kernel version like `5.14`", None);
                    }
                };
                Cond::Kernel(op, version)
            }
            "sysctl" => {
                self.expect_tok(cur, &Tok::LParen, "`(`")?;
                let (key, _) = match cur.peek() {
                    Some(Tok::Name(_)) => self.glued(cur),
                    _ => {
                        return self.unexpected(
                            cur,
                            "a sysctl name like `net.ipv4.ip_forward`",
                            None,
                        )
                    }
                };
                self.expect_tok(cur, &Tok::RParen, "`)`")?;
                let op = self.cmp_op(cur)?;
                let arg = self.primary(cur)?;
                let value = self.int(&arg);
                Cond::Sysctl(key, op, value)
            }
            _ => {
                let suggestion = closest_static(name, CONDITIONS);
                return self.fail(
                    Mistake::UnknownCondition {
                        name: name.to_string(),
                        suggestion,
                    },
                    span,
                );
            }
        })
    }

    fn cmp_op(&mut self, cur: &mut Cursor) -> PResult<CmpOp> {
        let op = match cur.peek() {
            Some(Tok::Lt) => CmpOp::Lt,
            Some(Tok::Le) => CmpOp::Le,
            Some(Tok::EqEq) => CmpOp::Eq,
            Some(Tok::Ne) => CmpOp::Ne,
            Some(Tok::Ge) => CmpOp::Ge,
            Some(Tok::Gt) => CmpOp::Gt,
            _ => {
                return self.unexpected(
                    cur,
                    "a comparison (`<`, `<=`, `==`, `!=`, `>=`, `>`)",
                    None,
                )
            }
        };
        cur.next();
        Ok(op)
    }

    // ----- arguments ----------------------------------------------------------------------

    /// Items up to `close`; the opening token has been read.
    fn arg_list(&mut self, cur: &mut Cursor, close: &Tok) -> PResult<Vec<Arg>> {
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
    fn term(&mut self, cur: &mut Cursor) -> PResult<Arg> {
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

    fn primary(&mut self, cur: &mut Cursor) -> PResult<Arg> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            self.depth -= 1;
            return self.fail(Mistake::TooDeep, cur.here());
        }
        let result = self.primary_inner(cur);
        self.depth = self.depth.saturating_sub(1);
        result
    }

    fn primary_inner(&mut self, cur: &mut Cursor) -> PResult<Arg> {
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

    fn port_part(&mut self, cur: &mut Cursor) -> PResult<Option<Box<Arg>>> {
        if cur.eat(&Tok::Colon).is_some() {
            Ok(Some(Box::new(self.primary(cur)?)))
        } else {
            Ok(None)
        }
    }

    fn wrong<T>(&mut self, arg: &Arg, expected: &str, help: Option<String>, stand_in: T) -> T {
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

    fn check_handle(&mut self, name: &str, span: Span) {
        if self.handles.iter().any(|h| h == name) || self.poisoned.contains(name) {
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
        let suggestion = closest(name, self.handles.iter().map(String::as_str));
        self.push(
            Mistake::UnknownHandle {
                name: name.to_string(),
                suggestion,
            },
            span,
        );
    }

    fn handle(&mut self, arg: &Arg) -> Ident {
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
    fn bound_name(
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
    fn fd_set(&mut self, arg: &Arg) -> Ident {
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
            let suggestion = closest(n, self.sets.iter().map(String::as_str));
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
    fn declare_fd_set(&mut self, arg: &Arg) -> Ident {
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
    fn set_arg(&mut self, arg: &Arg) -> SetArg {
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
    fn nfds(&mut self, arg: &Arg) -> Nfds {
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
    fn addrlen(&mut self, arg: &Arg) -> AddrLen {
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

    fn handles(&mut self, arg: &Arg) -> Vec<Ident> {
        match &arg.kind {
            ArgKind::List(items) => items.iter().map(|i| self.handle(i)).collect(),
            _ => self.wrong(arg, "a list of handles `[a, b]`", None, Vec::new()),
        }
    }

    /// An integer; size units are allowed (`SO_RCVBUF` of `64KiB`).
    fn int(&mut self, arg: &Arg) -> i64 {
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

    fn size(&mut self, arg: &Arg) -> u64 {
        match &arg.kind {
            ArgKind::Num { neg: true, .. } => {
                self.wrong(arg, "a size", Some("sizes cannot be negative".into()), 0)
            }
            ArgKind::Num { .. } => self.int(arg).max(0) as u64,
            _ => self.wrong(
                arg,
                "a size",
                Some("write a byte count: `64`, `4KiB`, `1MiB`".into()),
                0,
            ),
        }
    }

    fn duration(&mut self, arg: &Arg) -> Duration {
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
                                range: "a shorter duration",
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

    fn timeout(&mut self, arg: &Arg) -> Timeout {
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

    fn symbol(&mut self, name: &str, span: Span, category: Category) -> Sym {
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

    fn sym(&mut self, arg: &Arg, category: Category) -> Sym {
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

    fn flags(&mut self, arg: &Arg, category: Category) -> Flags {
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

    fn flags_match(&mut self, arg: &Arg, category: Category) -> FlagsMatch {
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

    fn int_or_sym(&mut self, arg: &Arg, category: Category) -> IntOrSym {
        match &arg.kind {
            ArgKind::Num { .. } => IntOrSym::Int(self.int(arg)),
            _ => IntOrSym::Sym(self.sym(arg, category)),
        }
    }

    fn string_arg(&mut self, arg: &Arg, what: &str) -> String {
        match &arg.kind {
            ArgKind::Str(s) => String::from_utf8_lossy(s).into_owned(),
            _ => self.wrong(arg, what, None, String::new()),
        }
    }

    /// The arguments of a helper like `fill(N, B)`, checked for count.
    fn func_args<'a>(
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

    fn payload(&mut self, arg: &Arg) -> Payload {
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

    fn ipv4(&mut self, text: &str, span: Span) -> [u8; 4] {
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

    fn ipv6(&mut self, text: &str, span: Span) -> [u16; 8] {
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

    fn ip_span(&self, arg: &Arg, port: &Option<Box<Arg>>) -> Span {
        match port {
            Some(p) => Span::new(
                arg.span.start,
                p.span.start.saturating_sub(1).max(arg.span.start),
            ),
            None => arg.span,
        }
    }

    fn port_num(&mut self, arg: &Arg) -> u16 {
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

    fn port_expr(&mut self, port: &Option<Box<Arg>>, whole: &Arg) -> PortExpr {
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

    fn port_match(&mut self, port: &Option<Box<Arg>>, whole: &Arg) -> PortMatch {
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
    fn path_like(
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

    fn is_handle(&self, name: &str) -> bool {
        self.handles.iter().any(|h| h == name) || self.poisoned.contains(name)
    }

    /// The NAME of `server(NAME)`: a service of a multi-service suite (`server(echo)`).
    fn service(&mut self, arg: &Arg, args: &[Arg]) -> Option<String> {
        match self.func_args(arg, args, 1, "server", "server(SERVICE)") {
            Some([a]) => match &a.kind {
                ArgKind::Name(n) => Some(n.clone()),
                _ => self.wrong(a, "a service name like `echo`", None, None),
            },
            _ => None,
        }
    }

    fn addr(&mut self, arg: &Arg) -> AddrExpr {
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

    fn addr_match(&mut self, arg: &Arg) -> AddrMatch {
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

    fn opt_value(&mut self, arg: &Arg) -> OptValue {
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

    // ----- calls --------------------------------------------------------------------------

    fn op(&mut self, spec: &'static CallSpec, args: &[Arg], call_span: Span) -> PResult<Op> {
        if args.len() < spec.min || args.len() > spec.max {
            return self.fail(
                Mistake::WrongArity {
                    call: spec.name,
                    given: args.len(),
                    signature: spec.signature,
                },
                call_span,
            );
        }
        let a = |i: usize| args.get(i);
        let ms = Category::MsgFlag;
        Ok(match spec.name {
            "socket" | "socketpair" => {
                let domain = self.sym(&args[0], Category::Domain);
                let ty = self.flags(&args[1], Category::SocketType);
                let protocol = a(2).map(|p| self.int_or_sym(p, Category::Protocol));
                if spec.name == "socket" {
                    Op::Socket {
                        domain,
                        ty,
                        protocol,
                    }
                } else {
                    Op::Socketpair {
                        domain,
                        ty,
                        protocol,
                    }
                }
            }
            "pair" => {
                let flavour = match a(0) {
                    Some(arg) => match &arg.kind {
                        ArgKind::Name(n) => self.flavour_name(n, arg.span).map(|f| (f, arg.span)),
                        _ => self.wrong(arg, "a socket kind like `tcp4`", None, None),
                    },
                    None => {
                        if !self.flavours_declared {
                            self.push(Mistake::PairWithoutFlavour, call_span);
                        }
                        None
                    }
                };
                Op::Pair { flavour }
            }
            "pipe" => Op::Pipe,
            "bind" => Op::Bind {
                sock: self.handle(&args[0]),
                addr: self.addr(&args[1]),
            },
            "connect" => Op::Connect {
                sock: self.handle(&args[0]),
                addr: self.addr(&args[1]),
            },
            "listen" => Op::Listen {
                sock: self.handle(&args[0]),
                backlog: self.int(&args[1]),
            },
            "accept" => {
                let sock = self.handle(&args[0]);
                let (mut flags, mut addrlen) = (Flags::default(), None);
                for (i, arg) in args.iter().enumerate().skip(1) {
                    match &arg.kind {
                        ArgKind::Keyed(k, v) if k == "addrlen" && addrlen.is_none() => {
                            addrlen = Some(self.addrlen(v));
                        }
                        ArgKind::Keyed(..) => {
                            self.wrong(arg, "`addrlen=N`", None, ());
                        }
                        _ if i == 1 => flags = self.flags(arg, Category::SocketType),
                        _ => self.wrong(
                            arg,
                            "`addrlen=N`",
                            Some(
                                "the flags come second: `accept(l, SOCK_NONBLOCK, addrlen=16)`"
                                    .into(),
                            ),
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
            "send" => Op::Send {
                sock: self.handle(&args[0]),
                data: self.payload(&args[1]),
                flags: a(2).map(|f| self.flags(f, ms)).unwrap_or_default(),
            },
            "sendto" => Op::Sendto {
                sock: self.handle(&args[0]),
                data: self.payload(&args[1]),
                flags: self.flags(&args[2], ms),
                addr: self.addr(&args[3]),
            },
            "sendmsg" => self.sendmsg(args),
            "recv" | "recvfrom" | "recvmsg" => {
                let sock = self.handle(&args[0]);
                let len = self.size(&args[1]);
                let flags = a(2).map(|f| self.flags(f, ms)).unwrap_or_default();
                match spec.name {
                    "recv" => Op::Recv { sock, len, flags },
                    "recvfrom" => Op::Recvfrom { sock, len, flags },
                    _ => Op::Recvmsg { sock, len, flags },
                }
            }
            "recv_exact" => Op::RecvExact {
                sock: self.handle(&args[0]),
                len: self.size(&args[1]),
            },
            "recv_until" => Op::RecvUntil {
                sock: self.handle(&args[0]),
                delim: self.payload(&args[1]),
                max: self.size(&args[2]),
            },
            "send_all" => Op::SendAll {
                sock: self.handle(&args[0]),
                data: self.payload(&args[1]),
            },
            "read" => Op::Read {
                fd: self.handle(&args[0]),
                len: self.size(&args[1]),
            },
            "write" => Op::Write {
                fd: self.handle(&args[0]),
                data: self.payload(&args[1]),
            },
            "shutdown" => Op::Shutdown {
                sock: self.handle(&args[0]),
                how: self.sym(&args[1], Category::ShutHow),
            },
            "close" => Op::Close {
                fd: self.handle(&args[0]),
            },
            "dup" => Op::Dup {
                fd: self.handle(&args[0]),
            },
            "getsockname" => Op::Getsockname {
                sock: self.handle(&args[0]),
            },
            "getpeername" => Op::Getpeername {
                sock: self.handle(&args[0]),
            },
            "setsockopt" => Op::Setsockopt {
                sock: self.handle(&args[0]),
                level: self.sym(&args[1], Category::Level),
                opt: self.sym(&args[2], Category::SockOpt),
                value: self.opt_value(&args[3]),
            },
            "getsockopt" => Op::Getsockopt {
                sock: self.handle(&args[0]),
                level: self.sym(&args[1], Category::Level),
                opt: self.sym(&args[2], Category::SockOpt),
            },
            "fcntl" => {
                let fd = self.handle(&args[0]);
                let cmd = self.sym(&args[1], Category::FcntlCmd);
                let arg = a(2).map(|x| match &x.kind {
                    ArgKind::Name(n) if n == "self" => FcntlArg::SelfPid,
                    ArgKind::Num { .. } => FcntlArg::Int(self.int(x)),
                    _ => FcntlArg::Flags(self.flags(x, Category::FileFlag)),
                });
                Op::Fcntl { fd, cmd, arg }
            }
            "ioctl" => Op::Ioctl {
                fd: self.handle(&args[0]),
                req: self.sym(&args[1], Category::Ioctl),
            },
            "poll" => {
                let fds = match &args[0].kind {
                    ArgKind::List(items) => items
                        .iter()
                        .filter_map(|item| match &item.kind {
                            ArgKind::Entry(h, events) => {
                                self.check_handle(&h.name, h.span);
                                Some((h.clone(), self.flags(events, Category::PollFlag)))
                            }
                            _ => self.wrong(
                                item,
                                "`h: EVENTS`",
                                Some("write e.g. `poll([a: POLLIN], 0)`".into()),
                                None,
                            ),
                        })
                        .collect(),
                    _ => self.wrong(&args[0], "a list `[h: EVENTS, ...]`", None, Vec::new()),
                };
                Op::Poll {
                    fds,
                    timeout: self.timeout(&args[1]),
                }
            }
            "select" => {
                let read = self.set_arg(&args[0]);
                let write = self.set_arg(&args[1]);
                let except = self.set_arg(&args[2]);
                let timeout = self.timeout(&args[3]);
                let nfds = a(4).map(|n| self.nfds(n));
                Op::Select {
                    read,
                    write,
                    except,
                    timeout,
                    nfds,
                }
            }
            "sleep" => Op::Sleep {
                dur: self.duration(&args[0]),
            },
            "unlink" => Op::Unlink {
                path: self.addr(&args[0]),
            },
            "stat" => Op::Stat {
                path: self.addr(&args[0]),
            },
            "touch" => Op::Touch {
                path: self.addr(&args[0]),
            },
            "chmod" => {
                let path = self.addr(&args[0]);
                let mode = self.int(&args[1]);
                if !(0..=0o7777).contains(&mode) {
                    self.push(
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
            "sizeof" => Op::Sizeof {
                ty: self.sym(&args[0], Category::CType),
            },
            "constant" => Op::Constant {
                name: self.sym(&args[0], Category::Constant),
            },
            "getservbyname" => Op::Getservbyname {
                name: self.string_arg(&args[0], "a service name in quotes"),
                proto: self.string_arg(&args[1], "a protocol name in quotes"),
            },
            "getservbyport" => Op::Getservbyport {
                port: self.int(&args[0]),
                proto: self.string_arg(&args[1], "a protocol name in quotes"),
            },
            "gethostname" => Op::Gethostname {
                len: args.first().map(|a| self.int(a).max(0) as u64),
            },
            "gethostbyname" => Op::Gethostbyname {
                name: self.string_arg(&args[0], "a host name in quotes"),
            },
            "signal" => Op::Signal {
                sig: self.sym(&args[0], Category::Signal),
                action: self.sym(&args[1], Category::SignalAction),
            },
            "sendrecv" => Op::SendRecv {
                sock: self.handle(&args[0]),
                data: self.payload(&args[1]),
                len: self.size(&args[2]),
            },
            "send_until_stalled" => Op::SendUntilStalled {
                sock: self.handle(&args[0]),
                stall: self.duration(&args[1]),
                max: self.size(&args[2]),
            },
            "server_signal" => {
                let sig = match &args[0].kind {
                    ArgKind::Name(n) if n == "SIGSTOP" || n == "SIGCONT" => n.clone(),
                    _ => self.wrong(
                        &args[0],
                        "`SIGSTOP` or `SIGCONT`",
                        Some("freeze the server with SIGSTOP, thaw it with SIGCONT".into()),
                        "SIGCONT".to_string(),
                    ),
                };
                Op::ServerSignal {
                    sig,
                    span: args[0].span,
                }
            }
            "server_fact" => {
                let fact = match &args[0].kind {
                    ArgKind::Name(n) => ServerFact::from_name(n),
                    _ => None,
                };
                let fact = fact.unwrap_or_else(|| {
                    let names: Vec<&str> = ServerFact::ALL.iter().map(|f| f.name()).collect();
                    self.wrong(
                        &args[0],
                        "a server fact",
                        Some(format!("one of: {}", names.join(", "))),
                        ServerFact::Alive,
                    )
                });
                Op::ServerFact {
                    fact,
                    span: args[0].span,
                }
            }
            "FD_ZERO" => Op::FdZero {
                set: self.declare_fd_set(&args[0]),
            },
            "FD_SET" | "FD_CLR" | "FD_ISSET" => {
                let fd = self.handle(&args[0]);
                let set = self.fd_set(&args[1]);
                match spec.name {
                    "FD_SET" => Op::FdSet { fd, set },
                    "FD_CLR" => Op::FdClr { fd, set },
                    _ => Op::FdIsset { fd, set },
                }
            }
            "dir_entries" => Op::DirEntries,
            "spawn" => self.spawn(args),
            "wait" => Op::Wait {
                proc: self.process(&args[0]),
            },
            "kill" => Op::Kill {
                proc: self.process(&args[0]),
                sig: self.sym(&args[1], Category::ProcSignal),
            },
            "children" => Op::Children,
            "sethostname" => Op::Sethostname {
                name: self.string_arg(&args[0], "a host name in quotes"),
            },
            "mount_tmpfs" => Op::MountTmpfs {
                path: self.addr(&args[0]),
            },
            "write_file" => Op::WriteFile {
                path: self.addr(&args[0]),
                data: self.payload(&args[1]),
            },
            "read_file" => Op::ReadFile {
                path: self.addr(&args[0]),
                len: self.size(&args[1]),
            },
            "gethostid" => Op::Gethostid,
            "sethostid" => Op::Sethostid {
                id: self.int(&args[0]),
            },
            "gethostbyname2" => Op::Gethostbyname2 {
                name: self.string_arg(&args[0], "a host name in quotes"),
                family: self.sym(&args[1], Category::Domain),
            },
            "gethostbyaddr" => Op::Gethostbyaddr {
                addr: self.host_addr(&args[0]),
                len: self.size(&args[1]),
                family: self.sym(&args[2], Category::Domain),
            },
            "tc" => self.tc(&args[0]),
            _ => return Err(Bail),
        })
    }

    /// `spawn(["prog", "arg", fd(h)], stdin=h, stdout=h, stderr=h)`.
    fn spawn(&mut self, args: &[Arg]) -> Op {
        let argv = match &args[0].kind {
            ArgKind::List(items) if !items.is_empty() => items
                .iter()
                .map(|item| match &item.kind {
                    ArgKind::Str(b) => ArgvItem::Str(String::from_utf8_lossy(b).into_owned()),
                    ArgKind::Func(f, inner) if f == "fd" => {
                        match self.func_args(item, inner, 1, "fd", "fd(h)") {
                            Some([h]) => ArgvItem::Fd(self.handle(h)),
                            _ => ArgvItem::Str(String::new()),
                        }
                    }
                    _ => self.wrong(
                        item,
                        "a string or `fd(h)`",
                        Some("each word of the command is a string in quotes; `fd(h)` passes a descriptor's number".into()),
                        ArgvItem::Str(String::new()),
                    ),
                })
                .collect(),
            _ => self.wrong(
                &args[0],
                "the command as a list `[\"program\", \"arg\", ...]`",
                Some("the first word names the program, found in PATH: `spawn([\"cat\"], stdin=s, stdout=s)`".into()),
                Vec::new(),
            ),
        };
        let mut stdio: [Option<Ident>; 3] = [None, None, None];
        for arg in &args[1..] {
            let slot = match &arg.kind {
                ArgKind::Keyed(k, v) => match k.as_str() {
                    "stdin" => Some((0, v)),
                    "stdout" => Some((1, v)),
                    "stderr" => Some((2, v)),
                    _ => None,
                },
                _ => None,
            };
            let Some((i, v)) = slot else {
                self.wrong(
                    arg,
                    "`stdin=h`, `stdout=h` or `stderr=h`",
                    Some("the child's standard descriptors are given by name; the ones not given are /dev/null".into()),
                    (),
                );
                continue;
            };
            if stdio[i].is_some() {
                self.wrong(arg, "each of `stdin`, `stdout`, `stderr` once", None, ());
                continue;
            }
            stdio[i] = Some(self.handle(v));
        }
        let [stdin, stdout, stderr] = stdio;
        Op::Spawn {
            argv,
            stdin,
            stdout,
            stderr,
        }
    }

    /// A process name bound by `spawn`.
    fn process(&mut self, arg: &Arg) -> Ident {
        let (id, settled) = self.bound_name(
            arg,
            "a process",
            "a process is a name bound by `p = spawn([...])`",
            |p| &p.processes,
        );
        if settled {
            return id;
        }
        let n = id.name.clone();
        if self.handles.contains(&n) {
            return self.wrong(
                arg,
                "a process",
                Some(format!(
                    "`{n}` is a descriptor; `wait` and `kill` take a name bound by `p = spawn([...])`"
                )),
                id,
            );
        }
        let suggestion = closest(&n, self.processes.iter().map(String::as_str));
        self.push(
            Mistake::UnknownProcess {
                name: n,
                suggestion,
            },
            arg.span,
        );
        id
    }

    /// `192.0.2.7` or `[::1]`: an address of a `struct hostent`, which has no port.
    fn host_addr(&mut self, arg: &Arg) -> HostAddr {
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

    /// `tc("qdisc add dev lo clsact")`: the words of one tc command. It changes the network
    /// namespace, so the case must have one of its own (`needs isolation`).
    fn tc(&mut self, arg: &Arg) -> Op {
        let text = self.string_arg(arg, "the tc command in quotes");
        let args: Vec<String> = text.split_whitespace().map(str::to_string).collect();
        if args.is_empty() && matches!(arg.kind, ArgKind::Str(_)) {
            self.push(
                Mistake::WrongArgument {
                    expected: "a tc command".into(),
                    found: "an empty string".into(),
                    help: Some(
                        "write the arguments as on a shell: `tc(\"qdisc add dev lo clsact\")`"
                            .into(),
                    ),
                },
                arg.span,
            );
        }
        Op::Tc {
            args,
            span: arg.span,
        }
    }

    fn sendmsg(&mut self, args: &[Arg]) -> Op {
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

    // ----- expectations -------------------------------------------------------------------

    fn expect(&mut self, cur: &mut Cursor, ctx: Ctx) -> PResult<Expect> {
        let start = cur.here();
        if cur.at_end() || matches!(cur.peek_name(), Some("because" | "took")) {
            return self.fail(Mistake::MissingExpectation, start);
        }
        let mut alternatives = Vec::new();
        loop {
            alternatives.push(self.expected(cur, ctx)?);
            if cur.eat(&Tok::Pipe).is_none() {
                break;
            }
        }
        let took = match cur.eat_name("took") {
            Some(took_span) => Some(self.window(cur, took_span)?),
            None => None,
        };
        Ok(Expect {
            alternatives,
            took,
            span: start.to(Span::new(cur.prev_end(), cur.prev_end())),
        })
    }

    fn expected(&mut self, cur: &mut Cursor, ctx: Ctx) -> PResult<Expected> {
        let start = cur.here();
        let value = self.value(cur, ctx)?;
        let mut mods = Vec::new();
        while let Some(word) = cur.peek_name() {
            if !MODIFIERS.contains(&word)
                || (word == "creds" && cur.peek_at(1) != Some(&Tok::LParen))
            {
                break;
            }
            mods.push(self.modifier(cur)?);
        }
        Ok(Expected {
            value,
            mods,
            span: start.to(Span::new(cur.prev_end(), cur.prev_end())),
        })
    }

    fn value(&mut self, cur: &mut Cursor, ctx: Ctx) -> PResult<Value> {
        let Some(tok) = cur.peek() else {
            return self.fail(Mistake::MissingExpectation, cur.here());
        };
        match tok {
            Tok::Minus | Tok::Num { .. } => self.number_value(cur),
            Tok::Lt | Tok::Le | Tok::Gt | Tok::Ge | Tok::EqEq | Tok::Ne => {
                let op = self.cmp_op(cur)?;
                let arg = self.primary(cur)?;
                Ok(Value::Int(IntMatch::Cmp(op, self.int(&arg))))
            }
            Tok::Name(n) if cur.peek_at(1) != Some(&Tok::LParen) => {
                let (n, span) = (n.clone(), cur.here());
                cur.next();
                self.name_value(cur, &n, span, ctx)
            }
            Tok::Ellipsis => self.unexpected(cur, "a value", None),
            _ => {
                let arg = self.primary(cur)?;
                Ok(self.arg_value(&arg))
            }
        }
    }

    fn arg_value(&mut self, arg: &Arg) -> Value {
        match &arg.kind {
            ArgKind::Str(_) | ArgKind::Hex(_) => Value::Bytes(self.payload(arg)),
            ArgKind::Func(f, _) if f == "pattern" || f == "fill" => Value::Bytes(self.payload(arg)),
            ArgKind::Func(f, args) if f == "seconds_since_1900" => {
                match self.func_args(
                    arg,
                    args,
                    1,
                    "seconds_since_1900",
                    "seconds_since_1900(TOLERANCE)",
                ) {
                    Some([t]) => Value::Content(ContentCheck::SecondsSince1900 {
                        tolerance: self.duration(t),
                    }),
                    _ => Value::Ok,
                }
            }
            ArgKind::Func(f, args) if f == "printable" => {
                match self.func_args(arg, args, 1, "printable", "printable(MAX)") {
                    Some([m]) => Value::Content(ContentCheck::Printable { max: self.size(m) }),
                    _ => Value::Ok,
                }
            }
            ArgKind::Func(f, args) if f == "linger" => {
                match self.func_args(arg, args, 2, "linger", "linger(ONOFF, SECS)") {
                    Some([a, b]) => Value::Linger(self.int(a), self.int(b)),
                    _ => Value::Ok,
                }
            }
            ArgKind::Func(f, args) if f == "sock" => {
                if args.is_empty() || args.len() > 2 {
                    self.push(
                        Mistake::WrongArity {
                            call: "sock",
                            given: args.len(),
                            signature: "sock(FILE_TYPE[, MODE])",
                        },
                        arg.span,
                    );
                    return Value::Ok;
                }
                let kind = self.sym(&args[0], Category::FileType);
                let mode = args.get(1).map(|m| self.int(m).clamp(0, 0o7777) as u32);
                Value::Stat { kind, mode }
            }
            ArgKind::List(items) => {
                let mut entries = Vec::new();
                let mut others_any = false;
                for item in items {
                    match &item.kind {
                        ArgKind::Entry(h, events) => {
                            self.check_handle(&h.name, h.span);
                            entries.push((h.clone(), self.flags_match(events, Category::PollFlag)));
                        }
                        ArgKind::Ellipsis => others_any = true,
                        _ => self.wrong(item, "`h: EVENTS` or `...`", None, ()),
                    }
                }
                Value::Ready {
                    entries,
                    others_any,
                }
            }
            ArgKind::Tuple(sets) => match sets.as_slice() {
                [r, w, e] => Value::Sets {
                    read: self.handles(r),
                    write: self.handles(w),
                    except: self.handles(e),
                },
                _ => self.wrong(
                    arg,
                    "three lists `([r...], [w...], [e...])`",
                    None,
                    Value::Ok,
                ),
            },
            ArgKind::Func(f, _) if f == "creds" => match self.creds(arg) {
                Modifier::Creds { pid, uid, gid } => Value::Creds { pid, uid, gid },
                _ => Value::Ok,
            },
            ArgKind::V4(..) | ArgKind::V6(..) | ArgKind::Star | ArgKind::Func(..) => {
                Value::Addr(self.addr_match(arg))
            }
            _ => self.wrong(arg, "a value", None, Value::Ok),
        }
    }

    /// `10`, `1..100`, `4KiB`, `200ms`, `-1 EAGAIN`, `-5`.
    fn number_value(&mut self, cur: &mut Cursor) -> PResult<Value> {
        let arg = self.primary(cur)?;
        let ArgKind::Num { neg, value, unit } = &arg.kind else {
            return Ok(self.wrong(&arg, "a number", None, Value::Ok));
        };
        if is_duration_unit(unit) {
            return Ok(Value::Duration(self.duration(&arg)));
        }
        if *neg && *value == 1 && unit.is_empty() && cur.peek() != Some(&Tok::DotDot) {
            return Ok(match cur.peek_name() {
                Some(name) if !MODIFIERS.contains(&name) && name != "took" && name != "because" => {
                    let span = cur.here();
                    cur.next();
                    Value::Errno(self.symbol(name, span, Category::Errno))
                }
                _ => {
                    self.push(Mistake::MissingErrno, Span::new(arg.span.end, arg.span.end));
                    Value::Int(IntMatch::Exact(-1))
                }
            });
        }
        let low = self.int(&arg);
        if cur.eat(&Tok::DotDot).is_none() {
            return Ok(Value::Int(IntMatch::Exact(low)));
        }
        let high_arg = self.primary(cur)?;
        let high = self.int(&high_arg);
        if high < low {
            let span = arg.span.to(high_arg.span);
            return Ok(self.wrong(
                &Arg {
                    kind: arg.kind.clone(),
                    span,
                },
                "a range `LOW..HIGH` with LOW <= HIGH",
                None,
                Value::Int(IntMatch::Range(low, low)),
            ));
        }
        Ok(Value::Int(IntMatch::Range(low, high)))
    }

    /// A bare name in an expectation: a keyword, a handle's address or a flags value.
    fn name_value(&mut self, cur: &mut Cursor, name: &str, span: Span, ctx: Ctx) -> PResult<Value> {
        match name {
            "EOF" => return Ok(Value::Eof),
            "ok" => return Ok(Value::Ok),
            "unnamed" => return Ok(Value::Addr(AddrMatch::Unnamed)),
            "autobound" => return Ok(Value::Addr(AddrMatch::Autobound)),
            "none" => return Ok(Value::Addr(AddrMatch::None)),
            "server" if !self.is_handle(name) => return Ok(Value::Addr(AddrMatch::Server(None))),
            "daytime_line" => return Ok(Value::Content(ContentCheck::DaytimeLine)),
            "chargen_lines" => {
                return Ok(Value::Content(ContentCheck::Chargen { rotating: false }))
            }
            "chargen_pattern" => {
                return Ok(Value::Content(ContentCheck::Chargen { rotating: true }))
            }
            _ => {}
        }
        let is_handle = self.handles.iter().any(|h| h == name) || self.poisoned.contains(name);
        if ctx == Ctx::Addr || (is_handle && !matches!(ctx, Ctx::Flags(_))) {
            self.check_handle(name, span);
            return Ok(Value::Addr(AddrMatch::Handle(Ident {
                name: name.to_string(),
                span,
            })));
        }
        let categories: &[Category] = match &ctx {
            Ctx::Flags(c) => std::slice::from_ref(c),
            _ => VALUE_CATEGORIES,
        };
        let found = categories
            .iter()
            .copied()
            .find(|c| c.contains(&canonical(*c, name)));
        let category = match (found, ctx) {
            (Some(c), _) => c,
            (None, _) if Category::Errno.contains(name) => {
                self.push(
                    Mistake::ErrnoWithoutMinus {
                        name: name.to_string(),
                    },
                    span,
                );
                return Ok(Value::Errno(Sym {
                    name: name.to_string(),
                    span,
                }));
            }
            (None, Ctx::Flags(c)) => c,
            (None, _) => {
                let mut candidates: Vec<&str> = self.handles.iter().map(String::as_str).collect();
                candidates.extend(["EOF", "ok", "unnamed", "autobound", "none", "server"]);
                candidates.extend(CONTENT_WORDS);
                for c in VALUE_CATEGORIES {
                    candidates.extend(c.names());
                }
                let suggestion = closest(name, candidates);
                self.push(
                    Mistake::UnknownValue {
                        name: name.to_string(),
                        suggestion,
                    },
                    span,
                );
                return Ok(Value::Ok);
            }
        };
        let mut flags = FlagsMatch {
            names: vec![self.symbol(name, span, category)],
            others_any: false,
        };
        if let Some(family) = flag_family(name) {
            self.more_flags(cur, family, category, &mut flags);
        }
        Ok(Value::Flags(flags))
    }

    /// `|` continues a flags value when a flag of the same family (or `...`) follows;
    /// otherwise it separates alternatives.
    fn more_flags(
        &mut self,
        cur: &mut Cursor,
        family: &str,
        category: Category,
        flags: &mut FlagsMatch,
    ) {
        while cur.peek() == Some(&Tok::Pipe) {
            match cur.peek_at(1) {
                Some(Tok::Ellipsis) => {
                    cur.pos += 2;
                    flags.others_any = true;
                }
                Some(Tok::Name(n)) if flag_family(n) == Some(family) => {
                    let span = cur.toks[cur.pos + 1].span;
                    cur.pos += 2;
                    let sym = self.symbol(n, span, category);
                    flags.names.push(sym);
                }
                _ => return,
            }
        }
    }

    fn modifier(&mut self, cur: &mut Cursor) -> PResult<Modifier> {
        let Some(word) = cur.peek_name() else {
            return Err(Bail);
        };
        if word == "creds" {
            let arg = self.primary(cur)?;
            return Ok(self.creds(&arg));
        }
        cur.next();
        Ok(match word {
            "data" => {
                let arg = self.primary(cur)?;
                Modifier::Data(self.payload(&arg))
            }
            "flags" => {
                let mut flags = FlagsMatch {
                    names: Vec::new(),
                    others_any: false,
                };
                let span = cur.here();
                match cur.next().map(|t| &t.tok) {
                    Some(Tok::Num { value: 0, unit }) if unit.is_empty() => {}
                    Some(Tok::Ellipsis) => flags.others_any = true,
                    Some(Tok::Name(n)) => flags.names.push(self.symbol(n, span, Category::MsgFlag)),
                    _ => {
                        cur.pos -= 1;
                        return self.unexpected(
                            cur,
                            "message flags like `MSG_TRUNC`, or `0`",
                            None,
                        );
                    }
                }
                self.more_flags(cur, "MSG_", Category::MsgFlag, &mut flags);
                Modifier::MsgFlags(flags)
            }
            "from" => {
                let arg = self.primary(cur)?;
                Modifier::From(self.addr_match(&arg))
            }
            "rights" => {
                let arg = self.primary(cur)?;
                match &arg.kind {
                    ArgKind::List(items) => Modifier::Rights(
                        items
                            .iter()
                            .filter_map(|i| match &i.kind {
                                ArgKind::Name(n) => Some(Ident {
                                    name: n.clone(),
                                    span: i.span,
                                }),
                                _ => self.wrong(i, "a name to bind", None, None),
                            })
                            .collect(),
                    ),
                    _ => self.wrong(
                        &arg,
                        "a list of names `[x, y]`",
                        None,
                        Modifier::Rights(Vec::new()),
                    ),
                }
            }
            "signal" | "no" => {
                let span = cur.here();
                let Some(sig) = cur.peek_name() else {
                    return self.unexpected(cur, "a signal name like `SIGPIPE`", None);
                };
                cur.next();
                Modifier::Signal {
                    sig: self.symbol(sig, span, Category::Signal),
                    delivered: word == "signal",
                }
            }
            "remaining" => Modifier::Remaining(self.millis_match(cur)?),
            "addrlen" => Modifier::AddrLen(self.int_match(cur)?),
            "h_name" | "h_aliases" | "h_addrtype" | "h_length" | "h_addr_list" | "h_errno" => {
                Modifier::Hostent(self.hostent_check(cur, word)?)
            }
            _ => return Err(Bail),
        })
    }

    /// The value after `h_name`, `h_aliases`, … (the word itself was read).
    fn hostent_check(&mut self, cur: &mut Cursor, word: &str) -> PResult<HostentCheck> {
        if matches!(word, "h_addrtype" | "h_errno") {
            let span = cur.here();
            let Some(name) = cur.peek_name() else {
                let expected = if word == "h_errno" {
                    "an h_errno name like `HOST_NOT_FOUND`"
                } else {
                    "an address family like `AF_INET`"
                };
                return self.unexpected(cur, expected, None);
            };
            cur.next();
            return Ok(if word == "h_errno" {
                HostentCheck::Errno(self.symbol(name, span, Category::HErrno))
            } else {
                HostentCheck::Addrtype(self.symbol(name, span, Category::Domain))
            });
        }
        let arg = self.primary(cur)?;
        Ok(match word {
            "h_name" => HostentCheck::Name(self.string_arg(&arg, "a host name in quotes")),
            "h_length" => HostentCheck::Length(self.int(&arg)),
            "h_aliases" => match &arg.kind {
                ArgKind::List(items) => HostentCheck::Aliases(
                    items
                        .iter()
                        .map(|i| self.string_arg(i, "a name in quotes"))
                        .collect(),
                ),
                _ => self.wrong(
                    &arg,
                    "a list of names `[\"a\", \"b\"]`",
                    Some("write `h_aliases []` for a host without aliases".into()),
                    HostentCheck::Aliases(Vec::new()),
                ),
            },
            _ => match &arg.kind {
                ArgKind::List(items) => {
                    HostentCheck::AddrList(items.iter().map(|i| self.host_addr(i)).collect())
                }
                _ => self.wrong(
                    &arg,
                    "a list of addresses `[192.0.2.7, [::1]]`",
                    None,
                    HostentCheck::AddrList(Vec::new()),
                ),
            },
        })
    }

    fn creds(&mut self, arg: &Arg) -> Modifier {
        let (mut pid, mut uid, mut gid) = (CredMatch::Any, CredMatch::Any, CredMatch::Any);
        if let ArgKind::Func(_, fields) = &arg.kind {
            for field in fields {
                let ArgKind::Keyed(key, value) = &field.kind else {
                    self.wrong(field, "`pid=`, `uid=` or `gid=`", None, ());
                    continue;
                };
                let m = match &value.kind {
                    ArgKind::Star => CredMatch::Any,
                    ArgKind::Name(n) if n == "self" => CredMatch::SelfId,
                    ArgKind::Num { .. } => CredMatch::Value(self.int(value)),
                    _ => self.wrong(value, "a number, `self` or `*`", None, CredMatch::Any),
                };
                match key.as_str() {
                    "pid" => pid = m,
                    "uid" => uid = m,
                    "gid" => gid = m,
                    _ => self.wrong(field, "`pid=`, `uid=` or `gid=`", None, ()),
                }
            }
        }
        Modifier::Creds { pid, uid, gid }
    }

    /// `0..100`, `>=50`, `50ms..100ms`: a number of milliseconds (units are converted).
    fn millis_match(&mut self, cur: &mut Cursor) -> PResult<IntMatch> {
        self.matcher(cur, Self::millis)
    }

    /// `16`, `>2`, `2..110`: an integer matcher after a modifier word.
    fn int_match(&mut self, cur: &mut Cursor) -> PResult<IntMatch> {
        self.matcher(cur, Self::int)
    }

    /// `N`, `OP N` or `N..M`, each number read by `value`.
    fn matcher(
        &mut self,
        cur: &mut Cursor,
        value: fn(&mut Self, &Arg) -> i64,
    ) -> PResult<IntMatch> {
        let cmp = match cur.peek() {
            Some(Tok::Lt | Tok::Le | Tok::Gt | Tok::Ge | Tok::EqEq | Tok::Ne) => {
                Some(self.cmp_op(cur)?)
            }
            _ => None,
        };
        let low_arg = self.primary(cur)?;
        let low = value(self, &low_arg);
        if let Some(op) = cmp {
            return Ok(IntMatch::Cmp(op, low));
        }
        if cur.eat(&Tok::DotDot).is_none() {
            return Ok(IntMatch::Exact(low));
        }
        let high_arg = self.primary(cur)?;
        Ok(IntMatch::Range(low, value(self, &high_arg)))
    }

    fn millis(&mut self, arg: &Arg) -> i64 {
        match &arg.kind {
            ArgKind::Num { unit, .. } if is_duration_unit(unit) => {
                i64::try_from(self.duration(arg).as_millis()).unwrap_or(i64::MAX)
            }
            _ => self.int(arg),
        }
    }

    fn window(&mut self, cur: &mut Cursor, took_span: Span) -> PResult<Window> {
        let help = "write `took 150ms..+40ms`, `took >=100ms` or `took <20ms`".to_string();
        let (min, max) = match cur.peek() {
            Some(Tok::Gt | Tok::Ge) => {
                cur.next();
                let arg = self.primary(cur)?;
                (Some(self.duration(&arg)), None)
            }
            Some(Tok::Lt | Tok::Le) => {
                cur.next();
                let arg = self.primary(cur)?;
                (None, Some(WindowMax::Below(self.duration(&arg))))
            }
            Some(Tok::Num { .. }) => {
                let arg = self.primary(cur)?;
                let min = self.duration(&arg);
                if cur.eat(&Tok::DotDot).is_none() {
                    let label = "expected `..+TOLERANCE` after the minimum";
                    return self.fail(Mistake::BadWindow { label, help }, cur.here());
                }
                if cur.eat(&Tok::Plus).is_none() {
                    let label = "expected `+` and a tolerance";
                    let at = cur.here();
                    let upper = match cur.peek() {
                        Some(Tok::Num { .. }) => self.primary(cur).ok(),
                        _ => None,
                    };
                    let help = match upper.map(|u| self.duration(&u)) {
                        Some(max) if max >= min => format!(
                            "the upper bound is a tolerance above the minimum, scaled by --time-scale: \
                             `took {}..+{}`",
                            show_duration(min),
                            show_duration(max - min)
                        ),
                        _ => "the upper bound is a tolerance above the minimum: `took 150ms..+40ms`".into(),
                    };
                    return self.fail(Mistake::BadWindow { label, help }, at);
                }
                let tol = self.primary(cur)?;
                (Some(min), Some(WindowMax::Tolerance(self.duration(&tol))))
            }
            _ => {
                let label = "expected a duration, `>=DURATION` or `<DURATION`";
                return self.fail(Mistake::BadWindow { label, help }, cur.here());
            }
        };
        Ok(Window {
            min,
            max,
            span: took_span.to(Span::new(cur.prev_end(), cur.prev_end())),
        })
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
    use super::*;

    const HEAD: &str = "case \"t\"\nflavours tcp4\nc, s = pair()\nl = socket(INET, STREAM)\n";

    fn parse_ok(body: &str) -> Scenario {
        let src = format!("{HEAD}{body}");
        match parse("t.sock", &src) {
            Ok(s) => s,
            Err(d) => panic!("unexpected errors:\n{}", d.render(false)),
        }
    }

    /// The last step of `HEAD` + `body`.
    fn last(body: &str) -> StepKind {
        parse_ok(body).steps.pop().unwrap().kind
    }

    fn op(body: &str) -> Op {
        match last(body) {
            StepKind::Call { call, .. } => call.op,
            other => panic!("not a call: {other:?}"),
        }
    }

    fn expect(body: &str) -> Expect {
        match last(body) {
            StepKind::Call {
                expect: Some(e), ..
            }
            | StepKind::Await {
                expect: Some(e), ..
            } => e.default,
            other => panic!("no expectation: {other:?}"),
        }
    }

    fn value(body: &str) -> Value {
        expect(body).alternatives.remove(0).value
    }

    fn codes(body: &str) -> Vec<&'static str> {
        let src = format!("{HEAD}{body}");
        match parse("t.sock", &src) {
            Ok(_) => Vec::new(),
            Err(d) => d.iter().map(|d| d.code).collect(),
        }
    }

    fn names(syms: &[Sym]) -> Vec<&str> {
        syms.iter().map(|s| s.name.as_str()).collect()
    }

    #[test]
    fn header_directives() {
        let src = "case \"title\"\nclaims STREAM-03 holds, UDP-1 refutes, X partly\ntags a b-c\n\
                   flavours @tcp tcp4 unix-stream-pair\ndeadline 2s\nneeds isolation root cap(NET_RAW)\n\
                   refs \"man 7 unix\" \"POSIX\"\nrefs \"more\"\nwhy \"w\"\nhint \"h\"\nignore \"slow\"\ndifferential\n";
        let meta = parse("t.sock", src).unwrap().meta;
        assert_eq!(meta.title, "title");
        let claims: Vec<_> = meta
            .claims
            .iter()
            .map(|c| (c.id.as_str(), c.stance))
            .collect();
        assert_eq!(
            claims,
            vec![
                ("STREAM-03", Stance::Holds),
                ("UDP-1", Stance::Refutes),
                ("X", Stance::Partly)
            ]
        );
        assert_eq!(meta.tags, vec!["a", "b-c"]);
        assert_eq!(
            meta.flavours,
            vec![Flavour::Tcp4, Flavour::Tcp6, Flavour::UnixStreamPair]
        );
        assert_eq!(meta.deadline, Some(Duration::from_secs(2)));
        assert_eq!(
            meta.needs,
            vec![Need::Isolation, Need::Root, Need::Cap("NET_RAW".into())]
        );
        assert_eq!(meta.refs, vec!["man 7 unix", "POSIX", "more"]);
        assert_eq!(
            (
                meta.why.as_deref(),
                meta.hint.as_deref(),
                meta.ignore.as_deref()
            ),
            (Some("w"), Some("h"), Some("slow"))
        );
        assert!(meta.differential);
    }

    #[test]
    fn header_mistakes() {
        let codes_of = |src: &str| -> Vec<&'static str> {
            parse("t.sock", src)
                .err()
                .map(|d| d.iter().map(|d| d.code).collect())
                .unwrap_or_default()
        };
        assert_eq!(codes_of("tags a\n"), vec!["missing-title"]);
        assert_eq!(
            codes_of("case \"a\"\ncase \"b\"\n"),
            vec!["duplicate-directive"]
        );
        assert_eq!(
            codes_of("case \"a\"\nclaims stream-1 holds\n"),
            vec!["bad-claim-id"]
        );
        assert_eq!(
            codes_of("case \"a\"\nclaims S-1 hold\n"),
            vec!["unknown-stance"]
        );
        assert_eq!(codes_of("case \"a\"\nclaims S-1\n"), vec!["missing-stance"]);
        assert_eq!(
            codes_of("case \"a\"\nflavours tcp5\n"),
            vec!["unknown-flavour"]
        );
        assert_eq!(codes_of("case \"a\"\nneeds rooot\n"), vec!["unknown-need"]);
        assert_eq!(codes_of("case \"a\"\ntag x\n"), vec!["unknown-directive"]);
        assert_eq!(
            codes_of("case \"a\"\nsleep(0)\ntags x\n"),
            vec!["header-after-body"]
        );
    }

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
    fn bindings_make_handles() {
        let s = parse_ok("a, b = socketpair(UNIX, STREAM)\nr, w = pipe()\nd = dup(a)\nclose(w)\n");
        let StepKind::Call { bind, .. } = &s.steps[2].kind else {
            panic!()
        };
        assert_eq!(
            bind.iter().map(|i| i.name.as_str()).collect::<Vec<_>>(),
            vec!["a", "b"]
        );
        assert_eq!(
            codes("x = socket(INET, STREAM)\nclose(y)\n"),
            vec!["unknown-handle"]
        );
        assert_eq!(
            codes("a, b = socket(INET, STREAM)\n"),
            vec!["binding-count"]
        );
        assert_eq!(codes("a = pipe()\n"), vec!["binding-count"]);
        assert_eq!(codes("n = recv(s, 1)\n"), vec!["nothing-to-bind"]);
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
            op("bind(c, rawpath(\"/x\"))"),
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
    fn expectation_values() {
        assert_eq!(value("send(c, \"x\") = 1"), Value::Int(IntMatch::Exact(1)));
        assert_eq!(
            value("recv(s, 9) = 1..100"),
            Value::Int(IntMatch::Range(1, 100))
        );
        assert_eq!(
            value("recv(s, 9) = >=4096"),
            Value::Int(IntMatch::Cmp(CmpOp::Ge, 4096))
        );
        assert!(
            matches!(value("recv(s, 9) = -1 EWOULDBLOCK"), Value::Errno(ref e) if e.name == "EWOULDBLOCK")
        );
        assert_eq!(
            value("recv(s, 9) = \"hi\""),
            Value::Bytes(Payload::Bytes(b"hi".to_vec()))
        );
        assert_eq!(value("recv(s, 9) = EOF"), Value::Eof);
        assert_eq!(value("recv(s, 9) = ok"), Value::Ok);
        assert!(matches!(
            value("getsockname(l) = 127.0.0.1:ephemeral"),
            Value::Addr(AddrMatch::V4 {
                port: PortMatch::Ephemeral,
                ..
            })
        ));
        assert!(matches!(
            value("getsockname(l) = [::1]:*"),
            Value::Addr(AddrMatch::V6 {
                port: PortMatch::Any,
                ..
            })
        ));
        assert!(matches!(
            value("getpeername(c) = s"),
            Value::Addr(AddrMatch::Handle(_))
        ));
        assert_eq!(
            value("getsockname(c) = unnamed"),
            Value::Addr(AddrMatch::Unnamed)
        );
        assert_eq!(value("getsockname(c) = *"), Value::Addr(AddrMatch::Any));
        assert!(
            matches!(value("fcntl(c, F_GETFL) = O_NONBLOCK|..."), Value::Flags(FlagsMatch { ref names, others_any: true }) if names.len() == 1)
        );
        assert!(
            matches!(value("getsockopt(c, SOL_SOCKET, SO_TYPE) = SOCK_STREAM"), Value::Flags(ref f) if f.names[0].name == "STREAM")
        );
        assert_eq!(
            value("getsockopt(c, SOL_SOCKET, SO_LINGER) = linger(1, 0)"),
            Value::Linger(1, 0)
        );
        assert_eq!(
            value("getsockopt(c, SOL_SOCKET, SO_RCVTIMEO) = 200ms"),
            Value::Duration(Duration::from_millis(200))
        );
        assert!(matches!(
            value("stat(path(\"x\")) = sock(S_IFSOCK, 0o755)"),
            Value::Stat {
                mode: Some(0o755),
                ..
            }
        ));
        assert!(matches!(
            value("stat(path(\"x\")) = sock(S_IFSOCK)"),
            Value::Stat { mode: None, .. }
        ));
        let Value::Ready {
            entries,
            others_any,
        } = value("poll([s: POLLIN], 0) = [s: POLLIN|POLLOUT, ...]")
        else {
            panic!()
        };
        assert_eq!((entries.len(), others_any), (1, true));
        assert!(
            matches!(value("poll([s: POLLIN], 0) = []"), Value::Ready { ref entries, others_any: false } if entries.is_empty())
        );
        let Value::Sets {
            read,
            write,
            except,
        } = value("select([s], [c], [], 0) = ([s], [], [])")
        else {
            panic!()
        };
        assert_eq!((read.len(), write.len(), except.len()), (1, 0, 0));
    }

    #[test]
    fn alternatives_modifiers_and_windows() {
        let e = expect("recv(s, 9) = EOF | -1 ECONNRESET took 150ms..+40ms");
        assert_eq!(e.alternatives.len(), 2);
        let w = e.took.unwrap();
        assert_eq!(
            (w.min, w.max),
            (
                Some(Duration::from_millis(150)),
                Some(WindowMax::Tolerance(Duration::from_millis(40)))
            )
        );
        assert_eq!(
            expect("recv(s, 9) = 1 took <20ms").took.unwrap().max,
            Some(WindowMax::Below(Duration::from_millis(20)))
        );
        assert_eq!(
            expect("recv(s, 9) = 1 took >=100ms").took.unwrap().min,
            Some(Duration::from_millis(100))
        );
        let e = expect(
            "recvmsg(s, 9) = 4 data \"abcd\" flags MSG_TRUNC|MSG_EOR from 127.0.0.1:port(l) rights [x] creds(pid=self, uid=0)",
        );
        let mods = &e.alternatives[0].mods;
        assert_eq!(mods.len(), 5);
        assert!(matches!(&mods[1], Modifier::MsgFlags(f) if f.names.len() == 2));
        assert!(matches!(
            &mods[4],
            Modifier::Creds {
                pid: CredMatch::SelfId,
                uid: CredMatch::Value(0),
                gid: CredMatch::Any
            }
        ));
        let e = expect("send(c, \"x\") = -1 EPIPE signal SIGPIPE | 1 no SIGPIPE");
        assert!(matches!(
            &e.alternatives[1].mods[0],
            Modifier::Signal {
                delivered: false,
                ..
            }
        ));
        let e = expect("select([], [], [], 100ms) = 0 remaining 0..100");
        assert!(matches!(
            &e.alternatives[0].mods[0],
            Modifier::Remaining(IntMatch::Range(0, 100))
        ));
        // `rights` binds new handles.
        parse_ok("recvmsg(s, 9) = 1 rights [fd1]\nclose(fd1)\n");
        // Flags of another family after `|` start a new alternative.
        let e = expect("fcntl(c, F_GETFL) = O_RDWR | -1 EBADF");
        assert_eq!(e.alternatives.len(), 2);
    }

    #[test]
    fn expectation_mistakes() {
        assert_eq!(codes("recv(s, 9) =\n"), vec!["missing-expectation"]);
        assert_eq!(codes("recv(s, 9) = -1\n"), vec!["missing-errno"]);
        assert_eq!(codes("recv(s, 9) = EAGAIN\n"), vec!["errno-without-minus"]);
        assert!(codes("getsockopt(s, SOL_SOCKET, SO_ERROR) = ECONNREFUSED\n").is_empty());
        assert_eq!(
            codes("getsockopt(s, SOL_SOCKET, SO_ERROR) = ECONNREFUSD\n"),
            vec!["unknown-symbol"]
        );
        assert_eq!(codes("recv(s, 9) = -1 EAGIAN\n"), vec!["unknown-symbol"]);
        assert_eq!(codes("recv(s, 9) = bogus\n"), vec!["unknown-value"]);
        assert_eq!(codes("recv(s, 9) = 1 took 150ms\n"), vec!["bad-window"]);
        assert_eq!(codes("recv(s, 9) = 1 2\n"), vec!["syntax"]);
    }

    #[test]
    fn blocking_and_await() {
        let s = parse_ok("a = accept(l) blocks\nconnect(c, l)\nawait a = ok\nclose(a)\n");
        assert!(matches!(
            &s.steps[2].kind,
            StepKind::Call { blocks: true, .. }
        ));
        assert!(
            matches!(&s.steps[4].kind, StepKind::Await { name, expect: Some(_) } if name.name == "a")
        );
        assert_eq!(codes("r = recv(s, 1) blocks\n"), vec!["never-awaited"]);
        assert_eq!(codes("await r\n"), vec!["not-pending"]);
        assert_eq!(codes("await c\n"), vec!["not-pending"]);
        assert_eq!(codes("recv(s, 1) blocks\n"), vec!["blocks-binding"]);
        assert_eq!(
            codes("r = recv(s, 1) = 1 blocks\nawait r\n"),
            vec!["blocks-with-expectation"]
        );
        assert_eq!(
            codes("a = accept(l) blocks\nclose(a)\nawait a\n"),
            vec!["pending-handle"]
        );
    }

    #[test]
    fn when_lines() {
        let s = parse_ok(
            "connect(c, l) = -1 ENOENT\n  when freebsd = -1 ECONNREFUSED because \"BSD\"\n  \
             when not flavour tcp6|@unix = 1 because \"x\"\n  when kernel >= 5.14 = ok because \"k\"\n  \
             when sysctl(net.ipv4.ip_unprivileged_port_start) <= 80 = ok because \"s\"\nclose(l)\n  when root = ok because \"r\"\n",
        );
        let StepKind::Call {
            expect: Some(clause),
            ..
        } = &s.steps[2].kind
        else {
            panic!()
        };
        assert_eq!(clause.when.len(), 4);
        assert_eq!(clause.when[0].cond, Cond::Platform("freebsd".into()));
        assert!(
            matches!(&clause.when[1].cond, Cond::Not(c) if matches!(**c, Cond::Flavour(ref f) if f.len() == 10))
        );
        assert_eq!(clause.when[2].cond, Cond::Kernel(CmpOp::Ge, (5, 14)));
        assert!(
            matches!(&clause.when[3].cond, Cond::Sysctl(k, CmpOp::Le, 80) if k == "net.ipv4.ip_unprivileged_port_start")
        );
        // A `when` on a step without expectation varies the implicit `ok`.
        let StepKind::Call {
            expect: Some(clause),
            ..
        } = &s.steps[3].kind
        else {
            panic!()
        };
        assert_eq!(clause.default.alternatives[0].value, Value::Ok);
        assert_eq!(
            codes("close(l)\n  when linux = ok\n"),
            vec!["missing-reason"]
        );
        assert_eq!(
            codes("close(l)\n  when linx = ok because \"x\"\n"),
            vec!["unknown-condition"]
        );
        assert_eq!(
            parse("t", "case \"x\"\nwhen linux = ok because \"x\"\n")
                .unwrap_err()
                .diagnostics()[0]
                .code,
            "orphan-when"
        );
    }

    #[test]
    fn unknown_calls_and_arity() {
        assert_eq!(codes("conect(c, l)\n"), vec!["unknown-call"]);
        assert_eq!(codes("close c\n"), vec!["syntax"]);
        let d = parse("t", &format!("{HEAD}recv(s)\n")).unwrap_err();
        assert_eq!(
            d.diagnostics()[0].help.as_deref(),
            Some("the signature is `recv(s, LEN[, FLAGS])`")
        );
    }

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
    fn a_failed_binding_is_not_reported_again() {
        assert_eq!(codes("x = socket(INET)\nclose(x)\n"), vec!["wrong-arity"]);
        assert_eq!(
            codes("x = socket(INET, \"\nclose(x)\n"),
            vec!["unterminated-string"]
        );
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
    fn grading_calls_and_content_checks() {
        match op("sendrecv(c, pattern(1MiB), 1MiB) = pattern(1MiB)\n") {
            Op::SendRecv { data, len, .. } => {
                assert_eq!(data, Payload::Pattern(1 << 20));
                assert_eq!(len, 1 << 20);
            }
            other => panic!("{other:?}"),
        }
        match op("send_until_stalled(c, 500ms, 64MiB) = >0\n") {
            Op::SendUntilStalled { stall, max, .. } => {
                assert_eq!(stall, Duration::from_millis(500));
                assert_eq!(max, 64 << 20);
            }
            other => panic!("{other:?}"),
        }
        match op("server_fact(zombies) = 0\n") {
            Op::ServerFact { fact, .. } => assert_eq!(fact, ServerFact::Zombies),
            other => panic!("{other:?}"),
        }
        assert_eq!(codes("server_fact(zombie) = 0\n"), vec!["wrong-argument"]);
        match op("server_signal(SIGSTOP)\n") {
            Op::ServerSignal { sig, .. } => assert_eq!(sig, "SIGSTOP"),
            other => panic!("{other:?}"),
        }
        assert_eq!(codes("server_signal(SIGKILL)\n"), vec!["wrong-argument"]);
        assert_eq!(
            value("recv_exact(c, 513) = daytime_line\n"),
            Value::Content(ContentCheck::DaytimeLine)
        );
        assert_eq!(
            value("recv_exact(c, 4) = seconds_since_1900(5s)\n"),
            Value::Content(ContentCheck::SecondsSince1900 {
                tolerance: Duration::from_secs(5)
            })
        );
        assert_eq!(
            value("recv_exact(c, 7400) = chargen_pattern\n"),
            Value::Content(ContentCheck::Chargen { rotating: true })
        );
        assert_eq!(
            value("recv_exact(c, 7400) = chargen_lines\n"),
            Value::Content(ContentCheck::Chargen { rotating: false })
        );
        assert_eq!(
            value("recv(c, 600) = printable(512)\n"),
            Value::Content(ContentCheck::Printable { max: 512 })
        );
        assert_eq!(codes("recv(c, 1) = daytime_lines\n"), vec!["unknown-value"]);
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

    #[test]
    fn peer_credentials_and_directory_entries() {
        assert_eq!(
            value("getsockopt(s, SOL_SOCKET, SO_PEERCRED) = creds(pid=self, uid=0, gid=*)"),
            Value::Creds {
                pid: CredMatch::SelfId,
                uid: CredMatch::Value(0),
                gid: CredMatch::Any
            }
        );
        assert_eq!(op("dir_entries()"), Op::DirEntries);
    }

    #[test]
    fn process_calls() {
        match op("p = spawn([\"cat\"], stdin=s, stdout=s)\n") {
            Op::Spawn {
                argv,
                stdin,
                stdout,
                stderr,
            } => {
                assert_eq!(argv, vec![ArgvItem::Str("cat".into())]);
                assert_eq!(stdin.map(|i| i.name), Some("s".to_string()));
                assert_eq!(stdout.map(|i| i.name), Some("s".to_string()));
                assert_eq!(stderr, None);
            }
            other => panic!("{other:?}"),
        }
        match op("p = spawn([\"sh\", \"-c\", \"x\", \"sh\", fd(l)])\n") {
            Op::Spawn { argv, .. } => {
                assert!(matches!(&argv[4], ArgvItem::Fd(id) if id.name == "l"))
            }
            other => panic!("{other:?}"),
        }
        match value("p = spawn([\"true\"])\nwait(p) = SIGTERM\n") {
            Value::Flags(fm) => assert_eq!(names(&fm.names), vec!["SIGTERM"]),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            op("p = spawn([\"true\"])\nkill(p, SIGKILL) = 0\n"),
            Op::Kill { .. }
        ));
        assert_eq!(op("children() = 0\n"), Op::Children);
        assert!(codes("p = spawn([\"true\"])\nx = wait(p) blocks\nawait x = 0\n").is_empty());
    }

    #[test]
    fn process_mistakes() {
        // A process is not a descriptor, a descriptor is not a process.
        assert_eq!(
            codes("p = spawn([\"true\"])\nsend(p, \"x\")\n"),
            vec!["wrong-argument"]
        );
        assert_eq!(codes("wait(s)\n"), vec!["wrong-argument"]);
        assert_eq!(codes("wait(q)\n"), vec!["unknown-process"]);
        // A pid is never compared as a number.
        assert_eq!(codes("p = spawn([\"true\"]) = 5\n"), vec!["wrong-argument"]);
        assert!(codes("p = spawn([\"nope\"]) = -1 ENOENT\n").is_empty());
        assert_eq!(codes("p = spawn(\"cat\")\n"), vec!["wrong-argument"]);
        assert_eq!(codes("p = spawn([])\n"), vec!["wrong-argument"]);
        assert_eq!(
            codes("p = spawn([\"cat\"], input=s)\n"),
            vec!["wrong-argument"]
        );
        assert_eq!(
            codes("p = spawn([\"cat\"], stdin=s, stdin=c)\n"),
            vec!["wrong-argument"]
        );
        assert_eq!(codes("p = spawn([\"cat\", 3])\n"), vec!["wrong-argument"]);
        assert_eq!(codes("p, q = spawn([\"cat\"])\n"), vec!["binding-count"]);
        assert_eq!(
            codes("p = spawn([\"true\"])\nkill(p, SIGSTOP)\n"),
            vec!["unknown-symbol"]
        );
        assert_eq!(
            codes("p = spawn([\"true\"])\nwait(p) = SIGTREM\n"),
            vec!["unknown-symbol"]
        );
    }

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
            op("read_file(rawpath(\"/etc/hostid\"), 64)\n"),
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

    #[test]
    fn require_an_option_to_take_effect() {
        let s = last(
            "require getsockopt(s, SOL_SOCKET, SO_RCVLOWAT) = 30 because \"needs SO_RCVLOWAT\"\n",
        );
        match s {
            StepKind::Require {
                expect: Some(clause),
                reason,
                ..
            } => {
                assert_eq!(reason, "needs SO_RCVLOWAT");
                assert_eq!(clause.default.alternatives.len(), 1);
            }
            other => panic!("not a requirement with an expectation: {other:?}"),
        }
        let codes = |body: &str| -> Vec<&'static str> {
            match parse("t.sock", &format!("{HEAD}{body}")) {
                Ok(_) => Vec::new(),
                Err(d) => d.iter().map(|d| d.code).collect(),
            }
        };
        assert_eq!(
            codes("require getsockopt(s, SOL_SOCKET, SO_RCVLOWAT) = 30\n"),
            vec!["missing-reason"]
        );
        assert_eq!(
            codes("require getsockopt(s, SOL_SOCKET, SO_RCVLOWAT) because \"x\"\n"),
            vec!["require-only-tc"]
        );
    }

    #[test]
    fn tc_and_require() {
        let isolated = |body: &str| format!("case \"t\"\nneeds isolation\n{body}");
        let codes_of = |src: &str| -> Vec<&'static str> {
            match parse("t.sock", src) {
                Ok(_) => Vec::new(),
                Err(d) => d.iter().map(|d| d.code).collect(),
            }
        };
        let s = parse(
            "t.sock",
            &isolated(
                "require tc(\"qdisc  add dev lo clsact\") because \"needs clsact\"\ntc(\"-s qdisc show dev lo\")\n",
            ),
        )
        .unwrap();
        match &s.steps[0].kind {
            StepKind::Require { call, reason, .. } => {
                assert_eq!(reason, "needs clsact");
                assert!(
                    matches!(&call.op, Op::Tc { args, .. } if args == &["qdisc", "add", "dev", "lo", "clsact"])
                );
            }
            other => panic!("not a requirement: {other:?}"),
        }
        assert!(
            matches!(&s.steps[1].kind, StepKind::Call { call, .. } if matches!(call.op, Op::Tc { .. }))
        );
        // tc must never run in the host's namespace: the case has to ask for its own.
        assert_eq!(
            codes_of("case \"t\"\ntc(\"qdisc show\")\n"),
            vec!["needs-isolation"]
        );
        assert_eq!(
            codes_of(&isolated("require tc(\"qdisc show\")\n")),
            vec!["missing-reason"]
        );
        assert_eq!(
            codes_of(&isolated("require tc(\"qdisc show\") = 0\n")),
            vec!["missing-reason"]
        );
        assert_eq!(
            codes_of(&isolated("require sleep(1ms) because \"x\"\n")),
            vec!["require-only-tc"]
        );
        assert_eq!(codes_of(&isolated("tc(\"  \")\n")), vec!["wrong-argument"]);
        assert_eq!(codes_of(&isolated("tc(qdisc)\n")), vec!["wrong-argument"]);
        assert_eq!(
            codes_of(&isolated(
                "require tc(\"qdisc show\") because \"x\"\n  when linux = ok because \"y\"\n"
            )),
            vec!["orphan-when"]
        );
    }
}
