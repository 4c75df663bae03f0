//! Differential views: the trials of one `differential` case, step by step across flavours,
//! so the places where, say, TCP and a Unix datagram socket part ways stand out.

use std::collections::BTreeMap;

use crate::model::{CaseResult, Differential, DifferentialRow};

/// Folds what differs between runs but is not behaviour: descriptor numbers, ports, and the
/// C library's description after an errno name.
pub fn fold(result: &str) -> String {
    let result = match result.find(" -1 E") {
        Some(at) => match result[at..].find(" (") {
            Some(paren) => &result[..at + paren],
            None => result,
        },
        None => result,
    };
    let mut out = String::with_capacity(result.len());
    let chars: Vec<char> = result.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let rest: String = chars[i..].iter().take(2).collect();
        if rest == "fd" && chars.get(i + 2).is_some_and(|c| c.is_ascii_digit()) {
            out.push_str("fd#");
            i += 2;
            while chars.get(i).is_some_and(|c| c.is_ascii_digit()) {
                i += 1;
            }
            continue;
        }
        if chars[i] == ':'
            && chars.get(i + 1).is_some_and(|c| c.is_ascii_digit())
            && i > 0
            && (chars[i - 1].is_ascii_digit() || chars[i - 1] == ']')
        {
            out.push_str(":port");
            i += 1;
            while chars.get(i).is_some_and(|c| c.is_ascii_digit()) {
                i += 1;
            }
            continue;
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

/// One table per differential case that ran under at least two flavours. `differential`
/// lists the case names (without flavour) that are differential.
pub fn tables(cases: &[CaseResult], differential: &[(String, String)]) -> Vec<Differential> {
    let mut out = Vec::new();
    for (case, title) in differential {
        let runs: Vec<&CaseResult> = cases
            .iter()
            .filter(|c| c.flavour.is_some() && c.name.split('[').next() == Some(case.as_str()))
            .collect();
        if runs.len() < 2 {
            continue;
        }
        let mut lines: BTreeMap<usize, String> = BTreeMap::new();
        for run in &runs {
            for step in &run.transcript {
                lines.entry(step.line).or_insert_with(|| {
                    step.statement
                        .split_whitespace()
                        .collect::<Vec<_>>()
                        .join(" ")
                });
            }
        }
        let rows = lines
            .into_iter()
            .map(|(line, statement)| {
                let results: Vec<String> = runs
                    .iter()
                    .map(|r| {
                        r.transcript
                            .iter()
                            .find(|s| s.line == line)
                            .map(|s| fold(&s.result))
                            .unwrap_or_else(|| "not reached".to_string())
                    })
                    .collect();
                let differs = results.windows(2).any(|w| w[0] != w[1]);
                DifferentialRow {
                    line,
                    statement,
                    results,
                    differs,
                }
            })
            .collect();
        out.push(Differential {
            case: case.clone(),
            title: title.clone(),
            flavours: runs
                .iter()
                .map(|r| r.flavour.clone().unwrap_or_default())
                .collect(),
            rows,
        });
    }
    out
}

/// The tables as aligned text for the terminal; rows that differ are marked `*`.
pub fn render_text(tables: &[Differential]) -> String {
    let mut out = String::new();
    for t in tables {
        out.push_str(&format!("\ndifferential: {} — {}\n", t.case, t.title));
        let width = t
            .rows
            .iter()
            .map(|r| r.statement.chars().count())
            .max()
            .unwrap_or(9)
            .clamp(9, 40);
        let col = t
            .rows
            .iter()
            .flat_map(|r| r.results.iter().map(|x| x.chars().count()))
            .chain(t.flavours.iter().map(|f| f.len()))
            .max()
            .unwrap_or(8)
            .min(28);
        out.push_str(&format!("    {:<width$}", "statement"));
        for f in &t.flavours {
            out.push_str(&format!(" | {f:<col$}"));
        }
        out.push('\n');
        for r in &t.rows {
            let mark = if r.differs { "*" } else { " " };
            let statement: String = r.statement.chars().take(width).collect();
            out.push_str(&format!("  {mark} {statement:<width$}"));
            for x in &r.results {
                let x: String = x.chars().take(col).collect();
                out.push_str(&format!(" | {x:<col$}"));
            }
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_hides_descriptors_and_ports_only() {
        assert_eq!(fold("= 0 [fd3, fd4]"), "= 0 [fd#, fd#]");
        assert_eq!(
            fold("127.0.0.1:40312 and [::1]:5"),
            "127.0.0.1:port and [::1]:port"
        );
        assert_eq!(fold("= \"abc:1\" (5 bytes)"), "= \"abc:1\" (5 bytes)");
        assert_eq!(
            fold("= -1 EAGAIN (Resource temporarily unavailable)"),
            "= -1 EAGAIN"
        );
    }

    #[test]
    fn rows_differ_where_flavours_disagree() {
        let mut a = crate::test_support::sample_report().cases[0].clone();
        a.name = "d/x[tcp4]".into();
        a.flavour = Some("tcp4".into());
        a.transcript.truncate(2);
        let mut b = a.clone();
        b.name = "d/x[udp4]".into();
        b.flavour = Some("udp4".into());
        b.transcript[1].result = "= something else".into();
        let t = tables(&[a, b], &[("d/x".into(), "t".into())]);
        assert_eq!(t.len(), 1);
        assert!(!t[0].rows[0].differs);
        assert!(t[0].rows[1].differs);
        assert!(render_text(&t).contains("* "));
    }
}
