//! The end-of-run summary on the terminal, printed between libtest's failures and its
//! `test result:` line: counts by theme, flaky and known cases, the claims in one line.
//! Failures are not repeated (libtest printed each with where, what and the transcript);
//! differential tables and the claims that do not hold are shown on request.

use std::fmt::Write as _;

use anstyle::{AnsiColor, Style};

use crate::common::{
    self, counts_by_theme, duration, hints, is_flaky, is_known, location, terminal_safe,
    total_counts,
};
use crate::model::{CaseResult, Outcome, RunReport, StepStatus};

/// What the summary shows beyond its counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Shown {
    /// The differential tables (one per differential case, flavours side by side).
    pub differentials: bool,
    /// Every claim that does not hold or holds only partly, with its explanation.
    pub claims: bool,
}

fn paint(color: bool, style: Style, text: &str) -> String {
    if color {
        format!("{}{text}{}", style.render(), style.render_reset())
    } else {
        text.to_string()
    }
}

fn outcome_style(outcome: Outcome) -> Style {
    let color = match outcome {
        Outcome::Pass => AnsiColor::Green,
        Outcome::Fail => AnsiColor::Red,
        Outcome::Error => AnsiColor::Magenta,
        Outcome::Skip => AnsiColor::Yellow,
    };
    Style::new().fg_color(Some(color.into()))
}

/// The summary as text; ANSI colour only when `color` is true.
pub fn render_summary(report: &RunReport, color: bool, shown: Shown) -> String {
    let mut out = String::new();
    if shown.differentials {
        out.push_str(&crate::differential::render_text(&report.differentials));
    }
    let themes = counts_by_theme(report);
    if !themes.is_empty() {
        let width = themes.keys().map(|t| t.len()).max().unwrap_or(5).max(5);
        let _ = writeln!(
            out,
            "{:<width$}  {:>5} {:>5} {:>5} {:>5}",
            "theme", "pass", "fail", "error", "skip"
        );
        for (theme, c) in &themes {
            let cell = |i: usize, outcome: Outcome| {
                let text = format!("{:>5}", c[i]);
                paint(color && c[i] > 0, outcome_style(outcome), &text)
            };
            let _ = writeln!(
                out,
                "{theme:<width$}  {} {} {} {}",
                cell(0, Outcome::Pass),
                cell(1, Outcome::Fail),
                cell(2, Outcome::Error),
                cell(3, Outcome::Skip)
            );
        }
    }
    let env = &report.environment;
    if env.isolation_reason.is_some() {
        let why = crate::model::isolation_why(env);
        let _ = writeln!(out, "\nisolation {}{why}", env.isolation);
    }
    let flaky = report.cases.iter().filter(|c| is_flaky(c)).count();
    if flaky > 0 {
        let _ = writeln!(out, "{flaky} flaky (failed, then passed on a retry)");
    }
    let known: Vec<_> = report.cases.iter().filter(|c| is_known(c)).collect();
    if !known.is_empty() {
        let _ = writeln!(
            out,
            "{} known deviation(s) from the baseline, not counted as failures:",
            known.len()
        );
        for case in known {
            let reason = case.known_deviation.as_deref().unwrap_or_default();
            let _ = writeln!(out, "  {}  {}  {reason}", case.name, location(case));
        }
    }
    if !report.claims.is_empty() {
        let v = common::verdict_counts(report);
        let listed = if shown.claims {
            ""
        } else if v[1] + v[2] > 0 {
            " (--show claims lists them)"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "claims: {} hold, {} do not hold, {} partly, {} undecided (of {}){listed}",
            v[0],
            v[1],
            v[2],
            v[3],
            report.claims.len()
        );
        if shown.claims {
            claim_lines(&mut out, report, color);
        }
    }
    let counts = total_counts(report);
    if counts[1] > 0 || counts[2] > 0 {
        let _ = writeln!(
            out,
            "{} failed, {} could not be judged: see the failures above",
            counts[1], counts[2]
        );
    }
    out.push('\n');
    out
}

/// What the terminal shows for a failed or erroring trial: where, what, and what next, then
/// the transcript. Everything the case or the kernel wrote is made terminal-safe.
pub fn explain(result: &CaseResult) -> String {
    let mut out = String::new();
    let kind = if result.outcome == Outcome::Fail {
        "FAIL"
    } else {
        "ERROR"
    };
    let file = terminal_safe(&result.file);
    match &result.failure {
        Some(f) => {
            let _ = writeln!(
                out,
                "{kind} {file}:{}:{}: {}",
                f.line,
                f.column,
                terminal_safe(&squeeze(&f.statement))
            );
            let _ = writeln!(out, "    expected: {}", terminal_safe(&f.expected));
            let _ = writeln!(out, "    actual:   {}", terminal_safe(&f.actual));
        }
        None => {
            let message = result.message.as_deref().unwrap_or("no message");
            let _ = writeln!(out, "{kind} {file}: {}", terminal_safe(message));
        }
    }
    let (detail, hint) = hints(result);
    if let Some(d) = detail {
        let _ = writeln!(out, "    detail:   {}", terminal_safe(d));
    }
    if let Some(h) = hint {
        let _ = writeln!(out, "    hint:     {}", terminal_safe(h));
    }
    if !result.transcript.is_empty() {
        out.push_str("    transcript:\n");
        out.push_str(&transcript(result, "      "));
    }
    out
}

/// The transcript as aligned lines: a mark, the line number, the statement, the result and
/// how long the call took.
pub fn transcript(result: &CaseResult, indent: &str) -> String {
    let statements: Vec<String> = result
        .transcript
        .iter()
        .map(|s| terminal_safe(&squeeze(&s.statement)))
        .collect();
    let width = statements
        .iter()
        .map(|s| s.chars().count())
        .max()
        .unwrap_or(0)
        .min(48);
    let mut out = String::new();
    for (step, statement) in result.transcript.iter().zip(&statements) {
        let mark = match step.status {
            StepStatus::Ok => "  ",
            StepStatus::Pending => "..",
            StepStatus::Mismatch => "!!",
            StepStatus::Error => "EE",
        };
        let _ = writeln!(
            out,
            "{indent}{mark} {:>4} | {statement:<width$} -> {}  ({})",
            step.line,
            terminal_safe(&step.result),
            duration(step.duration_us),
        );
    }
    out
}

/// A statement with its alignment spaces folded (outside string literals), for one-line
/// display.
fn squeeze(statement: &str) -> String {
    let (mut out, mut quoted, mut escaped, mut space) = (String::new(), false, false, false);
    for ch in statement.trim().chars() {
        if !quoted && ch.is_whitespace() {
            space = true;
            continue;
        }
        if space {
            out.push(' ');
            space = false;
        }
        if quoted && !escaped && ch == '"' {
            quoted = false;
        } else if !quoted && ch == '"' {
            quoted = true;
        }
        escaped = quoted && !escaped && ch == '\\';
        out.push(ch);
    }
    out
}

/// One line per claim that does not hold or holds partly; a claim decided by measuring
/// (`--bench`) adds its figures, since no case explains it.
fn claim_lines(out: &mut String, report: &RunReport, color: bool) {
    for c in report
        .claims
        .iter()
        .filter(|c| c.verdict == "does-not-hold" || c.verdict == "partly")
    {
        let verdict = format!("{:<13}", c.verdict);
        let style = Style::new().fg_color(Some(AnsiColor::Red.into()));
        let _ = writeln!(
            out,
            "  {:<14} {} {}",
            c.id,
            paint(color && c.verdict == "does-not-hold", style, &verdict),
            c.claim
        );
        if let Some(e) = &c.explanation {
            let _ = writeln!(out, "  {:<28} {e}", "");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::sample_report;

    #[test]
    fn plain_summary_has_themes_flaky_and_one_claims_line() {
        let text = render_summary(&sample_report(), false, Shown::default());
        assert!(
            text.contains("stream-message      0     1     0     0"),
            "{text}"
        );
        assert!(text.contains("1 flaky"), "{text}");
        assert!(
            text.contains("claims: 1 hold, 1 do not hold, 0 partly, 1 undecided (of 3) (--show claims lists them)"),
            "{text}"
        );
        assert!(!text.contains("TCP keeps message boundaries"), "{text}");
        assert!(
            text.contains("isolation shared (no CAP_SYS_ADMIN"),
            "{text}"
        );
        assert!(!text.contains('\x1b'), "no escape codes without colour");
    }

    #[test]
    fn claims_are_listed_on_request() {
        let shown = Shown {
            claims: true,
            ..Shown::default()
        };
        let text = render_summary(&sample_report(), false, shown);
        assert!(text.contains("TCP-NO-BOUNDARIES"), "{text}");
        assert!(text.contains("TCP is a byte stream"), "{text}");
    }

    #[test]
    fn colour_only_when_asked() {
        let text = render_summary(&sample_report(), true, Shown::default());
        assert!(text.contains("\x1b[31m    1\x1b[0m"), "{text}");
    }

    #[test]
    fn squeeze_folds_alignment_but_not_string_contents() {
        assert_eq!(
            squeeze("recv(s, 64)      = \"a  b\"  "),
            "recv(s, 64) = \"a  b\""
        );
        assert_eq!(
            squeeze("send(c, \"x\\\"  y\")   = 5"),
            "send(c, \"x\\\"  y\") = 5"
        );
    }

    #[test]
    fn a_failure_shows_where_what_both_hints_and_the_transcript_safely() {
        let mut case = sample_report().cases[0].clone();
        if let Some(f) = case.failure.as_mut() {
            f.actual = "\"\x1b[2J\" (4 bytes)".into();
        }
        let text = explain(&case);
        assert!(
            text.starts_with("FAIL cases/stream-message/coalesce.sock:4:1: "),
            "{text}"
        );
        assert!(text.contains("    detail:   Loop on recv.\n"), "{text}");
        assert!(
            text.contains("    hint:     Loop on recv until you have"),
            "{text}"
        );
        assert!(!text.contains('\x1b'), "{text}");
        assert!(text.contains("transcript:"), "{text}");
    }

    #[test]
    fn known_deviations_are_listed_apart_from_failures() {
        let mut report = sample_report();
        report.cases[0].known_deviation = Some("bug 123".into());
        let text = render_summary(&report, false, Shown::default());
        assert!(text.contains("1 known deviation(s)"), "{text}");
        assert!(text.contains("bug 123"), "{text}");
    }
}
