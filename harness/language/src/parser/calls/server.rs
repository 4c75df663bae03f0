//! Parsing the calls of the server family.
//! Grading only: `server_signal` and `server_fact`.

use crate::ast::*;
use crate::span::Span;

use crate::parser::args::{Arg, ArgKind};
use crate::parser::Parser;

/// `server_signal(SIGSTOP|SIGCONT)`.
pub(crate) fn server_signal(p: &mut Parser<'_>, args: &[Arg], _call_span: Span) -> Op {
    let sig = match &args[0].kind {
        ArgKind::Name(n) if n == "SIGSTOP" || n == "SIGCONT" => n.clone(),
        _ => p.wrong(
            &args[0],
            "`SIGSTOP` or `SIGCONT`",
            Some("freeze the server with SIGSTOP, thaw it with SIGCONT".into()),
            "SIGCONT".to_string(),
        ),
    };
    Op::ServerSignal {
        sig,
        span: args[0].span,
    }
}

/// `server_fact(FACT)`.
pub(crate) fn server_fact(p: &mut Parser<'_>, args: &[Arg], _call_span: Span) -> Op {
    let fact = match &args[0].kind {
        ArgKind::Name(n) => ServerFact::from_name(n),
        _ => None,
    };
    let fact = fact.unwrap_or_else(|| {
        let names: Vec<&str> = ServerFact::ALL.iter().map(|f| f.name()).collect();
        p.wrong(
            &args[0],
            "a server fact",
            Some(format!("one of: {}", names.join(", "))),
            ServerFact::Alive,
        )
    });
    Op::ServerFact {
        fact,
        span: args[0].span,
    }
}

#[cfg(test)]
mod tests {
    use crate::parser::testkit::*;

    #[test]
    fn grading_calls_and_content_checks() {
        match op("sendrecv(c, pattern(1MiB), 1MiB) = pattern(1MiB)\n") {
            Op::SendRecv { data, len, .. } => {
                assert_eq!(data, Payload::Pattern(1 << 20));
                assert_eq!(len, 1 << 20);
            }
            other => panic!("{other:?}"),
        }
        match op("send_until_stalled(c, 500ms, 64MiB) = >0\n") {
            Op::SendUntilStalled { stall, max, .. } => {
                assert_eq!(stall, Duration::from_millis(500));
                assert_eq!(max, 64 << 20);
            }
            other => panic!("{other:?}"),
        }
        match op("server_fact(zombies) = 0\n") {
            Op::ServerFact { fact, .. } => assert_eq!(fact, ServerFact::Zombies),
            other => panic!("{other:?}"),
        }
        assert_eq!(codes("server_fact(zombie) = 0\n"), vec!["wrong-argument"]);
        match op("server_signal(SIGSTOP)\n") {
            Op::ServerSignal { sig, .. } => assert_eq!(sig, "SIGSTOP"),
            other => panic!("{other:?}"),
        }
        assert_eq!(codes("server_signal(SIGKILL)\n"), vec!["wrong-argument"]);
        assert_eq!(
            value("recv_exact(c, 513) = daytime_line\n"),
            Value::Content(ContentCheck::DaytimeLine)
        );
        assert_eq!(
            value("recv_exact(c, 4) = seconds_since_1900(5s)\n"),
            Value::Content(ContentCheck::SecondsSince1900 {
                tolerance: Duration::from_secs(5)
            })
        );
        assert_eq!(
            value("recv_exact(c, 7400) = chargen_pattern\n"),
            Value::Content(ContentCheck::Chargen { rotating: true })
        );
        assert_eq!(
            value("recv_exact(c, 7400) = chargen_lines\n"),
            Value::Content(ContentCheck::Chargen { rotating: false })
        );
        assert_eq!(
            value("recv(c, 600) = printable(512)\n"),
            Value::Content(ContentCheck::Printable { max: 512 })
        );
        assert_eq!(codes("recv(c, 1) = daytime_lines\n"), vec!["unknown-value"]);
    }
}
