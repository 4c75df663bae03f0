//! The syntax tree of a scenario file: what the parser produces and the engine executes.
//!
//! Every node that a diagnostic or a failure report may point at carries a [`Span`].
//! Symbolic constants (`INET`, `MSG_PEEK`, `EAGAIN`, …) are kept as validated names; the
//! engine maps them to the platform's numbers, so this crate never needs libc.

use std::time::Duration;

use crate::span::Span;

/// A name with the place it was written.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

/// A whole scenario file.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    pub meta: Meta,
    pub steps: Vec<Step>,
}

/// The header directives of a case.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Meta {
    /// `case "title"`; required.
    pub title: String,
    /// `claims ID holds, ID refutes`.
    pub claims: Vec<ClaimRef>,
    /// `tags a b c`.
    pub tags: Vec<String>,
    /// `flavours tcp4 @unix-stream …`, expanded and de-duplicated, in the written order.
    /// Empty means the file is a single trial.
    pub flavours: Vec<Flavour>,
    /// `deadline 5s`: the whole case must finish in this time (scaled by --time-scale).
    pub deadline: Option<Duration>,
    /// `needs isolation root …`.
    pub needs: Vec<Need>,
    /// `refs "man 7 tcp" "POSIX recv()"`: where the expectations come from.
    pub refs: Vec<String>,
    /// `why "…"`: why the behaviour matters, shown in reports.
    pub why: Option<String>,
    /// `hint "…"`: what to look at when the case fails.
    pub hint: Option<String>,
    /// `ignore "reason"`: the case only runs with --ignored / --include-ignored.
    pub ignore: Option<String>,
    /// `differential a b …`: run the steps under each flavour and report differences
    /// (the flavours list is still used to make one trial per flavour).
    pub differential: bool,
}

/// Whether a passing case shows a course claim to hold or to be wrong on this kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stance {
    /// The case expects what the claim says: passing means the claim holds.
    Holds,
    /// The case expects the opposite of the claim: passing means the claim does not hold.
    Refutes,
    /// The case shows a nuance: passing means the claim holds only in part.
    Partly,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ClaimRef {
    pub id: String,
    pub stance: Stance,
    pub span: Span,
}

/// A prerequisite; a case whose needs are not met is skipped with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Need {
    /// Private network, mount and UTS namespaces (the case changes global state, its host
    /// name or its `/etc`, or needs a clean `lo`).
    Isolation,
    /// Must run as root (uid 0 in the initial user namespace).
    Root,
    /// Must run without privileges: as root the engine drops to `nobody` in the child.
    Unprivileged,
    /// IPv6 on loopback.
    Ipv6,
    /// A capability, e.g. `cap(NET_RAW)`.
    Cap(String),
}

/// One socket kind a flavoured case is expanded over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Flavour {
    Tcp4,
    Tcp6,
    UnixStreamPair,
    UnixStreamPath,
    UnixStreamAbstract,
    Udp4,
    Udp6,
    UnixDgramPair,
    UnixDgramPath,
    UnixDgramAbstract,
    UnixSeqpacketPair,
    UnixSeqpacketPath,
    UnixSeqpacketAbstract,
}

impl Flavour {
    pub const ALL: [Flavour; 13] = [
        Flavour::Tcp4,
        Flavour::Tcp6,
        Flavour::UnixStreamPair,
        Flavour::UnixStreamPath,
        Flavour::UnixStreamAbstract,
        Flavour::Udp4,
        Flavour::Udp6,
        Flavour::UnixDgramPair,
        Flavour::UnixDgramPath,
        Flavour::UnixDgramAbstract,
        Flavour::UnixSeqpacketPair,
        Flavour::UnixSeqpacketPath,
        Flavour::UnixSeqpacketAbstract,
    ];

    /// The name used in scenario files and trial names (`file[tcp4]`).
    pub fn name(self) -> &'static str {
        match self {
            Flavour::Tcp4 => "tcp4",
            Flavour::Tcp6 => "tcp6",
            Flavour::UnixStreamPair => "unix-stream-pair",
            Flavour::UnixStreamPath => "unix-stream-path",
            Flavour::UnixStreamAbstract => "unix-stream-abstract",
            Flavour::Udp4 => "udp4",
            Flavour::Udp6 => "udp6",
            Flavour::UnixDgramPair => "unix-dgram-pair",
            Flavour::UnixDgramPath => "unix-dgram-path",
            Flavour::UnixDgramAbstract => "unix-dgram-abstract",
            Flavour::UnixSeqpacketPair => "unix-seqpacket-pair",
            Flavour::UnixSeqpacketPath => "unix-seqpacket-path",
            Flavour::UnixSeqpacketAbstract => "unix-seqpacket-abstract",
        }
    }

    pub fn from_name(name: &str) -> Option<Flavour> {
        Flavour::ALL.into_iter().find(|f| f.name() == name)
    }

    /// `INET`, `INET6` or `UNIX`.
    pub fn domain(self) -> &'static str {
        match self {
            Flavour::Tcp4 | Flavour::Udp4 => "INET",
            Flavour::Tcp6 | Flavour::Udp6 => "INET6",
            _ => "UNIX",
        }
    }

    /// `STREAM`, `DGRAM` or `SEQPACKET`.
    pub fn socket_type(self) -> &'static str {
        match self {
            Flavour::Tcp4
            | Flavour::Tcp6
            | Flavour::UnixStreamPair
            | Flavour::UnixStreamPath
            | Flavour::UnixStreamAbstract => "STREAM",
            Flavour::Udp4
            | Flavour::Udp6
            | Flavour::UnixDgramPair
            | Flavour::UnixDgramPath
            | Flavour::UnixDgramAbstract => "DGRAM",
            _ => "SEQPACKET",
        }
    }

    /// The named groups a `flavours` line may use, e.g. `@stream`.
    pub fn group(name: &str) -> Option<Vec<Flavour>> {
        let all = Flavour::ALL;
        let pick = |f: &dyn Fn(Flavour) -> bool| all.into_iter().filter(|x| f(*x)).collect();
        Some(match name {
            "@all" => all.to_vec(),
            "@stream" => pick(&|f| f.socket_type() == "STREAM"),
            "@dgram" => pick(&|f| f.socket_type() == "DGRAM"),
            "@seqpacket" => pick(&|f| f.socket_type() == "SEQPACKET"),
            "@message" => pick(&|f| f.socket_type() != "STREAM"),
            "@inet" => pick(&|f| f.domain() != "UNIX"),
            "@unix" => pick(&|f| f.domain() == "UNIX"),
            "@unix-stream" => pick(&|f| f.domain() == "UNIX" && f.socket_type() == "STREAM"),
            "@unix-dgram" => pick(&|f| f.domain() == "UNIX" && f.socket_type() == "DGRAM"),
            "@tcp" => vec![Flavour::Tcp4, Flavour::Tcp6],
            "@udp" => vec![Flavour::Udp4, Flavour::Udp6],
            "@connected" => pick(&|f| f.socket_type() != "DGRAM"),
            _ => return None,
        })
    }

    pub const GROUPS: [&'static str; 12] = [
        "@all",
        "@stream",
        "@dgram",
        "@seqpacket",
        "@message",
        "@inet",
        "@unix",
        "@unix-stream",
        "@unix-dgram",
        "@tcp",
        "@udp",
        "@connected",
    ];
}

/// One line of the body.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// The whole statement, for carets and for the transcript.
    pub span: Span,
    pub kind: StepKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum StepKind {
    /// `[a, b =] call(args) [= expectation] [blocks]`.
    Call {
        /// Names bound to the result: one for an fd-returning call (`s = accept(l)`), two for
        /// `socketpair`, `pair` and `pipe`, or one naming a pending call started with `blocks`.
        bind: Vec<Ident>,
        call: Call,
        /// `None` means "must not fail": any result but `-1` passes.
        expect: Option<ExpectClause>,
        /// The call must still be pending after the engine confirms it is asleep in the kernel;
        /// it completes on its own thread and is checked by a later `await`.
        blocks: bool,
    },
    /// `await NAME [= expectation]`: wait (bounded by the case deadline) for a pending call.
    Await {
        name: Ident,
        expect: Option<ExpectClause>,
    },
    /// `require CALL [= EXPECTATION] because "REASON"`: something the environment may not
    /// support. Without an expectation (only `tc(...)`): when the call fails because something
    /// is missing here (no `tc` program, a kernel without the qdisc), the case ends as skipped
    /// with REASON, and any other failure fails the case. With one (`require
    /// getsockopt(s, SOL_SOCKET, SO_RCVLOWAT) = 30 because "…"`): a result that differs skips
    /// the case, so a case can check that an option takes effect instead of passing by timing.
    Require {
        call: Call,
        expect: Option<ExpectClause>,
        reason: String,
    },
}

/// A call and its arguments, typed per call. `Ident`s name handles (sockets, pipe ends,
/// pending calls); they are checked to be bound before use by the parser.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub span: Span,
    pub op: Op,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// `socket(DOMAIN, TYPE[|SOCK_NONBLOCK|SOCK_CLOEXEC][, PROTOCOL])`
    Socket {
        domain: Sym,
        ty: Flags,
        protocol: Option<IntOrSym>,
    },
    /// `a, b = socketpair(UNIX, TYPE[, PROTOCOL])`
    Socketpair {
        domain: Sym,
        ty: Flags,
        protocol: Option<IntOrSym>,
    },
    /// `a, b = pair()` or `pair(FLAVOUR)`: a connected pair of the case's flavour
    /// (a = client side, b = server/accepted side).
    Pair {
        flavour: Option<(Flavour, Span)>,
    },
    /// `r, w = pipe()`
    Pipe,
    Bind {
        sock: Ident,
        addr: AddrExpr,
    },
    Listen {
        sock: Ident,
        backlog: i64,
    },
    Connect {
        sock: Ident,
        addr: AddrExpr,
    },
    /// `accept(l[, FLAGS][, addrlen=N])` (accept4 flags such as SOCK_NONBLOCK). `addrlen`
    /// is the value-result length passed in; `None` passes a whole `sockaddr_storage`.
    Accept {
        sock: Ident,
        flags: Flags,
        addrlen: Option<AddrLen>,
    },
    Send {
        sock: Ident,
        data: Payload,
        flags: Flags,
    },
    Sendto {
        sock: Ident,
        data: Payload,
        flags: Flags,
        addr: AddrExpr,
    },
    /// `sendmsg(s, [iov, …][, FLAGS][, to=ADDR][, rights=[fds]][, creds])`
    Sendmsg {
        sock: Ident,
        iov: Vec<Payload>,
        flags: Flags,
        addr: Option<AddrExpr>,
        rights: Vec<Ident>,
        creds: bool,
    },
    Recv {
        sock: Ident,
        len: u64,
        flags: Flags,
    },
    Recvfrom {
        sock: Ident,
        len: u64,
        flags: Flags,
    },
    /// `recvmsg(s, LEN[, FLAGS])`; control messages are always received (room for 16 fds
    /// and one ucred).
    Recvmsg {
        sock: Ident,
        len: u64,
        flags: Flags,
    },
    /// Loops over `recv` until exactly LEN bytes or EOF, under the case deadline.
    RecvExact {
        sock: Ident,
        len: u64,
    },
    /// Loops over `recv` until the delimiter has been read (included) or MAX bytes or EOF.
    RecvUntil {
        sock: Ident,
        delim: Payload,
        max: u64,
    },
    /// Loops `send` until everything is written (for large stream writes).
    SendAll {
        sock: Ident,
        data: Payload,
    },
    Write {
        fd: Ident,
        data: Payload,
    },
    Read {
        fd: Ident,
        len: u64,
    },
    Shutdown {
        sock: Ident,
        how: Sym,
    },
    Close {
        fd: Ident,
    },
    /// `d = dup(s)`
    Dup {
        fd: Ident,
    },
    Getsockname {
        sock: Ident,
    },
    Getpeername {
        sock: Ident,
    },
    Setsockopt {
        sock: Ident,
        level: Sym,
        opt: Sym,
        value: OptValue,
    },
    Getsockopt {
        sock: Ident,
        level: Sym,
        opt: Sym,
    },
    /// `fcntl(fd, F_GETFL)`, `fcntl(fd, F_SETFL, O_NONBLOCK)`, `fcntl(fd, F_SETOWN, self)`.
    Fcntl {
        fd: Ident,
        cmd: Sym,
        arg: Option<FcntlArg>,
    },
    /// `ioctl(s, FIONREAD)`, `ioctl(s, SIOCATMARK)`: the int the kernel writes back.
    Ioctl {
        fd: Ident,
        req: Sym,
    },
    /// `poll([a: POLLIN, b: POLLIN|POLLOUT], TIMEOUT)`.
    Poll {
        fds: Vec<(Ident, Flags)>,
        timeout: Timeout,
    },
    /// `select([r…], [w…], [e…], TIMEOUT[, nfds=N])`; each set is a list or a named fd_set
    /// (`select(rs, [], [], 0)`), which select rewrites in place.
    Select {
        read: SetArg,
        write: SetArg,
        except: SetArg,
        timeout: Timeout,
        nfds: Option<Nfds>,
    },
    Sleep {
        dur: Duration,
    },
    /// `unlink(path("name"))`.
    Unlink {
        path: AddrExpr,
    },
    /// `stat(path("name"))`: the file type (`S_IFSOCK`, …) and permission bits.
    Stat {
        path: AddrExpr,
    },
    /// `chmod(path("name"), 0o000)`.
    Chmod {
        path: AddrExpr,
        mode: u32,
    },
    /// `touch(path("name"))`: create a regular file.
    Touch {
        path: AddrExpr,
    },
    /// `sizeof(sockaddr_in)`: the size of a C type on this platform.
    Sizeof {
        ty: Sym,
    },
    /// `constant(AF_LOCAL)`: the value of a named C constant on this platform.
    Constant {
        name: Sym,
    },
    /// `getservbyname("ssh", "tcp")`: the port (host order) of a service; `-1 ENOENT` when
    /// the services database has no such entry (the C function returns NULL).
    Getservbyname {
        name: String,
        proto: String,
    },
    /// `getservbyport(22, "tcp")`: the service's official name; `-1 ENOENT` when none.
    Getservbyport {
        port: i64,
        proto: String,
    },
    /// `gethostname()` or `gethostname(LEN)`: the host name, read with a LEN-byte buffer.
    Gethostname {
        len: Option<u64>,
    },
    /// `gethostbyname("localhost")`: the first address; `-1 ENOENT` when the name does not
    /// resolve (h_errno is not errno: the convention only says "not found").
    Gethostbyname {
        name: String,
    },
    /// `signal(SIGPIPE, ignore|default|count)`: disposition in the case process, installed
    /// with `SA_RESTART` as glibc's `signal()` does; `sigaction(SIG, ACTION, 0|SA_RESTART)`
    /// says whether an interrupted call is restarted.
    Signal {
        sig: Sym,
        action: Sym,
        restart: bool,
    },
    /// `alarm(100ms)`: a one-shot SIGALRM to the case process after the duration
    /// (`setitimer(ITIMER_REAL)`); it interrupts the statement the main thread is in.
    Alarm {
        dur: Duration,
    },
    /// `pthread_kill(r, SIGUSR1)`: the signal to the thread of pending call `r`.
    PthreadKill {
        call: Ident,
        sig: Sym,
    },
    /// `pending(r)`: call `r`, started with `blocks`, has still not returned.
    StillPending {
        call: Ident,
    },
    /// `sendrecv(s, DATA, LEN)`: sends DATA while receiving (one poll loop), until DATA is
    /// sent and LEN bytes (or EOF) came back, so a large echo cannot deadlock on full
    /// buffers. The result is the bytes received.
    SendRecv {
        sock: Ident,
        data: Payload,
        len: u64,
    },
    /// `send_until_stalled(s, STALL, MAX)`: sends without reading until no byte could be
    /// sent for STALL (both directions' buffers are full), or MAX bytes went out. The result
    /// is the count sent.
    SendUntilStalled {
        sock: Ident,
        stall: Duration,
        max: u64,
    },
    /// `server_signal(SIGSTOP|SIGCONT)`: signals every process of the server under test
    /// (grading only): freezing it lets a scenario queue data and a FIN that the server will
    /// find all at once when it runs again.
    ServerSignal {
        sig: String,
        span: Span,
    },
    /// `server_fact(NAME)`: a fact about the server under test (grading only), measured from
    /// its processes at this moment; the result is an integer.
    ServerFact {
        fact: ServerFact,
        span: Span,
    },
    /// `FD_ZERO(rs)`: declares the fd_set `rs` (first use) or clears it.
    FdZero {
        set: Ident,
    },
    /// `FD_SET(h, rs)`: adds the descriptor of `h` to the fd_set.
    FdSet {
        fd: Ident,
        set: Ident,
    },
    /// `FD_CLR(h, rs)`: removes the descriptor of `h` from the fd_set.
    FdClr {
        fd: Ident,
        set: Ident,
    },
    /// `FD_ISSET(h, rs)`: 1 when the descriptor of `h` is in the fd_set, else 0.
    FdIsset {
        fd: Ident,
        set: Ident,
    },
    /// `dir_entries()`: how many entries the case's private directory (where `path("x")`
    /// lives) holds.
    DirEntries,
    /// `p = spawn(["prog", "arg", fd(h)], stdin=h, stdout=h, stderr=h)`: fork and exec a
    /// program found in PATH; each given handle becomes the child's fd 0, 1 or 2 (the others
    /// are `/dev/null`), and every descriptor not marked close-on-exec is inherited as well,
    /// as after fork + exec in C. Binds a process name, not a descriptor.
    Spawn {
        argv: Vec<ArgvItem>,
        stdin: Option<Ident>,
        stdout: Option<Ident>,
        stderr: Option<Ident>,
    },
    /// `wait(p)`: waits (bounded by the case deadline) for a spawned process to end and reaps
    /// it; the result is its exit status, or the signal that killed it.
    Wait {
        proc: Ident,
    },
    /// `kill(p, SIGTERM)`: sends a signal to a spawned process.
    Kill {
        proc: Ident,
        sig: Sym,
    },
    /// `children()`: how many children of the case process are alive (not zombies), as the
    /// kernel lists them in `/proc/self/task/*/children`.
    Children,
    /// `sethostname("name")`: sets the host name of the case's own UTS namespace (isolated
    /// cases only: the engine refuses to rename the machine).
    Sethostname {
        name: String,
    },
    /// `mount_tmpfs(rawpath("/etc"))`: an empty tmpfs over a directory, in the case's own
    /// mount namespace (isolated cases only), so the case writes its own `/etc/hosts`.
    MountTmpfs {
        path: AddrExpr,
    },
    /// `write_file(rawpath("/etc/hosts"), "…")`: creates or truncates a file (mode 0644) and
    /// writes DATA; only inside a tmpfs the case mounted or the case's private directory.
    WriteFile {
        path: AddrExpr,
        data: Payload,
    },
    /// `read_file(rawpath("/etc/hostid"), LEN)`: up to LEN bytes from the start of a file.
    ReadFile {
        path: AddrExpr,
        len: u64,
    },
    /// `gethostid()`: the C library's host identifier.
    Gethostid,
    /// `sethostid(ID)`: glibc writes ID to `/etc/hostid` (only once the case mounted a tmpfs
    /// over `/etc`).
    Sethostid {
        id: i64,
    },
    /// `gethostbyname2("name", AF_INET6)`: the lookup for one address family.
    Gethostbyname2 {
        name: String,
        family: Sym,
    },
    /// `gethostbyaddr(192.0.2.7, 4, AF_INET)`: the reverse lookup, with the C call's
    /// length and type.
    Gethostbyaddr {
        addr: HostAddr,
        len: u64,
        family: Sym,
    },
    /// `tc("qdisc add dev lo root tbf ...")`: runs the `tc` program with these arguments (the
    /// string split on whitespace) to shape the case's own network namespace; only in a case
    /// that `needs isolation`.
    Tc {
        args: Vec<String>,
        span: Span,
    },
}

/// The length `accept(l, addrlen=N)` passes in `*addrlen`.
#[derive(Debug, Clone, PartialEq)]
pub enum AddrLen {
    /// `addrlen=16`.
    Int(i64),
    /// `addrlen=sizeof(sockaddr_in)`: the size of a C type on this platform.
    Sizeof(Sym),
}

/// One of select's three sets.
#[derive(Debug, Clone, PartialEq)]
pub enum SetArg {
    /// `[a, b]`: a set built for this call from the handles' descriptors.
    List(Vec<Ident>),
    /// `rs`: a named fd_set (declared by `FD_ZERO(rs)`), passed as it is and rewritten.
    Named(Ident),
}

impl SetArg {
    /// The handles of a list; none for a named set.
    pub fn handles(&self) -> &[Ident] {
        match self {
            SetArg::List(ids) => ids,
            SetArg::Named(_) => &[],
        }
    }
}

/// select's `nfds=` argument.
#[derive(Debug, Clone, PartialEq)]
pub enum Nfds {
    /// `nfds=5`.
    Int(i64),
    /// `nfds=fd(h)` or `nfds=fd(h)+1`: the descriptor number of a handle, plus an offset.
    FdOf { handle: Ident, plus: i64 },
}

/// One word of a `spawn` argument vector.
#[derive(Debug, Clone, PartialEq)]
pub enum ArgvItem {
    /// `"text"`, passed as written.
    Str(String),
    /// `fd(h)`: the descriptor number of a handle, in decimal, as the child sees it too.
    Fd(Ident),
}

/// An IP address without a port, as a `struct hostent` lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostAddr {
    V4([u8; 4]),
    V6([u16; 8]),
}

/// A check on the `struct hostent` a resolver call returned, or on `h_errno` when it
/// returned NULL.
#[derive(Debug, Clone, PartialEq)]
pub enum HostentCheck {
    /// `h_name "myhost"`: the official name.
    Name(String),
    /// `h_aliases ["a", "b"]`: the whole alias list, in order.
    Aliases(Vec<String>),
    /// `h_addrtype AF_INET`.
    Addrtype(Sym),
    /// `h_length 4`.
    Length(i64),
    /// `h_addr_list [192.0.2.7, [::1]]`: the whole NULL-terminated list, in order.
    AddrList(Vec<HostAddr>),
    /// `h_errno HOST_NOT_FOUND`: the lookup returned NULL and set h_errno to this.
    Errno(Sym),
}

/// What `server_fact(NAME)` measures about the server under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerFact {
    /// `alive`: 1 while the server's main process runs, else 0.
    Alive,
    /// `processes`: live (non-zombie) processes of the server's tree, the main one included.
    Processes,
    /// `threads`: threads of the main process.
    Threads,
    /// `children`: live descendants of the main process.
    Children,
    /// `zombies`: descendants of the main process in state Z (exited, never waited for).
    Zombies,
    /// `fds`: open descriptors of the main process.
    Fds,
    /// `fd_growth`: `fds` now minus `fds` at the last `server_fact(fds)` of this case.
    FdGrowth,
    /// `close_wait`: TCP sockets of the server's processes in CLOSE-WAIT (the peer closed,
    /// the server never did).
    CloseWait,
    /// `listeners_in_children`: processes other than the main one that hold a listening
    /// socket.
    ListenersInChildren,
}

impl ServerFact {
    pub const ALL: [ServerFact; 9] = [
        ServerFact::Alive,
        ServerFact::Processes,
        ServerFact::Threads,
        ServerFact::Children,
        ServerFact::Zombies,
        ServerFact::Fds,
        ServerFact::FdGrowth,
        ServerFact::CloseWait,
        ServerFact::ListenersInChildren,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ServerFact::Alive => "alive",
            ServerFact::Processes => "processes",
            ServerFact::Threads => "threads",
            ServerFact::Children => "children",
            ServerFact::Zombies => "zombies",
            ServerFact::Fds => "fds",
            ServerFact::FdGrowth => "fd_growth",
            ServerFact::CloseWait => "close_wait",
            ServerFact::ListenersInChildren => "listeners_in_children",
        }
    }

    pub fn from_name(name: &str) -> Option<ServerFact> {
        ServerFact::ALL.into_iter().find(|f| f.name() == name)
    }
}

/// A check on received bytes whose exact value the scenario cannot know in advance (the time
/// of day, where a chargen rotation starts).
#[derive(Debug, Clone, PartialEq)]
pub enum ContentCheck {
    /// `daytime_line`: 1..512 bytes of printable ASCII, CR, LF or TAB, containing the current
    /// year in four digits (RFC 867 leaves the format free).
    DaytimeLine,
    /// `seconds_since_1900(5s)`: at least 4 bytes; the first 4, big-endian, are the seconds
    /// since 1900-01-01 UTC within the tolerance of now (RFC 868).
    SecondsSince1900 { tolerance: Duration },
    /// `chargen_lines`: whole lines of 72 printable characters (32..126) and CR LF;
    /// `chargen_pattern` also requires the RFC 864 rotation: each line is 72 consecutive
    /// characters of the 95-character ring, starting one further than the line before.
    Chargen { rotating: bool },
    /// `printable(MAX)`: 0..MAX bytes of printable ASCII, CR or LF.
    Printable { max: u64 },
}

/// A validated symbolic name, e.g. `INET`, `SOL_SOCKET`, `SHUT_WR`, `SIGPIPE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sym {
    pub name: String,
    pub span: Span,
}

/// `MSG_PEEK|MSG_DONTWAIT`, or `0` / absent (empty).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Flags {
    pub names: Vec<Sym>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntOrSym {
    Int(i64),
    Sym(Sym),
}

#[derive(Debug, Clone, PartialEq)]
pub enum FcntlArg {
    Flags(Flags),
    Int(i64),
    /// `self`: this process's pid, for F_SETOWN.
    SelfPid,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Timeout {
    /// `0`, `150ms`, `2s`.
    After(Duration),
    /// `inf` (poll -1, select NULL).
    Infinite,
    /// A raw negative value, to check `EINVAL` (`-1` for select means tv_sec = -1).
    Negative(i64),
}

#[derive(Debug, Clone, PartialEq)]
pub enum OptValue {
    Int(i64),
    /// SO_RCVTIMEO / SO_SNDTIMEO as a `struct timeval`.
    Duration(Duration),
    /// `timeval(SEC, USEC)`: raw fields, for EDOM checks.
    Timeval(i64, i64),
    /// `linger(ONOFF, SECONDS)`.
    Linger(i64, i64),
}

/// Where an address argument comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum AddrExpr {
    /// `127.0.0.1:8080`, `0.0.0.0:0`.
    V4 { ip: [u8; 4], port: PortExpr },
    /// `[::1]:0`.
    V6 { ip: [u16; 8], port: PortExpr },
    /// A handle: the last local address the engine saw for it (after bind/connect/listen,
    /// or from `getsockname`), even after it was closed.
    Handle(Ident),
    /// `path("name")`: a file in the case's private directory.
    Path(String),
    /// `abstract("name")`: a Linux abstract name (made unique per run by the engine when
    /// not isolated).
    Abstract(String),
    /// `unspec`: an `AF_UNSPEC` address (UDP disconnect).
    Unspec,
    /// `null`: no address at all (a NULL pointer and a length of 0), as `sendto` on a
    /// connected socket may be given.
    Null,
    /// `rawpath("…")`: a path used as written (e.g. to exceed `sun_path`).
    RawPath(String),
    /// `server` / `server(NAME)`: the address of the server under test (grading only);
    /// NAME picks a service of a multi-service suite.
    Server(Option<String>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum PortExpr {
    Num(u16),
    /// `port(h)`: the port of a handle's address.
    Of(Ident),
    /// `swapped(N)`: N with its two bytes swapped, as a server that forgot htons() binds.
    Swapped(u16),
}

/// Bytes to send, or bytes a receive must return.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    /// `"text\n\x00"` or `hex"00ff"`.
    Bytes(Vec<u8>),
    /// `pattern(N)`: N deterministic, non-repeating-looking bytes (see the language
    /// reference for the exact generator), so large transfers check order and content.
    Pattern(u64),
    /// `fill(N, BYTE)`.
    Fill(u64, u8),
}

/// The expectation of a step, with platform- or environment-specific variants.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpectClause {
    pub default: Expect,
    /// Continuation lines `when COND = … because "…"`: the first whose condition holds
    /// replaces the default.
    pub when: Vec<WhenExpect>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct WhenExpect {
    pub cond: Cond,
    pub expect: Expect,
    pub reason: String,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    /// `linux`, `freebsd`, `macos`: the platform the case runs on.
    Platform(String),
    /// `root`: running as uid 0 with privileges (not dropped by `needs unprivileged`).
    Root,
    /// `isolated`: running in a private network namespace.
    Isolated,
    /// `flavour tcp4|udp4|@unix`.
    Flavour(Vec<Flavour>),
    /// `kernel >= 5.14`.
    Kernel(CmpOp, (u32, u32)),
    /// `sysctl(net.ipv4.ip_unprivileged_port_start) <= 80`.
    Sysctl(String, CmpOp, i64),
    Not(Box<Cond>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Lt,
    Le,
    Eq,
    Ne,
    Ge,
    Gt,
}

/// `= A | B | C [took WINDOW]`: any alternative may match.
#[derive(Debug, Clone, PartialEq)]
pub struct Expect {
    pub alternatives: Vec<Expected>,
    pub took: Option<Window>,
    /// `within 1s`: an observation (`ioctl`, `getsockopt`) is made again until it gives the
    /// expected result or this long has passed (scaled): waiting for an asynchronous event
    /// that has no readiness of its own, by the event itself rather than by a sleep.
    pub within: Option<Duration>,
    pub span: Span,
}

/// One acceptable result.
#[derive(Debug, Clone, PartialEq)]
pub struct Expected {
    pub value: Value,
    pub mods: Vec<Modifier>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `10`, `>0`, `1..100`, `>=4096`.
    Int(IntMatch),
    /// `-1 EAGAIN`.
    Errno(Sym),
    /// `"bytes"`: the call returned exactly these bytes (count = length).
    Bytes(Payload),
    /// `EOF`: a read returned 0 on a stream (or a zero-length datagram).
    Eof,
    /// `ok`: anything but -1.
    Ok,
    /// An address: for getsockname/getpeername, and accept's peer.
    Addr(AddrMatch),
    /// `[a: POLLIN, b: POLLOUT|...]`: poll's revents per handle (absent handles: 0).
    Ready {
        entries: Vec<(Ident, FlagsMatch)>,
        others_any: bool,
    },
    /// `([a], [b], [])`: select's rewritten sets.
    Sets {
        read: Vec<Ident>,
        write: Vec<Ident>,
        except: Vec<Ident>,
    },
    /// `O_NONBLOCK|...` for F_GETFL, `SOCK_STREAM` for SO_TYPE, etc.
    Flags(FlagsMatch),
    /// `linger(1, 0)`.
    Linger(i64, i64),
    /// `200ms`: a timeval option value.
    Duration(Duration),
    /// `sock(S_IFSOCK, 0o755)` for stat; `missing` (ENOENT) is an errno.
    Stat { kind: Sym, mode: Option<u32> },
    /// `daytime_line`, `seconds_since_1900(5s)`, `chargen_pattern`…: the bytes received pass
    /// a named check.
    Content(ContentCheck),
    /// `creds(pid=self, uid=self, gid=*)`: a `struct ucred` option value (`SO_PEERCRED`);
    /// `self` means the case process (its effective uid and gid).
    Creds {
        pid: CredMatch,
        uid: CredMatch,
        gid: CredMatch,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Modifier {
    /// `data "…"`: the bytes received when the count is not the data length (MSG_TRUNC).
    Data(Payload),
    /// `flags MSG_TRUNC|MSG_EOR` (msg_flags of recvmsg); `flags 0` requires none.
    MsgFlags(FlagsMatch),
    /// `from ADDR`: the peer address recvfrom/recvmsg/accept returned.
    From(AddrMatch),
    /// `rights [x, y]`: descriptors received with SCM_RIGHTS, bound as new handles.
    Rights(Vec<Ident>),
    /// `creds(pid=self, uid=0, gid=0)`: SCM_CREDENTIALS received; `self` means this process.
    Creds {
        pid: CredMatch,
        uid: CredMatch,
        gid: CredMatch,
    },
    /// `signal SIGPIPE`: delivered during the call; `no SIGPIPE`: not delivered.
    Signal { sig: Sym, delivered: bool },
    /// `remaining 50ms..100ms`: the time select/poll wrote back (select on Linux).
    Remaining(IntMatch),
    /// `addrlen 16`: the address length accept wrote back into `*addrlen` (the real size of
    /// the peer's address, even when the buffer was smaller).
    AddrLen(IntMatch),
    /// `h_name`, `h_aliases`, `h_addrtype`, `h_length`, `h_addr_list`, `h_errno`: a field of
    /// the hostent a resolver call returned.
    Hostent(HostentCheck),
}

#[derive(Debug, Clone, PartialEq)]
pub enum CredMatch {
    Any,
    SelfId,
    Value(i64),
}

#[derive(Debug, Clone, PartialEq)]
pub enum IntMatch {
    Exact(i64),
    Range(i64, i64),
    Cmp(CmpOp, i64),
}

#[derive(Debug, Clone, PartialEq)]
pub struct FlagsMatch {
    pub names: Vec<Sym>,
    /// `...`: other bits may be set too.
    pub others_any: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum AddrMatch {
    /// `*`: any address.
    Any,
    /// `h`: equal to the handle's recorded local address.
    Handle(Ident),
    V4 {
        ip: [u8; 4],
        port: PortMatch,
    },
    V6 {
        ip: [u16; 8],
        port: PortMatch,
    },
    Path(String),
    Abstract(String),
    /// `rawpath("/tm")`: a Unix path exactly these bytes, as the transcript shows a path
    /// outside the private directory or one cut short by a small `addrlen`.
    RawPath(String),
    /// `unnamed`: an unbound Unix socket (address length = sizeof(sa_family_t)).
    Unnamed,
    /// `autobound`: a Linux autobind abstract name (5 hex digits).
    Autobound,
    /// `none`: no address at all (addrlen 0), as recvfrom on a connected stream gives.
    None,
    /// `server` / `server(NAME)`: the address of the server under test (grading only).
    Server(Option<String>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum PortMatch {
    Any,
    Exact(u16),
    /// `ephemeral`: inside `net.ipv4.ip_local_port_range`.
    Ephemeral,
    /// `port(h)`: the same port as a handle's address.
    Of(Ident),
}

/// `took 150ms..+40ms`, `took >=100ms`, `took <20ms`.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    /// The call must not return earlier than this (never scaled: the kernel must not be early).
    pub min: Option<Duration>,
    /// The call must return before `min + tolerance`, where the tolerance is multiplied by
    /// `--time-scale` (or before `max`, also scaled, for `<`).
    pub max: Option<WindowMax>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum WindowMax {
    /// `..+40ms`: tolerance above `min`.
    Tolerance(Duration),
    /// `<20ms`: absolute upper bound.
    Below(Duration),
}
