//! Diagnostics: one variant per mistake a scenario can hold, and their rendering as
//! `file:line:column`, the line, a caret under the span, what was expected and a hint.

use std::fmt::Write as _;

use crate::span::{line_col, Span};
use crate::symbols::Category;

/// Every mistake the lexer and parser report. The message comes from `Display`; the code,
/// the label (what was expected at the span) and the help (how to fix it) from methods.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Mistake {
    #[error("unterminated string")]
    UnterminatedString,
    #[error("invalid escape `{text}` in a string")]
    BadEscape { text: String },
    #[error("`{ch}` is not a hex digit")]
    BadHexDigit { ch: char },
    #[error("hex string has an odd number of digits")]
    OddHexDigits,
    #[error("unexpected character `{ch}`")]
    UnexpectedChar { ch: char },
    #[error("invalid number `{text}`")]
    BadNumber { text: String },
    #[error("fractional number `{text}`")]
    FractionalNumber { text: String },
    #[error("expected {expected}, found {found}")]
    Unexpected {
        expected: String,
        found: String,
        help: Option<String>,
    },
    #[error("unknown {what} unit `{unit}`")]
    UnknownUnit { what: &'static str, unit: String },
    #[error("duration `{value}` has no unit")]
    MissingUnit { value: u64 },
    #[error("invalid IPv4 address `{text}`")]
    BadIpv4 { text: String, why: String },
    #[error("invalid IPv6 address `[{text}]`")]
    BadIpv6 { text: String },
    #[error("port {value} is out of range")]
    PortOutOfRange { value: u64 },
    #[error("address `{text}` has no port")]
    MissingPort { text: String },
    #[error("unknown call `{name}`")]
    UnknownCall {
        name: String,
        suggestion: Option<&'static str>,
    },
    #[error("wrong number of arguments to `{call}`")]
    WrongArity {
        call: &'static str,
        given: usize,
        signature: &'static str,
    },
    #[error("expected {expected}, found {found}")]
    WrongArgument {
        expected: String,
        found: String,
        help: Option<String>,
    },
    #[error("unknown {} `{name}`", category.noun())]
    UnknownSymbol {
        category: Category,
        name: String,
        suggestion: Option<String>,
    },
    #[error("unknown handle `{name}`")]
    UnknownHandle {
        name: String,
        suggestion: Option<String>,
    },
    #[error("`{name}` is a pending call, not a handle yet")]
    PendingHandle { name: String },
    #[error("unknown value `{name}`")]
    UnknownValue {
        name: String,
        suggestion: Option<String>,
    },
    #[error("errno `{name}` without `-1`")]
    ErrnoWithoutMinus { name: String },
    #[error("`-1` without an errno")]
    MissingErrno,
    #[error("missing expectation after `=`")]
    MissingExpectation,
    #[error("unknown header directive `{name}`")]
    UnknownDirective {
        name: String,
        suggestion: Option<&'static str>,
    },
    #[error("duplicate `{name}` directive")]
    DuplicateDirective { name: String, first_line: usize },
    #[error("`{name}` after the first statement")]
    HeaderAfterBody { name: String },
    #[error("missing `case` title")]
    MissingTitle,
    #[error("unknown flavour `{name}`")]
    UnknownFlavour {
        name: String,
        suggestion: Option<&'static str>,
    },
    #[error("unknown claim stance `{word}`")]
    UnknownStance {
        word: String,
        suggestion: Option<&'static str>,
    },
    #[error("claim `{id}` has no stance")]
    MissingStance { id: String },
    #[error("invalid claim id `{id}`")]
    BadClaimId { id: String },
    #[error("unknown prerequisite `{name}`")]
    UnknownNeed {
        name: String,
        suggestion: Option<&'static str>,
    },
    #[error("unknown condition `{name}`")]
    UnknownCondition {
        name: String,
        suggestion: Option<&'static str>,
    },
    #[error("`pair()` in a file without flavours")]
    PairWithoutFlavour,
    #[error("`{name}` is not a pending call")]
    NotPending {
        name: String,
        is_handle: bool,
        suggestion: Option<String>,
        pending: Vec<String>,
    },
    #[error("pending call `{name}` is never awaited")]
    NeverAwaited { name: String },
    #[error("`{call}` gives {}, but {given} {} bound", if *expected == 1 { "one handle" } else { "two handles" }, if *given == 1 { "name is" } else { "names are" })]
    BindingCount {
        call: &'static str,
        expected: usize,
        given: usize,
    },
    #[error("`{call}` returns no handle to bind")]
    NothingToBind { call: &'static str },
    #[error("blocking call without a name")]
    BlocksWithoutName { call: &'static str },
    #[error("a blocking call binds one name, not {given}")]
    BlocksBindsOne { given: usize },
    #[error("a blocking call cannot have an expectation")]
    BlocksWithExpectation,
    #[error("`when` without a reason")]
    MissingReason,
    #[error("`when` without a statement above")]
    OrphanWhen,
    #[error("invalid timing window")]
    BadWindow { label: &'static str, help: String },
    #[error("too deeply nested")]
    TooDeep,
    #[error("{what} {value} is out of range")]
    OutOfRange {
        what: &'static str,
        value: i128,
        range: &'static str,
    },
    #[error("`{name}` is an fd_set, not a handle")]
    SetAsHandle { name: String },
    #[error("`{name}` is a handle, not an fd_set")]
    HandleAsSet { name: String },
    #[error("unknown fd_set `{name}`")]
    UnknownFdSet {
        name: String,
        suggestion: Option<String>,
    },
    #[error("unknown process `{name}`")]
    UnknownProcess {
        name: String,
        suggestion: Option<String>,
    },
    #[error("`{call}` in a case without `needs isolation`")]
    NeedsIsolation { call: &'static str },
    #[error("more than {} tokens on one line", thousands(*most))]
    TooManyTokens { most: usize },
    #[error("line of {} bytes is too long", thousands(*len))]
    LineTooLong { len: usize },
    #[error("{} more mistakes not shown", thousands(*count))]
    MoreMistakes { count: usize },
    #[error("{which}(\"{text}\") names a file outside the case's own directory")]
    PathOutsideCase {
        which: &'static str,
        text: String,
        why: &'static str,
    },
    #[error("`require` does not apply to `{call}`")]
    RequireOnlyTc { call: &'static str },
    #[error("`require` without a reason")]
    RequireWithoutReason,
}

/// "an errno", "a socket type": the category with its article, for labels.
pub(crate) fn with_article(category: Category) -> String {
    let article = match category {
        Category::Domain
        | Category::Errno
        | Category::Level
        | Category::FcntlCmd
        | Category::Ioctl => "an",
        _ => "a",
    };
    format!("{article} {}", category.noun())
}

/// 12345 as `12,345`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// How many mistakes a line and a file report (see the parser); named here for the help text.
const MOST_PER_LINE: usize = crate::parser::MOST_PER_LINE;
const MOST_PER_FILE: usize = crate::parser::MOST_PER_FILE;

fn did_you_mean(suggestion: Option<impl AsRef<str>>) -> Option<String> {
    suggestion.map(|s| format!("did you mean `{}`?", s.as_ref()))
}

impl Mistake {
    /// A stable, kebab-case name of the mistake, for tests and tools.
    pub(crate) fn code(&self) -> &'static str {
        match self {
            Mistake::UnterminatedString => "unterminated-string",
            Mistake::BadEscape { .. } => "bad-escape",
            Mistake::BadHexDigit { .. } | Mistake::OddHexDigits => "bad-hex",
            Mistake::UnexpectedChar { .. } => "unexpected-character",
            Mistake::BadNumber { .. } | Mistake::FractionalNumber { .. } => "bad-number",
            Mistake::Unexpected { .. } => "syntax",
            Mistake::UnknownUnit { .. } | Mistake::MissingUnit { .. } => "bad-unit",
            Mistake::BadIpv4 { .. } => "bad-ipv4",
            Mistake::BadIpv6 { .. } => "bad-ipv6",
            Mistake::PortOutOfRange { .. } => "port-out-of-range",
            Mistake::MissingPort { .. } => "missing-port",
            Mistake::UnknownCall { .. } => "unknown-call",
            Mistake::WrongArity { .. } => "wrong-arity",
            Mistake::WrongArgument { .. } => "wrong-argument",
            Mistake::UnknownSymbol { .. } => "unknown-symbol",
            Mistake::UnknownHandle { .. } => "unknown-handle",
            Mistake::PendingHandle { .. } => "pending-handle",
            Mistake::UnknownValue { .. } => "unknown-value",
            Mistake::ErrnoWithoutMinus { .. } => "errno-without-minus",
            Mistake::MissingErrno => "missing-errno",
            Mistake::MissingExpectation => "missing-expectation",
            Mistake::UnknownDirective { .. } => "unknown-directive",
            Mistake::DuplicateDirective { .. } => "duplicate-directive",
            Mistake::HeaderAfterBody { .. } => "header-after-body",
            Mistake::MissingTitle => "missing-title",
            Mistake::UnknownFlavour { .. } => "unknown-flavour",
            Mistake::UnknownStance { .. } => "unknown-stance",
            Mistake::MissingStance { .. } => "missing-stance",
            Mistake::BadClaimId { .. } => "bad-claim-id",
            Mistake::UnknownNeed { .. } => "unknown-need",
            Mistake::UnknownCondition { .. } => "unknown-condition",
            Mistake::PairWithoutFlavour => "pair-without-flavour",
            Mistake::NotPending { .. } => "not-pending",
            Mistake::NeverAwaited { .. } => "never-awaited",
            Mistake::BindingCount { .. } => "binding-count",
            Mistake::NothingToBind { .. } => "nothing-to-bind",
            Mistake::BlocksWithoutName { .. } | Mistake::BlocksBindsOne { .. } => "blocks-binding",
            Mistake::BlocksWithExpectation => "blocks-with-expectation",
            Mistake::MissingReason => "missing-reason",
            Mistake::OrphanWhen => "orphan-when",
            Mistake::BadWindow { .. } => "bad-window",
            Mistake::OutOfRange { .. } => "out-of-range",
            Mistake::TooDeep => "too-deep",
            Mistake::SetAsHandle { .. } => "set-as-handle",
            Mistake::HandleAsSet { .. } => "handle-as-set",
            Mistake::UnknownFdSet { .. } => "unknown-fd-set",
            Mistake::UnknownProcess { .. } => "unknown-process",
            Mistake::NeedsIsolation { .. } => "needs-isolation",
            Mistake::MoreMistakes { .. } => "more-mistakes",
            Mistake::LineTooLong { .. } | Mistake::TooManyTokens { .. } => "line-too-long",
            Mistake::PathOutsideCase { .. } => "path-outside-case",
            Mistake::RequireOnlyTc { .. } => "require-only-tc",
            Mistake::RequireWithoutReason => "missing-reason",
        }
    }

    /// What was expected at the span.
    pub(crate) fn label(&self) -> String {
        match self {
            Mistake::UnterminatedString => "this string has no closing `\"`".into(),
            Mistake::BadEscape { .. } => "unknown escape".into(),
            Mistake::BadHexDigit { .. } => "expected a hex digit (0-9, a-f)".into(),
            Mistake::OddHexDigits => "this byte has only one digit".into(),
            Mistake::UnexpectedChar { .. } => "not part of the scenario language".into(),
            Mistake::BadNumber { .. } => "expected a decimal, `0x` hex or `0o` octal number".into(),
            Mistake::FractionalNumber { .. } => "expected a whole number".into(),
            Mistake::Unexpected { expected, .. } => format!("expected {expected} here"),
            Mistake::UnknownUnit {
                what: "duration", ..
            } => "expected `ns`, `us`, `ms` or `s`".into(),
            Mistake::UnknownUnit { .. } => "expected `B`, `KiB`, `MiB` or `GiB`".into(),
            Mistake::MissingUnit { .. } => "expected a unit".into(),
            Mistake::BadIpv4 { why, .. } => why.clone(),
            Mistake::BadIpv6 { .. } => "not an IPv6 address".into(),
            Mistake::PortOutOfRange { .. } => "expected a port from 0 to 65535".into(),
            Mistake::MissingPort { .. } => "expected `:PORT` after the address".into(),
            Mistake::UnknownCall { .. } => "expected a call name".into(),
            Mistake::WrongArity { given, .. } => {
                format!(
                    "{given} argument{} given",
                    if *given == 1 { "" } else { "s" }
                )
            }
            Mistake::WrongArgument { expected, .. } => format!("expected {expected} here"),
            Mistake::UnknownSymbol { category, .. } => {
                format!("expected {} name here", with_article(*category))
            }
            Mistake::UnknownHandle { .. } => "no handle of this name is bound above".into(),
            Mistake::PendingHandle { .. } => "its call is still pending here".into(),
            Mistake::UnknownValue { .. } => {
                "expected a number, bytes, an address, a handle or a flag".into()
            }
            Mistake::ErrnoWithoutMinus { .. } => "expected `-1` before the errno".into(),
            Mistake::MissingErrno => "expected an errno name after `-1`".into(),
            Mistake::MissingExpectation => "expected a value here".into(),
            Mistake::UnknownDirective { .. } => "expected a header directive or a call".into(),
            Mistake::DuplicateDirective { first_line, .. } => {
                format!("already given on line {first_line}")
            }
            Mistake::HeaderAfterBody { .. } => "header directives must come before the body".into(),
            Mistake::MissingTitle => "expected `case \"...\"` in the header".into(),
            Mistake::UnknownFlavour { .. } => "expected a socket kind or an `@group`".into(),
            Mistake::UnknownStance { .. } | Mistake::MissingStance { .. } => {
                "expected `holds`, `refutes` or `partly`".into()
            }
            Mistake::BadClaimId { .. } => "expected upper-case letters, digits and `-`".into(),
            Mistake::UnknownNeed { .. } => {
                "expected `isolation`, `root`, `unprivileged`, `ipv6` or `cap(NAME)`".into()
            }
            Mistake::UnknownCondition { .. } => {
                "expected a platform, `root`, `isolated`, `flavour`, `kernel`, `sysctl` or `not`"
                    .into()
            }
            Mistake::PairWithoutFlavour => "no socket kind to build a pair of".into(),
            Mistake::NotPending { .. } => "expected the name of a call marked `blocks`".into(),
            Mistake::NeverAwaited { .. } => "started here with `blocks`".into(),
            Mistake::BindingCount { expected: 1, .. } => "expected one name".into(),
            Mistake::BindingCount { .. } => "expected two names".into(),
            Mistake::NothingToBind { .. } => "nothing to bind".into(),
            Mistake::BlocksWithoutName { .. } => "expected `NAME =` before the call".into(),
            Mistake::BlocksBindsOne { .. } => "expected one name".into(),
            Mistake::BlocksWithExpectation => "checked when the call is awaited".into(),
            Mistake::MissingReason => "expected `because \"...\"` here".into(),
            Mistake::OrphanWhen => "continues no statement".into(),
            Mistake::BadWindow { label, .. } => (*label).into(),
            Mistake::OutOfRange { range, .. } => format!("expected {range}"),
            Mistake::TooDeep => "nesting stops here".into(),
            Mistake::SetAsHandle { .. } => "expected a handle here; this name is an fd_set".into(),
            Mistake::HandleAsSet { .. } => "expected an fd_set here; this name is a handle".into(),
            Mistake::UnknownFdSet { .. } => "no fd_set of this name is declared above".into(),
            Mistake::UnknownProcess { .. } => "no process of this name is spawned above".into(),
            Mistake::NeedsIsolation { .. } => {
                "changes the machine unless the case has namespaces of its own".into()
            }
            Mistake::RequireOnlyTc { .. } => "expected `tc(...)`".into(),
            Mistake::RequireWithoutReason => "expected `because \"...\"` here".into(),
            Mistake::MoreMistakes { .. } => "the file ends here".into(),
            Mistake::LineTooLong { .. } => "this line is not read".into(),
            Mistake::TooManyTokens { .. } => "the line is not read past here".into(),
            Mistake::PathOutsideCase { why, .. } => (*why).into(),
        }
    }

    /// How to fix it.
    pub(crate) fn help(&self) -> Option<String> {
        match self {
            Mistake::UnterminatedString => Some("close the string with `\"` on the same line".into()),
            Mistake::BadEscape { .. } => Some(r#"the escapes are \n \r \t \0 \\ \" and \xNN"#.into()),
            Mistake::BadHexDigit { .. } => Some("a hex string holds pairs of hex digits: `hex\"00 ff 10\"`".into()),
            Mistake::OddHexDigits => Some("write every byte as two digits: `0f`, not `f`".into()),
            Mistake::UnexpectedChar { .. } => Some("comments start with `#`; text goes in quotes".into()),
            Mistake::BadNumber { .. } => Some("numbers fit in 64 bits: `42`, `0x2a`, `0o755`".into()),
            Mistake::FractionalNumber { .. } => Some("use a smaller unit: `1500ms`, not `1.5s`".into()),
            Mistake::Unexpected { help, .. } => help.clone(),
            Mistake::UnknownUnit { what: "duration", unit } => {
                let near = match unit.to_ascii_lowercase().as_str() {
                    "nsec" | "nsecs" | "nanos" => Some("ns"),
                    "usec" | "usecs" | "micros" => Some("us"),
                    "ms" | "msec" | "msecs" | "millis" => Some("ms"),
                    "sec" | "secs" | "second" | "seconds" => Some("s"),
                    _ => None,
                };
                did_you_mean(near).or_else(|| Some("write a duration like `150ms`, `2s` or `500us`".into()))
            }
            Mistake::UnknownUnit { unit, .. } => {
                let known = ["B", "KiB", "MiB", "GiB"];
                let near = known.iter().find(|k| k.eq_ignore_ascii_case(unit) || k.eq_ignore_ascii_case(&format!("{unit}ib")));
                did_you_mean(near).or_else(|| Some("sizes count bytes: `4KiB` is 4096".into()))
            }
            Mistake::MissingUnit { value } => Some(format!("write `{value}ms` or `{value}s`; only `0` needs no unit")),
            Mistake::BadIpv4 { .. } => Some("write four numbers from 0 to 255 and a port: `127.0.0.1:0`".into()),
            Mistake::BadIpv6 { .. } => Some("write an IPv6 address in brackets with a port: `[::1]:0`".into()),
            Mistake::PortOutOfRange { .. } => Some("use `0` to let the kernel pick a free port".into()),
            Mistake::MissingPort { text } => Some(format!("write `{text}:0` to let the kernel pick a port")),
            Mistake::UnknownCall { suggestion, .. } => did_you_mean(*suggestion)
                .or_else(|| Some("the calls are listed in docs/scenario-language.md".into())),
            Mistake::WrongArity { signature, .. } => Some(format!("the signature is `{signature}`")),
            Mistake::WrongArgument { help, .. } => help.clone(),
            Mistake::UnknownSymbol { suggestion, category, .. } => did_you_mean(suggestion.as_ref()).or_else(|| {
                let names = category.names();
                (names.len() <= 12).then(|| format!("the known names are {}", quoted_list(names)))
            }),
            Mistake::UnknownHandle { name, suggestion } => did_you_mean(suggestion.as_ref())
                .or_else(|| Some(format!("bind it first, e.g. `{name} = socket(INET, STREAM)`"))),
            Mistake::PendingHandle { name } => Some(format!("`await {name}` before using it")),
            Mistake::UnknownValue { suggestion, .. } => did_you_mean(suggestion.as_ref()),
            Mistake::ErrnoWithoutMinus { name } => Some(format!("a failing call is written `= -1 {name}`")),
            Mistake::MissingErrno => Some("name the errno the call must fail with, e.g. `-1 EAGAIN`".into()),
            Mistake::MissingExpectation => {
                Some("write the result (`= 0`, `= -1 EAGAIN`, `= \"data\"`) or remove the `=`".into())
            }
            Mistake::UnknownDirective { suggestion, .. } => did_you_mean(*suggestion),
            Mistake::DuplicateDirective { name, .. } => Some(format!("keep a single `{name}` line")),
            Mistake::HeaderAfterBody { .. } => Some("move this line up into the header".into()),
            Mistake::MissingTitle => Some("start the file with what it shows: `case \"a one-sentence title\"`".into()),
            Mistake::UnknownFlavour { suggestion, .. } => did_you_mean(*suggestion)
                .or_else(|| Some("the kinds and groups are listed under Flavours in docs/scenario-language.md".into())),
            Mistake::UnknownStance { suggestion, .. } => did_you_mean(*suggestion),
            Mistake::MissingStance { id } => Some(format!("write `{id} holds` if passing shows the claim true here")),
            Mistake::BadClaimId { .. } => Some("claim ids look like `STREAM-03`".into()),
            Mistake::UnknownNeed { suggestion, .. } => did_you_mean(*suggestion),
            Mistake::UnknownCondition { suggestion, .. } => did_you_mean(*suggestion),
            Mistake::PairWithoutFlavour => {
                Some("add `flavours @stream` (or other kinds) to the header, or name a kind: `pair(tcp4)`".into())
            }
            Mistake::NotPending { name, is_handle, suggestion, pending } => {
                if *is_handle {
                    Some(format!("`{name}` is a handle; only a name bound by `NAME = call(...) blocks` can be awaited"))
                } else if suggestion.is_some() {
                    did_you_mean(suggestion.as_ref())
                } else if !pending.is_empty() {
                    let names: Vec<&str> = pending.iter().map(String::as_str).collect();
                    Some(format!("the pending calls here are {}", quoted_list(&names)))
                } else {
                    Some(format!("start it first: `{name} = recv(s, 10) blocks`"))
                }
            }
            Mistake::NeverAwaited { name } => Some(format!("add `await {name}` after the step that unblocks it")),
            Mistake::BindingCount { call, expected: 1, .. } => Some(format!("write `s = {call}(...)`")),
            Mistake::BindingCount { call, .. } => Some(format!("write `a, b = {call}(...)`")),
            Mistake::NothingToBind { .. } => {
                Some("remove `NAME =`, or add `blocks` to start the call on its own thread and `await` it".into())
            }
            Mistake::BlocksWithoutName { call } => Some(format!("name it to await it later: `r = {call}(...) blocks`")),
            Mistake::BlocksBindsOne { .. } => Some("the name is the pending call, given to `await` later".into()),
            Mistake::BlocksWithExpectation => Some("move `= ...` to the `await NAME` line".into()),
            Mistake::MissingReason => Some("say why the result differs here, e.g. `because \"BSDs report ...\"`".into()),
            Mistake::OrphanWhen => Some("put `when` lines right after the statement they vary".into()),
            Mistake::BadWindow { help, .. } => Some(help.clone()),
            Mistake::OutOfRange { .. } => None,
            Mistake::TooDeep => Some("lists and calls nest at most 16 deep".into()),
            Mistake::SetAsHandle { name } => Some(format!(
                "an fd_set holds descriptors: test one with `FD_ISSET(h, {name})`, or give the set to `select({name}, ...)`"
            )),
            Mistake::HandleAsSet { name } => Some(format!(
                "declare a set with `FD_ZERO(rs)`, then add the handle to it: `FD_SET({name}, rs)`"
            )),
            Mistake::UnknownFdSet { name, suggestion } => did_you_mean(suggestion.as_ref())
                .or_else(|| Some(format!("declare it first: `FD_ZERO({name})`"))),
            Mistake::UnknownProcess { name, suggestion } => did_you_mean(suggestion.as_ref())
                .or_else(|| Some(format!("start it first, e.g. `{name} = spawn([\"cat\"], stdin=s, stdout=s)`"))),
            Mistake::NeedsIsolation { .. } => Some(
                "add `needs isolation` to the header: the case then runs in network, mount and \
                 UTS namespaces of its own, and is skipped where there are none"
                    .into(),
            ),
            Mistake::RequireOnlyTc { call } => {
                Some(format!("only a `tc(...)` set-up step can skip the case; write `{call}(...)` as a plain statement"))
            }
            Mistake::RequireWithoutReason => {
                Some("say what the environment lacks when it fails, e.g. `because \"needs sch_tbf\"`".into())
            }
            Mistake::TooManyTokens { .. } => {
                Some("no statement needs that many; split it, or write a large payload as `pattern(N)`".into())
            }
            Mistake::LineTooLong { .. } => Some(format!(
                "a line holds at most {} bytes; write large payloads as `pattern(N)` or split the statement",
                thousands(crate::parser::LONGEST_LINE)
            )),
            Mistake::MoreMistakes { .. } => Some(format!(
                "at most {MOST_PER_LINE} mistakes are shown per line and {MOST_PER_FILE} per file; fix these and check again"
            )),
            Mistake::PathOutsideCase { which: "path", .. } => Some(
                "`path(\"name\")` names a file in the case's private directory: give a plain name such as `path(\"sock\")`".into(),
            ),
            Mistake::PathOutsideCase { .. } => Some(
                "a scenario's files stay in its own area: a relative name, a name under `/tmp` (the case's private tmpfs), or under a directory it covered with `mount_tmpfs(rawpath(\"/dir\"))` earlier".into(),
            ),
        }
    }
}

fn quoted_list(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    quoted.join(", ")
}

/// One error in a scenario file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// A stable kebab-case name of the mistake, e.g. `unknown-symbol`.
    pub code: &'static str,
    /// What is wrong, e.g. "unknown errno `ECONNREFUSE`".
    pub message: String,
    /// Where; may be empty (a caret is still drawn).
    pub span: Span,
    /// What was expected at the span.
    pub label: String,
    /// How to fix it.
    pub help: Option<String>,
}

impl Diagnostic {
    pub(crate) fn new(mistake: Mistake, span: Span) -> Diagnostic {
        Diagnostic {
            code: mistake.code(),
            message: mistake.to_string(),
            span,
            label: mistake.label(),
            help: mistake.help(),
        }
    }

    /// 1-based line and column of the start of the span in `source`.
    pub fn line_col(&self, source: &str) -> (usize, usize) {
        line_col(source, self.span.start)
    }
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Diagnostic {}

impl miette::Diagnostic for Diagnostic {
    fn code<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        Some(Box::new(self.code))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn std::fmt::Display>)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        let label =
            miette::LabeledSpan::new(Some(self.label.clone()), self.span.start, self.span.len());
        Some(Box::new(std::iter::once(label)))
    }
}

/// All the errors of one file, in source order, with what is needed to show them.
#[derive(Debug, Clone)]
pub struct Diagnostics {
    diagnostics: Vec<Diagnostic>,
    named: miette::NamedSource<String>,
    source: String,
}

/// Where each line of a source starts, found once: rendering a hundred mistakes of a large
/// file must not read the file a hundred times.
struct Lines<'a> {
    source: &'a str,
    starts: Vec<usize>,
}

impl<'a> Lines<'a> {
    fn new(source: &'a str) -> Lines<'a> {
        let starts = std::iter::once(0)
            .chain(source.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Lines { source, starts }
    }

    /// 1-based line and column of a byte offset, as [`line_col`] gives them.
    fn line_col(&self, offset: usize) -> (usize, usize) {
        let mut offset = offset.min(self.source.len());
        while !self.source.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.starts.partition_point(|&start| start <= offset);
        let start = self.starts[line - 1];
        (line, self.source[start..offset].chars().count() + 1)
    }

    /// The text of a 1-based line, without its line break.
    fn text(&self, line: usize) -> &'a str {
        let start = self.starts[line - 1];
        let end = self
            .starts
            .get(line)
            .map_or(self.source.len(), |next| next - 1);
        self.source[start..end].trim_end_matches('\r')
    }
}

impl Diagnostics {
    pub fn new(file_name: &str, source: &str, mut diagnostics: Vec<Diagnostic>) -> Diagnostics {
        diagnostics.sort_by_key(|d| (d.span.start, d.span.end));
        Diagnostics {
            diagnostics,
            named: miette::NamedSource::new(file_name, source.to_string()),
            source: source.to_string(),
        }
    }

    pub fn diagnostics(&self) -> &[Diagnostic] {
        &self.diagnostics
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Diagnostic> {
        self.diagnostics.iter()
    }

    pub fn len(&self) -> usize {
        self.diagnostics.len()
    }

    pub fn is_empty(&self) -> bool {
        self.diagnostics.is_empty()
    }

    pub fn file_name(&self) -> &str {
        self.named.name()
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// 1-based line and column of a diagnostic of this file.
    pub fn location(&self, diagnostic: &Diagnostic) -> (usize, usize) {
        diagnostic.line_col(&self.source)
    }

    /// Every error, rustc-style, separated by blank lines. Without colour the output is plain
    /// ASCII apart from the quoted source lines, and is the same on every run (it is
    /// snapshot-tested).
    pub fn render(&self, color: bool) -> String {
        let paint = Paint { on: color };
        let lines = Lines::new(&self.source);
        let mut out = String::new();
        for (i, d) in self.diagnostics.iter().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            self.render_one(d, &lines, &paint, &mut out);
        }
        out
    }

    fn render_one(&self, d: &Diagnostic, lines: &Lines<'_>, paint: &Paint, out: &mut String) {
        let (line_no, col) = lines.line_col(d.span.start);
        let line_text = lines.text(line_no);
        let line_len = line_text.chars().count();
        let width = if d.span.is_empty() {
            1
        } else {
            let (end_line, end_col) = lines.line_col(d.span.end);
            let end = if end_line == line_no {
                end_col
            } else {
                line_len + 1
            };
            end.saturating_sub(col).max(1)
        };
        let (shown, caret_col, width) = window(line_text, col, width);
        let gutter = " ".repeat(line_no.to_string().len());
        let bar = paint.blue("|");
        let message = shorten(&d.message, MOST_SAID);
        let label = shorten(&d.label, MOST_SAID);
        let help = d.help.as_deref().map(|h| shorten(h, MOST_SAID));
        let _ = writeln!(
            out,
            "{}{}",
            paint.red("error"),
            paint.bold(&format!(": {message}"))
        );
        let _ = writeln!(
            out,
            "{gutter}{} {}:{line_no}:{col}",
            paint.blue("-->"),
            self.file_name()
        );
        let _ = writeln!(out, "{gutter} {bar}");
        let _ = writeln!(out, "{} {bar} {shown}", paint.blue(&line_no.to_string()));
        let carets = format!("{} {label}", "^".repeat(width));
        let _ = writeln!(
            out,
            "{gutter} {bar} {}{}",
            " ".repeat(caret_col - 1),
            paint.red(&carets)
        );
        if let Some(help) = &help {
            let _ = writeln!(out, "{gutter} {bar}");
            let _ = writeln!(
                out,
                "{gutter} {} {}: {help}",
                paint.blue("="),
                paint.bold("help")
            );
        }
    }
}

/// How many characters of a source line are shown, and of a message, label or help (which
/// quote the scenario's words): a stranger's file may hold a line of megabytes, and each of
/// its mistakes would print it whole.
const MOST_SHOWN: usize = 160;
const MOST_SAID: usize = 400;

/// `text` cut to `most` characters, with `…` where it was cut.
fn shorten(text: &str, most: usize) -> String {
    match text.char_indices().nth(most) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

/// The part of a source line shown under the location (tabs as spaces), and the caret's
/// column and width in it: the whole line when it is short, else a window around the span
/// with `…` on the sides that were cut.
fn window(line: &str, col: usize, width: usize) -> (String, usize, usize) {
    let plain =
        |s: &str| -> String { s.chars().map(|c| if c == '\t' { ' ' } else { c }).collect() };
    let len = line.chars().count();
    if len <= MOST_SHOWN {
        return (plain(line), col, width);
    }
    let width = width.min(MOST_SHOWN / 2);
    let first = col.saturating_sub(1 + MOST_SHOWN / 4);
    let chars: String = line.chars().skip(first).take(MOST_SHOWN).collect();
    let mut shown = String::new();
    let mut col = col - first;
    if first > 0 {
        shown.push('…');
        col += 1;
    }
    shown.push_str(&plain(&chars));
    if first + MOST_SHOWN < len {
        shown.push('…');
    }
    (shown, col, width)
}

/// ANSI styling, or none.
struct Paint {
    on: bool,
}

impl Paint {
    fn wrap(&self, code: &str, text: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    fn red(&self, text: &str) -> String {
        self.wrap("1;31", text)
    }

    fn blue(&self, text: &str) -> String {
        self.wrap("1;34", text)
    }

    fn bold(&self, text: &str) -> String {
        self.wrap("1", text)
    }
}

impl std::fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.diagnostics.len();
        write!(
            f,
            "{n} error{} in `{}`",
            if n == 1 { "" } else { "s" },
            self.file_name()
        )
    }
}

impl std::error::Error for Diagnostics {}

impl miette::Diagnostic for Diagnostics {
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.named)
    }

    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn miette::Diagnostic> + 'a>> {
        Some(Box::new(
            self.diagnostics
                .iter()
                .map(|d| d as &dyn miette::Diagnostic),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_like_rustc() {
        let src = "case \"x\"\nconnect(c, l) = -1 ECONNREFUSE\n";
        let start = src.find("ECONN").unwrap();
        let d = Diagnostic::new(
            Mistake::UnknownSymbol {
                category: Category::Errno,
                name: "ECONNREFUSE".into(),
                suggestion: Some("ECONNREFUSED".into()),
            },
            Span::new(start, start + 11),
        );
        let diags = Diagnostics::new("cases/x.sock", src, vec![d]);
        let expected = "\
error: unknown errno `ECONNREFUSE`
 --> cases/x.sock:2:20
  |
2 | connect(c, l) = -1 ECONNREFUSE
  |                    ^^^^^^^^^^^ expected an errno name here
  |
  = help: did you mean `ECONNREFUSED`?
";
        assert_eq!(diags.render(false), expected);
        assert!(diags.render(true).contains("\x1b["));
    }

    #[test]
    fn every_mistake_has_a_label() {
        let m = Mistake::MissingTitle;
        assert!(!m.label().is_empty());
        assert_eq!(m.code(), "missing-title");
    }
}
