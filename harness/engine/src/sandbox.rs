//! Isolation for one case process: a private network namespace with only `lo` up, a private
//! mount namespace whose `/tmp` is a fresh tmpfs, a private UTS namespace (its own host
//! name), and optionally dropped privileges.
//!
//! Everything here runs in the re-executed child before the scenario starts, while the
//! process is still single-threaded (`unshare(CLONE_NEWUSER)` refuses multi-threaded callers).
//! Because the namespaces and the tmpfs belong to the child alone, they vanish with it even
//! when the runner is killed with SIGKILL: nothing can be left behind.

use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use nix::mount::{mount, MsFlags};
use nix::sched::{unshare, CloneFlags};
use nix::unistd::{getgid, getuid, Gid, Uid};
use serde::{Deserialize, Serialize};

/// How cases are isolated from each other and from the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Isolation {
    /// Running as root: new network, mount and UTS namespaces.
    Netns,
    /// Unprivileged: a new user namespace (mapping our uid to 0) owning new network, mount and
    /// UTS namespaces.
    UserNetns,
    /// No namespaces available: the shared loopback, ports chosen by the kernel (port 0), a
    /// private temp directory made by the runner.
    Shared,
}

impl Isolation {
    pub fn as_str(self) -> &'static str {
        match self {
            Isolation::Netns => "netns",
            Isolation::UserNetns => "userns+netns",
            Isolation::Shared => "shared",
        }
    }

    pub fn is_isolated(self) -> bool {
        self != Isolation::Shared
    }
}

/// The directory a case's `path("x")` names live in when namespaces are in use. It sits on
/// the tmpfs mounted over `/tmp` inside the case's own mount namespace.
pub const ISOLATED_PRIVATE_DIR: &str = "/tmp/sockspec-case";

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("cannot create {what} namespace")]
    Unshare {
        what: &'static str,
        #[source]
        source: nix::Error,
    },
    #[error("cannot write `{path}` to map the user namespace")]
    IdMap {
        path: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("cannot mount a private tmpfs on /tmp")]
    Mount(#[source] nix::Error),
    #[error("cannot bring the loopback interface up")]
    Loopback(#[source] io::Error),
    #[error("cannot create the private directory `{path}`")]
    PrivateDir {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot drop privileges to `nobody`")]
    DropPrivileges(#[source] nix::Error),
    #[error("cannot drop the capabilities of the case (uid 0 of its user namespace)")]
    DropCapabilities(#[source] nix::Error),
}

/// Enters the namespaces for `mode` and returns the private directory to use.
/// For [`Isolation::Shared`] the runner-made `shared_dir` is returned unchanged.
pub fn enter(mode: Isolation, shared_dir: Option<&Path>) -> Result<PathBuf, SandboxError> {
    match mode {
        Isolation::Shared => {
            let dir = shared_dir
                .map(Path::to_path_buf)
                .unwrap_or_else(std::env::temp_dir);
            return Ok(dir);
        }
        Isolation::Netns => {
            unshare(CASE_NAMESPACES).map_err(|source| SandboxError::Unshare {
                what: "network, mount and UTS",
                source,
            })?;
        }
        Isolation::UserNetns => {
            let (uid, gid) = (getuid(), getgid());
            unshare(CloneFlags::CLONE_NEWUSER | CASE_NAMESPACES).map_err(|source| {
                SandboxError::Unshare {
                    what: "user, network, mount and UTS",
                    source,
                }
            })?;
            map_ids(uid, gid)?;
        }
    }
    OWN_NAMESPACES.store(true, Ordering::SeqCst);
    private_tmp()?;
    loopback_up().map_err(SandboxError::Loopback)?;
    let dir = PathBuf::from(ISOLATED_PRIVATE_DIR);
    fs::create_dir_all(&dir).map_err(|source| SandboxError::PrivateDir {
        path: dir.clone(),
        source,
    })?;
    // World-writable so a case that drops to `nobody` can still create its socket files.
    set_mode(&dir, 0o1777).map_err(|source| SandboxError::PrivateDir {
        path: dir.clone(),
        source,
    })?;
    Ok(dir)
}

/// The namespaces every isolated case gets: its own network (only `lo`), mounts (a private
/// `/tmp`, and `mount_tmpfs`) and UTS (`sethostname` renames the case, not the machine).
const CASE_NAMESPACES: CloneFlags = CloneFlags::CLONE_NEWNET
    .union(CloneFlags::CLONE_NEWNS)
    .union(CloneFlags::CLONE_NEWUTS);

/// Set once [`enter`] has put this process in namespaces of its own. Namespaces are a
/// property of the process, so this is process state too; grading cases, which join the
/// server's network namespace instead, never set it.
static OWN_NAMESPACES: AtomicBool = AtomicBool::new(false);

/// The directories this process covered with a tmpfs of its own ([`mount_scratch`]).
static SCRATCH_DIRS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Whether this process has its own network, mount and UTS namespaces, so it may rename its
/// host or mount over its directories without touching the machine.
pub fn owns_namespaces() -> bool {
    OWN_NAMESPACES.load(Ordering::SeqCst)
}

/// Why the case may not change the system the way it asked.
#[derive(Debug, thiserror::Error)]
pub enum ScratchError {
    #[error(
        "the case has no namespaces of its own (add `needs isolation`); the machine is left alone"
    )]
    NotIsolated,
    #[error("`{0}` is not an absolute path without `..`, other than `/`")]
    BadPath(PathBuf),
    #[error("cannot mount a tmpfs on `{path}`")]
    Mount {
        path: PathBuf,
        #[source]
        source: nix::Error,
    },
}

/// Covers `dir` with an empty tmpfs in the case's own mount namespace: the directory looks
/// empty and writable to the case, the machine's copy is untouched, and the tmpfs goes with
/// the namespace when the case ends. Refused unless the case owns its namespaces, because
/// mounts made in the machine's namespace would outlive the case.
pub fn mount_scratch(dir: &Path) -> Result<(), ScratchError> {
    if !owns_namespaces() {
        return Err(ScratchError::NotIsolated);
    }
    let plain = dir.is_absolute()
        && dir.parent().is_some()
        && dir.components().all(|c| !matches!(c, Component::ParentDir));
    if !plain {
        return Err(ScratchError::BadPath(dir.to_path_buf()));
    }
    mount(
        Some("tmpfs"),
        dir,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some("mode=755"),
    )
    .map_err(|source| ScratchError::Mount {
        path: dir.to_path_buf(),
        source,
    })?;
    if let Ok(mut dirs) = SCRATCH_DIRS.lock() {
        dirs.push(dir.to_path_buf());
    }
    Ok(())
}

/// Whether `path` lies inside a tmpfs this case mounted with [`mount_scratch`] (an absolute
/// path without `..`), so writing it cannot change a file of the machine.
pub fn in_scratch(path: &Path) -> bool {
    let plain = path.is_absolute()
        && path
            .components()
            .all(|c| !matches!(c, Component::ParentDir));
    plain
        && owns_namespaces()
        && SCRATCH_DIRS
            .lock()
            .is_ok_and(|dirs| dirs.iter().any(|d| path.starts_with(d) && path != d))
}

/// Grading: joins the network namespace of the sandbox holder `pid` (so `127.0.0.1` reaches
/// the server under test), with a private mount namespace and `/tmp` like [`enter`].
pub fn enter_netns_of(pid: i32) -> Result<PathBuf, SandboxError> {
    let ns =
        fs::File::open(format!("/proc/{pid}/ns/net")).map_err(|source| SandboxError::Unshare {
            what: "the server's network",
            source: nix::Error::from_raw(source.raw_os_error().unwrap_or(libc::ESRCH)),
        })?;
    nix::sched::setns(&ns, CloneFlags::CLONE_NEWNET).map_err(|source| SandboxError::Unshare {
        what: "the server's network",
        source,
    })?;
    unshare(CloneFlags::CLONE_NEWNS).map_err(|source| SandboxError::Unshare {
        what: "mount",
        source,
    })?;
    private_tmp()?;
    let dir = PathBuf::from(ISOLATED_PRIVATE_DIR);
    fs::create_dir_all(&dir).map_err(|source| SandboxError::PrivateDir {
        path: dir.clone(),
        source,
    })?;
    Ok(dir)
}

fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

fn map_ids(uid: Uid, gid: Gid) -> Result<(), SandboxError> {
    let write = |path: &'static str, text: String| {
        fs::write(path, text).map_err(|source| SandboxError::IdMap { path, source })
    };
    // setgroups must be denied before an unprivileged process may write gid_map.
    write("/proc/self/setgroups", "deny".to_string())?;
    write("/proc/self/uid_map", format!("0 {uid} 1\n"))?;
    write("/proc/self/gid_map", format!("0 {gid} 1\n"))?;
    Ok(())
}

/// `ip link set lo up`, with the two ioctls it is made of.
pub(crate) fn loopback_up() -> io::Result<()> {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None)?;
    // SAFETY: ifreq is plain old data; an all-zero value is valid.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    use std::os::fd::AsRawFd;
    // SAFETY: the fd is a live socket and `req` is a valid ifreq for these requests.
    unsafe {
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) < 0 {
            return Err(io::Error::last_os_error());
        }
        req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Drops root to `nobody` for `needs unprivileged` cases. Changing credentials clears the
/// parent-death signal, so it is armed again.
pub fn drop_to_nobody() -> Result<(), SandboxError> {
    const NOBODY: u32 = 65534;
    nix::unistd::setgroups(&[]).map_err(SandboxError::DropPrivileges)?;
    nix::unistd::setgid(Gid::from_raw(NOBODY)).map_err(SandboxError::DropPrivileges)?;
    nix::unistd::setuid(Uid::from_raw(NOBODY)).map_err(SandboxError::DropPrivileges)?;
    arm_parent_death_signal();
    Ok(())
}

/// Takes every capability away from a process that is uid 0 in a user namespace of its own
/// (the unprivileged mode), for `needs unprivileged` cases: `nobody` is not mapped there, so
/// it cannot become `nobody`, but without capabilities its uid 0 is worth no more than the
/// user it maps to. SECBIT_NOROOT keeps programs it execs from getting them back.
pub fn drop_capabilities() -> Result<(), SandboxError> {
    let secure = libc::SECBIT_NOROOT | libc::SECBIT_NOROOT_LOCKED;
    // SAFETY: prctl with integer arguments.
    if unsafe { libc::prctl(libc::PR_SET_SECUREBITS, secure as libc::c_ulong, 0, 0, 0) } != 0 {
        return Err(SandboxError::DropCapabilities(nix::errno::Errno::last()));
    }
    #[repr(C)]
    struct CapHeader {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct CapData {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    // _LINUX_CAPABILITY_VERSION_3: two 32-bit words per set.
    let header = CapHeader {
        version: 0x2008_0522,
        pid: 0,
    };
    let data = [CapData {
        effective: 0,
        permitted: 0,
        inheritable: 0,
    }; 2];
    // SAFETY: capset reads one header and two data structs of the layout above.
    if unsafe { libc::syscall(libc::SYS_capset, &header, data.as_ptr()) } != 0 {
        return Err(SandboxError::DropCapabilities(nix::errno::Errno::last()));
    }
    arm_parent_death_signal();
    Ok(())
}

/// Whether the process holds any effective capability (`CapEff` in /proc/self/status).
pub fn has_capabilities() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .is_some_and(|caps| caps != 0)
}

/// Makes the kernel SIGKILL this process when the runner dies, so an interrupted run
/// leaves no case process behind.
pub fn arm_parent_death_signal() {
    let _ = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL);
}

/// Tries `mode` in a throw-away child process (the probe must not change the runner's own
/// namespaces) and reports whether it works.
pub fn probe(exe: &Path, mode: Isolation) -> bool {
    std::process::Command::new(exe)
        .arg("__probe-isolation")
        .arg(mode.as_str())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// The body of `__probe-isolation MODE`: exit status 0 when the namespaces can be entered.
pub fn probe_main(mode: &str) -> i32 {
    let mode = match mode {
        "netns" => Isolation::Netns,
        "userns+netns" => Isolation::UserNetns,
        _ => return 2,
    };
    arm_parent_death_signal();
    match enter(mode, None) {
        Ok(_) => 0,
        Err(_) => 1,
    }
}

/// Picks the strongest isolation this machine allows, with the reason when it is none.
pub fn choose(exe: &Path) -> (Isolation, Option<String>) {
    if nix::unistd::geteuid().is_root() && probe(exe, Isolation::Netns) {
        return (Isolation::Netns, None);
    }
    if probe(exe, Isolation::UserNetns) {
        return (Isolation::UserNetns, None);
    }
    let reason = if nix::unistd::geteuid().is_root() {
        "running as root, but network namespaces cannot be created here (a container without CAP_SYS_ADMIN?)"
    } else {
        "not root and unprivileged user namespaces are disabled (kernel.unprivileged_userns_clone or user.max_user_namespaces)"
    };
    (Isolation::Shared, Some(reason.to_string()))
}

/// Keeps the mounts of this (new) mount namespace from propagating back to the host.
pub fn make_mounts_private() -> nix::Result<()> {
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
}

/// Keeps this mount namespace's mounts from propagating back to the host, then gives /tmp a
/// fresh tmpfs that dies with the namespace.
fn private_tmp() -> Result<(), SandboxError> {
    make_mounts_private().map_err(SandboxError::Mount)?;
    mount(
        Some("tmpfs"),
        "/tmp",
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some("mode=1777"),
    )
    .map_err(SandboxError::Mount)
}
