//! Parsing the calls of the process family.
//! Processes and signals: `signal`, `spawn`, `wait`, `kill`, `children`.

use crate::ast::*;
use crate::diag::Mistake;
use crate::span::Span;
use crate::symbols::Category;

use crate::parser::args::{Arg, ArgKind};
use crate::parser::{closest, Parser};

/// `signal(SIGNAL, ignore|default|count)`.
pub(crate) fn signal(p: &mut Parser<'_>, args: &[Arg], _call_span: Span) -> Op {
    Op::Signal {
        sig: p.sym(&args[0], Category::Signal),
        action: p.sym(&args[1], Category::SignalAction),
    }
}

/// `spawn(["program", ARG...][, stdin=h][, stdout=h][, stderr=h])`.
pub(crate) fn spawn(p: &mut Parser<'_>, args: &[Arg], _call_span: Span) -> Op {
    p.spawn(args)
}

/// `wait(p)`.
pub(crate) fn wait(p: &mut Parser<'_>, args: &[Arg], _call_span: Span) -> Op {
    Op::Wait {
        proc: p.process(&args[0]),
    }
}

/// `kill(p, SIGNAL)`.
pub(crate) fn kill(p: &mut Parser<'_>, args: &[Arg], _call_span: Span) -> Op {
    Op::Kill {
        proc: p.process(&args[0]),
        sig: p.sym(&args[1], Category::ProcSignal),
    }
}

/// `children()`.
pub(crate) fn children(_p: &mut Parser<'_>, _args: &[Arg], _call_span: Span) -> Op {
    Op::Children
}

impl Parser<'_> {
    /// `spawn(["prog", "arg", fd(h)], stdin=h, stdout=h, stderr=h)`.
    pub(crate) fn spawn(&mut self, args: &[Arg]) -> Op {
        let argv = match &args[0].kind {
            ArgKind::List(items) if !items.is_empty() => items
                .iter()
                .map(|item| match &item.kind {
                    ArgKind::Str(b) => ArgvItem::Str(String::from_utf8_lossy(b).into_owned()),
                    ArgKind::Func(f, inner) if f == "fd" => {
                        match self.func_args(item, inner, 1, "fd", "fd(h)") {
                            Some([h]) => ArgvItem::Fd(self.handle(h)),
                            _ => ArgvItem::Str(String::new()),
                        }
                    }
                    _ => self.wrong(
                        item,
                        "a string or `fd(h)`",
                        Some("each word of the command is a string in quotes; `fd(h)` passes a descriptor's number".into()),
                        ArgvItem::Str(String::new()),
                    ),
                })
                .collect(),
            _ => self.wrong(
                &args[0],
                "the command as a list `[\"program\", \"arg\", ...]`",
                Some("the first word names the program, found in PATH: `spawn([\"cat\"], stdin=s, stdout=s)`".into()),
                Vec::new(),
            ),
        };
        let mut stdio: [Option<Ident>; 3] = [None, None, None];
        for arg in &args[1..] {
            let slot = match &arg.kind {
                ArgKind::Keyed(k, v) => match k.as_str() {
                    "stdin" => Some((0, v)),
                    "stdout" => Some((1, v)),
                    "stderr" => Some((2, v)),
                    _ => None,
                },
                _ => None,
            };
            let Some((i, v)) = slot else {
                self.wrong(
                    arg,
                    "`stdin=h`, `stdout=h` or `stderr=h`",
                    Some("the child's standard descriptors are given by name; the ones not given are /dev/null".into()),
                    (),
                );
                continue;
            };
            if stdio[i].is_some() {
                self.wrong(arg, "each of `stdin`, `stdout`, `stderr` once", None, ());
                continue;
            }
            stdio[i] = Some(self.handle(v));
        }
        let [stdin, stdout, stderr] = stdio;
        Op::Spawn {
            argv,
            stdin,
            stdout,
            stderr,
        }
    }

    /// A process name bound by `spawn`.
    pub(crate) fn process(&mut self, arg: &Arg) -> Ident {
        let (id, settled) = self.bound_name(
            arg,
            "a process",
            "a process is a name bound by `p = spawn([...])`",
            |p| &p.processes,
        );
        if settled {
            return id;
        }
        let n = id.name.clone();
        if self.handles.contains(&n) {
            return self.wrong(
                arg,
                "a process",
                Some(format!(
                    "`{n}` is a descriptor; `wait` and `kill` take a name bound by `p = spawn([...])`"
                )),
                id,
            );
        }
        let suggestion = self
            .reporting()
            .then(|| closest(&n, self.processes.iter().map(String::as_str)))
            .flatten();
        self.push(
            Mistake::UnknownProcess {
                name: n,
                suggestion,
            },
            arg.span,
        );
        id
    }
}

#[cfg(test)]
mod tests {
    use crate::parser::testkit::*;

    #[test]
    fn process_calls() {
        match op("p = spawn([\"cat\"], stdin=s, stdout=s)\n") {
            Op::Spawn {
                argv,
                stdin,
                stdout,
                stderr,
            } => {
                assert_eq!(argv, vec![ArgvItem::Str("cat".into())]);
                assert_eq!(stdin.map(|i| i.name), Some("s".to_string()));
                assert_eq!(stdout.map(|i| i.name), Some("s".to_string()));
                assert_eq!(stderr, None);
            }
            other => panic!("{other:?}"),
        }
        match op("p = spawn([\"sh\", \"-c\", \"x\", \"sh\", fd(l)])\n") {
            Op::Spawn { argv, .. } => {
                assert!(matches!(&argv[4], ArgvItem::Fd(id) if id.name == "l"))
            }
            other => panic!("{other:?}"),
        }
        match value("p = spawn([\"true\"])\nwait(p) = SIGTERM\n") {
            Value::Flags(fm) => assert_eq!(names(&fm.names), vec!["SIGTERM"]),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            op("p = spawn([\"true\"])\nkill(p, SIGKILL) = 0\n"),
            Op::Kill { .. }
        ));
        assert_eq!(op("children() = 0\n"), Op::Children);
        assert!(codes("p = spawn([\"true\"])\nx = wait(p) blocks\nawait x = 0\n").is_empty());
    }

    #[test]
    fn process_mistakes() {
        // A process is not a descriptor, a descriptor is not a process.
        assert_eq!(
            codes("p = spawn([\"true\"])\nsend(p, \"x\")\n"),
            vec!["wrong-argument"]
        );
        assert_eq!(codes("wait(s)\n"), vec!["wrong-argument"]);
        assert_eq!(codes("wait(q)\n"), vec!["unknown-process"]);
        // A pid is never compared as a number.
        assert_eq!(codes("p = spawn([\"true\"]) = 5\n"), vec!["wrong-argument"]);
        assert!(codes("p = spawn([\"nope\"]) = -1 ENOENT\n").is_empty());
        assert_eq!(codes("p = spawn(\"cat\")\n"), vec!["wrong-argument"]);
        assert_eq!(codes("p = spawn([])\n"), vec!["wrong-argument"]);
        assert_eq!(
            codes("p = spawn([\"cat\"], input=s)\n"),
            vec!["wrong-argument"]
        );
        assert_eq!(
            codes("p = spawn([\"cat\"], stdin=s, stdin=c)\n"),
            vec!["wrong-argument"]
        );
        assert_eq!(codes("p = spawn([\"cat\", 3])\n"), vec!["wrong-argument"]);
        assert_eq!(codes("p, q = spawn([\"cat\"])\n"), vec!["binding-count"]);
        assert_eq!(
            codes("p = spawn([\"true\"])\nkill(p, SIGSTOP)\n"),
            vec!["unknown-symbol"]
        );
        assert_eq!(
            codes("p = spawn([\"true\"])\nwait(p) = SIGTREM\n"),
            vec!["unknown-symbol"]
        );
    }
}
