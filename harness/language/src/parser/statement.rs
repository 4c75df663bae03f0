//! Statements: a call with its bindings, `blocks` and expectation; `await`; `require`; and the
//! `when` lines that give an expectation variants.

use crate::ast::*;
use crate::diag::Mistake;
use crate::lexer::Tok;
use crate::span::Span;

use super::calls::{CallSpec, Returns, CALLS, ISOLATED_CALLS};
use super::*;

impl Parser<'_> {
    pub(crate) fn statement(&mut self, cur: &mut Cursor) -> PResult<(Step, Ctx)> {
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

    pub(crate) fn bail_binding<T>(
        &mut self,
        cur: &Cursor,
        binds: &[Ident],
        expected: &str,
    ) -> PResult<T> {
        for b in binds {
            self.poisoned.insert(b.name.clone());
        }
        self.unexpected(cur, expected, None)
    }

    #[allow(clippy::type_complexity)]
    pub(crate) fn statement_rest(
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
    pub(crate) fn check_spawn_expect(&mut self, expect: &Expect) {
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
    pub(crate) fn bind(
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
                self.handles.remove(name);
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

    pub(crate) fn add_handle(&mut self, name: &str) {
        self.pending.retain(|p| p.name != name);
        self.processes.retain(|p| p != name);
        self.handles.push(name);
    }

    pub(crate) fn bind_rights(&mut self, expect: &Expect) {
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

    pub(crate) fn await_line(&mut self, cur: &mut Cursor) -> PResult<(Step, Ctx)> {
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
                let suggestion = self
                    .reporting()
                    .then(|| closest(&name.name, pending.iter().map(String::as_str)))
                    .flatten();
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

    /// `require tc(...) because "needs sch_tbf"`: the call, then its mandatory reason.
    pub(crate) fn require_line(&mut self, cur: &mut Cursor) -> PResult<Step> {
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
        if !matches!(op, Op::Tc { .. }) {
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
                reason,
            },
        })
    }

    pub(crate) fn when_line(&mut self, cur: &mut Cursor) {
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

    pub(crate) fn when_rest(
        &mut self,
        cur: &mut Cursor,
        ctx: Ctx,
        when_span: Span,
    ) -> PResult<WhenExpect> {
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

    pub(crate) fn cond(&mut self, cur: &mut Cursor) -> PResult<Cond> {
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

    pub(crate) fn cmp_op(&mut self, cur: &mut Cursor) -> PResult<CmpOp> {
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
}

#[cfg(test)]
mod tests {
    use crate::parser::testkit::*;

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
    fn a_failed_binding_is_not_reported_again() {
        assert_eq!(codes("x = socket(INET)\nclose(x)\n"), vec!["wrong-arity"]);
        assert_eq!(
            codes("x = socket(INET, \"\nclose(x)\n"),
            vec!["unterminated-string"]
        );
    }
}
