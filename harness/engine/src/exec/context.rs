//! What a case run is given (its context and the facts `when` conditions read) and what it
//! gives back (events as steps start and end, and the verdict).

use std::path::PathBuf;
use std::time::Instant;

use sockspec_lang::Flavour;
use sockspec_reports::{Failure, Outcome, StepRecord};

/// Everything one run of a scenario needs from its caller.
#[derive(Debug, Clone)]
pub struct Context {
    /// Multiplies tolerances (upper bounds) and the engine's settle waits; never lower bounds.
    pub time_scale: f64,
    /// The trial's flavour, for `pair()` and `when flavour …`.
    pub flavour: Option<Flavour>,
    /// Where `path("x")` lives; it exists and is writable.
    pub private_dir: PathBuf,
    /// A short token that keeps abstract names of concurrent cases apart; empty when the case
    /// has a network namespace of its own.
    pub unique: String,
    /// What `when` conditions are decided on.
    pub facts: Facts,
    /// The case deadline: every wait of the engine's own (await, receive loops, settle) ends
    /// by then.
    pub deadline: Instant,
    /// Grading: the server under test (`server` addresses, `server_fact(...)`).
    pub server: Option<crate::grade::ServerTarget>,
}

/// The environment a case runs in, as `when` conditions see it.
#[derive(Debug, Clone)]
pub struct Facts {
    /// `linux`, `freebsd` or `macos`.
    pub platform: String,
    /// Running as uid 0 with privileges (false when `needs unprivileged` dropped them).
    pub root: bool,
    /// The case has a private network namespace.
    pub isolated: bool,
    /// The kernel's major and minor version.
    pub kernel: (u32, u32),
    /// Reads a sysctl by its dotted name (`net.ipv4.ip_local_port_range`) when a condition or
    /// an `ephemeral` port needs it; `None` when it cannot be read.
    pub sysctl: fn(&str) -> Option<String>,
}

impl Facts {
    /// The facts of the running process: its effective uid and the kernel release from
    /// `uname`; sysctls are read from `/proc/sys`.
    pub fn probe(isolated: bool) -> Facts {
        let release = nix::sys::utsname::uname()
            .map(|u| u.release().to_string_lossy().into_owned())
            .unwrap_or_default();
        Facts {
            platform: std::env::consts::OS.to_string(),
            // uid 0 without capabilities (a `needs unprivileged` case in a user namespace)
            // is not root for what a case can do.
            root: nix::unistd::geteuid().is_root() && crate::sandbox::has_capabilities(),
            isolated,
            kernel: parse_kernel_release(&release),
            sysctl: read_proc_sys,
        }
    }
}

/// `6.18.44-fc` → `(6, 18)`; unknown parts read as 0.
pub fn parse_kernel_release(release: &str) -> (u32, u32) {
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let major = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let minor = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    (major, minor)
}

/// Reads `/proc/sys/net/ipv4/ip_local_port_range` for `net.ipv4.ip_local_port_range`; a
/// sysctl missing there (gVisor has few) is derived from what it decides, where that can be
/// observed (see [`derived_sysctl`]).
pub fn read_proc_sys(name: &str) -> Option<String> {
    if name.contains("..") || name.contains('/') {
        return None;
    }
    let path = format!("/proc/sys/{}", name.replace('.', "/"));
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
        .or_else(|| derived_sysctl(name))
}

/// The value of a sysctl observed through its effect: `net.ipv6.bindv6only` is the default
/// of `IPV6_V6ONLY` on a new AF_INET6 socket (ipv6(7)).
pub fn derived_sysctl(name: &str) -> Option<String> {
    use nix::sys::socket::{getsockopt, socket, sockopt, AddressFamily, SockFlag, SockType};
    match name {
        "net.ipv6.bindv6only" => {
            let s = socket(
                AddressFamily::Inet6,
                SockType::Stream,
                SockFlag::SOCK_CLOEXEC,
                None,
            )
            .ok()?;
            let v6only = getsockopt(&s, sockopt::Ipv6V6Only).ok()?;
            Some(u8::from(v6only).to_string())
        }
        _ => None,
    }
}

/// What `execute` reports as it goes.
// One event per step start and end: the size of a record is irrelevant next to the syscalls.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A step is about to run; if the case is killed now, this step is the one that hung.
    Started { index: usize, line: usize },
    /// A step finished, or was confirmed pending (`blocks`).
    Step(StepRecord),
}

/// The verdict of one run.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseEnd {
    /// `Pass`, `Fail` or `Error`; `Skip` only when a `require` step found something missing
    /// here, or a condition needs a sysctl this kernel lacks (the `needs` of the header are the
    /// runner's business, judged before the case process starts).
    pub outcome: Outcome,
    /// One line: why the case failed or errored.
    pub message: Option<String>,
    /// The step that decided a failure or an error, when one did.
    pub failure: Option<Failure>,
}

/// Why the engine could not judge a step: the scenario or the harness is at fault, not the
/// system under test.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HarnessError {
    #[error("handle `{0}` is not bound")]
    Unbound(String),
    #[error("{noun} `{name}` is not available on this platform")]
    Unsupported { noun: &'static str, name: String },
    #[error("no pending call named `{0}`")]
    NotPending(String),
    #[error("pair() needs a flavour: name one (`pair(tcp4)`) or give the case `flavours`")]
    NoFlavour,
    #[error("the thread running `{0}` panicked")]
    Panicked(String),
    /// The dispatcher routed an op to a family that does not own it.
    #[error("{op} is not a call of the {family} family: this is the engine's mistake")]
    WrongFamily { op: String, family: &'static str },
    #[error("handle `{0}` has no port")]
    NoPort(String),
    #[error("handle `{0}` has no local address yet (bind, connect or listen it first)")]
    NoLocalAddr(String),
    #[error("there is no server under test: `server` and `server_fact` belong to grading suites")]
    NoServer,
    #[error("the suite has no service `{0}`")]
    NoService(String),
    /// Scenario text bound for a C string; the field is the text as the message shows it.
    #[error("{0} contains a NUL byte")]
    NulByte(String),
    #[error("no size known for `{0}`")]
    NoSize(String),
    #[error("fd_set `{0}` is not declared (FD_ZERO it first)")]
    UndeclaredFdSet(String),
    /// A condition needs a sysctl this kernel does not have and that cannot be derived: the
    /// case is skipped, since the expectation it decides cannot be chosen here.
    #[error("needs sysctl `{0}`, which this kernel does not have")]
    Sysctl(String),
    #[error("sysctl `{name}` is `{text}`, not a number")]
    SysctlNotANumber { name: String, text: String },
    #[error("signal {sig}: {source}")]
    BadSignal {
        sig: i32,
        #[source]
        source: nix::errno::Errno,
    },
    #[error("cannot set the disposition of {signal}: {source}")]
    Disposition {
        signal: nix::sys::signal::Signal,
        #[source]
        source: nix::errno::Errno,
    },
    #[error("the thread for `{0}` did not start")]
    ThreadDidNotStart(String),
    #[error("`{0}` neither returned nor went to sleep in the kernel before the case deadline")]
    NeverSlept(String),
    #[error("`{0}` was still pending at the case deadline")]
    StillPending(String),
    /// A send or receive loop the deadline cut while it was still moving data.
    #[error(
        "could not be judged: the case deadline passed while the loop was still moving data ({0})"
    )]
    CutWhileMoving(String),
    /// A wait of the scenario's own (`sleep`) that cannot end before the case deadline.
    #[error("could not be judged: `{call}` would end after the case deadline ({left} left): raise `deadline` or shorten it")]
    PastDeadline { call: String, left: String },
    /// A call that would change or read the machine outside the case's own namespaces and
    /// files; the message says what and how to allow it.
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Other(String),
}
