//! Helpers shared by the text renderers: counting, durations, byte escaping, transcripts.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::model::{Bytes, CaseResult, Outcome, RunReport, StepRecord, StepStatus};

/// Counts per outcome, indexed like [`Outcome::ALL`].
pub(crate) type Counts = [usize; 4];

pub(crate) fn outcome_index(outcome: Outcome) -> usize {
    match outcome {
        Outcome::Pass => 0,
        Outcome::Fail => 1,
        Outcome::Error => 2,
        Outcome::Skip => 3,
    }
}

/// Outcome counts per theme, themes in name order.
pub(crate) fn counts_by_theme(report: &RunReport) -> BTreeMap<&str, Counts> {
    let mut themes: BTreeMap<&str, Counts> = BTreeMap::new();
    for case in &report.cases {
        themes.entry(case.theme.as_str()).or_default()[outcome_index(case.outcome)] += 1;
    }
    themes
}

pub(crate) fn total_counts(report: &RunReport) -> Counts {
    let mut counts = Counts::default();
    for case in &report.cases {
        counts[outcome_index(case.outcome)] += 1;
    }
    counts
}

/// A failure a baseline lists: reported, but not counted against the run.
pub(crate) fn is_known(case: &CaseResult) -> bool {
    case.outcome == Outcome::Fail && case.known_deviation.is_some()
}

/// Passed in the end after an earlier attempt did not.
pub(crate) fn is_flaky(case: &CaseResult) -> bool {
    case.outcome == Outcome::Pass && case.attempts.iter().any(|a| a.outcome != Outcome::Pass)
}

/// `file:line:column` of the deciding step, or the file alone.
pub(crate) fn location(case: &CaseResult) -> String {
    match &case.failure {
        Some(f) => format!("{}:{}:{}", case.file, f.line, f.column),
        None => case.file.clone(),
    }
}

/// The one line that says why a case did not pass.
pub(crate) fn why_not(case: &CaseResult) -> String {
    if let Some(m) = &case.message {
        return m.clone();
    }
    match &case.failure {
        Some(f) => format!("expected {}, got {}", f.expected, f.actual),
        None => case.outcome.as_str().to_string(),
    }
}

/// Microseconds as a short human figure: `850 µs`, `12.3 ms`, `4.56 s`.
pub fn duration(us: u64) -> String {
    if us < 1_000 {
        format!("{us} µs")
    } else if us < 1_000_000 {
        format!("{:.1} ms", us as f64 / 1e3)
    } else {
        format!("{:.2} s", us as f64 / 1e6)
    }
}

/// Bytes as a quoted string with C escapes, so NUL and newlines stay visible.
pub(crate) fn escaped(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 2);
    out.push('"');
    for &b in bytes {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'"' => out.push_str("\\\""),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0 => out.push_str("\\0"),
            0x20..=0x7e => out.push(b as char),
            _ => {
                let _ = write!(out, "\\x{b:02x}");
            }
        }
    }
    out.push('"');
    out
}

/// `61 62 63`, the kept bytes in spaced hex.
pub(crate) fn spaced_hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// Received or expected bytes as one line: escaped text, hex, and the total when truncated.
pub(crate) fn bytes_line(bytes: &Bytes) -> String {
    let kept = bytes.kept();
    let mut line = format!("{} [{}]", escaped(&kept), spaced_hex(&kept));
    if (kept.len() as u64) < bytes.len {
        let _ = write!(line, " (first {} of {} bytes)", kept.len(), bytes.len);
    }
    line
}

pub(crate) fn status_word(status: StepStatus) -> &'static str {
    match status {
        StepStatus::Ok => "ok",
        StepStatus::Mismatch => "MISMATCH",
        StepStatus::Pending => "pending",
        StepStatus::Error => "ERROR",
    }
}

/// One transcript step as text: `  14 +1.2 ms  connect(c=fd4, …) = 0  [ok, 12 µs]`.
pub(crate) fn step_text(step: &StepRecord) -> String {
    let mut line = format!(
        "{:>4} +{:<9} {} {}  [{}, {}]",
        step.line,
        duration(step.started_us),
        step.call,
        step.result,
        status_word(step.status),
        duration(step.duration_us)
    );
    if step.status == StepStatus::Mismatch {
        if let Some(expected) = &step.expected {
            let _ = write!(line, "\n       expected: {expected}");
        }
    }
    if let Some(data) = &step.data {
        let _ = write!(line, "\n       received: {}", bytes_line(data));
    }
    if let Some(data) = &step.expected_data {
        let _ = write!(line, "\n       wanted:   {}", bytes_line(data));
    }
    if let Some(note) = &step.note {
        let _ = write!(line, "\n       note: {note}");
    }
    line
}

/// The whole transcript, one step a line (plus detail lines), ending with a newline.
pub(crate) fn transcript_text(case: &CaseResult) -> String {
    let mut out = String::new();
    for step in &case.transcript {
        out.push_str(&step_text(step));
        out.push('\n');
    }
    out
}

/// The engine's explanation of a failure when it says more than the actual result already
/// does (`the process was exited 0` beside `exited 0` does not), and the case author's hint.
pub(crate) fn hints(case: &CaseResult) -> (Option<&str>, Option<&str>) {
    let detail = case
        .failure
        .as_ref()
        .and_then(|f| f.hint.as_deref().filter(|h| adds_to(h, &f.actual)));
    (detail, case.hint.as_deref())
}

/// Whether `hint` tells something `actual` does not: more than a few words beyond it.
fn adds_to(hint: &str, actual: &str) -> bool {
    let (hint, actual) = (hint.trim(), actual.trim().trim_start_matches("= "));
    if actual.is_empty() || !hint.contains(actual) {
        return hint != actual;
    }
    hint.replacen(actual, "", 1).split_whitespace().count() > 3
}

/// Untrusted text (file names, statements, received bytes, messages) made safe for a
/// terminal: control characters other than newline and tab become visible escapes, so a
/// case or a server cannot move the cursor or forge lines of the summary.
pub fn terminal_safe(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        if ch.is_control() && ch != '\n' && ch != '\t' {
            out.extend(ch.escape_default());
        } else {
            out.push(ch);
        }
    }
    out
}

/// Claims verdict counts: holds, does-not-hold, partly, undecided.
pub(crate) fn verdict_counts(report: &RunReport) -> [usize; 4] {
    let mut counts = [0; 4];
    for claim in &report.claims {
        let i = match claim.verdict.as_str() {
            "holds" => 0,
            "does-not-hold" => 1,
            "partly" => 2,
            _ => 3,
        };
        counts[i] += 1;
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaped_shows_nul_quotes_and_high_bytes() {
        assert_eq!(escaped(b"a\0\"\\\n\xff"), r#""a\0\"\\\n\xff""#);
    }

    #[test]
    fn an_engine_hint_that_only_restates_the_result_is_dropped() {
        assert!(!adds_to("the process was exited 0", "exited 0"));
        assert!(!adds_to("exited 0", "= exited 0"));
        assert!(adds_to(
            "recv returned fewer bytes than sent",
            "\"ab\" (2 bytes)"
        ));
        assert!(adds_to(
            "got exited 0; the server never read the request before it closed",
            "exited 0"
        ));
    }

    #[test]
    fn control_characters_are_escaped_for_the_terminal() {
        assert_eq!(terminal_safe("a\x1b[2Jb\rc\nd"), "a\\u{1b}[2Jb\\rc\nd");
    }

    #[test]
    fn durations_pick_a_readable_unit() {
        assert_eq!(duration(850), "850 µs");
        assert_eq!(duration(12_300), "12.3 ms");
        assert_eq!(duration(4_560_000), "4.56 s");
    }

    #[test]
    fn bytes_line_says_when_bytes_were_cut() {
        let big = Bytes::capture(&[b'x'; 300]);
        assert!(bytes_line(&big).ends_with("(first 256 of 300 bytes)"));
        assert_eq!(bytes_line(&Bytes::capture(b"ab")), r#""ab" [61 62]"#);
    }
}
