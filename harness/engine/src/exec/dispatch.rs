//! Who performs each op: the one place outside the families that matches on [`Op`].
//!
//! [`route`] names an op's family and its performer (the runner itself, the process table, or
//! the kernel through the family's `prepare` and `perform`). The match has no wildcard, so a
//! new `Op` variant does not compile until it is given a family here.

use std::os::fd::RawFd;
use std::time::Instant;

use sockspec_lang::Op;

use super::addr::AddrStyle;
use super::calls::{files, io, names, options, process, readiness, server, sockets, tc};
use super::observed::Observed;
use super::resolve::Resolver;
use super::HarnessError;

/// The call families, one module each under `calls/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    Sockets,
    Io,
    Options,
    Readiness,
    Files,
    Process,
    Names,
    Tc,
    Server,
}

/// Who carries out an op.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Performer {
    /// The step loop itself, because the op changes its own state (the handle table, the
    /// fd sets, the signal dispositions, the process table); it cannot be started with
    /// `blocks`.
    Runner,
    /// The process table resolves it (`wait`, `kill`, `children()`); the kernel performs it.
    Procs,
    /// The family's `prepare` resolves it and its `perform` makes the call.
    Kernel,
}

/// An op's family and its performer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Route {
    pub family: Family,
    pub performer: Performer,
}

/// Where `op` goes. No wildcard: every `Op` variant is named here.
pub(crate) fn route(op: &Op) -> Route {
    use Family::*;
    use Performer::*;
    let (family, performer) = match op {
        Op::Pair { .. } | Op::Close { .. } => (Sockets, Runner),
        Op::Socket { .. }
        | Op::Socketpair { .. }
        | Op::Pipe
        | Op::Bind { .. }
        | Op::Listen { .. }
        | Op::Connect { .. }
        | Op::Accept { .. }
        | Op::Shutdown { .. }
        | Op::Dup { .. }
        | Op::Getsockname { .. }
        | Op::Getpeername { .. } => (Sockets, Kernel),
        Op::Send { .. }
        | Op::Sendto { .. }
        | Op::Sendmsg { .. }
        | Op::Recv { .. }
        | Op::Recvfrom { .. }
        | Op::Recvmsg { .. }
        | Op::RecvExact { .. }
        | Op::RecvUntil { .. }
        | Op::SendAll { .. }
        | Op::Write { .. }
        | Op::Read { .. }
        | Op::SendRecv { .. }
        | Op::SendUntilStalled { .. } => (Io, Kernel),
        Op::Setsockopt { .. }
        | Op::Getsockopt { .. }
        | Op::Fcntl { .. }
        | Op::Ioctl { .. }
        | Op::Sizeof { .. }
        | Op::Constant { .. } => (Options, Kernel),
        Op::FdZero { .. } | Op::FdSet { .. } | Op::FdClr { .. } | Op::FdIsset { .. } => {
            (Readiness, Runner)
        }
        Op::Poll { .. } | Op::Select { .. } | Op::Sleep { .. } => (Readiness, Kernel),
        Op::Unlink { .. }
        | Op::Stat { .. }
        | Op::Chmod { .. }
        | Op::Touch { .. }
        | Op::DirEntries => (Files, Kernel),
        Op::Signal { .. } | Op::Spawn { .. } => (Process, Runner),
        Op::Wait { .. } | Op::Kill { .. } | Op::Children => (Process, Procs),
        Op::Getservbyname { .. }
        | Op::Getservbyport { .. }
        | Op::Gethostname { .. }
        | Op::Gethostbyname { .. }
        | Op::Sethostname { .. }
        | Op::MountTmpfs { .. }
        | Op::WriteFile { .. }
        | Op::ReadFile { .. }
        | Op::Gethostid
        | Op::Sethostid { .. }
        | Op::Gethostbyname2 { .. }
        | Op::Gethostbyaddr { .. } => (Names, Kernel),
        Op::Tc { .. } => (Tc, Kernel),
        Op::ServerSignal { .. } | Op::ServerFact { .. } => (Server, Kernel),
    };
    Route { family, performer }
}

/// A call of any family with every argument resolved, ready to run on this thread or on the
/// thread of a `blocks` step.
#[derive(Debug)]
pub(crate) enum Prepared {
    Sockets(sockets::Call),
    Io(io::Call),
    Options(options::Call),
    Readiness(readiness::Call),
    Files(files::Call),
    Process(process::Call),
    Names(names::Call),
    Tc(tc::Call),
    Server(server::Call),
}

impl Prepared {
    /// The descriptors the call waits on, so the end of a case can wake it.
    pub(crate) fn fds(&self) -> Vec<RawFd> {
        match self {
            Prepared::Sockets(c) => c.fds(),
            Prepared::Io(c) => c.fds(),
            Prepared::Readiness(c) => c.fds(),
            _ => Vec::new(),
        }
    }
}

/// A resolved call with its transcript text and the handles it touches.
pub(crate) struct Resolved {
    pub call: Prepared,
    pub text: String,
    pub handles: Vec<String>,
}

/// Resolves an op the kernel performs (`Performer::Kernel`) through its family.
pub(crate) fn prepare(r: &Resolver, op: &Op, deadline: Instant) -> Result<Resolved, HarnessError> {
    let mut h = Vec::new();
    let (call, text) = match route(op).family {
        Family::Sockets => sockets::prepare(r, op, &mut h).map(|(c, t)| (Prepared::Sockets(c), t)),
        Family::Io => io::prepare(r, op, &mut h).map(|(c, t)| (Prepared::Io(c), t)),
        Family::Options => options::prepare(r, op, &mut h).map(|(c, t)| (Prepared::Options(c), t)),
        Family::Readiness => {
            readiness::prepare(r, op, &mut h, deadline).map(|(c, t)| (Prepared::Readiness(c), t))
        }
        Family::Files => files::prepare(r, op).map(|(c, t)| (Prepared::Files(c), t)),
        Family::Names => names::prepare(r, op).map(|(c, t)| (Prepared::Names(c), t)),
        Family::Tc => tc::prepare(r, op).map(|(c, t)| (Prepared::Tc(c), t)),
        Family::Server => server::prepare(r, op).map(|(c, t)| (Prepared::Server(c), t)),
        Family::Process => Err(super::resolve::wrong_family(op, "kernel-performed")),
    }?;
    Ok(Resolved {
        call,
        text,
        handles: h,
    })
}

/// Resolves `wait`, `kill` and `children()` against the process table.
pub(crate) fn prepare_process(procs: &process::Procs, op: &Op) -> Result<Resolved, HarnessError> {
    let (call, text) = procs.prepare(op)?;
    Ok(Resolved {
        call: Prepared::Process(call),
        text,
        handles: Vec::new(),
    })
}

/// Runs the call and times it; `deadline` bounds the engine's own loops, never the call.
pub(crate) fn perform(call: &Prepared, deadline: Instant) -> Observed {
    let start = Instant::now();
    let mut o = Observed::new(Ok(0));
    match call {
        Prepared::Sockets(c) => sockets::perform(c, &mut o),
        Prepared::Io(c) => io::perform(c, &mut o, deadline),
        Prepared::Options(c) => options::perform(c, &mut o),
        Prepared::Readiness(c) => readiness::perform(c, &mut o),
        Prepared::Files(c) => files::perform(c, &mut o),
        Prepared::Process(c) => process::perform(c, &mut o, deadline),
        Prepared::Names(c) => names::perform(c, &mut o),
        Prepared::Tc(c) => tc::perform(c, &mut o, deadline),
        Prepared::Server(c) => server::perform(c, &mut o),
    }
    o.took = start.elapsed();
    o
}

/// What a successful call returned, as its family writes it.
pub(crate) fn ok_text(op: &Op, v: i64, o: &Observed, style: &AddrStyle<'_>) -> String {
    match route(op).family {
        Family::Sockets => sockets::render(op, v, o, style),
        Family::Io => io::render(op, v, o, style),
        Family::Options => options::render(op, v, o, style),
        Family::Readiness => readiness::render(op, v, o, style),
        Family::Files => files::render(op, v, o, style),
        Family::Process => process::render(op, v, o),
        Family::Names => names::render(op, v, o, style),
        Family::Tc | Family::Server => v.to_string(),
    }
}

/// Whether the op returns received bytes (and their sender) for the transcript.
pub(crate) fn receives(op: &Op) -> io::Receives {
    match route(op).family {
        Family::Io => io::receives(op),
        Family::Names => names::receives(op),
        _ => io::Receives::Nothing,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::path::{Path, PathBuf};
    use std::time::{Duration, Instant};

    use sockspec_lang::StepKind;

    use super::*;
    use crate::exec::table::Table;
    use crate::exec::{Context, Facts};

    fn case_files(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let p = entry.path();
            if p.is_dir() {
                case_files(&p, out);
            } else if p.extension().is_some_and(|e| e == "sock") {
                out.push(p);
            }
        }
    }

    /// `route` has no wildcard, so an op without a family does not compile; this checks the
    /// other half: the family it names takes the op. Every family's `prepare` refuses an op
    /// of another family with `WrongFamily`, so each op of the catalogue is prepared (with an
    /// empty handle table, so most fail for an unbound handle, which is fine) and must never
    /// get that answer.
    #[test]
    fn every_family_takes_the_ops_routed_to_it() {
        let mut files = Vec::new();
        case_files(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../cases"),
            &mut files,
        );
        assert!(files.len() > 100, "the catalogue was not found");
        let dir = tempfile::tempdir().unwrap();
        let ctx = Context {
            time_scale: 1.0,
            flavour: None,
            private_dir: dir.path().to_path_buf(),
            unique: String::new(),
            facts: Facts::probe(false),
            deadline: Instant::now() + Duration::from_secs(5),
            server: None,
        };
        let table = Table::default();
        let resolver = Resolver {
            ctx: &ctx,
            table: &table,
            abstract_prefix: "",
        };
        let procs = process::Procs::default();
        let mut families = HashSet::new();
        for file in files {
            let source = std::fs::read_to_string(&file).unwrap();
            let Ok(scenario) = sockspec_lang::parse("case.sock", &source) else {
                continue;
            };
            for step in &scenario.steps {
                let op = match &step.kind {
                    StepKind::Call { call, .. } | StepKind::Require { call, .. } => &call.op,
                    StepKind::Await { .. } => continue,
                };
                let route = route(op);
                families.insert(format!("{:?}", route.family));
                let answer = match route.performer {
                    Performer::Kernel => prepare(&resolver, op, ctx.deadline).err(),
                    Performer::Procs => prepare_process(&procs, op).err(),
                    Performer::Runner => None,
                };
                if let Some(e @ HarnessError::WrongFamily { .. }) = answer {
                    panic!("{}: {e}", file.display());
                }
            }
        }
        assert_eq!(families.len(), 9, "the catalogue reached only {families:?}");
    }
}
