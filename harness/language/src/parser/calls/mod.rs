//! The calls of the language: the [`CALLS`] table, one row per call naming its family's
//! parse function, and the arity check every call goes through. Each family's module under
//! `calls/` turns checked arguments into its [`Op`]s.

mod files;
mod io;
mod names;
mod options;
mod process;
mod readiness;
mod server;
mod sockets;
mod tc;

use crate::ast::*;
use crate::diag::Mistake;
use crate::span::Span;

use super::args::Arg;
use super::{PResult, Parser};

/// How many handles a call returns.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Returns {
    Nothing,
    One,
    Two,
    /// A process name (`p = spawn(...)`), given to `wait` and `kill`, never a descriptor.
    Process,
}

/// Builds a call's [`Op`] from arguments whose count the table's row already checked.
pub(crate) type ParseCall = fn(&mut Parser<'_>, &[Arg], Span) -> Op;

pub(crate) struct CallSpec {
    pub name: &'static str,
    pub signature: &'static str,
    pub min: usize,
    pub max: usize,
    pub returns: Returns,
    pub parse: ParseCall,
}

const fn spec(
    name: &'static str,
    signature: &'static str,
    min: usize,
    max: usize,
    returns: Returns,
    parse: ParseCall,
) -> CallSpec {
    CallSpec {
        name,
        signature,
        min,
        max,
        returns,
        parse,
    }
}

pub(crate) const CALLS: &[CallSpec] = &[
    spec(
        "socket",
        "socket(DOMAIN, TYPE[, PROTO])",
        2,
        3,
        Returns::One,
        sockets::socket,
    ),
    spec(
        "socketpair",
        "socketpair(DOMAIN, TYPE[, PROTO])",
        2,
        3,
        Returns::Two,
        sockets::socketpair,
    ),
    spec("pair", "pair([KIND])", 0, 1, Returns::Two, sockets::pair),
    spec("pipe", "pipe()", 0, 0, Returns::Two, sockets::pipe),
    spec(
        "bind",
        "bind(s, ADDR)",
        2,
        2,
        Returns::Nothing,
        sockets::bind,
    ),
    spec(
        "connect",
        "connect(s, ADDR)",
        2,
        2,
        Returns::Nothing,
        sockets::connect,
    ),
    spec(
        "listen",
        "listen(s, BACKLOG)",
        2,
        2,
        Returns::Nothing,
        sockets::listen,
    ),
    spec(
        "accept",
        "accept(l[, FLAGS][, addrlen=N])",
        1,
        3,
        Returns::One,
        sockets::accept,
    ),
    spec(
        "send",
        "send(s, DATA[, FLAGS])",
        2,
        3,
        Returns::Nothing,
        io::send,
    ),
    spec(
        "sendto",
        "sendto(s, DATA, FLAGS, ADDR)",
        4,
        4,
        Returns::Nothing,
        io::sendto,
    ),
    spec(
        "sendmsg",
        "sendmsg(s, [DATA, ...][, FLAGS][, to=ADDR][, rights=[h, ...]][, creds])",
        2,
        6,
        Returns::Nothing,
        io::sendmsg,
    ),
    spec(
        "recv",
        "recv(s, LEN[, FLAGS])",
        2,
        3,
        Returns::Nothing,
        io::recv,
    ),
    spec(
        "recvfrom",
        "recvfrom(s, LEN[, FLAGS])",
        2,
        3,
        Returns::Nothing,
        io::recvfrom,
    ),
    spec(
        "recvmsg",
        "recvmsg(s, LEN[, FLAGS])",
        2,
        3,
        Returns::Nothing,
        io::recvmsg,
    ),
    spec(
        "recv_exact",
        "recv_exact(s, LEN)",
        2,
        2,
        Returns::Nothing,
        io::recv_exact,
    ),
    spec(
        "recv_until",
        "recv_until(s, DELIM, MAX)",
        3,
        3,
        Returns::Nothing,
        io::recv_until,
    ),
    spec(
        "send_all",
        "send_all(s, DATA)",
        2,
        2,
        Returns::Nothing,
        io::send_all,
    ),
    spec("read", "read(fd, LEN)", 2, 2, Returns::Nothing, io::read),
    spec(
        "write",
        "write(fd, DATA)",
        2,
        2,
        Returns::Nothing,
        io::write,
    ),
    spec(
        "shutdown",
        "shutdown(s, SHUT_RD|SHUT_WR|SHUT_RDWR)",
        2,
        2,
        Returns::Nothing,
        sockets::shutdown,
    ),
    spec("close", "close(h)", 1, 1, Returns::Nothing, sockets::close),
    spec("dup", "dup(h)", 1, 1, Returns::One, sockets::dup),
    spec(
        "getsockname",
        "getsockname(s)",
        1,
        1,
        Returns::Nothing,
        sockets::getsockname,
    ),
    spec(
        "getpeername",
        "getpeername(s)",
        1,
        1,
        Returns::Nothing,
        sockets::getpeername,
    ),
    spec(
        "setsockopt",
        "setsockopt(s, LEVEL, OPT, VALUE)",
        4,
        4,
        Returns::Nothing,
        options::setsockopt,
    ),
    spec(
        "getsockopt",
        "getsockopt(s, LEVEL, OPT)",
        3,
        3,
        Returns::Nothing,
        options::getsockopt,
    ),
    spec(
        "fcntl",
        "fcntl(fd, CMD[, ARG])",
        2,
        3,
        Returns::Nothing,
        options::fcntl,
    ),
    spec(
        "ioctl",
        "ioctl(fd, REQUEST)",
        2,
        2,
        Returns::Nothing,
        options::ioctl,
    ),
    spec(
        "poll",
        "poll([h: EVENTS, ...], TIMEOUT)",
        2,
        2,
        Returns::Nothing,
        readiness::poll,
    ),
    spec(
        "select",
        "select([r...] | rs, [w...] | ws, [e...] | es, TIMEOUT[, nfds=N])",
        4,
        5,
        Returns::Nothing,
        readiness::select,
    ),
    spec(
        "sleep",
        "sleep(DURATION)",
        1,
        1,
        Returns::Nothing,
        readiness::sleep,
    ),
    spec(
        "unlink",
        "unlink(path(\"name\"))",
        1,
        1,
        Returns::Nothing,
        files::unlink,
    ),
    spec(
        "stat",
        "stat(path(\"name\"))",
        1,
        1,
        Returns::Nothing,
        files::stat,
    ),
    spec(
        "chmod",
        "chmod(path(\"name\"), MODE)",
        2,
        2,
        Returns::Nothing,
        files::chmod,
    ),
    spec(
        "touch",
        "touch(path(\"name\"))",
        1,
        1,
        Returns::Nothing,
        files::touch,
    ),
    spec(
        "sizeof",
        "sizeof(TYPE)",
        1,
        1,
        Returns::Nothing,
        options::sizeof,
    ),
    spec(
        "constant",
        "constant(NAME)",
        1,
        1,
        Returns::Nothing,
        options::constant,
    ),
    spec(
        "getservbyname",
        "getservbyname(\"service\", \"proto\")",
        2,
        2,
        Returns::Nothing,
        names::getservbyname,
    ),
    spec(
        "getservbyport",
        "getservbyport(PORT, \"proto\")",
        2,
        2,
        Returns::Nothing,
        names::getservbyport,
    ),
    spec(
        "gethostname",
        "gethostname([LEN])",
        0,
        1,
        Returns::Nothing,
        names::gethostname,
    ),
    spec(
        "gethostbyname",
        "gethostbyname(\"name\")",
        1,
        1,
        Returns::Nothing,
        names::gethostbyname,
    ),
    spec(
        "signal",
        "signal(SIGNAL, ignore|default|count)",
        2,
        2,
        Returns::Nothing,
        process::signal,
    ),
    spec(
        "sendrecv",
        "sendrecv(s, DATA, LEN)",
        3,
        3,
        Returns::Nothing,
        io::sendrecv,
    ),
    spec(
        "send_until_stalled",
        "send_until_stalled(s, STALL, MAX)",
        3,
        3,
        Returns::Nothing,
        io::send_until_stalled,
    ),
    spec(
        "server_fact",
        "server_fact(FACT)",
        1,
        1,
        Returns::Nothing,
        server::server_fact,
    ),
    spec(
        "server_signal",
        "server_signal(SIGSTOP|SIGCONT)",
        1,
        1,
        Returns::Nothing,
        server::server_signal,
    ),
    spec(
        "FD_ZERO",
        "FD_ZERO(set)",
        1,
        1,
        Returns::Nothing,
        readiness::fd_zero,
    ),
    spec(
        "FD_SET",
        "FD_SET(h, set)",
        2,
        2,
        Returns::Nothing,
        readiness::fd_set,
    ),
    spec(
        "FD_CLR",
        "FD_CLR(h, set)",
        2,
        2,
        Returns::Nothing,
        readiness::fd_clr,
    ),
    spec(
        "FD_ISSET",
        "FD_ISSET(h, set)",
        2,
        2,
        Returns::Nothing,
        readiness::fd_isset,
    ),
    spec(
        "dir_entries",
        "dir_entries()",
        0,
        0,
        Returns::Nothing,
        files::dir_entries,
    ),
    spec(
        "spawn",
        "spawn([\"program\", ARG...][, stdin=h][, stdout=h][, stderr=h])",
        1,
        4,
        Returns::Process,
        process::spawn,
    ),
    spec("wait", "wait(p)", 1, 1, Returns::Nothing, process::wait),
    spec(
        "kill",
        "kill(p, SIGNAL)",
        2,
        2,
        Returns::Nothing,
        process::kill,
    ),
    spec(
        "children",
        "children()",
        0,
        0,
        Returns::Nothing,
        process::children,
    ),
    spec(
        "sethostname",
        "sethostname(\"name\")",
        1,
        1,
        Returns::Nothing,
        names::sethostname,
    ),
    spec(
        "mount_tmpfs",
        "mount_tmpfs(rawpath(\"/dir\"))",
        1,
        1,
        Returns::Nothing,
        names::mount_tmpfs,
    ),
    spec(
        "write_file",
        "write_file(PATH, DATA)",
        2,
        2,
        Returns::Nothing,
        names::write_file,
    ),
    spec(
        "read_file",
        "read_file(PATH, LEN)",
        2,
        2,
        Returns::Nothing,
        names::read_file,
    ),
    spec(
        "gethostid",
        "gethostid()",
        0,
        0,
        Returns::Nothing,
        names::gethostid,
    ),
    spec(
        "sethostid",
        "sethostid(ID)",
        1,
        1,
        Returns::Nothing,
        names::sethostid,
    ),
    spec(
        "gethostbyname2",
        "gethostbyname2(\"name\", FAMILY)",
        2,
        2,
        Returns::Nothing,
        names::gethostbyname2,
    ),
    spec(
        "gethostbyaddr",
        "gethostbyaddr(ADDR, LEN, FAMILY)",
        3,
        3,
        Returns::Nothing,
        names::gethostbyaddr,
    ),
    spec("tc", "tc(\"ARGUMENTS\")", 1, 1, Returns::Nothing, tc::tc),
];

/// Calls that change the host name, the mounts, `/etc` or the network (`tc`): only a case with a namespace of
/// its own may make them, so the parser asks for `needs isolation` (without it the case
/// would run, and be refused, on a machine without namespaces).
pub(crate) const ISOLATED_CALLS: &[&str] = &["sethostname", "mount_tmpfs", "sethostid", "tc"];

impl Parser<'_> {
    /// Checks the argument count against the call's row, then lets its family parse it.
    pub(crate) fn op(
        &mut self,
        spec: &'static CallSpec,
        args: &[Arg],
        call_span: Span,
    ) -> PResult<Op> {
        if args.len() < spec.min || args.len() > spec.max {
            return self.fail(
                Mistake::WrongArity {
                    call: spec.name,
                    given: args.len(),
                    signature: spec.signature,
                },
                call_span,
            );
        }
        Ok((spec.parse)(self, args, call_span))
    }
}

#[cfg(test)]
mod tests {
    use crate::parser::testkit::*;

    #[test]
    fn unknown_calls_and_arity() {
        assert_eq!(codes("conect(c, l)\n"), vec!["unknown-call"]);
        assert_eq!(codes("close c\n"), vec!["syntax"]);
        let d = parse("t", &format!("{HEAD}recv(s)\n")).unwrap_err();
        assert_eq!(
            d.diagnostics()[0].help.as_deref(),
            Some("the signature is `recv(s, LEN[, FLAGS])`")
        );
    }
}
