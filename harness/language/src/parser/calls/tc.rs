//! Parsing the calls of the tc family.
//! `tc(...)`: the traffic-control command a case runs in its own network namespace.

use crate::ast::*;
use crate::diag::Mistake;
use crate::span::Span;

use crate::parser::args::{Arg, ArgKind};
use crate::parser::Parser;

/// `tc("ARGUMENTS")`.
pub(crate) fn tc(p: &mut Parser<'_>, args: &[Arg], _call_span: Span) -> Op {
    p.tc(&args[0])
}

impl Parser<'_> {
    /// `tc("qdisc add dev lo clsact")`: the words of one tc command. It changes the network
    /// namespace, so the case must have one of its own (`needs isolation`).
    pub(crate) fn tc(&mut self, arg: &Arg) -> Op {
        let text = self.string_arg(arg, "the tc command in quotes");
        let args: Vec<String> = text.split_whitespace().map(str::to_string).collect();
        if args.is_empty() && matches!(arg.kind, ArgKind::Str(_)) {
            self.push(
                Mistake::WrongArgument {
                    expected: "a tc command".into(),
                    found: "an empty string".into(),
                    help: Some(
                        "write the arguments as on a shell: `tc(\"qdisc add dev lo clsact\")`"
                            .into(),
                    ),
                },
                arg.span,
            );
        }
        Op::Tc {
            args,
            span: arg.span,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::parser::testkit::*;

    #[test]
    fn require_an_option_to_take_effect() {
        let s = last(
            "require getsockopt(s, SOL_SOCKET, SO_RCVLOWAT) = 30 because \"needs SO_RCVLOWAT\"\n",
        );
        match s {
            StepKind::Require {
                expect: Some(clause),
                reason,
                ..
            } => {
                assert_eq!(reason, "needs SO_RCVLOWAT");
                assert_eq!(clause.default.alternatives.len(), 1);
            }
            other => panic!("not a requirement with an expectation: {other:?}"),
        }
        let codes = |body: &str| -> Vec<&'static str> {
            match parse("t.sock", &format!("{HEAD}{body}")) {
                Ok(_) => Vec::new(),
                Err(d) => d.iter().map(|d| d.code).collect(),
            }
        };
        assert_eq!(
            codes("require getsockopt(s, SOL_SOCKET, SO_RCVLOWAT) = 30\n"),
            vec!["missing-reason"]
        );
        assert_eq!(
            codes("require getsockopt(s, SOL_SOCKET, SO_RCVLOWAT) because \"x\"\n"),
            vec!["require-only-tc"]
        );
    }

    #[test]
    fn tc_and_require() {
        let isolated = |body: &str| format!("case \"t\"\nneeds isolation\n{body}");
        let codes_of = |src: &str| -> Vec<&'static str> {
            match parse("t.sock", src) {
                Ok(_) => Vec::new(),
                Err(d) => d.iter().map(|d| d.code).collect(),
            }
        };
        let s = parse(
            "t.sock",
            &isolated(
                "require tc(\"qdisc  add dev lo clsact\") because \"needs clsact\"\ntc(\"-s qdisc show dev lo\")\n",
            ),
        )
        .unwrap();
        match &s.steps[0].kind {
            StepKind::Require { call, reason, .. } => {
                assert_eq!(reason, "needs clsact");
                assert!(
                    matches!(&call.op, Op::Tc { args, .. } if args == &["qdisc", "add", "dev", "lo", "clsact"])
                );
            }
            other => panic!("not a requirement: {other:?}"),
        }
        assert!(
            matches!(&s.steps[1].kind, StepKind::Call { call, .. } if matches!(call.op, Op::Tc { .. }))
        );
        // tc must never run in the host's namespace: the case has to ask for its own.
        assert_eq!(
            codes_of("case \"t\"\ntc(\"qdisc show\")\n"),
            vec!["needs-isolation"]
        );
        assert_eq!(
            codes_of(&isolated("require tc(\"qdisc show\")\n")),
            vec!["missing-reason"]
        );
        assert_eq!(
            codes_of(&isolated("require tc(\"qdisc show\") = 0\n")),
            vec!["missing-reason"]
        );
        assert_eq!(
            codes_of(&isolated("require sleep(1ms) because \"x\"\n")),
            vec!["require-only-tc"]
        );
        assert_eq!(codes_of(&isolated("tc(\"  \")\n")), vec!["wrong-argument"]);
        assert_eq!(codes_of(&isolated("tc(qdisc)\n")), vec!["wrong-argument"]);
        assert_eq!(
            codes_of(&isolated(
                "require tc(\"qdisc show\") because \"x\"\n  when linux = ok because \"y\"\n"
            )),
            vec!["orphan-when"]
        );
    }
}
