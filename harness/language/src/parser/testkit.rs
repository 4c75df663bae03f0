//! What the parser's tests share: a header that declares a flavour and two handles, and
//! helpers that parse a body and pick out its last step, call, expectation or value.

pub(crate) use std::time::Duration;

pub(crate) use crate::ast::*;
pub(crate) use crate::parser::parse;

pub(crate) const HEAD: &str =
    "case \"t\"\nflavours tcp4\nc, s = pair()\nl = socket(INET, STREAM)\n";

pub(crate) fn parse_ok(body: &str) -> Scenario {
    let src = format!("{HEAD}{body}");
    match parse("t.sock", &src) {
        Ok(s) => s,
        Err(d) => panic!("unexpected errors:\n{}", d.render(false)),
    }
}

/// The last step of `HEAD` + `body`.
pub(crate) fn last(body: &str) -> StepKind {
    parse_ok(body).steps.pop().unwrap().kind
}

pub(crate) fn op(body: &str) -> Op {
    match last(body) {
        StepKind::Call { call, .. } => call.op,
        other => panic!("not a call: {other:?}"),
    }
}

pub(crate) fn expect(body: &str) -> Expect {
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

pub(crate) fn value(body: &str) -> Value {
    expect(body).alternatives.remove(0).value
}

pub(crate) fn codes(body: &str) -> Vec<&'static str> {
    let src = format!("{HEAD}{body}");
    match parse("t.sock", &src) {
        Ok(_) => Vec::new(),
        Err(d) => d.iter().map(|d| d.code).collect(),
    }
}

pub(crate) fn names(syms: &[Sym]) -> Vec<&str> {
    syms.iter().map(|s| s.name.as_str()).collect()
}
