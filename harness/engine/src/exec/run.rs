//! The step loop: runs a scenario's statements in order, keeps the handle table and the
//! pending calls, builds `pair()`, and turns each step into a transcript record and, at the
//! first mismatch, into the case's verdict.

use std::collections::HashMap;
use std::os::fd::{AsRawFd, IntoRawFd, OwnedFd};
use std::time::{Duration, Instant};

use sockspec_lang::symbols::Category;
use sockspec_lang::{
    line_col, Call, Expect, ExpectClause, Flavour, Ident, Modifier, Op, Payload, Scenario, Span,
    Step, StepKind, Value,
};
use sockspec_reports::{Bytes, Failure, Outcome, StepRecord, StepStatus};

use super::addr::{Addr, AddrStyle};
use super::bytes::materialize;
use super::calls::process::{resolve_spawn, Procs};
use super::calls::sockets::Call as SocketCall;
use super::consts::errno_name;
use super::dispatch::{self, perform, route, Performer, Prepared};
use super::expect::{choose, Judge, Verdict};
use super::observed::Observed;
use super::pending::{self, Pending, Started, SETTLE};
use super::render::result_text;
use super::resolve::{sym, Resolver};
use super::signals::{self, Snapshot};
use super::table::{Table, CLOSED_FD};
use super::{CaseEnd, Context, Event, HarnessError};

/// How long the end of a case waits for each still-pending call after shutting its sockets
/// down; a woken call returns within microseconds, so this only matters for calls that
/// cannot be woken, which are then left to the process exit.
const ABANDON_GRACE: Duration = Duration::from_millis(100);

/// A call started with `blocks`, waiting for its `await`.
struct PendingCall<'a> {
    pending: Pending,
    op: &'a Op,
    text: String,
    handles: Vec<String>,
    before: Snapshot,
    line: usize,
    expect: Option<&'a ExpectClause>,
}

enum Flow {
    Next,
    Stop(CaseEnd),
}

struct Run<'a> {
    ctx: &'a Context,
    source: &'a str,
    table: Table,
    pending: HashMap<String, PendingCall<'a>>,
    start: Instant,
    abstract_prefix: String,
    pairs: u32,
    /// A `differential` case: statements without `=` only observe (any result, -1
    /// included), so each flavour's behaviour is recorded for comparison.
    observe: bool,
    /// Processes started by `spawn`; none outlives the case.
    procs: Procs,
}

/// Runs the steps of `scenario` in this process and reports each as it starts and ends.
///
/// Stops at the first step whose result differs (`Fail`) or that the engine cannot carry out
/// (`Error`); every descriptor the case opened is closed before returning. The engine's own
/// waits end by `ctx.deadline`; a call the scenario itself made blocking may not, and the
/// parent process enforces the deadline on it.
pub fn execute(
    scenario: &Scenario,
    source: &str,
    ctx: &Context,
    sink: &mut dyn FnMut(Event),
) -> CaseEnd {
    let mut run = Run {
        ctx,
        source,
        table: Table::default(),
        pending: HashMap::new(),
        start: Instant::now(),
        abstract_prefix: if ctx.unique.is_empty() {
            String::new()
        } else {
            format!("{}.", ctx.unique)
        },
        pairs: 0,
        observe: scenario.meta.differential,
        procs: Procs::default(),
    };
    let end = match signals::install_defaults() {
        Ok(()) => run.steps(&scenario.steps, sink),
        Err(e) => CaseEnd {
            outcome: Outcome::Error,
            message: Some(e.to_string()),
            failure: None,
        },
    };
    run.finish();
    end
}

/// How often a `within` observation is made again: often enough that an event is seen within
/// a couple of milliseconds of happening, rarely enough to cost nothing next to the case.
const WITHIN_POLL: Duration = Duration::from_millis(2);

/// A `require` step whose call failed because this environment lacks something (see
/// `tc::UNSUPPORTED`) ends the case as skipped with the case's reason and what was missing;
/// any other failure stands, so a mistake in the command is never hidden as a skip.
fn skip_if_unsupported(flow: Flow, record: &StepRecord, reason: &str) -> Flow {
    match flow {
        Flow::Stop(end)
            if end.outcome == Outcome::Fail
                && record
                    .errno
                    .as_deref()
                    .is_some_and(|e| super::calls::tc::UNSUPPORTED.contains(&e)) =>
        {
            let detail = record.note.as_deref().unwrap_or(record.result.as_str());
            Flow::Stop(CaseEnd {
                outcome: Outcome::Skip,
                message: Some(format!("{reason} (line {}: {detail})", record.line)),
                failure: None,
            })
        }
        flow => flow,
    }
}

/// A `require CALL = EXPECTATION` step whose result differs ends the case as skipped with the
/// case's reason and what came instead; a harness error stands.
fn skip_if_different(flow: Flow, record: &StepRecord, reason: &str) -> Flow {
    match flow {
        Flow::Stop(end) if end.outcome == Outcome::Fail => Flow::Stop(CaseEnd {
            outcome: Outcome::Skip,
            message: Some(format!(
                "{reason} (line {} gave `{}`)",
                record.line, record.result
            )),
            failure: None,
        }),
        flow => flow,
    }
}

fn flags_of(alt_mods: &[Modifier]) -> Option<&Vec<Ident>> {
    alt_mods.iter().find_map(|m| match m {
        Modifier::Rights(ids) => Some(ids),
        _ => None,
    })
}

/// The bytes an expectation names, for reports that show expected and received side by side.
fn expected_bytes(e: &Expect) -> Option<Bytes> {
    let alt = e.alternatives.first()?;
    let p: &Payload = match &alt.value {
        Value::Bytes(p) => p,
        _ => alt.mods.iter().find_map(|m| match m {
            Modifier::Data(p) => Some(p),
            _ => None,
        })?,
    };
    Some(Bytes::capture(&materialize(p)))
}

impl<'a> Run<'a> {
    fn text(&self, span: Span) -> String {
        self.source
            .get(span.start..span.end)
            .unwrap_or_default()
            .trim()
            .to_string()
    }

    fn style(&self) -> AddrStyle<'_> {
        AddrStyle {
            private_dir: &self.ctx.private_dir,
            abstract_prefix: &self.abstract_prefix,
        }
    }

    fn steps(&mut self, steps: &'a [Step], sink: &mut dyn FnMut(Event)) -> CaseEnd {
        for (index, step) in steps.iter().enumerate() {
            let (line, _) = line_col(self.source, step.span.start);
            sink(Event::Started { index, line });
            let (record, flow) = match &step.kind {
                StepKind::Call {
                    bind,
                    call,
                    expect,
                    blocks,
                } => match expect.as_ref().and_then(|c| c.default.within) {
                    Some(within) => self.until_it_matches(index, step, bind, call, expect, within),
                    None => self.call_step(index, step, bind, call, expect.as_ref(), *blocks),
                },
                StepKind::Await { name, expect } => {
                    self.await_step(index, step, name, expect.as_ref())
                }
                StepKind::Require {
                    call,
                    expect: None,
                    reason,
                } => {
                    let (record, flow) = self.call_step(index, step, &[], call, None, false);
                    let flow = skip_if_unsupported(flow, &record, reason);
                    (record, flow)
                }
                StepKind::Require {
                    call,
                    expect: Some(clause),
                    reason,
                } => {
                    let (record, flow) =
                        self.call_step(index, step, &[], call, Some(clause), false);
                    let flow = skip_if_different(flow, &record, reason);
                    (record, flow)
                }
            };
            sink(Event::Step(record));
            if let Flow::Stop(end) = flow {
                return end;
            }
        }
        CaseEnd {
            outcome: Outcome::Pass,
            message: None,
            failure: None,
        }
    }

    fn blank_record(&self, index: usize, step: &Step, started: Instant) -> StepRecord {
        StepRecord {
            index,
            line: line_col(self.source, step.span.start).0,
            statement: self.text(step.span),
            call: String::new(),
            result: String::new(),
            errno: None,
            data: None,
            expected: None,
            expected_data: None,
            status: StepStatus::Error,
            duration_us: 0,
            started_us: started.duration_since(self.start).as_micros() as u64,
            handles: Vec::new(),
            note: None,
        }
    }

    fn failure(
        &self,
        step: &Step,
        expected: String,
        actual: String,
        hint: Option<String>,
    ) -> Failure {
        let (line, column) = line_col(self.source, step.span.start);
        Failure {
            line,
            column,
            statement: self.text(step.span),
            expected,
            actual,
            hint,
        }
    }

    fn harness_error(
        &self,
        mut rec: StepRecord,
        step: &Step,
        e: HarnessError,
    ) -> (StepRecord, Flow) {
        if let HarnessError::Sysctl(_) = e {
            rec.status = StepStatus::Error;
            rec.result = e.to_string();
            let message = format!("{e} (line {})", rec.line);
            return (
                rec,
                Flow::Stop(CaseEnd {
                    outcome: Outcome::Skip,
                    message: Some(message),
                    failure: None,
                }),
            );
        }
        rec.status = StepStatus::Error;
        rec.result = format!("harness error: {e}");
        let expected = rec
            .expected
            .clone()
            .unwrap_or_else(|| "any result but -1".to_string());
        let failure = self.failure(step, expected, rec.result.clone(), None);
        let message = format!("line {}: {e}", failure.line);
        (
            rec,
            Flow::Stop(CaseEnd {
                outcome: Outcome::Error,
                message: Some(message),
                failure: Some(failure),
            }),
        )
    }

    fn choose(
        &self,
        clause: Option<&'a ExpectClause>,
        rec: &mut StepRecord,
    ) -> Result<Option<&'a Expect>, HarnessError> {
        let Some(clause) = clause else {
            return Ok(None);
        };
        let (e, reason) = choose(clause, self.ctx)?;
        rec.expected = Some(self.text(e.span));
        rec.expected_data = expected_bytes(e);
        if let Some(r) = reason {
            rec.note = Some(format!("variant chosen because {r}"));
        }
        Ok(Some(e))
    }

    /// `… within D`: the observation is made again, every [`WITHIN_POLL`], while it differs
    /// from the expectation and D (scaled, and never past the case deadline) has not passed;
    /// the last attempt is the step's record and verdict.
    fn until_it_matches(
        &mut self,
        index: usize,
        step: &'a Step,
        bind: &[Ident],
        call: &'a Call,
        expect: &'a Option<ExpectClause>,
        within: Duration,
    ) -> (StepRecord, Flow) {
        let until =
            (Instant::now() + within.mul_f64(self.ctx.time_scale.max(1.0))).min(self.ctx.deadline);
        loop {
            let (record, flow) = self.call_step(index, step, bind, call, expect.as_ref(), false);
            let differs = matches!(&flow, Flow::Stop(end) if end.outcome == Outcome::Fail);
            if !differs || Instant::now() >= until {
                return (record, flow);
            }
            std::thread::sleep(WITHIN_POLL);
        }
    }

    fn call_step(
        &mut self,
        index: usize,
        step: &'a Step,
        bind: &[Ident],
        call: &'a Call,
        clause: Option<&'a ExpectClause>,
        blocks: bool,
    ) -> (StepRecord, Flow) {
        let started = Instant::now();
        let mut rec = self.blank_record(index, step, started);
        let expect = match self.choose(clause, &mut rec) {
            Ok(e) => e,
            Err(e) => return self.harness_error(rec, step, e),
        };
        let performer = route(&call.op).performer;
        if blocks && performer == Performer::Runner {
            return self.harness_error(
                rec,
                step,
                HarnessError::Other("this call cannot be started with `blocks`".into()),
            );
        }
        let before = signals::snapshot();
        let (obs, text, handles) = match &call.op {
            Op::Pair { flavour } => match flavour.map(|(f, _)| f).or(self.ctx.flavour) {
                Some(f) => {
                    let (o, t) = self.pair(f);
                    (o, t, bind.iter().map(|i| i.name.clone()).collect())
                }
                None => return self.harness_error(rec, step, HarnessError::NoFlavour),
            },
            Op::Close { fd } => match self.table.release(fd) {
                Ok(owned) => {
                    let raw = owned.map_or(CLOSED_FD, IntoRawFd::into_raw_fd);
                    let shown = if raw == CLOSED_FD {
                        "closed".to_string()
                    } else {
                        format!("fd{raw}")
                    };
                    let o = perform(
                        &Prepared::Sockets(SocketCall::Close { fd: raw }),
                        self.ctx.deadline,
                    );
                    (
                        o,
                        format!("close({}={shown})", fd.name),
                        vec![fd.name.clone()],
                    )
                }
                Err(e) => return self.harness_error(rec, step, e),
            },
            Op::Signal {
                sig,
                action,
                restart,
            } => {
                let r = sym(Category::Signal, sig)
                    .and_then(|s| sym(Category::SignalAction, action).map(|a| (s, a)))
                    .and_then(|(s, a)| signals::set(s as i32, a, *restart));
                if let Err(e) = r {
                    return self.harness_error(rec, step, e);
                }
                let flags = if *restart { "SA_RESTART" } else { "0" };
                (
                    Observed::new(Ok(0)),
                    format!("sigaction({}, {}, {flags})", sig.name, action.name),
                    Vec::new(),
                )
            }
            Op::Alarm { dur } => {
                // Scaled like `sleep`: the alarm stands for "later, once the call is asleep".
                let after = dur.mul_f64(self.ctx.time_scale.max(1.0));
                if let Err(e) = signals::alarm(after) {
                    return self.harness_error(rec, step, e);
                }
                (
                    Observed::new(Ok(0)),
                    format!(
                        "setitimer(ITIMER_REAL, {})",
                        super::resolve::duration_text(after)
                    ),
                    Vec::new(),
                )
            }
            Op::PthreadKill { call: name, sig } => {
                let Some(pc) = self.pending.get(&name.name) else {
                    return self.harness_error(
                        rec,
                        step,
                        HarnessError::NotPending(name.name.clone()),
                    );
                };
                let tid = pc.pending.tid;
                let r = sym(Category::Signal, sig).and_then(|s| signals::to_thread(tid, s as i32));
                if let Err(e) = r {
                    return self.harness_error(rec, step, e);
                }
                (
                    Observed::new(Ok(0)),
                    format!("tgkill(thread {tid} of {}, {})", name.name, sig.name),
                    Vec::new(),
                )
            }
            Op::StillPending { call: name } => return self.still_pending(rec, step, name),
            op @ (Op::FdZero { .. } | Op::FdSet { .. } | Op::FdClr { .. } | Op::FdIsset { .. }) => {
                match super::calls::readiness::fd_macro(op, &mut self.table) {
                    Ok(done) => done,
                    Err(e) => return self.harness_error(rec, step, e),
                }
            }
            Op::Spawn {
                argv,
                stdin,
                stdout,
                stderr,
            } => match resolve_spawn(&self.table, argv, [stdin, stdout, stderr]) {
                Ok(spec) => {
                    let name = bind.first().map(|b| b.name.as_str());
                    let o = self.procs.spawn(name, &spec, &self.ctx.private_dir);
                    (o, spec.text, spec.handles)
                }
                Err(e) => return self.harness_error(rec, step, e),
            },
            op => {
                let resolver = Resolver {
                    ctx: self.ctx,
                    table: &self.table,
                    abstract_prefix: &self.abstract_prefix,
                };
                let prepared = match performer {
                    Performer::Procs => dispatch::prepare_process(&self.procs, op),
                    _ => dispatch::prepare(&resolver, op, self.ctx.deadline),
                };
                let res = match prepared {
                    Ok(r) => r,
                    Err(e) => return self.harness_error(rec, step, e),
                };
                rec.call = res.text.clone();
                rec.handles = res.handles.clone();
                if blocks {
                    return self.start_blocking(
                        rec,
                        step,
                        bind,
                        call,
                        clause,
                        res.text,
                        res.handles,
                        res.call,
                        before,
                    );
                }
                (perform(&res.call, self.ctx.deadline), res.text, res.handles)
            }
        };
        rec.call = text;
        rec.handles = handles;
        self.conclude(rec, step, &call.op, bind, expect, obs, &before)
    }

    #[allow(clippy::too_many_arguments)]
    fn start_blocking(
        &mut self,
        mut rec: StepRecord,
        step: &'a Step,
        bind: &[Ident],
        call: &'a Call,
        clause: Option<&'a ExpectClause>,
        text: String,
        handles: Vec<String>,
        prepared: Prepared,
        before: Snapshot,
    ) -> (StepRecord, Flow) {
        let Some(name) = bind.first() else {
            return self.harness_error(
                rec,
                step,
                HarnessError::Other("a `blocks` call needs a name to `await`".into()),
            );
        };
        let settle = SETTLE.mul_f64(self.ctx.time_scale.max(1.0));
        match pending::start(&name.name, prepared, settle, self.ctx.deadline) {
            Ok(Started::Blocked(p)) => {
                rec.status = StepStatus::Pending;
                rec.result = format!("pending (thread {} asleep in the kernel)", p.tid);
                rec.duration_us = settle.as_micros() as u64;
                let pc = PendingCall {
                    pending: p,
                    op: &call.op,
                    text,
                    handles,
                    before,
                    line: rec.line,
                    expect: clause,
                };
                self.pending.insert(name.name.clone(), pc);
                (rec, Flow::Next)
            }
            Ok(Started::Returned(o)) => {
                let result = result_text(&call.op, &o, &self.style());
                rec.status = StepStatus::Mismatch;
                rec.result = format!("= {result}");
                rec.errno = o.ret.err().map(errno_name);
                rec.duration_us = o.took.as_micros() as u64;
                rec.data = o.data.as_deref().map(Bytes::capture);
                let hint = format!(
                    "the call returned after {} instead of blocking; is the socket non-blocking, or was data already there?",
                    super::render::measured(o.took)
                );
                let failure = self.failure(step, "blocks".to_string(), result, Some(hint));
                let message = format!("line {}: the call did not block", failure.line);
                (
                    rec,
                    Flow::Stop(CaseEnd {
                        outcome: Outcome::Fail,
                        message: Some(message),
                        failure: Some(failure),
                    }),
                )
            }
            Err(e) => self.harness_error(rec, step, e),
        }
    }

    /// `pending(r)`: the call must not have returned yet.
    fn still_pending(
        &mut self,
        mut rec: StepRecord,
        step: &'a Step,
        name: &Ident,
    ) -> (StepRecord, Flow) {
        rec.call = format!("pending({})", name.name);
        let Some(pc) = self.pending.get_mut(&name.name) else {
            return self.harness_error(rec, step, HarnessError::NotPending(name.name.clone()));
        };
        match pc.pending.poll_done(&name.name) {
            Ok(None) => {
                rec.status = StepStatus::Ok;
                rec.result = format!("= pending (started at line {})", pc.line);
                (rec, Flow::Next)
            }
            Ok(Some(o)) => {
                let result = result_text(pc.op, &o, &self.style());
                rec.status = StepStatus::Mismatch;
                rec.result = format!("= {result}");
                rec.errno = o.ret.err().map(errno_name);
                let hint = format!("`{}` returned instead of staying blocked", name.name);
                let failure = self.failure(
                    step,
                    "still pending".to_string(),
                    result,
                    Some(hint.clone()),
                );
                let message = format!("line {}: {hint}", failure.line);
                // It returned, so nothing is left to wait for at the end of the case.
                self.pending.remove(&name.name);
                (
                    rec,
                    Flow::Stop(CaseEnd {
                        outcome: Outcome::Fail,
                        message: Some(message),
                        failure: Some(failure),
                    }),
                )
            }
            Err(e) => self.harness_error(rec, step, e),
        }
    }

    fn await_step(
        &mut self,
        index: usize,
        step: &'a Step,
        name: &Ident,
        clause: Option<&'a ExpectClause>,
    ) -> (StepRecord, Flow) {
        let started = Instant::now();
        let mut rec = self.blank_record(index, step, started);
        let Some(mut pc) = self.pending.remove(&name.name) else {
            return self.harness_error(rec, step, HarnessError::NotPending(name.name.clone()));
        };
        let expect = match self.choose(clause.or(pc.expect), &mut rec) {
            Ok(e) => e,
            Err(e) => return self.harness_error(rec, step, e),
        };
        rec.call = pc.text.clone();
        rec.handles = pc.handles.clone();
        let note = format!("started at line {}", pc.line);
        rec.note = Some(match rec.note.take() {
            Some(n) => format!("{note}; {n}"),
            None => note,
        });
        let obs = match pc.pending.wait(&name.name, self.ctx.deadline) {
            Ok(o) => o,
            Err(HarnessError::StillPending(_)) => {
                // The kernel kept the call asleep past the deadline although the `await`
                // expects it to return: a verdict on the kernel, not a harness failure.
                rec.status = StepStatus::Mismatch;
                rec.result = "still blocked at the case deadline".to_string();
                let (line, column) = line_col(self.source, step.span.start);
                let expected = super::deadline::expected_text(self.source, clause.or(pc.expect));
                let end =
                    super::deadline::never_returned(line, column, self.text(step.span), expected);
                self.pending.insert(name.name.clone(), pc);
                return (rec, Flow::Stop(end));
            }
            Err(e) => {
                self.pending.insert(name.name.clone(), pc);
                return self.harness_error(rec, step, e);
            }
        };
        // An awaited accept binds the pending name as the new handle.
        let bind: Vec<Ident> = if matches!(pc.op, Op::Accept { .. }) {
            vec![name.clone()]
        } else {
            Vec::new()
        };
        self.conclude(rec, step, pc.op, &bind, expect, obs, &pc.before)
    }

    /// Records what the call returned, binds new handles, checks the expectation.
    #[allow(clippy::too_many_arguments)]
    fn conclude(
        &mut self,
        mut rec: StepRecord,
        step: &Step,
        op: &Op,
        bind: &[Ident],
        expect: Option<&Expect>,
        mut obs: Observed,
        before: &Snapshot,
    ) -> (StepRecord, Flow) {
        let mut result = result_text(op, &obs, &self.style());
        rec.errno = obs.ret.err().map(errno_name);
        rec.duration_us = obs.took.as_micros() as u64;
        rec.data = obs.data.as_deref().map(Bytes::capture);
        if let Some(n) = obs.note.clone() {
            rec.note = Some(match rec.note.take() {
                Some(old) => format!("{old}; {n}"),
                None => n,
            });
        }
        self.adopt(op, bind, std::mem::take(&mut obs.new_fds), &obs);
        if matches!(op, Op::Pair { .. }) && obs.ret.is_ok() {
            let shown: Vec<String> = bind
                .iter()
                .map(|id| {
                    let fd = self.table.fd(id).unwrap_or(CLOSED_FD);
                    let local = self
                        .table
                        .local(id)
                        .map(|a| a.render(&self.style()))
                        .unwrap_or_default();
                    format!("{}=fd{fd} {local}", id.name)
                })
                .collect();
            result = shown.join(", ");
        }
        rec.result = format!("= {result}");
        let verdict = {
            let judge = Judge {
                ctx: self.ctx,
                table: &self.table,
                style: self.style(),
                observe: self.observe,
            };
            judge.check(op, expect, &obs, before)
        };
        let rights = std::mem::take(&mut obs.rights);
        match verdict {
            Err(e) => {
                rights.into_iter().for_each(|fd| self.table.keep_stray(fd));
                self.harness_error(rec, step, e)
            }
            Ok(Verdict::Match(alt)) => {
                let names = expect
                    .zip(alt)
                    .and_then(|(e, i)| flags_of(&e.alternatives[i].mods));
                self.adopt_rights(names, rights);
                rec.status = StepStatus::Ok;
                (rec, Flow::Next)
            }
            Ok(Verdict::Mismatch(hint)) => {
                rights.into_iter().for_each(|fd| self.table.keep_stray(fd));
                rec.status = StepStatus::Mismatch;
                let expected = rec
                    .expected
                    .clone()
                    .unwrap_or_else(|| "any result but -1".to_string());
                let actual = match (&expect, expect.and_then(|e| e.took.as_ref())) {
                    (_, Some(_)) => format!("{result} took {}", super::render::measured(obs.took)),
                    _ => result,
                };
                let failure = self.failure(step, expected, actual, Some(hint.clone()));
                let message = format!("line {}: {hint}", failure.line);
                (
                    rec,
                    Flow::Stop(CaseEnd {
                        outcome: Outcome::Fail,
                        message: Some(message),
                        failure: Some(failure),
                    }),
                )
            }
        }
    }

    /// Binds the descriptors a call created and records local addresses.
    fn adopt(&mut self, op: &Op, bind: &[Ident], new_fds: Vec<OwnedFd>, obs: &Observed) {
        let mut bound = Vec::new();
        for (i, fd) in new_fds.into_iter().enumerate() {
            match bind.get(i) {
                Some(id) => {
                    self.table.bind(&id.name, fd);
                    bound.push(id.name.clone());
                }
                None => self.table.keep_stray(fd),
            }
        }
        for name in &bound {
            self.refresh_local(name);
        }
        match op {
            Op::Getsockname { sock } => {
                if let (Ok(_), Some(a)) = (obs.ret, &obs.addr) {
                    self.table.set_local(&sock.name, a.clone());
                }
            }
            Op::Bind { sock, .. }
            | Op::Connect { sock, .. }
            | Op::Listen { sock, .. }
            | Op::Sendto { sock, .. }
            | Op::Sendmsg { sock, .. }
            | Op::Send { sock, .. } => self.refresh_local(&sock.name),
            Op::Select { .. } => super::calls::readiness::write_back(op, obs, &mut self.table),
            _ => {}
        }
    }

    fn adopt_rights(&mut self, names: Option<&Vec<Ident>>, rights: Vec<OwnedFd>) {
        let names = names.cloned().unwrap_or_default();
        for (i, fd) in rights.into_iter().enumerate() {
            match names.get(i) {
                Some(id) => {
                    self.table.bind(&id.name, fd);
                    self.refresh_local(&id.name);
                }
                None => self.table.keep_stray(fd),
            }
        }
    }

    /// Reads a handle's local address back from the kernel, as the scenario's `h` names it.
    fn refresh_local(&mut self, name: &str) {
        let id = Ident {
            name: name.to_string(),
            span: Span::default(),
        };
        let Ok(fd) = self.table.fd(&id) else { return };
        if fd == CLOSED_FD {
            return;
        }
        let o = perform(
            &Prepared::Sockets(SocketCall::Getsockname { fd }),
            self.ctx.deadline,
        );
        if let (Ok(_), Some(a)) = (o.ret, o.addr) {
            self.table.set_local(name, a);
        }
    }

    /// `a, b = pair()`: a connected pair of the flavour's kind, built as the language reference
    /// says; `a` is the client side, `b` the server (accepted) side.
    fn pair(&mut self, flavour: Flavour) -> (Observed, String) {
        self.pairs += 1;
        let n = self.pairs;
        let text = format!("pair({})", flavour.name());
        let started = Instant::now();
        let mut o = match self.build_pair(flavour, n) {
            Ok(fds) => {
                let mut o = Observed::new(Ok(0));
                o.new_fds = fds;
                o
            }
            Err((what, e)) => {
                let mut o = Observed::new(Err(e));
                o.note = Some(format!("pair: {what} failed with {}", errno_name(e)));
                o
            }
        };
        o.took = started.elapsed();
        (o, text)
    }

    /// The address `pair()` binds one of its sockets to: loopback port 0, or a name of the
    /// case's own (`pair-N-ROLE`) in its private directory or abstract namespace.
    fn pair_addr(&self, flavour: Flavour, n: u32, role: &str) -> Addr {
        use Flavour::*;
        let base = format!("pair-{n}-{role}");
        match flavour {
            Tcp4 | Udp4 => super::addr::v4([127, 0, 0, 1], 0),
            Tcp6 | Udp6 => super::addr::v6([0, 0, 0, 0, 0, 0, 0, 1], 0),
            UnixStreamAbstract | UnixDgramAbstract | UnixSeqpacketAbstract => {
                Addr::Abstract(format!("{}{base}", self.abstract_prefix).into_bytes())
            }
            _ => {
                use std::os::unix::ffi::OsStrExt;
                Addr::Path(
                    self.ctx
                        .private_dir
                        .join(base)
                        .as_os_str()
                        .as_bytes()
                        .to_vec(),
                )
            }
        }
    }

    fn build_pair(&self, flavour: Flavour, n: u32) -> Result<Vec<OwnedFd>, (&'static str, i32)> {
        use Flavour::*;
        let deadline = self.ctx.deadline;
        let run = |what: &'static str, call: SocketCall| -> Result<Observed, (&'static str, i32)> {
            let o = perform(&Prepared::Sockets(call), deadline);
            match o.ret {
                Ok(_) => Ok(o),
                Err(e) => Err((what, e)),
            }
        };
        let domain = match flavour.domain() {
            "INET" => libc::AF_INET,
            "INET6" => libc::AF_INET6,
            _ => libc::AF_UNIX,
        };
        let ty = match flavour.socket_type() {
            "STREAM" => libc::SOCK_STREAM,
            "DGRAM" => libc::SOCK_DGRAM,
            _ => libc::SOCK_SEQPACKET,
        };
        let name = |role: &str| self.pair_addr(flavour, n, role);
        let encode = |a: &Addr| {
            a.encode()
                .map_err(|_| ("encoding an address", libc::EINVAL))
        };
        let socket = |what| -> Result<OwnedFd, (&'static str, i32)> {
            Ok(run(
                what,
                SocketCall::Socket {
                    domain,
                    ty,
                    proto: 0,
                },
            )?
            .new_fds
            .remove(0))
        };
        let local = |fd: &OwnedFd| -> Result<socket2::SockAddr, (&'static str, i32)> {
            let o = run(
                "getsockname",
                SocketCall::Getsockname { fd: fd.as_raw_fd() },
            )?;
            encode(o.addr.as_ref().unwrap_or(&Addr::None))
        };
        match flavour {
            UnixStreamPair | UnixDgramPair | UnixSeqpacketPair => Ok(run(
                "socketpair",
                SocketCall::Socketpair {
                    domain,
                    ty,
                    proto: 0,
                },
            )?
            .new_fds),
            Tcp4
            | Tcp6
            | UnixStreamPath
            | UnixStreamAbstract
            | UnixSeqpacketPath
            | UnixSeqpacketAbstract => {
                let l = socket("socket (listener)")?;
                run(
                    "bind (listener)",
                    SocketCall::Bind {
                        fd: l.as_raw_fd(),
                        addr: encode(&name("listener"))?,
                    },
                )?;
                run(
                    "listen",
                    SocketCall::Listen {
                        fd: l.as_raw_fd(),
                        backlog: 1,
                    },
                )?;
                let at = local(&l)?;
                let c = socket("socket (client)")?;
                run(
                    "connect",
                    SocketCall::Connect {
                        fd: c.as_raw_fd(),
                        addr: at,
                    },
                )?;
                let s = run(
                    "accept",
                    SocketCall::Accept {
                        fd: l.as_raw_fd(),
                        flags: 0,
                        addrlen: None,
                    },
                )?
                .new_fds
                .remove(0);
                drop(l);
                Ok(vec![c, s])
            }
            Udp4 | Udp6 | UnixDgramPath | UnixDgramAbstract => {
                let a = socket("socket (a)")?;
                run(
                    "bind (a)",
                    SocketCall::Bind {
                        fd: a.as_raw_fd(),
                        addr: encode(&name("a"))?,
                    },
                )?;
                let b = socket("socket (b)")?;
                run(
                    "bind (b)",
                    SocketCall::Bind {
                        fd: b.as_raw_fd(),
                        addr: encode(&name("b"))?,
                    },
                )?;
                let (at, bt) = (local(&a)?, local(&b)?);
                run(
                    "connect (a to b)",
                    SocketCall::Connect {
                        fd: a.as_raw_fd(),
                        addr: bt,
                    },
                )?;
                run(
                    "connect (b to a)",
                    SocketCall::Connect {
                        fd: b.as_raw_fd(),
                        addr: at,
                    },
                )?;
                Ok(vec![a, b])
            }
        }
    }

    /// Wakes calls still pending (by shutting their sockets down), closes every descriptor,
    /// and gives the woken threads a moment to finish.
    fn finish(&mut self) {
        // An alarm still armed would fire into whatever the process does next.
        let _ = signals::alarm(Duration::ZERO);
        // Killed children end any pending `wait`, as shut-down sockets end pending receives.
        self.procs.kill_all();
        let pending: Vec<PendingCall<'a>> = self.pending.drain().map(|(_, p)| p).collect();
        for p in &pending {
            for fd in &p.pending.fds {
                if self.table.owns(*fd) {
                    // SAFETY: the table owns `fd`, so it is open and is the call's socket.
                    unsafe { libc::shutdown(*fd, libc::SHUT_RDWR) };
                }
            }
        }
        self.table.close_all();
        for p in pending {
            p.pending.abandon(ABANDON_GRACE);
        }
        self.procs.finish();
    }
}
