//! The symbolic names a scenario may use, by category, so the parser can reject unknown ones
//! with a "did you mean" hint. The engine maps each name to the platform's number; a test
//! there checks that every name listed here is known to it.

/// What kind of constant an argument position expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    Domain,
    SocketType,
    Protocol,
    Errno,
    MsgFlag,
    PollFlag,
    ShutHow,
    Level,
    SockOpt,
    FcntlCmd,
    FileFlag,
    Ioctl,
    Signal,
    SignalAction,
    FileType,
    /// C types `sizeof(...)` knows.
    CType,
    /// Named constants `constant(...)` reports.
    Constant,
    /// Signals `kill(p, SIG)` sends and `wait(p)` reports a process killed by.
    ProcSignal,
    /// The resolver's `h_errno` values (`HOST_NOT_FOUND`, …).
    HErrno,
}

impl Category {
    /// How a message names the category: "unknown errno `ECONNREFUSE`".
    pub fn noun(self) -> &'static str {
        match self {
            Category::Domain => "address family",
            Category::SocketType => "socket type",
            Category::Protocol => "protocol",
            Category::Errno => "errno",
            Category::MsgFlag => "message flag",
            Category::PollFlag => "poll event",
            Category::ShutHow => "shutdown direction",
            Category::Level => "option level",
            Category::SockOpt => "socket option",
            Category::FcntlCmd => "fcntl command",
            Category::FileFlag => "file status flag",
            Category::Ioctl => "ioctl request",
            Category::Signal => "signal",
            Category::SignalAction => "signal action",
            Category::FileType => "file type",
            Category::CType => "C type",
            Category::Constant => "constant",
            Category::ProcSignal => "signal",
            Category::HErrno => "h_errno value",
        }
    }

    pub fn names(self) -> &'static [&'static str] {
        match self {
            Category::Domain => DOMAINS,
            Category::SocketType => SOCKET_TYPES,
            Category::Protocol => PROTOCOLS,
            Category::Errno => ERRNOS,
            Category::MsgFlag => MSG_FLAGS,
            Category::PollFlag => POLL_FLAGS,
            Category::ShutHow => SHUT_HOWS,
            Category::Level => LEVELS,
            Category::SockOpt => SOCKOPTS,
            Category::FcntlCmd => FCNTL_CMDS,
            Category::FileFlag => FILE_FLAGS,
            Category::Ioctl => IOCTLS,
            Category::Signal => SIGNALS,
            Category::SignalAction => SIGNAL_ACTIONS,
            Category::FileType => FILE_TYPES,
            Category::CType => C_TYPES,
            Category::Constant => CONSTANTS,
            Category::ProcSignal => PROC_SIGNALS,
            Category::HErrno => H_ERRNOS,
        }
    }

    pub fn contains(self, name: &str) -> bool {
        self.names().contains(&name)
    }
}

/// `AF_` may be written or left out: `INET` and `AF_INET` are the same.
pub const DOMAINS: &[&str] = &[
    "INET",
    "INET6",
    "UNIX",
    "LOCAL",
    "UNSPEC",
    "PACKET",
    "NETLINK",
    "DECnet",
    "SNA",
    "APPLETALK",
    "AX25",
    "IPX",
    "VSOCK",
    "XDP",
];

/// `SOCK_` may be left out for the base types: `STREAM` and `SOCK_STREAM` are the same.
pub const SOCKET_TYPES: &[&str] = &[
    "STREAM",
    "DGRAM",
    "SEQPACKET",
    "RAW",
    "RDM",
    "PACKET",
    "SOCK_NONBLOCK",
    "SOCK_CLOEXEC",
];

pub const PROTOCOLS: &[&str] = &[
    "IPPROTO_IP",
    "IPPROTO_TCP",
    "IPPROTO_UDP",
    "IPPROTO_ICMP",
    "IPPROTO_ICMPV6",
    "IPPROTO_RAW",
    "IPPROTO_SCTP",
    "IPPROTO_IPV6",
];

pub const ERRNOS: &[&str] = &[
    "EPERM",
    "ENOENT",
    "ESRCH",
    "EINTR",
    "EIO",
    "ENXIO",
    "E2BIG",
    "EBADF",
    "ECHILD",
    "EAGAIN",
    "EWOULDBLOCK",
    "ENOMEM",
    "EACCES",
    "EFAULT",
    "EBUSY",
    "EEXIST",
    "ENODEV",
    "ENOTDIR",
    "EISDIR",
    "EINVAL",
    "ENFILE",
    "EMFILE",
    "ENOTTY",
    "EFBIG",
    "ENOSPC",
    "ESPIPE",
    "EROFS",
    "EPIPE",
    "EDOM",
    "ERANGE",
    "ENAMETOOLONG",
    "ENOSYS",
    "ENOTSOCK",
    "EDESTADDRREQ",
    "EMSGSIZE",
    "EPROTOTYPE",
    "ENOPROTOOPT",
    "EPROTONOSUPPORT",
    "ESOCKTNOSUPPORT",
    "EOPNOTSUPP",
    "ENOTSUP",
    "EPFNOSUPPORT",
    "EAFNOSUPPORT",
    "EADDRINUSE",
    "EADDRNOTAVAIL",
    "ENETDOWN",
    "ENETUNREACH",
    "ENETRESET",
    "ECONNABORTED",
    "ECONNRESET",
    "ENOBUFS",
    "EISCONN",
    "ENOTCONN",
    "ESHUTDOWN",
    "ETIMEDOUT",
    "ECONNREFUSED",
    "EHOSTDOWN",
    "EHOSTUNREACH",
    "EALREADY",
    "EINPROGRESS",
    "ENOTEMPTY",
    "ELOOP",
    "EOVERFLOW",
];

pub const MSG_FLAGS: &[&str] = &[
    "MSG_OOB",
    "MSG_PEEK",
    "MSG_DONTROUTE",
    "MSG_CTRUNC",
    "MSG_TRUNC",
    "MSG_DONTWAIT",
    "MSG_EOR",
    "MSG_WAITALL",
    "MSG_NOSIGNAL",
    "MSG_MORE",
    "MSG_ERRQUEUE",
    "MSG_CMSG_CLOEXEC",
    "MSG_CONFIRM",
];

pub const POLL_FLAGS: &[&str] = &[
    "POLLIN",
    "POLLPRI",
    "POLLOUT",
    "POLLERR",
    "POLLHUP",
    "POLLNVAL",
    "POLLRDNORM",
    "POLLRDBAND",
    "POLLWRNORM",
    "POLLWRBAND",
    "POLLRDHUP",
];

pub const SHUT_HOWS: &[&str] = &["SHUT_RD", "SHUT_WR", "SHUT_RDWR"];

pub const LEVELS: &[&str] = &[
    "SOL_SOCKET",
    "IPPROTO_TCP",
    "IPPROTO_IP",
    "IPPROTO_IPV6",
    "IPPROTO_UDP",
];

pub const SOCKOPTS: &[&str] = &[
    // SOL_SOCKET
    "SO_TYPE",
    "SO_ERROR",
    "SO_REUSEADDR",
    "SO_REUSEPORT",
    "SO_KEEPALIVE",
    "SO_BROADCAST",
    "SO_LINGER",
    "SO_OOBINLINE",
    "SO_SNDBUF",
    "SO_RCVBUF",
    "SO_SNDBUFFORCE",
    "SO_RCVBUFFORCE",
    "SO_RCVLOWAT",
    "SO_SNDLOWAT",
    "SO_RCVTIMEO",
    "SO_SNDTIMEO",
    "SO_ACCEPTCONN",
    "SO_DOMAIN",
    "SO_PROTOCOL",
    "SO_PASSCRED",
    "SO_PEERCRED",
    "SO_PEEK_OFF",
    "SO_DONTROUTE",
    "SO_PRIORITY",
    // IPPROTO_TCP
    "TCP_NODELAY",
    "TCP_MAXSEG",
    "TCP_CORK",
    "TCP_KEEPIDLE",
    "TCP_KEEPINTVL",
    "TCP_KEEPCNT",
    "TCP_QUICKACK",
    "TCP_DEFER_ACCEPT",
    "TCP_USER_TIMEOUT",
    "TCP_NOTSENT_LOWAT",
    // IPPROTO_IP / IPPROTO_IPV6
    "IP_TTL",
    "IP_TOS",
    "IP_RECVERR",
    "IP_PKTINFO",
    "IP_MTU_DISCOVER",
    "IP_MULTICAST_TTL",
    "IP_MULTICAST_LOOP",
    "IPV6_V6ONLY",
    "IPV6_RECVERR",
    "IPV6_UNICAST_HOPS",
];

pub const FCNTL_CMDS: &[&str] = &[
    "F_GETFL", "F_SETFL", "F_GETFD", "F_SETFD", "F_GETOWN", "F_SETOWN",
];

pub const FILE_FLAGS: &[&str] = &[
    "O_NONBLOCK",
    "O_RDWR",
    "O_RDONLY",
    "O_WRONLY",
    "O_APPEND",
    "O_ASYNC",
    "FD_CLOEXEC",
];

pub const IOCTLS: &[&str] = &["FIONREAD", "SIOCINQ", "SIOCOUTQ", "SIOCATMARK", "FIONBIO"];

pub const SIGNALS: &[&str] = &["SIGPIPE", "SIGURG", "SIGIO", "SIGALRM", "SIGUSR1"];

pub const SIGNAL_ACTIONS: &[&str] = &["ignore", "default", "count"];

pub const C_TYPES: &[&str] = &[
    "sockaddr",
    "sockaddr_in",
    "sockaddr_in6",
    "sockaddr_un",
    "sockaddr_storage",
    "in_addr",
    "in6_addr",
    "linger",
    "timeval",
    "fd_set",
];

/// Constants of <sys/socket.h>, <netinet/in.h> and friends, by their C names: only those the
/// libc crate exports for this platform, so a value is never a copy the engine made up
/// (`PF_MAX`, `IPPORT_*`, `MAXHOSTNAMELEN` are header-only and left out).
pub const CONSTANTS: &[&str] = &[
    "AF_UNSPEC",
    "AF_UNIX",
    "AF_LOCAL",
    "AF_INET",
    "AF_INET6",
    "AF_AX25",
    "AF_IPX",
    "AF_APPLETALK",
    "AF_DECnet",
    "AF_SNA",
    "AF_PACKET",
    "AF_NETLINK",
    "PF_UNSPEC",
    "PF_UNIX",
    "PF_LOCAL",
    "PF_INET",
    "PF_INET6",
    "PF_AX25",
    "PF_IPX",
    "PF_APPLETALK",
    "PF_DECnet",
    "PF_SNA",
    "PF_PACKET",
    "PF_NETLINK",
    "SOCK_STREAM",
    "SOCK_DGRAM",
    "SOCK_RAW",
    "SOCK_RDM",
    "SOCK_SEQPACKET",
    "SHUT_RD",
    "SHUT_WR",
    "SHUT_RDWR",
    "SOMAXCONN",
    "FD_SETSIZE",
    "INADDR_ANY",
    "INADDR_LOOPBACK",
    "HOST_NAME_MAX",
    "AF_VSOCK",
    "AF_XDP",
    "PF_VSOCK",
    "PF_XDP",
];

/// The signals a process may be sent or die of; `SIGSTOP` and `SIGCONT` are left out, since
/// `wait` only reports processes that ended.
pub const PROC_SIGNALS: &[&str] = &[
    "SIGHUP", "SIGINT", "SIGQUIT", "SIGILL", "SIGABRT", "SIGKILL", "SIGSEGV", "SIGPIPE", "SIGALRM",
    "SIGTERM", "SIGUSR1", "SIGUSR2",
];

pub const FILE_TYPES: &[&str] = &["S_IFSOCK", "S_IFREG", "S_IFDIR", "S_IFIFO"];

/// What `h_errno` says after a resolver call of <netdb.h> returned NULL (`NO_ADDRESS` is
/// another name of `NO_DATA`).
pub const H_ERRNOS: &[&str] = &[
    "NETDB_INTERNAL",
    "NETDB_SUCCESS",
    "HOST_NOT_FOUND",
    "TRY_AGAIN",
    "NO_RECOVERY",
    "NO_DATA",
    "NO_ADDRESS",
];

/// Strips the optional prefix a category allows (`AF_INET` → `INET`, `SOCK_STREAM` →
/// `STREAM`), so both spellings are accepted and the short one is stored.
pub fn canonical(category: Category, name: &str) -> String {
    match category {
        Category::Domain => name
            .strip_prefix("AF_")
            .or_else(|| name.strip_prefix("PF_"))
            .unwrap_or(name)
            .to_string(),
        Category::SocketType => match name.strip_prefix("SOCK_") {
            Some(base @ ("STREAM" | "DGRAM" | "SEQPACKET" | "RAW" | "RDM" | "PACKET")) => {
                base.to_string()
            }
            _ => name.to_string(),
        },
        _ => name.to_string(),
    }
}

/// The closest known name, for "did you mean" hints.
pub fn suggest(category: Category, name: &str) -> Option<&'static str> {
    // No known name is anywhere near this long; edit distance on a huge word is wasted time.
    if name.len() > 32 {
        return None;
    }
    category
        .names()
        .iter()
        .map(|candidate| (strsim::jaro_winkler(candidate, name), *candidate))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_the_near_miss() {
        assert_eq!(
            suggest(Category::Errno, "ECONNREFUSE"),
            Some("ECONNREFUSED")
        );
        assert_eq!(suggest(Category::MsgFlag, "MSG_PEAK"), Some("MSG_PEEK"));
        assert_eq!(suggest(Category::Errno, "XYZZY"), None);
    }

    #[test]
    fn prefixes_are_optional() {
        assert_eq!(canonical(Category::Domain, "AF_INET6"), "INET6");
        assert_eq!(canonical(Category::SocketType, "SOCK_DGRAM"), "DGRAM");
        assert_eq!(
            canonical(Category::SocketType, "SOCK_NONBLOCK"),
            "SOCK_NONBLOCK"
        );
    }
}
