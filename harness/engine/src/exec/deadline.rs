//! What a case that hit its deadline means: the one rule for telling a kernel that blocks
//! where it should have returned (a FAIL) from a run the harness could not finish (an ERROR).
//!
//! A statement performed on the case's main thread that is still inside the kernel when the
//! parent kills the case, or an `await` whose call is still pending at the deadline, was
//! expected to return — every call statement is, with or without `= …` — and did not: the
//! system under test is wrong, whatever the load. Anything else that is cut by the deadline
//! (the engine building `pair()`, a `sleep`, a `tc` program, the gap between two statements, a
//! loop still moving data) says nothing about the kernel, so it is an ERROR saying what was
//! running.

use sockspec_lang::{line_col, ExpectClause, Op, Scenario, StepKind};
use sockspec_reports::{Failure, Outcome};

use super::dispatch::{route, Performer};
use super::CaseEnd;

/// The words a FAIL for a call that never returned starts with.
pub(crate) const NEVER_RETURNED: &str = "never returned";

/// What the expectation of a statement asks for, as the report shows it.
pub(crate) fn expected_text(source: &str, clause: Option<&ExpectClause>) -> String {
    match clause {
        None => "any result but -1".to_string(),
        Some(c) => {
            let text = |s: sockspec_lang::Span| source.get(s.start..s.end).unwrap_or("").trim();
            let mut shown = text(c.default.span).to_string();
            for w in &c.when {
                shown.push_str(&format!(
                    " (or, when {}: {})",
                    w.reason,
                    text(w.expect.span)
                ));
            }
            shown
        }
    }
}

/// The FAIL for a call still blocked at the deadline although the case expected it to
/// return.
pub(crate) fn never_returned(
    line: usize,
    column: usize,
    statement: String,
    expected: String,
) -> CaseEnd {
    let message = format!(
        "line {line}: {NEVER_RETURNED}: expected it to return {expected}, but the call was still blocked in the kernel at the case deadline"
    );
    CaseEnd {
        outcome: Outcome::Fail,
        message: Some(message),
        failure: Some(Failure {
            line,
            column,
            statement,
            expected,
            actual: "still blocked at the case deadline".to_string(),
            hint: Some(
                "the kernel kept the call asleep: is the peer's data, connection or wake-up missing?"
                    .to_string(),
            ),
        }),
    }
}

/// The ERROR for a deadline stop that says nothing about the kernel.
pub(crate) fn not_judged(what: &str) -> CaseEnd {
    CaseEnd {
        outcome: Outcome::Error,
        message: Some(format!(
            "could not be judged: the case deadline passed while {what}"
        )),
        failure: None,
    }
}

/// Whether the statement was expected to return on the main thread, so that being killed
/// inside it means the kernel kept it blocked.
fn expected_to_return(kind: &StepKind) -> Option<Option<&ExpectClause>> {
    match kind {
        StepKind::Call {
            call,
            expect,
            blocks: false,
            ..
        } => {
            let engine_side = matches!(
                call.op,
                // `pair()` is the engine's own set-up, `sleep` waits by design and `tc` is a
                // program with its own time limit: none is a kernel call that should return.
                Op::Pair { .. } | Op::Sleep { .. } | Op::Tc { .. }
            ) || route(&call.op).performer == Performer::Runner;
            (!engine_side).then_some(expect.as_ref())
        }
        StepKind::Await { expect, .. } => Some(expect.as_ref()),
        // `blocks` returns once the call is asleep, and `require` runs `tc`: a stop there is
        // the engine's own wait.
        StepKind::Call { blocks: true, .. } | StepKind::Require { .. } => None,
    }
}

/// The verdict of a case killed at its deadline while step `running` (an index into
/// `scenario.steps`, as the case process reported it) had started and not ended.
pub fn deadline_stop(scenario: &Scenario, source: &str, running: Option<usize>) -> CaseEnd {
    let Some(step) = running.and_then(|i| scenario.steps.get(i)) else {
        return not_judged("the engine was between two statements");
    };
    let (line, column) = line_col(source, step.span.start);
    let statement = source
        .get(step.span.start..step.span.end)
        .unwrap_or("")
        .trim()
        .to_string();
    match expected_to_return(&step.kind) {
        Some(clause) => never_returned(line, column, statement, expected_text(source, clause)),
        None => not_judged(&format!("line {line} was still running: `{statement}`")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(src: &str) -> Scenario {
        sockspec_lang::parse("t.sock", src).expect("the test scenario parses")
    }

    const SRC: &str = "case \"x\"\nflavours tcp4\na, b = pair()\nsleep(10ms)\nrecv(b, 1) = \"x\"\nr = recv(b, 1) blocks\nawait r = EOF\n";

    #[test]
    fn a_call_still_in_the_kernel_fails_with_what_it_should_have_returned() {
        let end = deadline_stop(&scenario(SRC), SRC, Some(2));
        assert_eq!(end.outcome, Outcome::Fail);
        let message = end.message.unwrap();
        assert!(message.starts_with("line 5: never returned: expected it to return \"x\""));
        assert_eq!(end.failure.unwrap().statement, "recv(b, 1) = \"x\"");
    }

    #[test]
    fn an_await_cut_by_the_deadline_is_a_call_that_never_returned() {
        let end = deadline_stop(&scenario(SRC), SRC, Some(4));
        assert_eq!(end.outcome, Outcome::Fail);
        assert!(end.message.unwrap().contains("expected it to return EOF"));
    }

    #[test]
    fn engine_side_steps_cut_by_the_deadline_are_errors() {
        let s = scenario(SRC);
        for (i, what) in [(0, "pair()"), (1, "sleep(10ms)"), (3, "blocks")] {
            let end = deadline_stop(&s, SRC, Some(i));
            assert_eq!(end.outcome, Outcome::Error, "step {i}");
            let m = end.message.unwrap();
            assert!(m.starts_with("could not be judged: the case deadline passed while line"));
            assert!(m.contains(what), "{m}");
        }
        let between = deadline_stop(&s, SRC, None);
        assert_eq!(between.outcome, Outcome::Error);
    }
}
