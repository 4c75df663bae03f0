//! The HTML report: one self-contained page (CSS and JS inline, no request to any host,
//! printable), and the matrix page of merged runs.
//!
//! Hooks for browser tests and users' scripts, kept stable:
//!
//! - each case is `<details class="case o-<outcome>" id="case-<anchor>" data-case="<name>"
//!   data-outcome="pass|fail|error|skip" data-theme data-tags="<space-separated>">`, with
//!   `data-known="true"` on a failure a baseline lists; its body holds a `.transcript`;
//! - the filter controls are `#filter-outcome-<outcome>` checkboxes, `#filter-theme`,
//!   `#filter-tag`, `#search`; `#shown-count` says how many cases are shown;
//! - claims are `<tr id="claim-<anchor>" data-claim data-verdict>`; `a.case-link` go to cases.
//!
//! To stay fast with thousands of cases, only failures and errors (open at load) are rendered
//! into the DOM; the bodies of collapsed cases are HTML strings in one
//! `<script type="application/json" id="lazy-bodies">`, inserted when a case is first opened.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use crate::common::{self, counts_by_theme, is_flaky, is_known, total_counts};
use crate::merge::Merged;
use crate::model::{Bytes, CaseResult, Outcome, RunReport, StepRecord, StepStatus};

const CSS: &str = include_str!("html/report.css");
const JS: &str = include_str!("html/report.js");
const MATRIX_JS: &str = include_str!("html/matrix.js");

/// Forbids every request: the page must work offline and must not call home.
const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'";

/// Text for HTML content and attribute values. Control characters other than newline and tab
/// become their visible Control Pictures (NUL shows as ␀), as HTML must not contain them raw.
pub(crate) fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' | '\t' => out.push(c),
            '\0'..='\x1f' => out.push(char::from_u32(0x2400 + c as u32).unwrap_or('\u{fffd}')),
            '\x7f' => out.push('\u{2421}'),
            c if c.is_control() => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// An id fragment that is injective in the name: ASCII letters, digits and `-` stay, every
/// other byte becomes `_xx`.
pub(crate) fn anchor(prefix: &str, name: &str) -> String {
    let mut out = String::from(prefix);
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' {
            out.push(b as char);
        } else {
            let _ = write!(out, "_{b:02x}");
        }
    }
    out
}

/// JSON safe inside `<script>`: no `<`, `>` or `&` can close the element or start a comment.
fn script_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value)
        .unwrap_or_else(|_| "null".into())
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

/// Runs first: records script errors, `console.error` calls and blocked requests (CSP
/// violations) in `window.__sockspecErrors`, so a browser test can prove the page is clean.
const WATCH_JS: &str = "window.__sockspecErrors = [];\n\
window.addEventListener('error', function (e) { window.__sockspecErrors.push('error: ' + e.message); });\n\
document.addEventListener('securitypolicyviolation', function (e) { window.__sockspecErrors.push('blocked: ' + e.blockedURI); });\n\
(function () { var original = console.error; console.error = function () {\n\
  window.__sockspecErrors.push('console: ' + Array.prototype.join.call(arguments, ' '));\n\
  return original.apply(console, arguments); }; })();\n";

fn page_start(out: &mut String, title: &str) {
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\">\n\
         <script>\n{WATCH_JS}</script>\n\
         <title>{}</title>\n<style>\n{CSS}</style>\n</head>\n<body>\n",
        esc(title)
    );
}

fn badge(outcome: Outcome, known: bool) -> String {
    if known {
        "<span class=\"badge b-known\" title=\"a failure the baseline lists\">known</span>".into()
    } else {
        format!("<span class=\"badge b-{0}\">{0}</span>", outcome.as_str())
    }
}

/// The whole report as one HTML page.
pub fn to_html(report: &RunReport) -> String {
    let env = &report.environment;
    let mut out = String::with_capacity(64 * 1024 + report.cases.len() * 2048);
    let label = if env.label.is_empty() {
        &env.kernel_release
    } else {
        &env.label
    };
    page_start(&mut out, &format!("sockspec report — {label}"));
    environment_header(&mut out, report);
    out.push_str(
        "<nav id=\"toc\"><a href=\"#summary\">Summary</a><a href=\"#cases\">Cases</a>\
         <a href=\"#claims\">Claims</a><a href=\"#properties\">Properties</a></nav>\n<main>\n",
    );
    summary_section(&mut out, report);
    let lazy = cases_section(&mut out, report);
    claims_section(&mut out, report);
    properties_section(&mut out, report);
    differential_section(&mut out, report);
    out.push_str("</main>\n");
    let _ = writeln!(
        out,
        "<script type=\"application/json\" id=\"lazy-bodies\">{}</script>",
        script_json(&lazy)
    );
    let _ = write!(out, "<script>\n{JS}</script>\n</body>\n</html>\n");
    out
}

fn environment_header(out: &mut String, report: &RunReport) {
    let env = &report.environment;
    let c = total_counts(report);
    let known = report.cases.iter().filter(|c| is_known(c)).count();
    out.push_str("<header id=\"environment\">\n<h1>sockspec conformance report</h1>\n");
    let _ = writeln!(
        out,
        "<p class=\"headline\">{} cases: <b>{}</b> passed, <b>{}</b> failed{}, <b>{}</b> errored, <b>{}</b> skipped</p>",
        report.cases.len(),
        c[0],
        c[1],
        if known > 0 { format!(" ({known} known)") } else { String::new() },
        c[2],
        c[3]
    );
    out.push_str("<dl class=\"env\">\n");
    let mut row = |k: &str, v: &str| {
        let _ = writeln!(out, "<dt>{}</dt><dd>{}</dd>", esc(k), esc(v));
    };
    if !env.label.is_empty() {
        row("label", &env.label);
    }
    let tool = match &env.tool_commit {
        Some(commit) => format!("sockspec {} ({commit})", env.tool_version),
        None => format!("sockspec {}", env.tool_version),
    };
    row("tool", &tool);
    row(
        "system",
        &format!("{} {} {}", env.os, env.kernel_release, env.arch),
    );
    row("kernel version", &env.kernel_version);
    if let Some(runtime) = &env.runtime {
        row("runtime", &runtime.describe());
        row("recognised by", &runtime.evidence.join("; "));
    }
    row("CPUs", &env.cpus.to_string());
    row("uid", &env.uid.to_string());
    let isolation = format!("{}{}", env.isolation, crate::model::isolation_why(env));
    row("isolation", &isolation);
    row(
        "capabilities",
        &if env.capabilities.is_empty() {
            "none".into()
        } else {
            env.capabilities.join(" ")
        },
    );
    for (name, value) in &env.sysctls {
        row(&format!("sysctl {name}"), value);
    }
    row("command line", &env.command_line.join(" "));
    row("started (UTC)", &env.started_at);
    row(
        "duration",
        &common::duration(env.duration_ms.saturating_mul(1000)),
    );
    row("time scale", &env.time_scale.to_string());
    out.push_str("</dl>\n</header>\n");
}

fn summary_section(out: &mut String, report: &RunReport) {
    let themes = counts_by_theme(report);
    out.push_str("<section id=\"summary\">\n<h2>Summary</h2>\n<div class=\"summary-grid\">\n");
    out.push_str("<table class=\"summary-table\"><thead><tr><th>theme</th>");
    for o in Outcome::ALL {
        let _ = write!(out, "<th class=\"num\">{}</th>", o.as_str());
    }
    out.push_str("<th class=\"num\">total</th></tr></thead><tbody>\n");
    for (theme, c) in &themes {
        let _ = write!(
            out,
            "<tr data-theme=\"{}\"><td>{}</td>",
            esc(theme),
            esc(theme)
        );
        for n in c {
            let _ = write!(out, "<td class=\"num\">{n}</td>");
        }
        let _ = writeln!(
            out,
            "<td class=\"num\">{}</td></tr>",
            c.iter().sum::<usize>()
        );
    }
    let total = total_counts(report);
    out.push_str("<tr class=\"total\"><th>all</th>");
    for n in total {
        let _ = write!(out, "<th class=\"num\">{n}</th>");
    }
    let _ = writeln!(
        out,
        "<th class=\"num\">{}</th></tr></tbody></table>",
        report.cases.len()
    );
    chart(out, &themes);
    out.push_str("</div>\n");
    if !report.claims.is_empty() {
        let v = common::verdict_counts(report);
        let _ = writeln!(
            out,
            "<p class=\"claims-summary\">Claims: {} hold, {} do not hold, {} partly, {} undecided.</p>",
            v[0], v[1], v[2], v[3]
        );
    }
    if !report.measurements.is_empty() {
        out.push_str("<h3>Measurements</h3>\n<table class=\"measurements\"><thead><tr><th>figure</th><th class=\"num\">median</th><th class=\"num\">min</th><th class=\"num\">max</th><th>unit</th><th class=\"num\">samples</th></tr></thead><tbody>\n");
        for (name, m) in &report.measurements {
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td><td class=\"num\">{}</td></tr>",
                esc(name), m.median, m.min, m.max, esc(&m.unit), m.samples
            );
        }
        out.push_str("</tbody></table>\n");
    }
    out.push_str("</section>\n");
}

/// A horizontal stacked bar per theme, as inline SVG (no namespace URL needed in HTML).
fn chart(out: &mut String, themes: &BTreeMap<&str, common::Counts>) {
    const LABEL: usize = 170;
    const BAR: usize = 420;
    const ROW: usize = 22;
    let max = themes
        .values()
        .map(|c| c.iter().sum::<usize>())
        .max()
        .unwrap_or(0)
        .max(1);
    let height = ROW * themes.len().max(1) + 6;
    let _ = writeln!(
        out,
        "<svg class=\"chart\" role=\"img\" aria-label=\"outcomes by theme\" width=\"{}\" height=\"{height}\" viewBox=\"0 0 {} {height}\">",
        LABEL + BAR + 50,
        LABEL + BAR + 50
    );
    for (row, (theme, counts)) in themes.iter().enumerate() {
        let y = row * ROW + 3;
        let _ = writeln!(
            out,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
            LABEL - 6,
            y + 14,
            esc(theme)
        );
        let mut x = LABEL as f64;
        for (o, &n) in Outcome::ALL.iter().zip(counts) {
            if n == 0 {
                continue;
            }
            let w = n as f64 * BAR as f64 / max as f64;
            let _ = writeln!(
                out,
                "<rect class=\"seg-{0}\" x=\"{x:.1}\" y=\"{y}\" width=\"{w:.1}\" height=\"{1}\"><title>{2}: {n} {0}</title></rect>",
                o.as_str(),
                ROW - 6,
                esc(theme)
            );
            x += w;
        }
        let _ = writeln!(
            out,
            "<text x=\"{:.1}\" y=\"{}\">{}</text>",
            x + 4.0,
            y + 14,
            counts.iter().sum::<usize>()
        );
    }
    out.push_str("</svg>\n");
}

/// Failures first (open), then errors, known deviations, skips and passes.
fn display_rank(case: &CaseResult) -> u8 {
    match case.outcome {
        Outcome::Fail if !is_known(case) => 0,
        Outcome::Error => 1,
        Outcome::Fail => 2,
        Outcome::Skip => 3,
        Outcome::Pass => 4,
    }
}

/// Writes the case list; returns the lazily inserted bodies.
fn cases_section(out: &mut String, report: &RunReport) -> Vec<String> {
    let mut order: Vec<&CaseResult> = report.cases.iter().collect();
    order.sort_by_key(|c| display_rank(c));
    let themes: BTreeSet<&str> = report.cases.iter().map(|c| c.theme.as_str()).collect();
    let tags: BTreeSet<&str> = report
        .cases
        .iter()
        .flat_map(|c| c.tags.iter().map(String::as_str))
        .collect();
    let counts = total_counts(report);

    out.push_str("<section id=\"cases\">\n<h2>Cases</h2>\n<div id=\"filters\" class=\"filters\">\n<fieldset><legend>Outcome</legend>");
    for (o, n) in Outcome::ALL.iter().zip(counts) {
        let _ = write!(
            out,
            "<label><input type=\"checkbox\" id=\"filter-outcome-{0}\" data-outcome=\"{0}\" checked> {0} ({n})</label>",
            o.as_str()
        );
    }
    out.push_str(
        "</fieldset>\n<label>Theme <select id=\"filter-theme\"><option value=\"\">all</option>",
    );
    for t in &themes {
        let _ = write!(out, "<option value=\"{0}\">{0}</option>", esc(t));
    }
    out.push_str(
        "</select></label>\n<label>Tag <select id=\"filter-tag\"><option value=\"\">all</option>",
    );
    for t in &tags {
        let _ = write!(out, "<option value=\"{0}\">{0}</option>", esc(t));
    }
    let _ = write!(
        out,
        "</select></label>\n<label>Search <input type=\"search\" id=\"search\" placeholder=\"name, title, message\" autocomplete=\"off\"></label>\n\
         <button type=\"button\" id=\"expand-all\">Expand all</button><button type=\"button\" id=\"collapse-all\">Collapse all</button>\n\
         <span id=\"shown-count\" aria-live=\"polite\">{0} of {0} cases shown</span>\n</div>\n<div id=\"case-list\">\n",
        report.cases.len()
    );
    if report.cases.is_empty() {
        out.push_str("<p class=\"empty\">No case was selected.</p>\n");
    }

    let mut lazy = Vec::new();
    for case in order {
        let known = is_known(case);
        let open = display_rank(case) <= 1;
        let mut search = format!("{} {} {}", case.name, case.title, case.tags.join(" "));
        if let Some(m) = &case.message {
            search.push(' ');
            search.push_str(m);
        }
        let tags = case
            .tags
            .iter()
            .map(|t| t.replace(char::is_whitespace, "-"))
            .collect::<Vec<_>>()
            .join(" ");
        let _ = write!(
            out,
            "<details class=\"case o-{o}{known_class}\" id=\"{id}\" data-case=\"{name}\" data-outcome=\"{o}\" data-theme=\"{theme}\" data-tags=\"{tags}\" data-search=\"{search}\"{known_attr}{open_attr}>\n<summary>{badge}{flaky} <span class=\"case-title\">{title}</span> <code class=\"case-name\">{name}</code><span class=\"dur\">{dur}</span></summary>\n",
            o = case.outcome.as_str(),
            known_class = if known { " known" } else { "" },
            id = anchor("case-", &case.name),
            name = esc(&case.name),
            theme = esc(&case.theme),
            tags = esc(&tags),
            search = esc(&search.to_lowercase()),
            known_attr = if known { " data-known=\"true\"" } else { "" },
            open_attr = if open { " open" } else { "" },
            badge = badge(case.outcome, known),
            flaky = if is_flaky(case) { " <span class=\"badge b-flaky\">flaky</span>" } else { "" },
            title = esc(&case.title),
            dur = common::duration(case.duration_us),
        );
        if open {
            out.push_str("<div class=\"case-body\">\n");
            case_body(out, case);
            out.push_str("</div>\n");
        } else {
            let mut body = String::new();
            case_body(&mut body, case);
            let _ = writeln!(
                out,
                "<div class=\"case-body\" data-lazy=\"{}\"><div class=\"transcript\"></div></div>",
                lazy.len()
            );
            lazy.push(body);
        }
        out.push_str("</details>\n");
    }
    out.push_str("</div>\n</section>\n");
    lazy
}

fn case_body(out: &mut String, case: &CaseResult) {
    let _ = write!(
        out,
        "<p class=\"meta\"><code>{}</code>",
        esc(&common::location(case))
    );
    if let Some(f) = &case.flavour {
        let _ = write!(out, " · flavour <code>{}</code>", esc(f));
    }
    if !case.tags.is_empty() {
        let _ = write!(out, " · tags {}", esc(&case.tags.join(", ")));
    }
    let _ = writeln!(out, " · {}</p>", common::duration(case.duration_us));
    if let Some(m) = &case.message {
        let _ = writeln!(out, "<p class=\"message\">{}</p>", esc(m));
    }
    if let Some(k) = &case.known_deviation {
        let _ = writeln!(
            out,
            "<p class=\"known-note\"><b>Known deviation</b> (baseline): {}</p>",
            esc(k)
        );
    }
    if !case.claims.is_empty() {
        out.push_str("<p class=\"claims\">Decides: ");
        for (i, link) in case.claims.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            let _ = write!(
                out,
                "<a class=\"claim-link\" href=\"#{}\">{}</a> <span class=\"stance\">({} on pass)</span>",
                anchor("claim-", &link.id),
                esc(&link.id),
                esc(&link.stance)
            );
        }
        out.push_str("</p>\n");
    }
    if let Some(why) = &case.why {
        let _ = writeln!(out, "<p class=\"why\"><b>Why:</b> {}</p>", esc(why));
    }
    let hint = case
        .failure
        .as_ref()
        .and_then(|f| f.hint.as_ref())
        .or(case.hint.as_ref());
    if let (Some(hint), true) = (hint, case.outcome != Outcome::Pass) {
        let _ = writeln!(out, "<p class=\"hint\"><b>Hint:</b> {}</p>", esc(hint));
    }
    if let Some(f) = &case.failure {
        let _ = write!(
            out,
            "<h4>Expected vs actual at line {}</h4>\n<p><code>{}</code></p>\n<div class=\"expect-actual\"><div class=\"expected\"><h4>Expected</h4><pre>{}</pre></div><div class=\"actual\"><h4>Actual</h4><pre>{}</pre></div></div>\n",
            f.line,
            esc(&f.statement),
            esc(&f.expected),
            esc(&f.actual)
        );
    }
    if let Some(step) = deciding_step(case) {
        if step.data.is_some() || step.expected_data.is_some() {
            bytes_compare(out, step);
        }
    }
    if !case.attempts.is_empty() {
        out.push_str("<p class=\"attempts\">Attempts: ");
        for (i, a) in case.attempts.iter().enumerate() {
            let _ = write!(
                out,
                "{}. {} ({})",
                i + 1,
                a.outcome.as_str(),
                common::duration(a.duration_us)
            );
            if let Some(m) = &a.message {
                let _ = write!(out, " — {}", esc(m));
            }
            out.push_str("; ");
        }
        let _ = writeln!(
            out,
            "{}. {} (final)</p>",
            case.attempts.len() + 1,
            case.outcome.as_str()
        );
    }
    transcript(out, case);
    if let Some(source) = &case.source {
        source_listing(out, case, source);
    }
    if !case.refs.is_empty() {
        out.push_str("<h4>References</h4><ul class=\"refs\">");
        for r in &case.refs {
            let _ = write!(out, "<li>{}</li>", esc(r));
        }
        out.push_str("</ul>\n");
    }
}

/// The step that decided the case: the first mismatch or error.
fn deciding_step(case: &CaseResult) -> Option<&StepRecord> {
    case.transcript
        .iter()
        .find(|s| matches!(s.status, StepStatus::Mismatch | StepStatus::Error))
}

fn bytes_compare(out: &mut String, step: &StepRecord) {
    let expected = step.expected_data.as_ref().map(Bytes::kept);
    let actual = step.data.as_ref().map(Bytes::kept);
    out.push_str("<div class=\"bytes-compare\">");
    for (title, class, bytes, meta, other) in [
        (
            "Expected bytes",
            "expected",
            &expected,
            &step.expected_data,
            &actual,
        ),
        ("Received bytes", "actual", &actual, &step.data, &expected),
    ] {
        let _ = write!(out, "<div class=\"{class}\"><h4>{title}</h4>");
        match (bytes, meta) {
            (Some(b), Some(m)) => {
                let _ = write!(
                    out,
                    "<p><code>{}</code> ({} bytes",
                    esc(&common::escaped(b)),
                    m.len
                );
                if (b.len() as u64) < m.len {
                    let _ = write!(out, ", first {} shown", b.len());
                }
                out.push_str(")</p>");
                hexdump(out, b, other.as_deref());
            }
            _ => out.push_str("<p class=\"empty\">none</p>"),
        }
        out.push_str("</div>");
    }
    out.push_str("</div>\n");
}

/// 16 bytes a row: offset, hex, text; bytes that differ from `other` are marked `.d`.
fn hexdump(out: &mut String, bytes: &[u8], other: Option<&[u8]>) {
    out.push_str("<table class=\"hexdump\">");
    for (row, chunk) in bytes.chunks(16).enumerate() {
        let _ = write!(
            out,
            "<tr><td class=\"off\">{:04x}</td><td class=\"hex\">",
            row * 16
        );
        let mut text = String::new();
        for (i, b) in chunk.iter().enumerate() {
            let at = row * 16 + i;
            let differs = other.is_some_and(|o| o.get(at) != Some(b));
            let ch = if b.is_ascii_graphic() || *b == b' ' {
                esc(&(*b as char).to_string())
            } else {
                "·".into()
            };
            if differs {
                let _ = write!(out, "<span class=\"d\">{b:02x}</span> ");
                let _ = write!(text, "<span class=\"d\">{ch}</span>");
            } else {
                let _ = write!(out, "{b:02x} ");
                text.push_str(&ch);
            }
        }
        let _ = write!(out, "</td><td class=\"txt\">{text}</td></tr>");
    }
    out.push_str("</table>");
}

fn transcript(out: &mut String, case: &CaseResult) {
    out.push_str("<div class=\"transcript\">\n<h4>Transcript</h4>\n");
    if case.transcript.is_empty() {
        out.push_str("<p class=\"empty\">No step ran.</p>\n</div>\n");
        return;
    }
    out.push_str("<table><thead><tr><th class=\"num\">line</th><th>statement</th><th>call</th><th>result</th><th class=\"num\">at</th><th class=\"num\">took</th><th>status</th></tr></thead><tbody>\n");
    for s in &case.transcript {
        let status = common::status_word(s.status).to_lowercase();
        let _ = write!(
            out,
            "<tr class=\"st-{status}\" data-line=\"{}\"><td class=\"num\">{}</td><td class=\"stmt\">{}</td><td class=\"call\">{}</td><td class=\"result\">{}",
            s.line,
            s.line,
            esc(&s.statement),
            esc(&s.call),
            esc(&s.result)
        );
        if s.status == StepStatus::Mismatch {
            if let Some(e) = &s.expected {
                let _ = write!(out, "<br><span class=\"exp\">expected {}</span>", esc(e));
            }
        }
        if let Some(d) = &s.data {
            let _ = write!(
                out,
                "<br><span class=\"data\">{}</span>",
                esc(&common::bytes_line(d))
            );
        }
        if let Some(n) = &s.note {
            let _ = write!(out, "<br><span class=\"note\">{}</span>", esc(n));
        }
        let _ = writeln!(
            out,
            "</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{status}</td></tr>",
            common::duration(s.started_us),
            common::duration(s.duration_us)
        );
    }
    out.push_str("</tbody></table>\n");
    timeline(out, &case.transcript);
    out.push_str("</div>\n");
}

/// One lane per handle; each step is a bar placed by its start and length within the case.
fn timeline(out: &mut String, steps: &[StepRecord]) {
    let end = steps
        .iter()
        .map(|s| s.started_us + s.duration_us)
        .max()
        .unwrap_or(0)
        .max(1);
    let mut lanes: Vec<&str> = Vec::new();
    for s in steps {
        for h in &s.handles {
            if !lanes.contains(&h.as_str()) {
                lanes.push(h);
            }
        }
    }
    let unattached = steps.iter().any(|s| s.handles.is_empty());
    out.push_str("<div class=\"timeline\" aria-label=\"timeline, one lane per socket\">\n");
    let lane_names = lanes
        .iter()
        .map(|l| Some(*l))
        .chain(unattached.then_some(None));
    for lane in lane_names {
        let _ = write!(
            out,
            "<div class=\"lane\" data-handle=\"{0}\"><span class=\"lane-name\" title=\"{0}\">{0}</span><div class=\"lane-track\">",
            esc(lane.unwrap_or("—"))
        );
        for s in steps.iter().filter(|s| match lane {
            Some(h) => s.handles.iter().any(|x| x == h),
            None => s.handles.is_empty(),
        }) {
            let left = s.started_us as f64 * 100.0 / end as f64;
            let width = (s.duration_us as f64 * 100.0 / end as f64).max(0.3);
            let _ = write!(
                out,
                "<div class=\"span st-{}\" style=\"left:{left:.2}%;width:{width:.2}%\" title=\"line {}: {} {} ({})\"></div>",
                common::status_word(s.status).to_lowercase(),
                s.line,
                esc(&s.call),
                esc(&s.result),
                common::duration(s.duration_us)
            );
        }
        out.push_str("</div></div>\n");
    }
    let _ = writeln!(
        out,
        "<div class=\"axis\"><span>0</span><span>{}</span></div>\n</div>",
        common::duration(end)
    );
}

fn source_listing(out: &mut String, case: &CaseResult, source: &str) {
    let fail_line = case.failure.as_ref().map(|f| f.line);
    let marked: BTreeSet<usize> = case
        .transcript
        .iter()
        .filter(|s| matches!(s.status, StepStatus::Mismatch | StepStatus::Error))
        .map(|s| s.line)
        .collect();
    let _ = write!(
        out,
        "<h4>Scenario <code>{}</code></h4>\n<pre class=\"source\"><code>",
        esc(&case.file)
    );
    for (i, line) in source.lines().enumerate() {
        let n = i + 1;
        let class = if Some(n) == fail_line {
            " fail-line"
        } else if marked.contains(&n) {
            " hl"
        } else {
            ""
        };
        let _ = write!(
            out,
            "<span class=\"sl{class}\" data-line=\"{n}\"><span class=\"ln\">{n}</span>{}</span>",
            esc(line)
        );
    }
    out.push_str("</code></pre>\n");
}

fn claims_section(out: &mut String, report: &RunReport) {
    out.push_str("<section id=\"claims\">\n<h2>Claims</h2>\n");
    if report.claims.is_empty() {
        out.push_str(
            "<p class=\"empty\">No claims register was loaded for this run.</p>\n</section>\n",
        );
        return;
    }
    let outcome_of: BTreeMap<&str, &CaseResult> =
        report.cases.iter().map(|c| (c.name.as_str(), c)).collect();
    out.push_str("<table class=\"claims-table\"><thead><tr><th>claim</th><th>source</th><th>says</th><th>verdict on this kernel</th><th>why</th><th>deciding cases</th></tr></thead><tbody>\n");
    for c in &report.claims {
        let _ = write!(
            out,
            "<tr id=\"{}\" data-claim=\"{}\" data-verdict=\"{}\"><td><code>{}</code></td><td>{} §{}</td><td>{}</td><td><span class=\"badge v-{}\">{}</span></td><td>",
            anchor("claim-", &c.id),
            esc(&c.id),
            esc(&c.verdict),
            esc(&c.id),
            esc(&c.source),
            esc(&c.section),
            esc(&c.claim),
            esc(&c.verdict.replace(|ch: char| !ch.is_ascii_alphanumeric() && ch != '-', "")),
            esc(&c.verdict.replace('-', " "))
        );
        if let Some(reason) = &c.reason {
            let _ = write!(out, "{}", esc(reason));
        } else if c.verdict != "holds" {
            if let Some(e) = &c.explanation {
                let _ = write!(out, "{}", esc(e));
            }
        }
        out.push_str("</td><td class=\"cases\">");
        for name in &c.cases {
            let o = outcome_of
                .get(name.as_str())
                .map(|c| c.outcome.as_str())
                .unwrap_or("missing");
            let _ = write!(
                out,
                "<a class=\"case-link o-{o}\" href=\"#{}\" title=\"{o}\">{}</a>",
                anchor("case-", name),
                esc(name)
            );
        }
        out.push_str("</td></tr>\n");
    }
    out.push_str("</tbody></table>\n</section>\n");
}

fn properties_section(out: &mut String, report: &RunReport) {
    out.push_str("<section id=\"properties\">\n<h2>Properties by domain and type</h2>\n");
    if report.properties.is_empty() {
        out.push_str(
            "<p class=\"empty\">This run did not derive the property table.</p>\n</section>\n",
        );
        return;
    }
    out.push_str("<table class=\"property-table\"><thead><tr><th>domain</th><th>type</th><th>supported</th><th>connection needed</th><th>boundaries kept</th><th>ordered</th><th>reliable</th></tr></thead><tbody>\n");
    for p in &report.properties {
        let _ = write!(
            out,
            "<tr data-domain=\"{}\" data-type=\"{}\">",
            esc(&p.domain),
            esc(&p.socket_type)
        );
        for cell in [
            &p.domain,
            &p.socket_type,
            &p.supported,
            &p.connection_needed,
            &p.boundaries_kept,
            &p.ordered,
            &p.reliable,
        ] {
            let _ = write!(out, "<td>{}</td>", esc(cell));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody></table>\n</section>\n");
}

/// Differential cases: one table per case, a column per flavour, rows that differ marked.
fn differential_section(out: &mut String, report: &RunReport) {
    if report.differentials.is_empty() {
        return;
    }
    out.push_str("<section id=\"differential\">\n<h2>Differential: the same steps on several socket kinds</h2>\n");
    for d in &report.differentials {
        let _ = writeln!(
            out,
            "<h3>{} <span class=\"muted\">{}</span></h3>",
            esc(&d.title),
            esc(&d.case)
        );
        out.push_str("<table class=\"differential\"><thead><tr><th>line</th><th>statement</th>");
        for f in &d.flavours {
            let _ = write!(out, "<th>{}</th>", esc(f));
        }
        out.push_str("</tr></thead><tbody>\n");
        for r in &d.rows {
            let _ = write!(
                out,
                "<tr class=\"{}\" data-differs=\"{}\"><td>{}</td><td><code>{}</code></td>",
                if r.differs { "differs" } else { "same" },
                r.differs,
                r.line,
                esc(&r.statement)
            );
            for x in &r.results {
                let _ = write!(out, "<td><code>{}</code></td>", esc(x));
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</tbody></table>\n");
    }
    out.push_str("</section>\n");
}

/// Merged runs as one page: cases × runs, cells coloured by outcome, rows where the runs
/// disagree marked `.disagree` / `data-disagree="true"`; `#only-disagreements` hides the rest,
/// `#search` filters by name, a click on a column header sorts by it.
pub fn render_matrix_html(merged: &Merged) -> String {
    let mut out =
        String::with_capacity(32 * 1024 + merged.rows.len() * (200 + 60 * merged.runs.len()));
    page_start(&mut out, "sockspec matrix");
    let disagreeing = merged.rows.iter().filter(|r| r.disagree).count();
    let _ = write!(
        out,
        "<header id=\"environment\">\n<h1>sockspec matrix</h1>\n<p class=\"headline\">{} cases × {} runs; runs disagree on <b>{disagreeing}</b>.</p>\n",
        merged.rows.len(),
        merged.runs.len()
    );
    out.push_str("<table class=\"runs\"><thead><tr><th>run</th><th>system</th><th>kernel version</th><th>tool</th><th>isolation</th><th>started (UTC)</th></tr></thead><tbody>\n");
    for run in &merged.runs {
        let e = &run.environment;
        let _ = writeln!(
            out,
            "<tr><td><b>{}</b></td><td>{} {} {}{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&run.label),
            esc(&e.os),
            esc(&e.kernel_release),
            esc(&e.arch),
            e.runtime
                .as_ref()
                .map(|r| format!(" under {}", esc(&r.describe())))
                .unwrap_or_default(),
            esc(&e.kernel_version),
            esc(&e.tool_version),
            esc(&e.isolation),
            esc(&e.started_at)
        );
    }
    out.push_str("</tbody></table>\n</header>\n<main>\n<section id=\"cases\">\n<h2>Cases</h2>\n");
    let _ = write!(
        out,
        "<div id=\"filters\" class=\"filters\"><label><input type=\"checkbox\" id=\"only-disagreements\"> only disagreements ({disagreeing})</label>\n\
         <label>Search <input type=\"search\" id=\"search\" autocomplete=\"off\"></label>\n\
         <span id=\"shown-count\">{0} of {0} cases shown</span></div>\n",
        merged.rows.len()
    );
    out.push_str("<table id=\"matrix\" class=\"matrix\"><thead><tr><th>case</th><th>theme</th><th title=\"runs disagree\">≠</th>");
    for run in &merged.runs {
        let _ = write!(
            out,
            "<th title=\"{}\">{}</th>",
            esc(&format!(
                "{} {}",
                run.environment.os, run.environment.kernel_release
            )),
            esc(&run.label)
        );
    }
    out.push_str("</tr></thead><tbody>\n");
    for row in &merged.rows {
        let _ = write!(
            out,
            "<tr class=\"row{}\" data-case=\"{}\" data-theme=\"{}\" data-disagree=\"{}\"><td><code>{}</code></td><td>{}</td><td data-sort=\"{}\">{}</td>",
            if row.disagree { " disagree" } else { "" },
            esc(&row.name),
            esc(&row.theme),
            row.disagree,
            esc(&row.name),
            esc(&row.theme),
            if row.disagree { 0 } else { 1 },
            if row.disagree { "≠" } else { "" }
        );
        for cell in &row.cells {
            match cell {
                Some(c) => {
                    let mut title = String::new();
                    if let Some(m) = &c.message {
                        title.push_str(m);
                    }
                    if let Some(a) = &c.actual {
                        let _ = write!(title, " (actual {a})");
                    }
                    if let Some(k) = &c.known_deviation {
                        let _ = write!(title, " [known: {k}]");
                    }
                    let word = if c.known_deviation.is_some() && c.outcome == Outcome::Fail {
                        "known"
                    } else {
                        c.outcome.as_str()
                    };
                    let _ = write!(
                        out,
                        "<td class=\"cell o-{0}\" data-outcome=\"{0}\" title=\"{1}\">{2}{3}</td>",
                        c.outcome.as_str(),
                        esc(title.trim()),
                        word,
                        if c.flaky { " (flaky)" } else { "" }
                    );
                }
                None => {
                    out.push_str("<td class=\"cell o-missing\" data-outcome=\"missing\">—</td>")
                }
            }
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody></table>\n</section>\n");
    if !merged.claims.is_empty() {
        out.push_str("<section id=\"claims\">\n<h2>Claims</h2>\n<table class=\"claims-matrix\"><thead><tr><th>claim</th><th>says</th>");
        for run in &merged.runs {
            let _ = write!(out, "<th>{}</th>", esc(&run.label));
        }
        out.push_str("</tr></thead><tbody>\n");
        for row in &merged.claims {
            let _ = write!(
                out,
                "<tr class=\"{}\" data-claim=\"{}\" data-disagree=\"{}\"><td><code>{}</code></td><td>{}</td>",
                if row.disagree { "disagree" } else { "" },
                esc(&row.id),
                row.disagree,
                esc(&row.id),
                esc(&row.claim)
            );
            for v in &row.verdicts {
                match v {
                    Some(v) => {
                        let _ = write!(
                            out,
                            "<td><span class=\"badge v-{0}\">{1}</span></td>",
                            esc(v),
                            esc(&v.replace('-', " "))
                        );
                    }
                    None => out.push_str("<td>—</td>"),
                }
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</tbody></table>\n</section>\n");
    }
    let _ = write!(
        out,
        "</main>\n<style>\ntable.matrix th {{ cursor: pointer; }}\ntd.cell {{ color: #fff; font-weight: 600; text-align: center; }}\n\
         td.o-pass {{ background: var(--pass); }} td.o-fail {{ background: var(--fail); }} td.o-error {{ background: var(--error); }}\n\
         td.o-skip {{ background: var(--skip); }} td.o-missing {{ background: var(--soft); color: var(--muted); }}\n\
         tr.disagree > td:first-child, tr.disagree > td:nth-child(3) {{ background: var(--hl); font-weight: 700; }}\n</style>\n\
         <script>\n{MATRIX_JS}</script>\n</body>\n</html>\n"
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{big_report, sample_report};

    fn html() -> String {
        to_html(&sample_report())
    }

    /// Nothing on the page may make the browser fetch anything.
    fn assert_self_contained(page: &str) {
        for needle in [
            "http:", "https:", "src=", "url(", "@import", "<link", "<iframe", "<img", "//fonts",
        ] {
            assert!(!page.contains(needle), "page contains `{needle}`");
        }
        for (i, _) in page.match_indices("href=\"") {
            assert_eq!(
                &page[i + 6..i + 7],
                "#",
                "a link leaves the page: {}",
                &page[i..(i + 60).min(page.len())]
            );
        }
        assert!(
            page.contains("default-src 'none'"),
            "the page forbids requests"
        );
    }

    #[test]
    fn page_is_self_contained() {
        assert_self_contained(&html());
        assert_self_contained(&render_matrix_html(&crate::merge::merge(vec![
            sample_report(),
            sample_report(),
        ])));
    }

    #[test]
    fn urls_in_the_data_are_text_not_links() {
        let mut report = sample_report();
        report.cases[1].refs = vec!["https://example.invalid/spec".into()];
        let page = to_html(&report);
        assert!(
            !page.contains("href=\"https"),
            "data URLs never become links"
        );
        assert!(!page.contains("src=\"https"));
    }

    #[test]
    fn escapes_source_bytes_and_names() {
        let page = html();
        assert!(
            page.contains("# coalesce &lt;two&gt; sends &amp; &quot;quotes&quot;"),
            "source escaped"
        );
        assert!(!page.contains("<two>") && !page.contains("<d>") && !page.contains("<read>"));
        assert!(!page.contains('\0'));
        assert!(page.contains("<span class=\"sl fail-line\" data-line=\"4\"><span class=\"ln\">4</span>recv s 10 == &quot;abc\\0&lt;d&gt;&quot;</span>"), "failing line highlighted");
        assert_eq!(esc("a\0b\x07<'"), "a\u{2400}b\u{2407}&lt;&#39;");
    }

    #[test]
    fn lazy_blob_cannot_close_its_script_element() {
        let mut report = sample_report();
        report.cases[1].title = "</script><script>alert(1)</script>".into();
        report.cases[1].source = Some("</script>\n<!--".into());
        let page = to_html(&report);
        assert_eq!(
            page.matches("</script>").count(),
            3,
            "only the three real script elements (watch, lazy bodies, main) close"
        );
        assert!(!page.contains("<!--"));
        let start = page.find("id=\"lazy-bodies\">").unwrap() + "id=\"lazy-bodies\">".len();
        let end = start + page[start..].find("</script>").unwrap();
        let bodies: Vec<String> = serde_json::from_str(&page[start..end]).unwrap();
        assert_eq!(bodies.len(), 2, "the pass and the skip are lazy");
        assert!(bodies.iter().any(|b| b.contains("&lt;/script&gt;")));
    }

    #[test]
    fn cases_carry_the_hooks_tests_rely_on() {
        let page = html();
        for id in [
            "filter-outcome-pass",
            "filter-outcome-fail",
            "filter-outcome-error",
            "filter-outcome-skip",
            "filter-theme",
            "filter-tag",
            "search",
            "shown-count",
        ] {
            assert!(page.contains(&format!("id=\"{id}\"")), "missing #{id}");
        }
        assert!(page.contains("data-case=\"stream-message/coalesce[tcp4]\" data-outcome=\"fail\" data-theme=\"stream-message\" data-tags=\"tcp boundaries\""), "{page}");
        assert!(page.contains("id=\"case-stream-message_2fcoalesce_5btcp4_5d\""));
        assert_eq!(page.matches("<details class=\"case ").count(), 4);
        assert_eq!(
            page.matches("class=\"transcript\"").count(),
            4,
            "every case has a .transcript"
        );
        assert!(page.contains("4 of 4 cases shown"));
    }

    #[test]
    fn failures_come_first_and_open_passes_collapsed() {
        let page = html();
        let pos = |name: &str| page.find(&format!("data-case=\"{name}\"")).unwrap();
        assert!(pos("stream-message/coalesce[tcp4]") < pos("udp/bad-scenario"));
        assert!(pos("udp/bad-scenario") < pos("unix/seqpacket-eof"));
        assert!(pos("unix/seqpacket-eof") < pos("udp/sendto-connected"));
        let tag_of = |name: &str| {
            let start = page[..pos(name)].rfind("<details").unwrap();
            page[start..start + page[start..].find('>').unwrap()].to_string()
        };
        assert!(tag_of("stream-message/coalesce[tcp4]").ends_with(" open"));
        assert!(tag_of("udp/bad-scenario").ends_with(" open"));
        assert!(!tag_of("udp/sendto-connected").contains(" open"));
    }

    #[test]
    fn failing_case_shows_expected_actual_bytes_transcript_and_timeline() {
        let page = html();
        assert!(page.contains("<div class=\"expected\"><h4>Expected</h4><pre>&quot;abc\\0&lt;d&gt;&quot; (7 bytes)</pre>"));
        assert!(
            page.contains(
                "<h4>Received bytes</h4><p><code>&quot;a&lt;&amp;\\0&quot;</code> (4 bytes)</p>"
            ),
            "received as text"
        );
        assert!(
            page.contains("<span class=\"d\">3c</span>"),
            "differing byte marked in hex"
        );
        assert!(page.contains("<tr class=\"st-mismatch\" data-line=\"4\">"));
        assert!(
            page.contains("<div class=\"lane\" data-handle=\"s\">")
                && page.contains("<div class=\"lane\" data-handle=\"c\">")
        );
        assert!(page.contains("class=\"span st-mismatch\""));
        assert!(page.contains("<b>Hint:</b> Loop on recv."));
        assert!(page.contains("href=\"#claim-TCP-NO-BOUNDARIES\""));
        assert!(page.contains("1. fail (900 µs) — first try; 2. fail (final)"));
    }

    #[test]
    fn claims_summary_chart_and_properties_are_rendered() {
        let page = html();
        assert!(page.contains("<tr id=\"claim-TCP-NO-BOUNDARIES\" data-claim=\"TCP-NO-BOUNDARIES\" data-verdict=\"does-not-hold\">"));
        assert!(page.contains(
            "<a class=\"case-link o-fail\" href=\"#case-stream-message_2fcoalesce_5btcp4_5d\""
        ));
        assert!(page.contains("no deciding case ran"));
        assert!(page.contains("<svg class=\"chart\""));
        assert!(page.contains("<rect class=\"seg-fail\""));
        assert!(page.contains("<tr data-domain=\"AF_INET\" data-type=\"SOCK_STREAM\">"));
        assert!(page.contains("<td>loopback-rtt</td>"));
        assert!(page.contains("<dt>isolation</dt><dd>shared (no CAP_SYS_ADMIN)</dd>"));
        assert!(page.contains("@media print"));
    }

    #[test]
    fn empty_sections_say_so() {
        let mut report = sample_report();
        report.claims.clear();
        report.properties.clear();
        report.cases.clear();
        let page = to_html(&report);
        assert!(page.contains("No claims register was loaded"));
        assert!(page.contains("did not derive the property table"));
        assert!(page.contains("No case was selected."));
    }

    #[test]
    fn a_thousand_cases_render_quickly_and_stay_light() {
        let report = big_report(1000);
        let started = std::time::Instant::now();
        let page = to_html(&report);
        let took = started.elapsed();
        assert!(
            took.as_secs_f64() < 2.0,
            "rendering 1000 cases took {took:?}"
        );
        let open = page
            .matches("<details class=\"case")
            .filter(|_| true)
            .count();
        assert_eq!(open, 1000);
        assert_eq!(
            page.matches("<tr class=\"st-").count(),
            100 * 3,
            "only the 100 failures have transcript rows in the DOM"
        );
        assert!(page.len() < 8 * 1024 * 1024, "page is {} bytes", page.len());
    }

    #[test]
    fn matrix_marks_disagreements_and_has_its_controls() {
        let a = sample_report();
        let mut b = sample_report();
        b.environment.label = "next".into();
        b.cases[1].outcome = Outcome::Fail;
        let page = render_matrix_html(&crate::merge::merge(vec![a, b]));
        assert!(
            page.contains("id=\"only-disagreements\"")
                && page.contains("id=\"search\"")
                && page.contains("id=\"shown-count\"")
        );
        assert!(
            page.contains("<tr class=\"row disagree\" data-case=\"udp/sendto-connected\""),
            "{page}"
        );
        assert!(page.contains("<tr class=\"row\" data-case=\"udp/bad-scenario\""));
        assert!(page.contains("<th title=\"linux 6.8.0-45-generic\">next</th>"));
        assert!(page.contains("runs disagree on <b>1</b>"));
    }
}
