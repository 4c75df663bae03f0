//! Self-contained HTML pages for grading (no CDN, works offline, prints): one page per
//! submission (score, each case with its points, verdict, hint, expected vs actual, the
//! transcript as per-client lanes on one timeline, the server's output and process facts),
//! and a class page (students × cases with the reference column first, score distribution).

use std::fmt::Write;

use crate::grade::{ClassReport, GradeOutcome, GradedCase, ServerFacts, SubmissionResult};
use crate::html::esc;

const STYLE: &str = "
body{font:14px/1.45 system-ui,sans-serif;margin:1.5em auto;max-width:1100px;color:#222;padding:0 1em}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.6em}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px;text-align:left;vertical-align:top}
.pass{background:#d9f2d9}.fail{background:#f8d0d0}.error{background:#fde8b0}.gated{background:#e4e4e4;color:#555}
.score{font-size:2em;font-weight:600}
details{margin:.4em 0;border:1px solid #ddd;border-radius:4px;padding:.3em .6em}
summary{cursor:pointer}pre{background:#f6f6f6;padding:.5em;overflow:auto;max-height:24em;white-space:pre-wrap}
.lanes td{font-family:ui-monospace,monospace;font-size:12px;white-space:pre-wrap}
.lanes td.t{color:#777;text-align:right}.bad{outline:2px solid #c33}
.bar{display:inline-block;background:#4a7;height:14px;vertical-align:middle}
.hidden-tag{font-size:.8em;color:#777;border:1px solid #aaa;border-radius:3px;padding:0 3px}
@media print{details{page-break-inside:avoid}details>*{display:block}}
";

/// These pages show what submissions printed; they run no script, so none may run.
const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'";

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=en><head><meta charset=utf-8><meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\"><title>{}</title><style>{STYLE}</style></head><body>{body}</body></html>\n",
        esc(title)
    )
}

fn class_of(o: GradeOutcome) -> &'static str {
    match o {
        GradeOutcome::Pass => "pass",
        GradeOutcome::Fail => "fail",
        GradeOutcome::Error => "error",
        GradeOutcome::Gated => "gated",
    }
}

fn pts(x: f64) -> String {
    if x.fract() == 0.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.2}")
    }
}

/// The transcript as one table: a column per client handle (a lane), a row per step in
/// time order, so it shows who was waiting while another client was served.
fn lanes(c: &GradedCase) -> String {
    let mut handles: Vec<&str> = Vec::new();
    for s in &c.transcript {
        for h in &s.handles {
            if !handles.contains(&h.as_str()) {
                handles.push(h);
            }
        }
    }
    let mut out = String::from("<table class=lanes><tr><th>ms</th>");
    for h in &handles {
        let _ = write!(out, "<th>{}</th>", esc(h));
    }
    out.push_str("<th>other</th></tr>");
    for s in &c.transcript {
        let lane = s
            .handles
            .first()
            .and_then(|h| handles.iter().position(|x| x == h));
        let bad = if matches!(
            s.status,
            crate::StepStatus::Mismatch | crate::StepStatus::Error
        ) {
            " class=bad"
        } else {
            ""
        };
        let cell = format!(
            "<td{bad} title=\"line {}\">{} {}{}</td>",
            s.line,
            esc(if s.call.is_empty() {
                &s.statement
            } else {
                &s.call
            }),
            esc(&s.result),
            s.expected
                .as_ref()
                .map(|e| format!("\nexpected {}", esc(e)))
                .unwrap_or_default()
        );
        let _ = write!(
            out,
            "<tr><td class=t>{:.1}</td>",
            s.started_us as f64 / 1000.0
        );
        for i in 0..=handles.len() {
            if Some(i) == lane || (lane.is_none() && i == handles.len()) {
                out.push_str(&cell);
            } else {
                out.push_str("<td></td>");
            }
        }
        out.push_str("</tr>");
    }
    out.push_str("</table>");
    out
}

fn facts(f: &ServerFacts) -> String {
    let mut out = String::from("<table>");
    let mut row = |k: &str, v: String| {
        let _ = write!(out, "<tr><th>{}</th><td>{}</td></tr>", esc(k), esc(&v));
    };
    row("command", f.command.clone());
    row("exit", f.exit.clone());
    row("CPU / wall", format!("{} ms / {} ms", f.cpu_ms, f.wall_ms));
    row("peak memory", format!("{} KiB", f.peak_rss_kib));
    row("most processes", f.max_processes.to_string());
    row(
        "left at the end",
        format!(
            "{} children, {} zombies, {} fds open, {} sockets in CLOSE-WAIT",
            f.children_left, f.zombies, f.fds_open, f.close_wait
        ),
    );
    if let Some(d) = &f.diagnosis {
        row("diagnosis", d.clone());
    }
    out.push_str("</table>");
    for (name, text, dropped) in [
        ("stderr", &f.stderr, f.stderr_dropped),
        ("stdout", &f.stdout, f.stdout_dropped),
    ] {
        if !text.is_empty() {
            let more = if dropped > 0 {
                format!(" ({dropped} more bytes dropped)")
            } else {
                String::new()
            };
            let _ = write!(out, "<p>{name}{more}</p><pre>{}</pre>", esc(text));
        }
    }
    out
}

/// The page for one submission. Hidden cases show their verdict, not their details.
pub fn submission_html(r: &SubmissionResult) -> String {
    let mut b = String::new();
    let _ = write!(
        b,
        "<h1>{} — {}</h1><p class=score>{} / {}</p>",
        esc(&r.submission),
        esc(&r.suite),
        pts(r.score),
        pts(r.max_score)
    );
    if let Some(root) = &r.root_cause {
        let _ = write!(b, "<p class=fail><b>Root cause:</b> {}</p>", esc(root));
    }
    b.push_str("<table><tr><th>case</th><th>points</th><th>verdict</th><th>why</th></tr>");
    for c in &r.cases {
        let _ = write!(
            b,
            "<tr class={}><td><a href=\"#{}\">{}</a>{}</td><td>{} / {}</td><td>{}</td><td>{}</td></tr>",
            class_of(c.outcome),
            esc(&c.name),
            esc(&c.name),
            if c.hidden { " <span class=hidden-tag>hidden</span>" } else { "" },
            pts(c.points),
            pts(c.max_points),
            c.outcome.as_str(),
            esc(c.message.as_deref().unwrap_or(""))
        );
    }
    b.push_str("</table><h2>Cases</h2>");
    for c in &r.cases {
        let open = if c.outcome == GradeOutcome::Fail {
            " open"
        } else {
            ""
        };
        let _ = write!(
            b,
            "<details id=\"{}\"{open}><summary class={}>{} — {} ({} / {})</summary>",
            esc(&c.name),
            class_of(c.outcome),
            esc(&c.name),
            esc(&c.title),
            pts(c.points),
            pts(c.max_points)
        );
        if c.hidden && c.outcome != GradeOutcome::Pass {
            b.push_str("<p>This case is hidden until the grades are published.</p></details>");
            continue;
        }
        if let Some(m) = &c.message {
            let _ = write!(b, "<p>{}</p>", esc(m));
        }
        if let Some(f) = &c.failure {
            let _ = write!(
                b,
                "<table><tr><th>line {}</th><td><code>{}</code></td></tr><tr><th>expected</th><td>{}</td></tr><tr><th>actual</th><td>{}</td></tr></table>",
                f.line,
                esc(&f.statement),
                esc(&f.expected),
                esc(&f.actual)
            );
        }
        if c.outcome != GradeOutcome::Pass {
            if let Some(h) = &c.hint {
                let _ = write!(b, "<p><b>Hint:</b> {}</p>", esc(h));
            }
        }
        if !c.transcript.is_empty() {
            b.push_str(&lanes(c));
        }
        if let Some(f) = &c.server {
            b.push_str("<h3>Server</h3>");
            b.push_str(&facts(f));
        }
        if let Some(src) = &c.source {
            let _ = write!(
                b,
                "<details><summary>scenario</summary><pre>{}</pre></details>",
                esc(src)
            );
        }
        b.push_str("</details>");
    }
    page(&format!("{} — {}", r.submission, r.suite), &b)
}

/// The class page: students × cases (reference first), totals and a score histogram.
pub fn class_html(c: &ClassReport) -> String {
    let mut b = String::new();
    let _ = write!(
        b,
        "<h1>{} — {} submissions</h1><p>graded {} in {:.1} s; kernel {}{}</p>",
        esc(&c.suite),
        c.submissions.len(),
        esc(&c.started_at),
        c.duration_ms as f64 / 1000.0,
        esc(&c.kernel_release),
        c.partition
            .as_ref()
            .map(|p| format!("; shard {}", esc(p)))
            .unwrap_or_default()
    );
    b.push_str("<h2>Score distribution</h2><table>");
    let max = c.cases.iter().map(|k| k.max_points).sum::<f64>().max(1.0);
    let mut bins = [0usize; 10];
    for s in c.student_scores() {
        let i = ((s / max) * 10.0).floor().clamp(0.0, 9.0) as usize;
        bins[i] += 1;
    }
    let most = bins.iter().copied().max().unwrap_or(1).max(1);
    for (i, n) in bins.iter().enumerate() {
        let _ = write!(
            b,
            "<tr><td>{}–{}%</td><td><span class=bar style=\"width:{}px\"></span> {n}</td></tr>",
            i * 10,
            i * 10 + 10,
            n * 300 / most
        );
    }
    b.push_str("</table><h2>Cases × submissions</h2><table><tr><th>case</th><th>pts</th>");
    for s in &c.submissions {
        let _ = write!(
            b,
            "<th>{}{}</th>",
            esc(&s.submission),
            if s.reference { " (reference)" } else { "" }
        );
    }
    b.push_str("</tr><tr><th>score</th><td></td>");
    for s in &c.submissions {
        let _ = write!(b, "<td><b>{} / {}</b></td>", pts(s.score), pts(s.max_score));
    }
    b.push_str("</tr>");
    for k in &c.cases {
        let _ = write!(
            b,
            "<tr><td>{}{}</td><td>{}</td>",
            esc(&k.name),
            if k.hidden {
                " <span class=hidden-tag>hidden</span>"
            } else {
                ""
            },
            pts(k.max_points)
        );
        for s in &c.submissions {
            match s.case(&k.name) {
                Some(g) => {
                    let _ = write!(
                        b,
                        "<td class={} title=\"{}\">{}</td>",
                        class_of(g.outcome),
                        esc(g.message.as_deref().unwrap_or("")),
                        g.outcome.as_str()
                    );
                }
                None => b.push_str("<td></td>"),
            }
        }
        b.push_str("</tr>");
    }
    b.push_str("</table>");
    page(&format!("{} — class", c.suite), &b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grade::{points_for, SuiteCase};

    fn sub(name: &str, outcome: GradeOutcome, reference: bool) -> SubmissionResult {
        let mut r = SubmissionResult {
            format_version: 1,
            submission: name.into(),
            path: name.into(),
            suite: "echo-tcp".into(),
            reference,
            score: 0.0,
            max_score: 0.0,
            root_cause: None,
            build: None,
            cases: vec![GradedCase {
                name: "echo-tcp/one-line".into(),
                title: "one <line>".into(),
                points: points_for(outcome, 2.0),
                max_points: 2.0,
                outcome,
                hidden: false,
                message: Some("a & b".into()),
                hint: Some("echo it".into()),
                failure: None,
                transcript: Vec::new(),
                source: Some("case \"x\"".into()),
                server: Some(ServerFacts {
                    stderr: "<script>".into(),
                    ..ServerFacts::default()
                }),
                duration_ms: 1,
            }],
            duration_ms: 1,
        };
        r.total();
        r
    }

    #[test]
    fn pages_are_escaped_and_complete() {
        let s = sub("alice", GradeOutcome::Fail, false);
        let html = submission_html(&s);
        assert!(html.contains("one &lt;line&gt;"));
        assert!(html.contains("&lt;script&gt;"));
        assert!(!html.contains("<script>"));
        assert!(html.contains(&format!("content=\"{CSP}\"")));
        assert!(html.contains("Hint:"));
        let class = ClassReport {
            format_version: 1,
            suite: "echo-tcp".into(),
            cases: vec![SuiteCase {
                name: "echo-tcp/one-line".into(),
                title: "t".into(),
                max_points: 2.0,
                hidden: false,
            }],
            submissions: vec![sub("ref", GradeOutcome::Pass, true), s],
            started_at: "now".into(),
            duration_ms: 5,
            partition: None,
            tool_version: "0".into(),
            kernel_release: "6.18".into(),
        };
        let html = class_html(&class);
        assert!(html.contains("ref (reference)"));
        assert!(html.contains("class=fail"));
        assert!(html.contains("0–10%"));
    }
}
