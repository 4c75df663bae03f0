//! The platform numbers behind every symbolic name of `sockspec_lang::symbols`, and the
//! reverse mapping used to print results symbolically (`EAGAIN`, `POLLIN|POLLOUT`).

use sockspec_lang::symbols::Category;

/// Where `ioctl(SIOCATMARK)` is not in the libc crate, the number comes from
/// `include/uapi/asm-generic/sockios.h`.
const SIOCATMARK: i64 = 0x8905;

/// `signal(SIG, ACTION)` actions; they are not kernel numbers, only the engine's own codes.
pub(crate) const ACTION_IGNORE: i64 = 0;
pub(crate) const ACTION_DEFAULT: i64 = 1;
pub(crate) const ACTION_COUNT: i64 = 2;

/// Every category, written as an exhaustive match so a new category fails to compile here
/// until it is mapped.
#[cfg(test)]
pub(crate) fn all_categories() -> Vec<Category> {
    use Category::*;
    let all = [
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
        CType,
        Constant,
        ProcSignal,
        HErrno,
    ];
    for c in all {
        match c {
            Domain | SocketType | Protocol | Errno | MsgFlag | PollFlag | ShutHow | Level
            | SockOpt | FcntlCmd | FileFlag | Ioctl | Signal | SignalAction | FileType | CType
            | Constant | ProcSignal | HErrno => {}
        }
    }
    all.to_vec()
}

/// The number of `name` in `category` on this platform, or `None` when the platform lacks it.
pub(crate) fn value(category: Category, name: &str) -> Option<i64> {
    let name = sockspec_lang::symbols::canonical(category, name);
    let v: i64 = match category {
        Category::Domain => match name.as_str() {
            "INET" => libc::AF_INET.into(),
            "INET6" => libc::AF_INET6.into(),
            "UNIX" | "LOCAL" => libc::AF_UNIX.into(),
            "UNSPEC" => libc::AF_UNSPEC.into(),
            "PACKET" => libc::AF_PACKET.into(),
            "NETLINK" => libc::AF_NETLINK.into(),
            "DECnet" => libc::AF_DECnet.into(),
            "SNA" => libc::AF_SNA.into(),
            "APPLETALK" => libc::AF_APPLETALK.into(),
            "AX25" => libc::AF_AX25.into(),
            "IPX" => libc::AF_IPX.into(),
            "VSOCK" => libc::AF_VSOCK.into(),
            "XDP" => libc::AF_XDP.into(),
            _ => return None,
        },
        Category::SocketType => match name.as_str() {
            "STREAM" => libc::SOCK_STREAM.into(),
            "DGRAM" => libc::SOCK_DGRAM.into(),
            "SEQPACKET" => libc::SOCK_SEQPACKET.into(),
            "RAW" => libc::SOCK_RAW.into(),
            "RDM" => libc::SOCK_RDM.into(),
            // Linux's SOCK_PACKET (include/linux/net.h); the libc crate binds it only for
            // Android and uClibc. It is an argument here, never an expected value.
            "PACKET" => 10,
            "SOCK_NONBLOCK" => libc::SOCK_NONBLOCK.into(),
            "SOCK_CLOEXEC" => libc::SOCK_CLOEXEC.into(),
            _ => return None,
        },
        Category::Protocol => match name.as_str() {
            "IPPROTO_IP" => libc::IPPROTO_IP.into(),
            "IPPROTO_TCP" => libc::IPPROTO_TCP.into(),
            "IPPROTO_UDP" => libc::IPPROTO_UDP.into(),
            "IPPROTO_ICMP" => libc::IPPROTO_ICMP.into(),
            "IPPROTO_ICMPV6" => libc::IPPROTO_ICMPV6.into(),
            "IPPROTO_RAW" => libc::IPPROTO_RAW.into(),
            "IPPROTO_SCTP" => libc::IPPROTO_SCTP.into(),
            "IPPROTO_IPV6" => libc::IPPROTO_IPV6.into(),
            _ => return None,
        },
        Category::Errno => errno_value(&name)?.into(),
        Category::MsgFlag => match name.as_str() {
            "MSG_OOB" => libc::MSG_OOB.into(),
            "MSG_PEEK" => libc::MSG_PEEK.into(),
            "MSG_DONTROUTE" => libc::MSG_DONTROUTE.into(),
            "MSG_CTRUNC" => libc::MSG_CTRUNC.into(),
            "MSG_TRUNC" => libc::MSG_TRUNC.into(),
            "MSG_DONTWAIT" => libc::MSG_DONTWAIT.into(),
            "MSG_EOR" => libc::MSG_EOR.into(),
            "MSG_WAITALL" => libc::MSG_WAITALL.into(),
            "MSG_NOSIGNAL" => libc::MSG_NOSIGNAL.into(),
            "MSG_MORE" => libc::MSG_MORE.into(),
            "MSG_ERRQUEUE" => libc::MSG_ERRQUEUE.into(),
            "MSG_CMSG_CLOEXEC" => libc::MSG_CMSG_CLOEXEC.into(),
            "MSG_CONFIRM" => libc::MSG_CONFIRM.into(),
            _ => return None,
        },
        Category::PollFlag => match name.as_str() {
            "POLLIN" => libc::POLLIN.into(),
            "POLLPRI" => libc::POLLPRI.into(),
            "POLLOUT" => libc::POLLOUT.into(),
            "POLLERR" => libc::POLLERR.into(),
            "POLLHUP" => libc::POLLHUP.into(),
            "POLLNVAL" => libc::POLLNVAL.into(),
            "POLLRDNORM" => libc::POLLRDNORM.into(),
            "POLLRDBAND" => libc::POLLRDBAND.into(),
            "POLLWRNORM" => libc::POLLWRNORM.into(),
            "POLLWRBAND" => libc::POLLWRBAND.into(),
            "POLLRDHUP" => libc::POLLRDHUP.into(),
            _ => return None,
        },
        Category::ShutHow => match name.as_str() {
            "SHUT_RD" => libc::SHUT_RD.into(),
            "SHUT_WR" => libc::SHUT_WR.into(),
            "SHUT_RDWR" => libc::SHUT_RDWR.into(),
            _ => return None,
        },
        Category::Level => match name.as_str() {
            "SOL_SOCKET" => libc::SOL_SOCKET.into(),
            "IPPROTO_TCP" => libc::IPPROTO_TCP.into(),
            "IPPROTO_IP" => libc::IPPROTO_IP.into(),
            "IPPROTO_IPV6" => libc::IPPROTO_IPV6.into(),
            "IPPROTO_UDP" => libc::IPPROTO_UDP.into(),
            _ => return None,
        },
        _ => return value_rest(category, &name),
    };
    Some(v)
}

/// The second half of [`value`]: options, descriptors, signals, C types and the rest.
fn value_rest(category: Category, name: &str) -> Option<i64> {
    let name = name.to_string();
    let v: i64 = match category {
        Category::SockOpt => sockopt_value(&name)?.into(),
        Category::FcntlCmd => match name.as_str() {
            "F_GETFL" => libc::F_GETFL.into(),
            "F_SETFL" => libc::F_SETFL.into(),
            "F_GETFD" => libc::F_GETFD.into(),
            "F_SETFD" => libc::F_SETFD.into(),
            "F_GETOWN" => libc::F_GETOWN.into(),
            "F_SETOWN" => libc::F_SETOWN.into(),
            _ => return None,
        },
        Category::FileFlag => match name.as_str() {
            "O_NONBLOCK" => libc::O_NONBLOCK.into(),
            "O_RDWR" => libc::O_RDWR.into(),
            "O_RDONLY" => libc::O_RDONLY.into(),
            "O_WRONLY" => libc::O_WRONLY.into(),
            "O_APPEND" => libc::O_APPEND.into(),
            "O_ASYNC" => libc::O_ASYNC.into(),
            "FD_CLOEXEC" => libc::FD_CLOEXEC.into(),
            _ => return None,
        },
        Category::Ioctl => match name.as_str() {
            // On Linux SIOCINQ is FIONREAD and SIOCOUTQ is TIOCOUTQ (linux/sockios.h).
            "FIONREAD" | "SIOCINQ" => libc::FIONREAD as i64,
            "SIOCOUTQ" => libc::TIOCOUTQ as i64,
            "SIOCATMARK" => SIOCATMARK,
            "FIONBIO" => libc::FIONBIO as i64,
            _ => return None,
        },
        Category::Signal => match name.as_str() {
            "SIGPIPE" => libc::SIGPIPE.into(),
            "SIGURG" => libc::SIGURG.into(),
            "SIGIO" => libc::SIGIO.into(),
            "SIGALRM" => libc::SIGALRM.into(),
            "SIGUSR1" => libc::SIGUSR1.into(),
            _ => return None,
        },
        Category::SignalAction => match name.as_str() {
            "ignore" => ACTION_IGNORE,
            "default" => ACTION_DEFAULT,
            "count" => ACTION_COUNT,
            _ => return None,
        },
        Category::CType => {
            use std::mem::size_of;
            (match name.as_str() {
                "sockaddr" => size_of::<libc::sockaddr>(),
                "sockaddr_in" => size_of::<libc::sockaddr_in>(),
                "sockaddr_in6" => size_of::<libc::sockaddr_in6>(),
                "sockaddr_un" => size_of::<libc::sockaddr_un>(),
                "sockaddr_storage" => size_of::<libc::sockaddr_storage>(),
                "in_addr" => size_of::<libc::in_addr>(),
                "in6_addr" => size_of::<libc::in6_addr>(),
                "linger" => size_of::<libc::linger>(),
                "timeval" => size_of::<libc::timeval>(),
                "fd_set" => size_of::<libc::fd_set>(),
                _ => return None,
            }) as i64
        }
        Category::Constant => constant_value(&name)?,
        Category::ProcSignal => match name.as_str() {
            "SIGHUP" => libc::SIGHUP.into(),
            "SIGINT" => libc::SIGINT.into(),
            "SIGQUIT" => libc::SIGQUIT.into(),
            "SIGILL" => libc::SIGILL.into(),
            "SIGABRT" => libc::SIGABRT.into(),
            "SIGKILL" => libc::SIGKILL.into(),
            "SIGSEGV" => libc::SIGSEGV.into(),
            "SIGPIPE" => libc::SIGPIPE.into(),
            "SIGALRM" => libc::SIGALRM.into(),
            "SIGTERM" => libc::SIGTERM.into(),
            "SIGUSR1" => libc::SIGUSR1.into(),
            "SIGUSR2" => libc::SIGUSR2.into(),
            _ => return None,
        },
        // The libc crate has no <netdb.h> error codes; these are glibc's numbers, which the
        // BSDs share.
        Category::HErrno => match name.as_str() {
            "NETDB_INTERNAL" => -1,
            "NETDB_SUCCESS" => 0,
            "HOST_NOT_FOUND" => 1,
            "TRY_AGAIN" => 2,
            "NO_RECOVERY" => 3,
            "NO_DATA" | "NO_ADDRESS" => 4,
            _ => return None,
        },
        Category::FileType => match name.as_str() {
            "S_IFSOCK" => libc::S_IFSOCK.into(),
            "S_IFREG" => libc::S_IFREG.into(),
            "S_IFDIR" => libc::S_IFDIR.into(),
            "S_IFIFO" => libc::S_IFIFO.into(),
            _ => return None,
        },
        _ => return None,
    };
    Some(v)
}

/// Values of the C constants `constant(...)` knows, all from the libc crate's bindings of this
/// platform's headers.
fn constant_value(name: &str) -> Option<i64> {
    use libc::*;
    let v: i64 = match name {
        "AF_UNSPEC" | "PF_UNSPEC" => AF_UNSPEC.into(),
        "AF_UNIX" | "PF_UNIX" | "AF_LOCAL" | "PF_LOCAL" => AF_UNIX.into(),
        "AF_INET" | "PF_INET" => AF_INET.into(),
        "AF_INET6" | "PF_INET6" => AF_INET6.into(),
        "AF_AX25" | "PF_AX25" => AF_AX25.into(),
        "AF_IPX" | "PF_IPX" => AF_IPX.into(),
        "AF_APPLETALK" | "PF_APPLETALK" => AF_APPLETALK.into(),
        "AF_DECnet" | "PF_DECnet" => AF_DECnet.into(),
        "AF_SNA" | "PF_SNA" => AF_SNA.into(),
        "AF_PACKET" | "PF_PACKET" => AF_PACKET.into(),
        "AF_NETLINK" | "PF_NETLINK" => AF_NETLINK.into(),
        "SOCK_STREAM" => SOCK_STREAM.into(),
        "SOCK_DGRAM" => SOCK_DGRAM.into(),
        "SOCK_RAW" => SOCK_RAW.into(),
        "SOCK_RDM" => SOCK_RDM.into(),
        "SOCK_SEQPACKET" => SOCK_SEQPACKET.into(),
        "SHUT_RD" => SHUT_RD.into(),
        "SHUT_WR" => SHUT_WR.into(),
        "SHUT_RDWR" => SHUT_RDWR.into(),
        "SOMAXCONN" => SOMAXCONN.into(),
        "FD_SETSIZE" => FD_SETSIZE as i64,
        "INADDR_ANY" => INADDR_ANY.into(),
        "INADDR_LOOPBACK" => INADDR_LOOPBACK.into(),
        "HOST_NAME_MAX" => HOST_NAME_MAX.into(),
        "AF_VSOCK" | "PF_VSOCK" => AF_VSOCK.into(),
        "AF_XDP" | "PF_XDP" => AF_XDP.into(),
        _ => return None,
    };
    Some(v)
}

fn errno_value(name: &str) -> Option<i32> {
    use libc::*;
    Some(match name {
        "EPERM" => EPERM,
        "ENOENT" => ENOENT,
        "ESRCH" => ESRCH,
        "EINTR" => EINTR,
        "EIO" => EIO,
        "ENXIO" => ENXIO,
        "E2BIG" => E2BIG,
        "EBADF" => EBADF,
        "ECHILD" => ECHILD,
        "EAGAIN" => EAGAIN,
        "EWOULDBLOCK" => EWOULDBLOCK,
        "ENOMEM" => ENOMEM,
        "EACCES" => EACCES,
        "EFAULT" => EFAULT,
        "EBUSY" => EBUSY,
        "EEXIST" => EEXIST,
        "ENODEV" => ENODEV,
        "ENOTDIR" => ENOTDIR,
        "EISDIR" => EISDIR,
        "EINVAL" => EINVAL,
        "ENFILE" => ENFILE,
        "EMFILE" => EMFILE,
        "ENOTTY" => ENOTTY,
        "EFBIG" => EFBIG,
        "ENOSPC" => ENOSPC,
        "ESPIPE" => ESPIPE,
        "EROFS" => EROFS,
        "EPIPE" => EPIPE,
        "EDOM" => EDOM,
        "ERANGE" => ERANGE,
        "ENAMETOOLONG" => ENAMETOOLONG,
        "ENOSYS" => ENOSYS,
        "ENOTSOCK" => ENOTSOCK,
        "EDESTADDRREQ" => EDESTADDRREQ,
        "EMSGSIZE" => EMSGSIZE,
        "EPROTOTYPE" => EPROTOTYPE,
        "ENOPROTOOPT" => ENOPROTOOPT,
        "EPROTONOSUPPORT" => EPROTONOSUPPORT,
        "ESOCKTNOSUPPORT" => ESOCKTNOSUPPORT,
        "EOPNOTSUPP" => EOPNOTSUPP,
        "ENOTSUP" => ENOTSUP,
        "EPFNOSUPPORT" => EPFNOSUPPORT,
        "EAFNOSUPPORT" => EAFNOSUPPORT,
        "EADDRINUSE" => EADDRINUSE,
        "EADDRNOTAVAIL" => EADDRNOTAVAIL,
        "ENETDOWN" => ENETDOWN,
        "ENETUNREACH" => ENETUNREACH,
        "ENETRESET" => ENETRESET,
        "ECONNABORTED" => ECONNABORTED,
        "ECONNRESET" => ECONNRESET,
        "ENOBUFS" => ENOBUFS,
        "EISCONN" => EISCONN,
        "ENOTCONN" => ENOTCONN,
        "ESHUTDOWN" => ESHUTDOWN,
        "ETIMEDOUT" => ETIMEDOUT,
        "ECONNREFUSED" => ECONNREFUSED,
        "EHOSTDOWN" => EHOSTDOWN,
        "EHOSTUNREACH" => EHOSTUNREACH,
        "EALREADY" => EALREADY,
        "EINPROGRESS" => EINPROGRESS,
        "ENOTEMPTY" => ENOTEMPTY,
        "ELOOP" => ELOOP,
        "EOVERFLOW" => EOVERFLOW,
        _ => return None,
    })
}

fn sockopt_value(name: &str) -> Option<i32> {
    use libc::*;
    Some(match name {
        "SO_TYPE" => SO_TYPE,
        "SO_ERROR" => SO_ERROR,
        "SO_REUSEADDR" => SO_REUSEADDR,
        "SO_REUSEPORT" => SO_REUSEPORT,
        "SO_KEEPALIVE" => SO_KEEPALIVE,
        "SO_BROADCAST" => SO_BROADCAST,
        "SO_LINGER" => SO_LINGER,
        "SO_OOBINLINE" => SO_OOBINLINE,
        "SO_SNDBUF" => SO_SNDBUF,
        "SO_RCVBUF" => SO_RCVBUF,
        "SO_SNDBUFFORCE" => SO_SNDBUFFORCE,
        "SO_RCVBUFFORCE" => SO_RCVBUFFORCE,
        "SO_RCVLOWAT" => SO_RCVLOWAT,
        "SO_SNDLOWAT" => SO_SNDLOWAT,
        "SO_RCVTIMEO" => SO_RCVTIMEO,
        "SO_SNDTIMEO" => SO_SNDTIMEO,
        "SO_ACCEPTCONN" => SO_ACCEPTCONN,
        "SO_DOMAIN" => SO_DOMAIN,
        "SO_PROTOCOL" => SO_PROTOCOL,
        "SO_PASSCRED" => SO_PASSCRED,
        "SO_PEERCRED" => SO_PEERCRED,
        // Not exported by the libc crate for Linux; the number is from asm-generic/socket.h.
        "SO_PEEK_OFF" => 42,
        "SO_DONTROUTE" => SO_DONTROUTE,
        "SO_PRIORITY" => SO_PRIORITY,
        "TCP_NODELAY" => TCP_NODELAY,
        "TCP_MAXSEG" => TCP_MAXSEG,
        "TCP_CORK" => TCP_CORK,
        "TCP_KEEPIDLE" => TCP_KEEPIDLE,
        "TCP_KEEPINTVL" => TCP_KEEPINTVL,
        "TCP_KEEPCNT" => TCP_KEEPCNT,
        "TCP_QUICKACK" => TCP_QUICKACK,
        "TCP_DEFER_ACCEPT" => TCP_DEFER_ACCEPT,
        "TCP_USER_TIMEOUT" => TCP_USER_TIMEOUT,
        "TCP_NOTSENT_LOWAT" => TCP_NOTSENT_LOWAT,
        "IP_TTL" => IP_TTL,
        "IP_TOS" => IP_TOS,
        "IP_RECVERR" => IP_RECVERR,
        "IP_PKTINFO" => IP_PKTINFO,
        "IP_MTU_DISCOVER" => IP_MTU_DISCOVER,
        "IP_MULTICAST_TTL" => IP_MULTICAST_TTL,
        "IP_MULTICAST_LOOP" => IP_MULTICAST_LOOP,
        "IPV6_V6ONLY" => IPV6_V6ONLY,
        "IPV6_RECVERR" => IPV6_RECVERR,
        "IPV6_UNICAST_HOPS" => IPV6_UNICAST_HOPS,
        _ => return None,
    })
}

/// The first name of `category` whose number is `v` (table order, so `EAGAIN` wins over
/// `EWOULDBLOCK` and `EOPNOTSUPP` over `ENOTSUP`, the names strace prints).
pub(crate) fn name_of(category: Category, v: i64) -> Option<&'static str> {
    category
        .names()
        .iter()
        .copied()
        .find(|n| value(category, n) == Some(v))
}

/// An errno as `EAGAIN`, or nix's name for numbers the language does not list.
pub(crate) fn errno_name(e: i32) -> String {
    match name_of(Category::Errno, e.into()) {
        Some(n) => n.to_string(),
        None => format!("{:?}", nix::errno::Errno::from_raw(e)),
    }
}

/// `EAGAIN (Resource temporarily unavailable)`.
pub(crate) fn errno_text(e: i32) -> String {
    // The C library's wording (`strerror`), which is what users know from perror and strace.
    let text = std::io::Error::from_raw_os_error(e).to_string();
    let text = text
        .split(" (os error")
        .next()
        .unwrap_or_default()
        .to_string();
    format!("{} ({text})", errno_name(e))
}

/// Bits as `POLLIN|POLLOUT`, unknown bits as hex, none as `0`. Names whose number is 0
/// (`O_RDONLY`) or that alias an earlier name are never printed.
pub(crate) fn flags_text(category: Category, bits: i64) -> String {
    let mut rest = bits;
    let mut parts = Vec::new();
    for name in category.names() {
        let Some(v) = value(category, name) else {
            continue;
        };
        if v != 0 && rest & v == v {
            parts.push((*name).to_string());
            rest &= !v;
        }
    }
    if rest != 0 {
        parts.push(format!("{rest:#x}"));
    }
    if parts.is_empty() {
        "0".to_string()
    } else {
        parts.join("|")
    }
}

/// `O_RDWR|O_NONBLOCK`: `F_GETFL` prints its access mode by name first, as strace does.
pub(crate) fn file_flags_text(bits: i64) -> String {
    let mode = bits & i64::from(libc::O_ACCMODE);
    let mode_name = match mode as i32 {
        libc::O_RDONLY => "O_RDONLY",
        libc::O_WRONLY => "O_WRONLY",
        _ => "O_RDWR",
    };
    let rest = bits & !i64::from(libc::O_ACCMODE);
    if rest == 0 {
        mode_name.to_string()
    } else {
        format!("{mode_name}|{}", flags_text(Category::FileFlag, rest))
    }
}
