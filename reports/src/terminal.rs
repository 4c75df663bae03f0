//! The end-of-run summary printed on the terminal: counts, themes, failures with where, what
//! and what next, and the claims verdicts.

use std::fmt::Write as _;

use crate::common::{self, counts_by_theme, is_flaky, is_known, location, total_counts};
use crate::model::{Outcome, RunReport};

const RESET: &str = "\x1b[0m";

fn paint(color: bool, code: &str, text: &str) -> String {
    if color {
        format!("\x1b[{code}m{text}{RESET}")
    } else {
        text.to_string()
    }
}

fn outcome_code(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Pass => "32",
        Outcome::Fail => "31;1",
        Outcome::Error => "35;1",
        Outcome::Skip => "33",
    }
}

/// The summary as text; ANSI colour only when `color` is true.
pub fn render_summary(report: &RunReport, color: bool) -> String {
    let mut out = String::new();
    let env = &report.environment;
    let under = env
        .runtime
        .as_ref()
        .map(|r| format!(" under {}", r.describe()))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "sockspec {} on {} {} ({}){under}, isolation {}{}",
        env.tool_version,
        env.os,
        env.kernel_release,
        env.arch,
        env.isolation,
        crate::model::isolation_why(env)
    );
    let counts = total_counts(report);
    let known = report.cases.iter().filter(|c| is_known(c)).count();
    let flaky = report.cases.iter().filter(|c| is_flaky(c)).count();
    let mut fail_word = format!("{} failed", counts[1]);
    if known > 0 {
        let _ = write!(fail_word, " ({known} known)");
    }
    let _ = writeln!(
        out,
        "{} cases: {}, {}, {}, {} in {}",
        report.cases.len(),
        paint(
            color,
            outcome_code(Outcome::Pass),
            &format!("{} passed", counts[0])
        ),
        paint(
            color && counts[1] > known,
            outcome_code(Outcome::Fail),
            &fail_word
        ),
        paint(
            color && counts[2] > 0,
            outcome_code(Outcome::Error),
            &format!("{} errored", counts[2])
        ),
        paint(
            color && counts[3] > 0,
            outcome_code(Outcome::Skip),
            &format!("{} skipped", counts[3])
        ),
        common::duration(env.duration_ms.saturating_mul(1000)),
    );
    if flaky > 0 {
        let _ = writeln!(out, "{flaky} flaky (passed on a retry)");
    }

    let themes = counts_by_theme(report);
    if !themes.is_empty() {
        let width = themes.keys().map(|t| t.len()).max().unwrap_or(5).max(5);
        let _ = writeln!(out, "\nBy theme:");
        let _ = writeln!(
            out,
            "  {:<width$}  {:>5} {:>5} {:>5} {:>5}",
            "theme", "pass", "fail", "error", "skip"
        );
        for (theme, c) in &themes {
            let _ = writeln!(
                out,
                "  {theme:<width$}  {:>5} {:>5} {:>5} {:>5}",
                c[0], c[1], c[2], c[3]
            );
        }
    }

    let problems: Vec<_> = report
        .cases
        .iter()
        .filter(|c| matches!(c.outcome, Outcome::Fail | Outcome::Error) && !is_known(c))
        .collect();
    if !problems.is_empty() {
        let _ = writeln!(out, "\nFailures:");
        for case in problems {
            let word = if case.outcome == Outcome::Fail {
                "FAIL "
            } else {
                "ERROR"
            };
            let _ = writeln!(
                out,
                "  {} {}  {}",
                paint(color, outcome_code(case.outcome), word),
                case.name,
                location(case)
            );
            if let Some(message) = &case.message {
                let _ = writeln!(out, "        {message}");
            }
            if let Some(f) = &case.failure {
                let _ = writeln!(out, "        statement: {}", f.statement);
                let _ = writeln!(out, "        expected:  {}", f.expected);
                let _ = writeln!(out, "        actual:    {}", f.actual);
            }
            if let Some(hint) = case
                .failure
                .as_ref()
                .and_then(|f| f.hint.as_ref())
                .or(case.hint.as_ref())
            {
                let _ = writeln!(out, "        hint: {hint}");
            }
        }
    }

    let known_cases: Vec<_> = report.cases.iter().filter(|c| is_known(c)).collect();
    if !known_cases.is_empty() {
        let _ = writeln!(out, "\nKnown deviations (expected failures, not counted):");
        for case in known_cases {
            let reason = case.known_deviation.as_deref().unwrap_or_default();
            let _ = writeln!(out, "  {}  {}  {reason}", case.name, location(case));
        }
    }

    if !report.claims.is_empty() {
        let v = common::verdict_counts(report);
        let _ = writeln!(
            out,
            "\nClaims: {} hold, {} do not hold, {} partly, {} undecided",
            v[0], v[1], v[2], v[3]
        );
        for claim in report
            .claims
            .iter()
            .filter(|c| c.verdict == "does-not-hold")
        {
            let _ = write!(
                out,
                "  {} {} ({} §{}): {}",
                paint(color, "31", "does not hold:"),
                claim.id,
                claim.source,
                claim.section,
                claim.claim
            );
            if let Some(explanation) = &claim.explanation {
                let _ = write!(out, " — {explanation}");
            }
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::sample_report;

    #[test]
    fn plain_summary_has_counts_themes_failures_and_claims() {
        let text = render_summary(&sample_report(), false);
        assert!(
            text.contains("4 cases: 1 passed, 1 failed, 1 errored, 1 skipped"),
            "{text}"
        );
        assert!(text.contains("1 flaky"), "{text}");
        assert!(
            text.contains("stream-message      0     1     0     0"),
            "{text}"
        );
        assert!(
            text.contains(
                "FAIL  stream-message/coalesce[tcp4]  cases/stream-message/coalesce.sock:4:1"
            ),
            "{text}"
        );
        assert!(
            text.contains("expected:  \"abc\\0<d>\" (7 bytes)"),
            "{text}"
        );
        assert!(text.contains("ERROR udp/bad-scenario"), "{text}");
        assert!(text.contains("hint: Loop on recv."), "{text}");
        assert!(
            text.contains("Claims: 1 hold, 1 do not hold, 0 partly, 1 undecided"),
            "{text}"
        );
        assert!(text.contains("does not hold: TCP-NO-BOUNDARIES (Course notes §3.2): TCP keeps message boundaries — TCP is a byte stream"), "{text}");
        assert!(!text.contains('\x1b'), "no escape codes without colour");
    }

    #[test]
    fn colour_only_when_asked() {
        let text = render_summary(&sample_report(), true);
        assert!(text.contains("\x1b[31;1mFAIL \x1b[0m"), "{text}");
    }

    #[test]
    fn known_deviations_are_listed_apart_from_failures() {
        let mut report = sample_report();
        report.cases[0].known_deviation = Some("bug 123".into());
        let text = render_summary(&report, false);
        assert!(text.contains("1 failed (1 known)"), "{text}");
        assert!(!text.contains("FAIL  stream-message"), "{text}");
        assert!(text.contains("Known deviations"), "{text}");
        assert!(text.contains("bug 123"), "{text}");
    }
}
