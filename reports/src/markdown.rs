//! A compact GitHub-flavoured Markdown summary, for `$GITHUB_STEP_SUMMARY` or a merge request
//! note: a table by theme, the failures with where and what, and the claims that do not hold.

use std::fmt::Write as _;

use crate::common::{counts_by_theme, is_flaky, is_known, location, total_counts, why_not};
use crate::model::{Outcome, RunReport};

/// Most failures a summary lists; CI pages truncate long summaries, the HTML has the rest.
const MAX_FAILURES: usize = 50;

/// The run as Markdown.
pub fn to_markdown(report: &RunReport) -> String {
    let mut out = String::new();
    let c = total_counts(report);
    let known = report.cases.iter().filter(|c| is_known(c)).count();
    let icon = if c[1] > known || c[2] > 0 {
        "❌"
    } else {
        "✅"
    };
    let _ = writeln!(
        out,
        "### {icon} sockspec: {} passed, {} failed, {} errored, {} skipped\n",
        c[0], c[1], c[2], c[3]
    );
    let env = &report.environment;
    let _ = writeln!(
        out,
        "{} · kernel {} · {} · isolation {} · sockspec {}\n",
        text(&env.os),
        code(&env.kernel_release),
        text(&env.arch),
        text(&env.isolation),
        text(&env.tool_version)
    );
    let flaky = report.cases.iter().filter(|c| is_flaky(c)).count();
    if known > 0 || flaky > 0 {
        let _ = writeln!(
            out,
            "{known} known deviation(s) not counted; {flaky} flaky case(s) passed on a retry.\n"
        );
    }

    out.push_str("| theme | pass | fail | error | skip |\n|---|---:|---:|---:|---:|\n");
    for (theme, c) in counts_by_theme(report) {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            cell(theme),
            c[0],
            c[1],
            c[2],
            c[3]
        );
    }

    let problems: Vec<_> = report
        .cases
        .iter()
        .filter(|c| matches!(c.outcome, Outcome::Fail | Outcome::Error) && !is_known(c))
        .collect();
    if !problems.is_empty() {
        out.push_str("\n#### Failures\n\n");
        for case in problems.iter().take(MAX_FAILURES) {
            let word = if case.outcome == Outcome::Fail {
                "fail"
            } else {
                "error"
            };
            let _ = write!(
                out,
                "- **{}** ({word}) {} — ",
                text(&case.name),
                code(&location(case))
            );
            match &case.failure {
                Some(f) => {
                    let _ = writeln!(
                        out,
                        "expected {}, got {}",
                        code(&f.expected),
                        code(&f.actual)
                    );
                }
                None => {
                    let _ = writeln!(out, "{}", text(&why_not(case)));
                }
            }
        }
        if problems.len() > MAX_FAILURES {
            let _ = writeln!(
                out,
                "- … and {} more (see the HTML report)",
                problems.len() - MAX_FAILURES
            );
        }
    }

    let refuted: Vec<_> = report
        .claims
        .iter()
        .filter(|c| c.verdict == "does-not-hold")
        .collect();
    if !refuted.is_empty() {
        out.push_str("\n#### Claims that do not hold\n\n");
        for claim in refuted {
            let _ = write!(
                out,
                "- **{}** ({} §{}): {}",
                text(&claim.id),
                text(&claim.source),
                text(&claim.section),
                text(&claim.claim)
            );
            if let Some(explanation) = &claim.explanation {
                let _ = write!(out, " — {}", text(explanation));
            }
            out.push('\n');
        }
    }
    out
}

/// Free text on one line, with the characters Markdown or HTML would act on escaped.
fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '\n' | '\r' => out.push(' '),
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '#' => {
                out.push('\\');
                out.push(ch);
            }
            '&' => out.push_str("&amp;"),
            c if c.is_control() => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

fn cell(s: &str) -> String {
    text(s)
}

/// A code span that survives backticks and pipes inside it (pipes would split a table cell
/// and GitHub honours `\|` even in code spans).
fn code(s: &str) -> String {
    let s: String = s
        .chars()
        .map(|c| {
            if c == '\n' || c == '\r' || (c.is_control() && c != '\t') {
                ' '
            } else {
                c
            }
        })
        .collect();
    let s = s.replace('|', "\\|");
    let longest = s.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    if longest > 0 || s.starts_with(' ') || s.ends_with(' ') {
        format!("{fence} {s} {fence}")
    } else {
        format!("{fence}{s}{fence}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::sample_report;

    #[test]
    fn summary_has_table_failures_and_refuted_claims() {
        let md = to_markdown(&sample_report());
        assert!(
            md.starts_with("### ❌ sockspec: 1 passed, 1 failed, 1 errored, 1 skipped\n"),
            "{md}"
        );
        assert!(md.contains("| stream-message | 0 | 1 | 0 | 0 |"), "{md}");
        assert!(md.contains("- **stream-message/coalesce\\[tcp4\\]** (fail) `cases/stream-message/coalesce.sock:4:1` — expected `\"abc\\0<d>\" (7 bytes)`, got `\"a<&\\0\" (4 bytes)`"), "{md}");
        assert!(md.contains("- **udp/bad-scenario** (error)"), "{md}");
        assert!(md.contains("#### Claims that do not hold"), "{md}");
        assert!(
            md.contains("**TCP-NO-BOUNDARIES** (Course notes §3.2)"),
            "{md}"
        );
        assert!(
            !md.contains("UDP-KEEPS"),
            "claims that hold are not listed: {md}"
        );
    }

    #[test]
    fn a_clean_run_is_green() {
        let mut report = sample_report();
        report.cases.retain(|c| c.outcome == Outcome::Pass);
        assert!(to_markdown(&report).starts_with("### ✅"));
    }

    #[test]
    fn code_spans_survive_backticks_and_pipes() {
        assert_eq!(code("a`b"), "`` a`b ``");
        assert_eq!(code("x|y"), "`x\\|y`");
        assert_eq!(text("a|b\n<c>"), "a\\|b \\<c\\>");
    }
}
