//! Sample reports for the unit tests: one case of each outcome, awkward bytes and source text,
//! claims, measurements and a property table, so every renderer meets every field.

use std::collections::BTreeMap;

use crate::model::*;

pub(crate) fn environment() -> Environment {
    Environment {
        tool_version: "0.1.0".into(),
        tool_commit: Some("e060699".into()),
        os: "linux".into(),
        kernel_release: "6.8.0-45-generic".into(),
        kernel_version: "#45-Ubuntu SMP PREEMPT_DYNAMIC".into(),
        arch: "x86_64".into(),
        cpus: 2,
        uid: 0,
        isolation: "shared".into(),
        isolation_reason: Some("no CAP_SYS_ADMIN".into()),
        isolation_checks: String::new(),
        capabilities: vec!["CAP_NET_RAW".into()],
        sysctls: BTreeMap::from([("net.core.rmem_default".into(), "212992".into())]),
        command_line: vec!["sockspec".into(), "run".into(), "cases/".into()],
        started_at: "2025-01-02T03:04:05Z".into(),
        duration_ms: 1234,
        time_scale: 1.5,
        label: String::new(),
        runtime: None,
    }
}

pub(crate) fn step(
    index: usize,
    line: usize,
    call: &str,
    result: &str,
    handles: &[&str],
) -> StepRecord {
    StepRecord {
        index,
        line,
        statement: call.to_string(),
        call: call.to_string(),
        result: result.to_string(),
        errno: None,
        data: None,
        expected: None,
        expected_data: None,
        status: StepStatus::Ok,
        duration_us: 10 + index as u64,
        started_us: 100 * index as u64,
        handles: handles.iter().map(|h| h.to_string()).collect(),
        note: None,
    }
}

pub(crate) fn case(name: &str, outcome: Outcome) -> CaseResult {
    let theme = name.split('/').next().unwrap_or(name).to_string();
    let base = name.split('[').next().unwrap_or(name);
    CaseResult {
        name: name.to_string(),
        file: format!("cases/{base}.sock"),
        title: format!("title of {name}"),
        theme,
        flavour: None,
        tags: vec!["tcp".into()],
        claims: vec![],
        outcome,
        message: None,
        failure: None,
        transcript: vec![
            step(0, 3, "socket(AF_INET, SOCK_STREAM)", "= 3", &["s"]),
            step(1, 4, "connect(c=fd4, 127.0.0.1:40312)", "= 0", &["c"]),
        ],
        duration_us: 1500,
        why: None,
        hint: None,
        refs: vec![],
        source: Some("# a case\nsocket s\nconnect c\n".into()),
        attempts: vec![],
        known_deviation: None,
    }
}

/// A failing case whose bytes and source hold everything an escaper must handle.
pub(crate) fn failing_case() -> CaseResult {
    let mut c = case("stream-message/coalesce[tcp4]", Outcome::Fail);
    c.flavour = Some("tcp4".into());
    c.tags = vec!["tcp".into(), "boundaries".into()];
    c.claims = vec![ClaimLink {
        id: "TCP-NO-BOUNDARIES".into(),
        stance: "refutes".into(),
    }];
    c.message = Some("recv returned fewer bytes than sent".into());
    c.why = Some("TCP is a byte stream: two sends may arrive as one <read>.".into());
    c.hint = Some("Loop on recv until you have what you need & no more.".into());
    c.refs = vec!["POSIX recv()".into()];
    c.source = Some(
        "# coalesce <two> sends & \"quotes\"\nsend c \"ab\"\nsend c \"c\\0<d>\"\nrecv s 10 == \"abc\\0<d>\"\n"
            .into(),
    );
    let mut mismatch = step(
        2,
        4,
        "recv s 10 == \"abc\\0<d>\"",
        "recv(s=fd3, 10)",
        &["s", "c"],
    );
    mismatch.result = "= \"ab\" (2 bytes)".into();
    mismatch.status = StepStatus::Mismatch;
    mismatch.expected = Some("\"abc\\0<d>\"".into());
    mismatch.data = Some(Bytes::capture(b"a<&\0"));
    mismatch.expected_data = Some(Bytes::capture(b"abc\0<d>"));
    mismatch.note = Some("peer sent in two segments".into());
    c.transcript.push(mismatch);
    c.failure = Some(Failure {
        line: 4,
        column: 1,
        statement: "recv s 10 == \"abc\\0<d>\"".into(),
        expected: "\"abc\\0<d>\" (7 bytes)".into(),
        actual: "\"a<&\\0\" (4 bytes)".into(),
        hint: Some("Loop on recv.".into()),
    });
    c.attempts = vec![Attempt {
        outcome: Outcome::Fail,
        message: Some("first try".into()),
        duration_us: 900,
    }];
    c
}

pub(crate) fn sample_report() -> RunReport {
    let mut pass = case("udp/sendto-connected", Outcome::Pass);
    pass.claims = vec![ClaimLink {
        id: "UDP-KEEPS-BOUNDARIES".into(),
        stance: "holds".into(),
    }];
    pass.tags = vec!["udp".into()];
    pass.attempts = vec![Attempt {
        outcome: Outcome::Fail,
        message: Some("flaked".into()),
        duration_us: 700,
    }];
    pass.why = Some("A connected UDP socket may still use sendto.".into());

    let mut error = case("udp/bad-scenario", Outcome::Error);
    error.message = Some("deadline of 5 s passed before `accept` returned".into());
    error.transcript[1].status = StepStatus::Error;
    error.failure = Some(Failure {
        line: 4,
        column: 1,
        statement: "accept s".into(),
        expected: "returns within 5 s".into(),
        actual: "still blocked".into(),
        hint: None,
    });

    let mut skip = case("unix/seqpacket-eof", Outcome::Skip);
    skip.message = Some("AF_UNIX SOCK_SEQPACKET is not available".into());
    skip.transcript.clear();
    skip.tags = vec!["unix".into()];

    RunReport {
        format_version: FORMAT_VERSION,
        environment: environment(),
        cases: vec![failing_case(), pass, error, skip],
        claims: vec![
            ClaimVerdict {
                id: "TCP-NO-BOUNDARIES".into(),
                source: "Course notes".into(),
                section: "3.2".into(),
                claim: "TCP keeps message boundaries".into(),
                verdict: "does-not-hold".into(),
                explanation: Some("TCP is a byte stream; boundaries are not kept.".into()),
                reason: None,
                cases: vec!["stream-message/coalesce[tcp4]".into()],
            },
            ClaimVerdict {
                id: "UDP-KEEPS-BOUNDARIES".into(),
                source: "Course notes".into(),
                section: "4.1".into(),
                claim: "UDP keeps message boundaries".into(),
                verdict: "holds".into(),
                explanation: None,
                reason: None,
                cases: vec!["udp/sendto-connected".into()],
            },
            ClaimVerdict {
                id: "UNIX-SEQPACKET".into(),
                source: "Course notes".into(),
                section: "5".into(),
                claim: "SEQPACKET keeps boundaries and order".into(),
                verdict: "undecided".into(),
                explanation: None,
                reason: Some("no deciding case ran".into()),
                cases: vec!["unix/seqpacket-eof".into()],
            },
        ],
        measurements: BTreeMap::from([(
            "loopback-rtt".into(),
            Measurement {
                unit: "µs".into(),
                median: 12.5,
                min: 10.0,
                max: 40.25,
                samples: 100,
                interval: Some(crate::model::Interval {
                    low: 11.0,
                    high: 14.0,
                    confidence: 0.96,
                }),
            },
        )]),
        properties: vec![PropertyRow {
            domain: "AF_INET".into(),
            socket_type: "SOCK_STREAM".into(),
            supported: "yes".into(),
            connection_needed: "yes".into(),
            boundaries_kept: "no".into(),
            ordered: "yes".into(),
            reliable: "yes".into(),
        }],
        differentials: Vec::new(),
    }
}

/// A run of `n` cases over a few themes: mostly passes, every tenth failing.
pub(crate) fn big_report(n: usize) -> RunReport {
    let mut report = sample_report();
    report.cases = (0..n)
        .map(|i| {
            let theme = ["tcp", "udp", "unix", "poll"][i % 4];
            let mut c = if i % 10 == 0 {
                let mut f = failing_case();
                f.name = format!("{theme}/case-{i:04}");
                f.theme = theme.into();
                f
            } else {
                case(&format!("{theme}/case-{i:04}"), Outcome::Pass)
            };
            c.file = format!("cases/{theme}/case-{i:04}.sock");
            c
        })
        .collect();
    report
}
