//! Scenarios executed for real against the running kernel, one behaviour per test.

use std::time::{Duration, Instant};

use sockspec_lang::symbols::Category;
use sockspec_lang::Flavour;
use sockspec_reports::{Outcome, StepRecord, StepStatus};

use super::addr::{Addr, AddrStyle};
use super::consts::{all_categories, value};
use super::{
    execute, pattern, pattern_at, pattern_byte, pattern_mismatch, CaseEnd, Context, Event, Facts,
};

struct Ran {
    source: String,
    end: CaseEnd,
    records: Vec<StepRecord>,
    events: Vec<Event>,
    _dir: tempfile::TempDir,
}

fn context(flavour: Option<Flavour>, deadline: Duration, dir: &tempfile::TempDir) -> Context {
    Context {
        time_scale: 1.0,
        flavour,
        private_dir: dir.path().to_path_buf(),
        unique: format!("t{}", std::process::id()),
        facts: Facts::probe(false),
        deadline: Instant::now() + deadline,
        server: None,
    }
}

fn run_with(body: &str, flavour: Option<&str>, deadline: Duration) -> Ran {
    // A flavoured run gets a `flavours` line, so the header always takes two lines.
    let header = flavour.map_or_else(|| "tags unit".to_string(), |f| format!("flavours {f}"));
    let source = format!("case \"unit test\"\n{header}\n{body}");
    let scenario = match sockspec_lang::parse("test.sock", &source) {
        Ok(s) => s,
        Err(d) => panic!("the test scenario does not parse:\n{d:?}\n{source}"),
    };
    execute_with(
        &scenario,
        &source,
        flavour.map(|f| Flavour::from_name(f).unwrap()),
        deadline,
    )
}

fn execute_parsed(
    scenario: &sockspec_lang::Scenario,
    source: &str,
    flavour: Option<Flavour>,
) -> Ran {
    execute_with(scenario, source, flavour, Duration::from_secs(5))
}

fn execute_with(
    scenario: &sockspec_lang::Scenario,
    source: &str,
    flavour: Option<Flavour>,
    deadline: Duration,
) -> Ran {
    let dir = tempfile::tempdir().unwrap();
    let ctx = context(flavour, deadline, &dir);
    let mut events = Vec::new();
    let end = execute(scenario, source, &ctx, &mut |e| events.push(e));
    let records = events
        .iter()
        .filter_map(|e| match e {
            Event::Step(r) => Some(r.clone()),
            Event::Started { .. } => None,
        })
        .collect();
    Ran {
        source: source.to_string(),
        end,
        records,
        events,
        _dir: dir,
    }
}

fn run(body: &str, flavour: Option<&str>) -> Ran {
    run_with(body, flavour, Duration::from_secs(5))
}

#[track_caller]
fn passes(r: &Ran) {
    assert_eq!(
        r.end.outcome,
        Outcome::Pass,
        "{:#?}\n{:#?}",
        r.end,
        r.records
    );
}

#[track_caller]
fn fails_at(r: &Ran, line: usize) -> &sockspec_reports::Failure {
    assert_eq!(
        r.end.outcome,
        Outcome::Fail,
        "{:#?}\n{:#?}",
        r.end,
        r.records
    );
    let f = r.end.failure.as_ref().expect("a failure");
    // The body starts on line 3, after the `case` and `tags`/`flavours` lines.
    assert_eq!(f.line, line + 2, "{f:#?}");
    f
}

#[test]
fn every_symbol_of_every_category_has_a_number() {
    let mut missing = Vec::new();
    for c in all_categories() {
        for name in c.names() {
            if value(c, name).is_none() {
                missing.push(format!("{c:?}::{name}"));
            }
        }
    }
    assert!(missing.is_empty(), "unmapped: {missing:?}");
    assert_eq!(
        value(Category::Errno, "EWOULDBLOCK"),
        value(Category::Errno, "EAGAIN")
    );
    assert_eq!(
        value(Category::Domain, "AF_INET"),
        Some(libc::AF_INET.into())
    );
    assert_eq!(
        value(Category::SocketType, "SOCK_STREAM"),
        Some(libc::SOCK_STREAM.into())
    );
    assert_eq!(super::consts::errno_name(libc::EAGAIN), "EAGAIN");
}

/// The byte-by-byte definition every block-at-a-time path must agree with.
fn pattern_reference(start: u64, n: usize) -> Vec<u8> {
    (start..start + n as u64).map(pattern_byte).collect()
}

#[test]
fn pattern_at_matches_the_bytewise_definition_at_every_alignment() {
    for start in [
        0u64,
        1,
        2,
        3,
        4,
        5,
        6,
        7,
        8,
        9,
        15,
        16,
        17,
        1_000_003,
        u32::MAX as u64,
    ] {
        for n in 0..40 {
            assert_eq!(
                pattern_at(start, n),
                pattern_reference(start, n),
                "start {start}, n {n}"
            );
        }
    }
    assert_eq!(pattern(4099), pattern_reference(0, 4099));
}

#[test]
fn pattern_mismatch_finds_the_first_differing_offset_at_every_alignment() {
    for start in 0u64..17 {
        for n in 0..40usize {
            let good = pattern_reference(start, n);
            assert_eq!(pattern_mismatch(start, &good), None, "start {start}, n {n}");
            for at in 0..n {
                // One flipped bit, and a later corruption too: the first one must be reported.
                let mut bad = good.clone();
                bad[at] ^= 0x80;
                if at + 3 < n {
                    bad[at + 3] ^= 0x01;
                }
                assert_eq!(
                    pattern_mismatch(start, &bad),
                    Some(at),
                    "start {start}, n {n}, corrupted at {at}"
                );
            }
        }
    }
    // A stream shifted by one byte differs at once, wherever it starts.
    for start in 0u64..9 {
        assert_eq!(
            pattern_mismatch(start, &pattern_reference(start + 1, 64)),
            Some(0)
        );
    }
}

#[test]
fn payload_difference_says_what_first_difference_says() {
    use super::bytes::{first_difference, materialize, payload_difference};
    use sockspec_lang::Payload;
    for payload in [
        Payload::Pattern(37),
        Payload::Fill(37, 0x41),
        Payload::Bytes(b"hello, world: a literal of some length".to_vec()),
    ] {
        let want = materialize(&payload);
        let mut cases: Vec<Vec<u8>> = vec![want.clone(), Vec::new()];
        for len in [1, 8, 9, 36, 38, 50] {
            let mut v = want.clone();
            v.resize(len, 0x41);
            cases.push(v);
        }
        for at in 0..want.len() {
            let mut v = want.clone();
            v[at] ^= 0x20;
            cases.push(v);
        }
        for actual in cases {
            let expected = (actual != want).then(|| first_difference(&want, &actual));
            assert_eq!(
                payload_difference(&payload, &actual),
                expected,
                "{payload:?} against {actual:?}"
            );
        }
    }
}

#[test]
fn pattern_is_deterministic_and_has_no_short_period() {
    assert_eq!(pattern(16), pattern(16));
    assert_eq!(pattern(1000)[500], pattern_byte(500));
    for period in 1..=4096u64 {
        assert!(
            (0..64).any(|i| pattern_byte(i) != pattern_byte(i + period)),
            "period {period}"
        );
    }
}

#[test]
fn stream_sends_coalesce_in_one_recv() {
    for flavour in [
        "tcp4",
        "tcp6",
        "unix-stream-pair",
        "unix-stream-path",
        "unix-stream-abstract",
    ] {
        let r = run(
            "c, s = pair()\n\
             send(c, \"0123456789\") = 10\n\
             send(c, \"abcdefghij\") = 10\n\
             send(c, \"ABCDEFGHIJ\") = 10\n\
             sleep(20ms)\n\
             recv(s, 64) = \"0123456789abcdefghijABCDEFGHIJ\"\n",
            Some(flavour),
        );
        passes(&r);
        assert_eq!(
            r.records[5].result, "= \"0123456789abcdefghijABCDEFGHIJ\" (30 bytes)",
            "{flavour}"
        );
    }
}

#[test]
fn datagram_truncation_sets_msg_trunc() {
    for flavour in [
        "udp4",
        "udp6",
        "unix-dgram-pair",
        "unix-dgram-path",
        "unix-dgram-abstract",
        "unix-seqpacket-pair",
    ] {
        let r = run(
            "a, b = pair()\n\
             send(a, \"0123456789\") = 10\n\
             send(a, \"abcdefghij\") = 10\n\
             recvmsg(b, 4) = \"0123\" flags MSG_TRUNC\n\
             recvmsg(b, 4, MSG_TRUNC) = 10 data \"abcd\" flags MSG_TRUNC\n\
             recv(b, 4, MSG_DONTWAIT) = -1 EAGAIN\n",
            Some(flavour),
        );
        passes(&r);
        assert!(
            r.records[3].result.contains("flags MSG_TRUNC"),
            "{:?}",
            r.records[3]
        );
    }
}

#[test]
fn empty_non_blocking_receive_gives_eagain() {
    let r = run(
        "c, s = pair(tcp4)\nrecv(s, 10, MSG_DONTWAIT) = -1 EAGAIN\n",
        None,
    );
    passes(&r);
    assert_eq!(
        r.records[1].result,
        "= -1 EAGAIN (Resource temporarily unavailable)"
    );
    assert_eq!(r.records[1].errno.as_deref(), Some("EAGAIN"));
    assert!(
        r.records[1].call.starts_with("recv(s=fd"),
        "{}",
        r.records[1].call
    );
}

#[test]
fn blocked_recv_is_woken_by_a_send() {
    let r = run(
        "c, s = pair(unix-stream-pair)\n\
         r = recv(s, 10) blocks\n\
         send(c, \"abc\") = 3\n\
         await r = \"abc\" took >=20ms\n",
        None,
    );
    passes(&r);
    assert_eq!(r.records[1].status, StepStatus::Pending);
    assert_eq!(r.records[3].result, "= \"abc\" (3 bytes)");
}

#[test]
fn awaited_accept_binds_a_handle() {
    let r = run(
        "l = socket(INET, STREAM)\n\
         bind(l, 127.0.0.1:0)\n\
         listen(l, 1)\n\
         a = accept(l) blocks\n\
         c = socket(INET, STREAM)\n\
         connect(c, l)\n\
         await a = ok from c\n\
         getpeername(a) = c\n\
         getsockname(a) = 127.0.0.1:port(l)\n\
         send(c, \"hi\") = 2\n\
         recv(a, 10) = \"hi\"\n",
        None,
    );
    passes(&r);
}

#[test]
fn a_call_that_returns_at_once_did_not_block() {
    let r = run(
        "c, s = pair(tcp4)\nsend(c, \"x\")\nsleep(10ms)\nr = recv(s, 10) blocks\nawait r\n",
        None,
    );
    let f = fails_at(&r, 4);
    assert!(r.end.message.as_deref().unwrap().contains("did not block"));
    assert_eq!(f.actual, "\"x\" (1 byte)");
}

#[test]
fn poll_timeout_respects_the_lower_bound() {
    let r = run(
        "c, s = pair(udp4)\npoll([s: POLLIN], 100ms) = 0 took 100ms..+10s\n",
        None,
    );
    passes(&r);
    assert!(r.records[1].duration_us >= 100_000, "{:?}", r.records[1]);
    let r = run(
        "c, s = pair(udp4)\npoll([s: POLLIN], 0) = 0 took >=50ms\n",
        None,
    );
    let f = fails_at(&r, 2);
    assert!(f.hint.as_deref().unwrap().contains("lower bound"), "{f:?}");
}

#[test]
fn a_wrong_expectation_fails_at_its_line_with_both_sides() {
    let r = run(
        "c, s = pair(tcp4)\n\
         send(c, \"0123456789\") = 10\n\
         sleep(10ms)\n\
         recv(s, 64) = \"0123456789X\"\n\
         close(c)\n",
        None,
    );
    let f = fails_at(&r, 4);
    assert_eq!(f.expected, "\"0123456789X\"");
    assert_eq!(f.actual, "\"0123456789\" (10 bytes)");
    assert_eq!(f.statement, "recv(s, 64) = \"0123456789X\"");
    assert!(
        f.hint
            .as_deref()
            .unwrap()
            .contains("expected 11 bytes, received 10"),
        "{f:?}"
    );
    assert_eq!(r.records.len(), 4, "execution stops at the failing step");
    assert_eq!(r.records[3].status, StepStatus::Mismatch);
}

#[test]
fn poll_and_select_report_readiness() {
    let r = run(
        "c, s = pair(tcp4)\n\
         poll([c: POLLOUT, s: POLLIN], 0) = [c: POLLOUT]\n\
         select([s], [c], [], 0) = ([], [c], [])\n\
         send(c, \"x\") = 1\n\
         sleep(10ms)\n\
         poll([c: POLLOUT, s: POLLIN], 0) = [c: POLLOUT, s: POLLIN]\n\
         poll([s: POLLIN|POLLOUT], 0) = [s: POLLIN|...]\n\
         select([s], [c], [], 100ms) = ([s], [c], []) remaining 50..100\n",
        None,
    );
    passes(&r);
    assert_eq!(r.records[5].result, "= 2 [c: POLLOUT, s: POLLIN]");
    assert!(
        r.records[7].result.starts_with("= 2 ([s], [c], [])"),
        "{}",
        r.records[7].result
    );
    let r = run(
        "c, s = pair(tcp4)\npoll([c: POLLOUT, s: POLLIN], 0) = [s: POLLIN]\n",
        None,
    );
    let f = fails_at(&r, 2);
    assert_eq!(f.actual, "1 [c: POLLOUT]");
}

#[test]
fn scm_rights_passes_a_working_descriptor() {
    let r = run(
        "a, b = pair(unix-stream-pair)\n\
         p, q = pipe()\n\
         sendmsg(a, [\"x\"], rights=[q]) = 1\n\
         close(q)\n\
         recvmsg(b, 10) = \"x\" rights [w]\n\
         write(w, \"hi\") = 2\n\
         read(p, 10) = \"hi\"\n",
        None,
    );
    passes(&r);
    assert!(
        r.records[4].result.contains("rights [fd"),
        "{}",
        r.records[4].result
    );
}

#[test]
fn scm_credentials_name_this_process() {
    let r = run(
        "a, b = pair(unix-dgram-pair)\n\
         setsockopt(b, SOL_SOCKET, SO_PASSCRED, 1)\n\
         sendmsg(a, [\"x\", \"y\"], creds) = 2\n\
         recvmsg(b, 10) = \"xy\" creds(pid=self, uid=self, gid=self)\n",
        None,
    );
    passes(&r);
}

#[test]
fn socket_options_render_symbolically() {
    let r = run(
        "c, s = pair(tcp4)\n\
         getsockopt(s, SOL_SOCKET, SO_TYPE) = STREAM\n\
         getsockopt(s, SOL_SOCKET, SO_ERROR) = 0\n\
         setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, 200ms)\n\
         getsockopt(s, SOL_SOCKET, SO_RCVTIMEO) = 200ms\n\
         setsockopt(s, SOL_SOCKET, SO_LINGER, linger(1, 0))\n\
         getsockopt(s, SOL_SOCKET, SO_LINGER) = linger(1, 0)\n\
         setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, timeval(0, 2000000)) = -1 EDOM\n\
         recv(s, 10) = -1 EAGAIN took 200ms..+10s\n\
         l = socket(INET, STREAM)\n\
         bind(l, 127.0.0.1:0)\n\
         k = socket(INET, STREAM|SOCK_NONBLOCK)\n\
         connect(k, 127.0.0.1:port(l)) = -1 EINPROGRESS | -1 ECONNREFUSED\n\
         sleep(20ms)\n\
         getsockopt(k, SOL_SOCKET, SO_ERROR) = 0\n",
        None,
    );
    // The language has no form for a bare errno yet (`= ECONNREFUSED` does not parse), so the
    // value is put into the tree by hand, as `Value::Flags` with the errno's name.
    let mut scenario = sockspec_lang::parse("t.sock", &r.source).unwrap();
    let Some(sockspec_lang::Step {
        kind: sockspec_lang::StepKind::Call {
            expect: Some(e), ..
        },
        ..
    }) = scenario.steps.last_mut()
    else {
        panic!("the last step has an expectation")
    };
    e.default.alternatives[0].value = sockspec_lang::Value::Flags(sockspec_lang::FlagsMatch {
        names: vec![sockspec_lang::Sym {
            name: "ECONNREFUSED".into(),
            span: e.default.span,
        }],
        others_any: false,
    });
    let r = execute_parsed(&scenario, &r.source, None);
    passes(&r);
    assert_eq!(r.records[1].result, "= STREAM");
    assert_eq!(r.records[4].result, "= 200ms");
    assert_eq!(r.records[14].result, "= ECONNREFUSED");
}

#[test]
fn fcntl_ioctl_and_closed_handles() {
    let r = run(
        "c, s = pair(tcp4)\n\
         fcntl(s, F_GETFL) = O_RDWR\n\
         fcntl(s, F_SETFL, O_NONBLOCK)\n\
         fcntl(s, F_GETFL) = O_RDWR|O_NONBLOCK\n\
         fcntl(s, F_GETFL) = O_NONBLOCK|...\n\
         send(c, \"0123456789\") = 10\n\
         sleep(10ms)\n\
         ioctl(s, FIONREAD) = 10\n\
         close(c)\n\
         send(c, \"x\") = -1 EBADF\n\
         poll([c: POLLIN], 0) = [c: POLLNVAL]\n\
         close(c) = -1 EBADF\n",
        None,
    );
    passes(&r);
    assert_eq!(r.records[3].result, "= O_RDWR|O_NONBLOCK");
    assert_eq!(r.records[9].call, "send(c=closed, \"x\", 0)");
}

#[test]
fn files_in_the_private_directory() {
    let r = run(
        "touch(path(\"f\"))\n\
         chmod(path(\"f\"), 0o600)\n\
         stat(path(\"f\")) = sock(S_IFREG, 0o600)\n\
         u = socket(UNIX, DGRAM)\n\
         bind(u, path(\"sock\"))\n\
         getsockname(u) = path(\"sock\")\n\
         stat(path(\"sock\")) = sock(S_IFSOCK)\n\
         unlink(path(\"sock\"))\n\
         stat(path(\"sock\")) = -1 ENOENT\n\
         getsockname(u) = u\n",
        None,
    );
    passes(&r);
    assert_eq!(r.records[5].result, "= path(\"sock\")");
}

#[test]
fn sigpipe_is_counted_unless_suppressed() {
    let r = run(
        "a, b = pair(unix-stream-pair)\n\
         close(b)\n\
         send(a, \"x\") = -1 EPIPE signal SIGPIPE\n\
         send(a, \"x\", MSG_NOSIGNAL) = -1 EPIPE no SIGPIPE\n",
        None,
    );
    passes(&r);
}

#[test]
fn loops_receive_everything_and_stop_at_the_deadline() {
    let r = run(
        "c, s = pair(tcp4)\n\
         send_all(c, pattern(60000)) = 60000\n\
         recv_exact(s, 60000) = pattern(60000)\n\
         send(c, \"line one\\nline two\\n\") = 18\n\
         recv_until(s, \"\\n\", 100) = \"line one\\n\"\n\
         recv_until(s, \"\\n\", 100) = \"line two\\n\"\n",
        None,
    );
    passes(&r);
    assert_eq!(r.records[2].result, "= pattern(60000) (60000 bytes)");
    let r = run_with(
        "c, s = pair(tcp4)\nsend(c, \"abc\")\nrecv_exact(s, 10) = \"abc\"\n",
        None,
        Duration::from_millis(600),
    );
    let f = fails_at(&r, 3);
    assert!(
        f.hint
            .as_deref()
            .unwrap()
            .starts_with("never returned: timed out after 3 of 10 bytes"),
        "{f:?}"
    );
}

#[test]
fn a_pending_call_still_blocked_at_the_deadline_fails_as_never_returned() {
    let r = run_with(
        "c, s = pair(tcp4)\nr = recv(s, 10) blocks\nawait r = \"x\"\n",
        None,
        Duration::from_millis(400),
    );
    assert_eq!(r.end.outcome, Outcome::Fail, "{:?}", r.end);
    let m = r.end.message.as_deref().unwrap();
    assert!(
        m.starts_with("line 5: never returned: expected it to return \"x\""),
        "{m}"
    );
    assert_eq!(r.records[2].result, "still blocked at the case deadline");
}

#[test]
fn select_never_passes_an_nfds_beyond_its_sets() {
    let r = run(
        "c, s = pair()\nselect([s], [], [], 0, nfds=2000)\n",
        Some("tcp4"),
    );
    assert_eq!(r.end.outcome, Outcome::Error, "{:?}", r.end);
    let m = r.end.message.as_deref().unwrap_or_default();
    assert!(m.contains("above FD_SETSIZE"), "{m}");
    // At the limit the call is made (1024 bits are exactly the set's size).
    passes(&run(
        "c, s = pair()\nselect([s], [], [], 0, nfds=1024) = 0\n",
        Some("tcp4"),
    ));
}

#[test]
fn a_sleep_past_the_deadline_is_an_error_not_a_passing_zero() {
    let started = Instant::now();
    let r = run_with("sleep(80000s)\n", None, Duration::from_millis(300));
    assert_eq!(r.end.outcome, Outcome::Error, "{:?}", r.end);
    let m = r.end.message.as_deref().unwrap();
    assert!(
        m.contains("could not be judged: `sleep(80000s)` would end after the case deadline"),
        "{m}"
    );
    // Refused at once, not slept out to the deadline and then passed.
    assert!(started.elapsed() < Duration::from_millis(300));
}

#[test]
fn a_loop_still_moving_data_at_the_deadline_is_an_error() {
    // The peer keeps sending, so the receive loop is working when the deadline cuts it.
    let r = run_with(
        "c, s = pair(tcp4)\nsend(c, \"abc\")\nrecv_exact(s, 10) = \"abc\"\n",
        None,
        Duration::from_millis(100),
    );
    assert_eq!(r.end.outcome, Outcome::Error, "{:?}", r.end);
    assert!(r.end.message.as_deref().unwrap().contains(
        "could not be judged: the case deadline passed while the loop was still moving data"
    ));
}

#[test]
fn the_first_variant_whose_condition_holds_is_checked() {
    let r = run(
        "c, s = pair(udp4)\n\
         recv(s, 10, MSG_DONTWAIT) = 5\n\
         \x20 when freebsd = 4 because \"not this one\"\n\
         \x20 when linux = -1 EAGAIN because \"nothing was sent\"\n",
        None,
    );
    passes(&r);
    assert_eq!(r.records[1].expected.as_deref(), Some("-1 EAGAIN"));
    assert!(r.records[1]
        .note
        .as_deref()
        .unwrap()
        .contains("nothing was sent"));
}

#[test]
fn pair_without_a_flavour_is_a_harness_error() {
    let source = "case \"x\"\nflavours tcp4\nc, s = pair()\n";
    let r = execute_parsed(
        &sockspec_lang::parse("t.sock", source).unwrap(),
        source,
        None,
    );
    assert_eq!(r.end.outcome, Outcome::Error, "{:?}", r.end);
    assert_eq!(r.records[0].status, StepStatus::Error);
}

#[test]
fn every_step_is_announced_before_it_is_recorded() {
    let r = run("c, s = pair(tcp4)\nsend(c, \"x\") = 1\n", None);
    let kinds: Vec<&str> = r
        .events
        .iter()
        .map(|e| {
            if matches!(e, Event::Started { .. }) {
                "start"
            } else {
                "step"
            }
        })
        .collect();
    assert_eq!(kinds, ["start", "step", "start", "step"]);
    assert!(matches!(r.events[2], Event::Started { index: 1, line: 4 }));
}

#[test]
fn unix_addresses_decode_by_length() {
    let dir = std::path::Path::new("/tmp/case");
    let style = AddrStyle {
        private_dir: dir,
        abstract_prefix: "u1.",
    };
    let round = |a: Addr| Addr::decode(&a.encode().unwrap());
    assert_eq!(round(Addr::Unnamed), Addr::Unnamed);
    assert_eq!(
        round(Addr::Abstract(b"u1.x".to_vec())).render(&style),
        "abstract(\"x\")"
    );
    assert_eq!(
        round(Addr::Abstract(b"0001f".to_vec())).render(&style),
        "autobound(@0001f)"
    );
    assert_eq!(
        round(Addr::Path(b"/tmp/case/x".to_vec())).render(&style),
        "path(\"x\")"
    );
    assert_eq!(
        round(Addr::Path(b"/elsewhere".to_vec())).render(&style),
        "rawpath(\"/elsewhere\")"
    );
    assert_eq!(
        super::addr::v6([0, 0, 0, 0, 0, 0, 0, 1], 5000).render(&style),
        "[::1]:5000"
    );
}

#[test]
fn urgent_data_raises_sigurg_for_the_owner() {
    let r = run(
        "a, b = pair(tcp4)\n\
         fcntl(b, F_SETOWN, self)\n\
         send(a, \"x\", MSG_OOB) = 1 signal SIGURG\n\
         sleep(10ms)\n\
         recv(b, 1, MSG_OOB) = \"x\"\n",
        None,
    );
    passes(&r);
}

#[test]
fn changing_the_machine_is_refused_without_namespaces_of_its_own() {
    // The unit tests run in the test process, which never entered namespaces: every call
    // that would rename the host, write its /etc or shape its network must be a harness
    // error, not a syscall.
    let before = nix::unistd::gethostname().unwrap();
    for (body, says) in [
        (
            "sethostname(\"sockspec-must-not-rename\")\n",
            "would rename the machine",
        ),
        ("mount_tmpfs(rawpath(\"/etc\"))\n", "no mount namespace"),
        (
            "sethostid(0x12345678)\n",
            "would write the machine's /etc/hostid",
        ),
        (
            "write_file(rawpath(\"/etc/sockspec-must-not-exist\"), \"x\")\n",
            "is refused",
        ),
        ("write_file(path(\"../escape\"), \"x\")\n", "is refused"),
        ("read_file(rawpath(\"/etc/hosts\"), 64)\n", "is refused"),
        (
            "tc(\"qdisc add dev lo root tbf rate 1kbit burst 1500 limit 1500\")\n",
            "network namespace of its own",
        ),
    ] {
        let source = format!("case \"x\"\nneeds isolation\n{body}");
        // A name the parser sees leaving the case's area is refused before anything runs;
        // the engine refuses the rest (and would refuse these too: see `confine`).
        let scenario = match sockspec_lang::parse("t.sock", &source) {
            Ok(scenario) => scenario,
            Err(d) => {
                assert!(
                    d.iter().any(|d| d.code == "path-outside-case"),
                    "{body}: {d}"
                );
                continue;
            }
        };
        let r = execute_parsed(&scenario, &source, None);
        assert_eq!(r.end.outcome, Outcome::Error, "{body}: {:?}", r.end);
        let message = r.end.message.clone().unwrap_or_default();
        assert!(message.contains(says), "{body}: {message}");
    }
    assert_eq!(nix::unistd::gethostname().unwrap(), before);
    assert!(!std::path::Path::new("/etc/sockspec-must-not-exist").exists());
}

#[test]
fn files_in_the_private_directory_are_written_and_read_back() {
    let r = run(
        "write_file(path(\"f\"), \"hello\") = 5\n\
         read_file(path(\"f\"), 64) = \"hello\"\n\
         read_file(path(\"f\"), 2) = \"he\"\n\
         read_file(path(\"none\"), 2) = -1 ENOENT\n",
        None,
    );
    passes(&r);
}

#[test]
fn a_lookup_reports_its_hostent_or_h_errno() {
    // Numeric names are decoded by glibc itself, without /etc/hosts or DNS, so the results do
    // not depend on the machine.
    let r = run(
        "gethostbyname(\"192.0.2.99\") = 192.0.2.99:* h_name \"192.0.2.99\" h_aliases [] \
         h_addrtype AF_INET h_length 4 h_addr_list [192.0.2.99]\n\
         gethostbyname(\"::1\") = -1 ENOENT h_errno HOST_NOT_FOUND\n\
         gethostbyname(\"192.0.2.99\") = ok h_name \"other\"\n",
        None,
    );
    let f = fails_at(&r, 3);
    assert!(f.actual.contains("h_addr_list [192.0.2.99]"), "{f:#?}");
    let why = f.hint.clone().unwrap_or_default();
    assert!(why.contains("h_name is \"192.0.2.99\""), "{f:#?}");
    let r = run(
        "gethostid() = ok\ngethostbyname(\"::1\") = ok h_errno HOST_NOT_FOUND\n",
        None,
    );
    let f = fails_at(&r, 2);
    assert!(f.actual.contains("h_errno HOST_NOT_FOUND"), "{f:#?}");
    assert!(r.records[0].result.starts_with("= 0x") || r.records[0].result.starts_with("= -"));
}

#[test]
fn a_condition_on_a_sysctl_the_kernel_lacks_skips_the_case_saying_which() {
    let r = run(
        "s = socket(INET, STREAM) = ok\n  when sysctl(net.sockspec.no_such_sysctl) != 0 = -1 EPERM because \"never\"\nclose(s) = ok\n",
        None,
    );
    assert_eq!(r.end.outcome, Outcome::Skip, "{:#?}", r.end);
    let message = r.end.message.as_deref().unwrap_or_default();
    assert!(
        message.contains("needs sysctl `net.sockspec.no_such_sysctl`")
            && message.contains("line 3"),
        "{message}"
    );
    assert!(r.end.failure.is_none());
}

#[test]
fn bindv6only_is_derived_from_the_default_of_ipv6_v6only() {
    // What gVisor lacks in /proc/sys is read through its effect; where both exist they agree.
    let Some(derived) = super::context::derived_sysctl("net.ipv6.bindv6only") else {
        return; // no IPv6 sockets here: nothing to derive from.
    };
    if let Ok(file) = std::fs::read_to_string("/proc/sys/net/ipv6/bindv6only") {
        assert_eq!(derived, file.trim());
    }
    assert!(derived == "0" || derived == "1", "{derived}");
    assert_eq!(super::context::derived_sysctl("net.core.somaxconn"), None);
}

#[test]
fn require_with_an_expectation_skips_when_the_result_differs_and_goes_on_when_it_matches() {
    let body = "s = socket(INET, STREAM) = ok\nsetsockopt(s, SOL_SOCKET, SO_RCVLOWAT, 30) = 0\nrequire getsockopt(s, SOL_SOCKET, SO_RCVLOWAT) = WANT because \"needs SO_RCVLOWAT to take effect\"\nclose(s) = 0\n";
    passes(&run(&body.replace("WANT", "30"), None));
    let r = run(&body.replace("WANT", "31"), None);
    assert_eq!(r.end.outcome, Outcome::Skip, "{:#?}", r.end);
    let message = r.end.message.as_deref().unwrap_or_default();
    assert!(
        message == "needs SO_RCVLOWAT to take effect (line 5 gave `= 30`)",
        "{message}"
    );
    // The case stops there: the close after it never ran.
    assert_eq!(r.records.len(), 3);
}

#[test]
fn within_observes_again_until_the_event_then_judges_the_last_attempt() {
    // A child writes the 5 bytes 50 ms later: FIONREAD is 0 until they arrive.
    let r = run(
        "a, b = pair()\np = spawn([\"sh\", \"-c\", \"sleep 0.05; printf 12345\"], stdout=a) = ok\nioctl(b, FIONREAD) = 5 within 2s\nwait(p) = 0\n",
        Some("unix-stream-pair"),
    );
    passes(&r);
    let never = run(
        "a, b = pair()\nioctl(b, FIONREAD) = 5 within 30ms\n",
        Some("unix-stream-pair"),
    );
    let f = fails_at(&never, 2);
    assert!(f.actual.contains('0'), "{f:#?}");
}
