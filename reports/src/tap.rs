//! TAP 13/14 and KTAP 1 streams, for `prove`-style harnesses and the kernel's CI tooling.
//!
//! One test point per case, in run order, with the plan right after the version line (where
//! the kernel's `kunit_parser` looks for it). How each outcome is written:
//!
//! | outcome             | TAP 13 and 14                           | KTAP 1                         |
//! |---------------------|-----------------------------------------|--------------------------------|
//! | pass                | `ok N - name`                           | `ok N name`                    |
//! | fail                | `not ok N - name` + YAML block          | `# …` lines, `not ok N name`   |
//! | error               | `not ok N - name` + YAML (`severity: error`) | `not ok N name # ERROR msg` |
//! | killed at deadline  | as error                                | `not ok N name # TIMEOUT msg`  |
//! | skip                | `ok N - name # SKIP reason`             | `ok N name # SKIP reason`      |
//! | fail, in a baseline | `not ok N - name # TODO known deviation: …` | `ok N name # XFAIL …`      |
//!
//! TAP 13 is the default: Perl's TAP::Harness 3.x (`prove`) refuses `TAP version 14`. The two
//! differ here only in the version line; YAML diagnostics blocks and `\#` in descriptions are
//! read by both. KTAP has no YAML blocks, so its diagnostics are `# ` lines just before the
//! result line, where kernel parsers look. YAML values are written as double-quoted JSON
//! strings, which YAML reads as they are.

use std::fmt::Write as _;

use crate::common::{hints, is_known, location, outcome_index, step_text, total_counts, why_not};
use crate::model::{CaseResult, Outcome, RunReport};

/// Which dialect to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TapFlavour {
    /// `TAP version 13`.
    Tap13,
    /// `TAP version 14`.
    Tap14,
    /// `KTAP version 1`, as kselftest and KUnit write it.
    Ktap1,
}

/// The report as a TAP 14 or KTAP 1 stream.
pub fn to_tap(report: &RunReport, flavour: TapFlavour) -> String {
    let mut out = String::new();
    match flavour {
        TapFlavour::Tap13 => out.push_str("TAP version 13\n"),
        TapFlavour::Tap14 => out.push_str("TAP version 14\n"),
        TapFlavour::Ktap1 => out.push_str("KTAP version 1\n"),
    }
    let _ = writeln!(out, "1..{}", report.cases.len());
    let env = &report.environment;
    let _ = writeln!(
        out,
        "# sockspec {} on {} {} {}",
        env.tool_version, env.os, env.kernel_release, env.arch
    );
    for (i, case) in report.cases.iter().enumerate() {
        let n = i + 1;
        match flavour {
            TapFlavour::Tap13 | TapFlavour::Tap14 => tap14_point(&mut out, n, case),
            TapFlavour::Ktap1 => ktap_point(&mut out, n, case),
        }
    }
    if flavour == TapFlavour::Ktap1 {
        let c = total_counts(report);
        let known = report.cases.iter().filter(|c| is_known(c)).count();
        let _ = writeln!(
            out,
            "# Totals: pass:{} fail:{} xfail:{known} xpass:0 skip:{} error:{}",
            c[outcome_index(Outcome::Pass)],
            c[outcome_index(Outcome::Fail)] - known,
            c[outcome_index(Outcome::Skip)],
            c[outcome_index(Outcome::Error)],
        );
    }
    out
}

/// One line of free text: newlines would start a new TAP line.
fn one_line(text: &str) -> String {
    text.replace(['\r', '\n'], " ")
}

/// TAP 14 escapes `#` and `\` in descriptions so they cannot start a directive.
fn tap14_description(name: &str) -> String {
    one_line(&name.replace('\\', "\\\\").replace('#', "\\#"))
}

/// KTAP descriptions may not contain `#` at all.
fn ktap_description(name: &str) -> String {
    one_line(&name.replace('#', "_"))
}

fn yaml_str(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| "\"\"".into())
}

fn tap14_point(out: &mut String, n: usize, case: &CaseResult) {
    let name = tap14_description(&case.name);
    match case.outcome {
        Outcome::Pass => {
            let _ = writeln!(out, "ok {n} - {name}");
        }
        Outcome::Skip => {
            let reason = one_line(case.message.as_deref().unwrap_or("skipped"));
            let _ = writeln!(out, "ok {n} - {name} # SKIP {reason}");
        }
        Outcome::Fail | Outcome::Error => {
            if is_known(case) {
                let reason = one_line(case.known_deviation.as_deref().unwrap_or_default());
                let _ = writeln!(out, "not ok {n} - {name} # TODO known deviation: {reason}");
            } else {
                let _ = writeln!(out, "not ok {n} - {name}");
            }
            yaml_block(out, case);
        }
    }
}

fn yaml_block(out: &mut String, case: &CaseResult) {
    out.push_str("  ---\n");
    let _ = writeln!(out, "  message: {}", yaml_str(&why_not(case)));
    let _ = writeln!(
        out,
        "  severity: {}",
        if case.outcome == Outcome::Fail {
            "fail"
        } else {
            "error"
        }
    );
    let _ = writeln!(out, "  at: {}", yaml_str(&location(case)));
    if let Some(f) = &case.failure {
        out.push_str("  data:\n");
        let _ = writeln!(out, "    statement: {}", yaml_str(&f.statement));
        let _ = writeln!(out, "    expect: {}", yaml_str(&f.expected));
        let _ = writeln!(out, "    got: {}", yaml_str(&f.actual));
    }
    let (detail, hint) = hints(case);
    if let Some(detail) = detail {
        let _ = writeln!(out, "  detail: {}", yaml_str(detail));
    }
    if let Some(hint) = hint {
        let _ = writeln!(out, "  hint: {}", yaml_str(hint));
    }
    if !case.transcript.is_empty() {
        out.push_str("  transcript:\n");
        for step in &case.transcript {
            for line in step_text(step).lines() {
                let _ = writeln!(out, "    - {}", yaml_str(line));
            }
        }
    }
    out.push_str("  ...\n");
}

fn ktap_point(out: &mut String, n: usize, case: &CaseResult) {
    let name = ktap_description(&case.name);
    match case.outcome {
        Outcome::Pass => {
            let _ = writeln!(out, "ok {n} {name}");
        }
        Outcome::Skip => {
            let reason = one_line(case.message.as_deref().unwrap_or("skipped"));
            let _ = writeln!(out, "ok {n} {name} # SKIP {reason}");
        }
        Outcome::Fail | Outcome::Error => {
            let _ = writeln!(out, "# {}: {}", location(case), one_line(&why_not(case)));
            if let Some(f) = &case.failure {
                let _ = writeln!(out, "# statement: {}", one_line(&f.statement));
                let _ = writeln!(out, "# expected:  {}", one_line(&f.expected));
                let _ = writeln!(out, "# actual:    {}", one_line(&f.actual));
            }
            let (detail, hint) = hints(case);
            if let Some(detail) = detail {
                let _ = writeln!(out, "# detail: {}", one_line(detail));
            }
            if let Some(hint) = hint {
                let _ = writeln!(out, "# hint: {}", one_line(hint));
            }
            for step in &case.transcript {
                for line in step_text(step).lines() {
                    let _ = writeln!(out, "# {line}");
                }
            }
            if is_known(case) {
                let reason = one_line(case.known_deviation.as_deref().unwrap_or_default());
                let _ = writeln!(out, "ok {n} {name} # XFAIL {reason}");
            } else if case.outcome == Outcome::Error {
                let directive = if case.timed_out() { "TIMEOUT" } else { "ERROR" };
                let _ = writeln!(
                    out,
                    "not ok {n} {name} # {directive} {}",
                    one_line(&why_not(case))
                );
            } else {
                let _ = writeln!(out, "not ok {n} {name}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::sample_report;

    #[test]
    fn tap14_has_version_plan_points_skip_and_yaml() {
        let tap = to_tap(&sample_report(), TapFlavour::Tap14);
        let lines: Vec<&str> = tap.lines().collect();
        assert_eq!(lines[0], "TAP version 14");
        assert_eq!(lines[1], "1..4");
        assert_eq!(lines[3], "not ok 1 - stream-message/coalesce[tcp4]");
        assert_eq!(lines[4], "  ---");
        assert!(
            tap.contains("  message: \"recv returned fewer bytes than sent\"\n"),
            "{tap}"
        );
        assert!(
            tap.contains("    got: \"\\\"a<&\\\\0\\\" (4 bytes)\"\n"),
            "{tap}"
        );
        assert!(tap.contains("\nok 2 - udp/sendto-connected\n"), "{tap}");
        assert!(
            tap.contains("\nnot ok 3 - udp/bad-scenario\n  ---\n"),
            "{tap}"
        );
        assert!(tap.contains("  severity: error\n"), "{tap}");
        assert!(
            tap.contains(
                "\nok 4 - unix/seqpacket-eof # SKIP AF_UNIX SOCK_SEQPACKET is not available\n"
            ),
            "{tap}"
        );
        assert_eq!(
            tap.matches("  ---\n").count(),
            tap.matches("  ...\n").count()
        );
    }

    #[test]
    fn yaml_blocks_are_indented_inside_the_point() {
        let tap = to_tap(&sample_report(), TapFlavour::Tap14);
        let mut in_block = false;
        for line in tap.lines() {
            if line == "  ---" {
                in_block = true;
            } else if line == "  ..." {
                in_block = false;
            } else if in_block {
                assert!(
                    line.starts_with("  "),
                    "unindented line in YAML block: {line:?}"
                );
            }
        }
    }

    #[test]
    fn ktap_uses_diagnostic_lines_and_directives() {
        let mut report = sample_report();
        report.cases[0].known_deviation = Some("bug #7".into());
        let ktap = to_tap(&report, TapFlavour::Ktap1);
        assert!(ktap.starts_with("KTAP version 1\n"), "{ktap}");
        assert!(!ktap.contains("  ---"), "no YAML in KTAP: {ktap}");
        assert!(ktap.contains("# statement: recv s 10"), "{ktap}");
        assert!(
            ktap.contains("\nok 1 stream-message/coalesce[tcp4] # XFAIL bug #7\n"),
            "{ktap}"
        );
        assert!(
            ktap.contains("\nnot ok 3 udp/bad-scenario # ERROR deadline"),
            "{ktap}"
        );
        assert!(
            ktap.contains("\n# Totals: pass:1 fail:0 xfail:1 xpass:0 skip:1 error:1\n"),
            "{ktap}"
        );
    }

    #[test]
    fn hashes_and_newlines_in_names_cannot_forge_directives() {
        let mut report = sample_report();
        report.cases[1].name = "udp/odd # SKIP\nok 9".into();
        let tap = to_tap(&report, TapFlavour::Tap14);
        assert!(tap.contains("ok 2 - udp/odd \\# SKIP ok 9\n"), "{tap}");
        let ktap = to_tap(&report, TapFlavour::Ktap1);
        assert!(ktap.contains("ok 2 udp/odd _ SKIP ok 9\n"), "{ktap}");
    }

    #[test]
    fn tap13_differs_only_in_its_version_line() {
        let report = sample_report();
        let (v13, v14) = (
            to_tap(&report, TapFlavour::Tap13),
            to_tap(&report, TapFlavour::Tap14),
        );
        assert!(v13.starts_with("TAP version 13\n1..4\n"), "{v13}");
        assert_eq!(v13.replacen("13", "14", 1), v14);
    }

    #[test]
    fn ktap_has_its_plan_right_after_the_version_and_timeout_for_deadline_kills() {
        let mut report = sample_report();
        report.cases[2].message = Some(format!("{} of 5.0s", crate::model::DEADLINE_KILLED));
        let ktap = to_tap(&report, TapFlavour::Ktap1);
        assert!(ktap.starts_with("KTAP version 1\n1..4\n"), "{ktap}");
        assert!(
            ktap.contains("\nnot ok 3 udp/bad-scenario # TIMEOUT "),
            "{ktap}"
        );
    }

    #[test]
    fn known_deviation_is_todo_in_tap14() {
        let mut report = sample_report();
        report.cases[0].known_deviation = Some("tracked".into());
        let tap = to_tap(&report, TapFlavour::Tap14);
        assert!(
            tap.contains(
                "not ok 1 - stream-message/coalesce[tcp4] # TODO known deviation: tracked\n"
            ),
            "{tap}"
        );
    }
}
