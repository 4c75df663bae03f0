//! Isolation for one case process: private network, mount, UTS and pid namespaces with only
//! `lo` up, the host's file system read-only, and `/tmp`, `/dev` and `/proc` of the case's
//! own; optionally dropped privileges.
//!
//! Nothing is trusted on a return code. After `unshare`, each namespace the case relies on
//! must have a new identity (the inode of `/proc/self/ns/<kind>`; a missing entry means "not
//! isolated"), and nothing is mounted until the mount namespace is verified new and private
//! (no `shared:` peer group left in `/proc/self/mountinfo`); the host's mounts are then made
//! read-only and checked to be so. The system calls go through the [`Kernel`] seam, so the
//! tests can play a kernel whose `unshare` does nothing or whose `mount` refuses `MS_REC`.
//!
//! Everything here runs in the re-executed child before the scenario starts, while the
//! process is still single-threaded (`unshare(CLONE_NEWUSER)` refuses multi-threaded callers).
//! Because the namespaces and the tmpfs belong to the case alone, they vanish with it even
//! when the runner is killed with SIGKILL: nothing can be left behind.

use std::fs;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use nix::errno::Errno;
use nix::mount::{mount, MsFlags};
use nix::sched::{unshare, CloneFlags};
use nix::unistd::{getgid, getuid, Gid, Uid};
use serde::{Deserialize, Serialize};

/// How cases are isolated from each other and from the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Isolation {
    /// Running as root: new network, mount, UTS and pid namespaces, the host read-only.
    Netns,
    /// Unprivileged: a new user namespace (mapping our uid to 0) owning new network, mount,
    /// UTS and pid namespaces.
    UserNetns,
    /// Private network and UTS namespaces only (in a user namespace when unprivileged): the
    /// mount namespace could not be verified private, so nothing is mounted, the private
    /// directory is made by the runner as in shared mode, and cases that mount are skipped.
    NetUts,
    /// No namespaces available: the shared loopback, ports chosen by the kernel (port 0), a
    /// private temp directory made by the runner.
    Shared,
}

impl Isolation {
    pub fn as_str(self) -> &'static str {
        match self {
            Isolation::Netns => "netns",
            Isolation::UserNetns => "userns+netns",
            Isolation::NetUts => "net+uts",
            Isolation::Shared => "shared",
        }
    }

    /// Full isolation: namespaces of every kind the case may change (it may mount, rename
    /// its host, shape its loopback) and a read-only host.
    pub fn is_isolated(self) -> bool {
        matches!(self, Isolation::Netns | Isolation::UserNetns)
    }

    /// Whether the case has a network namespace of its own (fixed ports, abstract names).
    pub fn private_network(self) -> bool {
        self != Isolation::Shared
    }

    /// Whether the case process makes its own private directory (on its own `/tmp`); the
    /// runner makes one for the other levels.
    pub fn private_tmp(self) -> bool {
        self.is_isolated()
    }

    /// The flags to `unshare`: what this level makes new.
    fn flags(self) -> CloneFlags {
        match self {
            Isolation::Netns => CASE_NAMESPACES,
            Isolation::UserNetns => CloneFlags::CLONE_NEWUSER | CASE_NAMESPACES,
            Isolation::NetUts if nix::unistd::geteuid().is_root() => NET_UTS,
            Isolation::NetUts => CloneFlags::CLONE_NEWUSER | NET_UTS,
            Isolation::Shared => CloneFlags::empty(),
        }
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
    #[error("the {kind} namespace is not new after unshare (`/proc/self/ns/{kind}` {seen})")]
    NotNew { kind: &'static str, seen: String },
    #[error("cannot write `{path}` to map the user namespace")]
    IdMap {
        path: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("cannot {step}")]
    Mount {
        step: String,
        #[source]
        source: nix::Error,
    },
    #[error("not verified: {0}")]
    NotVerified(String),
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

/// The system calls isolation is made of. [`HostKernel`] makes them; the tests substitute
/// kernels that lie (an `unshare` that does nothing, a `mount` that refuses `MS_REC`) to
/// prove that nothing is mounted outside a verified private namespace.
pub trait Kernel {
    fn unshare(&mut self, flags: CloneFlags) -> nix::Result<()>;
    /// The identity (nsfs inode) of this process's namespace of `kind`, `None` when
    /// `/proc/self/ns/<kind>` does not exist.
    fn namespace_id(&self, kind: &str) -> Option<u64>;
    fn mount(
        &mut self,
        source: Option<&str>,
        target: &str,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> nix::Result<()>;
    /// `mount_setattr(target, AT_RECURSIVE, RDONLY | NOSUID)`: every mount under `target`.
    fn read_only_tree(&mut self, target: &str) -> nix::Result<()>;
    /// The text of `/proc/self/mountinfo`.
    fn mountinfo(&self) -> Option<String>;
    /// Covers `/dev` with the case's own ([`private_dev`]); mounts go through [`Kernel::mount`].
    fn private_dev(&mut self) -> Result<(), SandboxError>;
}

/// The running kernel.
pub struct HostKernel;

impl Kernel for HostKernel {
    fn unshare(&mut self, flags: CloneFlags) -> nix::Result<()> {
        unshare(flags)
    }

    fn namespace_id(&self, kind: &str) -> Option<u64> {
        fs::metadata(format!("/proc/self/ns/{kind}"))
            .ok()
            .map(|m| m.ino())
    }

    fn mount(
        &mut self,
        source: Option<&str>,
        target: &str,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> nix::Result<()> {
        mount(source, target, fstype, flags, data)
    }

    fn read_only_tree(&mut self, target: &str) -> nix::Result<()> {
        #[repr(C)]
        struct MountAttr {
            attr_set: u64,
            attr_clr: u64,
            propagation: u64,
            userns_fd: u64,
        }
        const MOUNT_ATTR_RDONLY: u64 = 0x1;
        const MOUNT_ATTR_NOSUID: u64 = 0x2;
        const AT_RECURSIVE: libc::c_uint = 0x8000;
        let attr = MountAttr {
            attr_set: MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID,
            attr_clr: 0,
            propagation: 0,
            userns_fd: 0,
        };
        let path = std::ffi::CString::new(target).map_err(|_| Errno::EINVAL)?;
        // SAFETY: mount_setattr(2) reads a NUL-terminated path and one mount_attr of the
        // size given; both outlive the call.
        let r = unsafe {
            libc::syscall(
                libc::SYS_mount_setattr,
                libc::AT_FDCWD,
                path.as_ptr(),
                AT_RECURSIVE,
                &attr as *const MountAttr,
                std::mem::size_of::<MountAttr>(),
            )
        };
        if r == 0 {
            Ok(())
        } else {
            Err(Errno::last())
        }
    }

    fn mountinfo(&self) -> Option<String> {
        fs::read_to_string("/proc/self/mountinfo").ok()
    }

    fn private_dev(&mut self) -> Result<(), SandboxError> {
        private_dev(self)
    }
}

/// One line of `/proc/self/mountinfo`: where it is mounted, its per-mount options and its
/// propagation tags (`shared:N`, `master:N`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    pub point: String,
    pub options: Vec<String>,
    pub tags: Vec<String>,
}

/// Parses `/proc/self/mountinfo` (proc(5)); mount points are unescaped (`\040` is a space).
pub fn parse_mountinfo(text: &str) -> Vec<MountEntry> {
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            let dash = fields.iter().position(|f| *f == "-")?;
            if dash < 6 {
                return None;
            }
            Some(MountEntry {
                point: unescape(fields[4]),
                options: fields[5].split(',').map(str::to_string).collect(),
                tags: fields[6..dash].iter().map(|t| t.to_string()).collect(),
            })
        })
        .collect()
}

fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| bytes[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match octal {
            Some(d) => {
                out.push(d.iter().fold(0u8, |n, c| n.wrapping_mul(8) + (c - b'0')));
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What [`enter`] verified, for the run's environment and the case process.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verified {
    /// The namespaces found new after `unshare`, by `/proc/self/ns` name.
    pub namespaces: Vec<&'static str>,
    /// The mount namespace is new and no mount in it propagates to the host.
    pub mounts_private: bool,
    /// `MS_REC` was refused and every mount was made private one by one instead.
    pub private_without_rec: bool,
    /// Every mount of the host is read-only in the case's mount namespace.
    pub host_read_only: bool,
    /// `lo` was already up, so it was left alone.
    pub loopback_was_up: bool,
    /// `CLONE_NEWPID` was asked for and returned 0; the namespace is checked by its first
    /// process (see [`verify_pid_namespace`], and the case's init).
    pub pid_pending: bool,
}

impl Verified {
    /// One line for the run's environment: what was checked, not what was asked for.
    pub fn summary(&self) -> String {
        let mut parts = vec![format!("new {} namespaces", self.namespaces.join(", "))];
        if self.mounts_private {
            parts.push(if self.private_without_rec {
                "mounts private (one by one: MS_REC refused)".to_string()
            } else {
                "mounts private".to_string()
            });
        }
        if self.host_read_only {
            parts.push("host file system read-only".to_string());
        }
        parts.join("; ") + " (verified)"
    }

    /// Whether the case's children get a pid namespace of their own (the case's init then
    /// checks that it is its pid 1, and takes everything the case started with it).
    pub fn pid_namespace(&self) -> bool {
        self.pid_pending || self.namespaces.contains(&"pid")
    }
}

/// The namespaces every isolated case gets: its own network (only `lo`), mounts (a private
/// `/tmp`, and `mount_tmpfs`), UTS (`sethostname` renames the case, not the machine) and pids
/// (nothing the case starts, in any session, outlives its init).
const CASE_NAMESPACES: CloneFlags = CloneFlags::CLONE_NEWNET
    .union(CloneFlags::CLONE_NEWNS)
    .union(CloneFlags::CLONE_NEWUTS)
    .union(CloneFlags::CLONE_NEWPID);

/// The intermediate level: the network and the host name of the case's own, nothing mounted.
const NET_UTS: CloneFlags = CloneFlags::CLONE_NEWNET.union(CloneFlags::CLONE_NEWUTS);

/// `/proc/self/ns` names of the namespaces `flags` makes new. `pid_for_children`, because
/// `CLONE_NEWPID` moves the caller's future children, not the caller.
fn namespace_kinds(flags: CloneFlags) -> Vec<&'static str> {
    [
        (CloneFlags::CLONE_NEWUSER, "user"),
        (CloneFlags::CLONE_NEWNET, "net"),
        (CloneFlags::CLONE_NEWNS, "mnt"),
        (CloneFlags::CLONE_NEWUTS, "uts"),
        (CloneFlags::CLONE_NEWPID, "pid_for_children"),
    ]
    .into_iter()
    .filter(|(f, _)| flags.contains(*f))
    .map(|(_, k)| k)
    .collect()
}

/// `unshare(flags)`, then checks that every namespace it should have made is new.
fn unshare_verified(k: &mut dyn Kernel, flags: CloneFlags) -> Result<Verified, SandboxError> {
    let kinds = namespace_kinds(flags);
    let before: Vec<Option<u64>> = kinds.iter().map(|kind| k.namespace_id(kind)).collect();
    k.unshare(flags).map_err(|source| SandboxError::Unshare {
        what: describe(&kinds),
        source,
    })?;
    let mut verified = Verified::default();
    for (kind, before) in kinds.iter().zip(before) {
        if *kind == "pid_for_children" {
            // The kernel shows the new pid namespace only once it has a first process (its
            // init): the case's init checks that it is pid 1, and the probe does the same.
            verified.pid_pending = true;
            continue;
        }
        let after = k.namespace_id(kind);
        match (before, after) {
            (Some(b), Some(a)) if a != b => verified.namespaces.push(kind),
            (_, None) | (None, _) => {
                return Err(SandboxError::NotNew {
                    kind,
                    seen: "does not exist".into(),
                })
            }
            (Some(b), Some(_)) => {
                return Err(SandboxError::NotNew {
                    kind,
                    seen: format!("kept its inode {b}"),
                })
            }
        }
    }
    Ok(verified)
}

/// Forks a child that reports whether it is pid 1, i.e. whether `CLONE_NEWPID` really made
/// a pid namespace for this process's children.
pub fn verify_pid_namespace() -> Result<(), SandboxError> {
    use nix::sys::wait::{waitpid, WaitStatus};
    use nix::unistd::{fork, ForkResult};
    // SAFETY: the probe is single-threaded; the child only calls getpid and _exit.
    match unsafe { fork() } {
        Ok(ForkResult::Child) => {
            // SAFETY: leaving the forked child at once.
            unsafe { libc::_exit(if libc::getpid() == 1 { 0 } else { 1 }) }
        }
        Ok(ForkResult::Parent { child }) => match waitpid(child, None) {
            Ok(WaitStatus::Exited(_, 0)) => Ok(()),
            _ => Err(SandboxError::NotNew {
                kind: "pid",
                seen: "did not make its first child pid 1".into(),
            }),
        },
        Err(source) => Err(SandboxError::Unshare {
            what: "pid (fork to check it)",
            source,
        }),
    }
}

fn describe(kinds: &[&str]) -> &'static str {
    match kinds.len() {
        5 => "user, network, mount, UTS and pid",
        4 if kinds[0] == "user" => "user, network and UTS",
        4 => "network, mount, UTS and pid",
        3 => "user, network and UTS",
        2 => "network and UTS",
        _ => "the case's",
    }
}

/// Makes every mount of the (verified new) mount namespace private, so nothing mounted in it
/// reaches the host. gVisor refuses `MS_REC`; making each mount private one by one is the
/// same change, and what counts is the check that follows: no `shared:` tag left.
fn make_private_verified(k: &mut dyn Kernel, v: &mut Verified) -> Result<(), SandboxError> {
    let private = MsFlags::MS_PRIVATE;
    if let Err(e) = k.mount(None, "/", None, MsFlags::MS_REC | private, None) {
        if e != Errno::EINVAL {
            return Err(SandboxError::Mount {
                step: "make the mounts private (mount / MS_REC|MS_PRIVATE)".into(),
                source: e,
            });
        }
        let mounts = k.mountinfo().map(|t| parse_mountinfo(&t)).ok_or_else(|| {
            SandboxError::NotVerified(
                "MS_REC refused and /proc/self/mountinfo unreadable: the mounts cannot be made private one by one".into(),
            )
        })?;
        for m in mounts {
            k.mount(None, &m.point, None, private, None)
                .map_err(|source| SandboxError::Mount {
                    step: format!("make `{}` private (MS_REC was refused)", m.point),
                    source,
                })?;
        }
        v.private_without_rec = true;
    }
    let mounts = k
        .mountinfo()
        .map(|t| parse_mountinfo(&t))
        .filter(|m| !m.is_empty())
        .ok_or_else(|| {
            SandboxError::NotVerified("/proc/self/mountinfo is unreadable or empty".into())
        })?;
    if let Some(m) = mounts
        .iter()
        .find(|m| m.tags.iter().any(|t| t.starts_with("shared:")))
    {
        return Err(SandboxError::NotVerified(format!(
            "`{}` still propagates to the host ({})",
            m.point,
            m.tags.join(" ")
        )));
    }
    v.mounts_private = true;
    Ok(())
}

/// Makes every mount of the host read-only (and nosuid) in the case's private mount
/// namespace, then checks `/proc/self/mountinfo` says so for each. Kernels before 5.12 have
/// no `mount_setattr`; there each mount is remounted read-only, keeping the flags a user
/// namespace may not drop.
fn host_read_only_verified(k: &mut dyn Kernel, v: &mut Verified) -> Result<(), SandboxError> {
    if !v.mounts_private {
        return Err(SandboxError::NotVerified(
            "the mounts are not private: nothing may be remounted".into(),
        ));
    }
    if let Err(e) = k.read_only_tree("/") {
        if e != Errno::ENOSYS && e != Errno::EINVAL && e != Errno::EPERM {
            return Err(SandboxError::Mount {
                step: "make the host's mounts read-only (mount_setattr / AT_RECURSIVE)".into(),
                source: e,
            });
        }
        let mounts = k
            .mountinfo()
            .map(|t| parse_mountinfo(&t))
            .unwrap_or_default();
        for m in mounts {
            let keep = kept_flags(&m.point);
            let flags = MsFlags::MS_BIND
                | MsFlags::MS_REMOUNT
                | MsFlags::MS_RDONLY
                | MsFlags::MS_NOSUID
                | keep;
            k.mount(None, &m.point, None, flags, None)
                .map_err(|source| SandboxError::Mount {
                    step: format!("remount `{}` read-only", m.point),
                    source,
                })?;
        }
    }
    let mounts = k
        .mountinfo()
        .map(|t| parse_mountinfo(&t))
        .unwrap_or_default();
    if mounts.is_empty() {
        return Err(SandboxError::NotVerified(
            "/proc/self/mountinfo is unreadable or empty".into(),
        ));
    }
    if let Some(m) = mounts.iter().find(|m| !m.options.iter().any(|o| o == "ro")) {
        return Err(SandboxError::NotVerified(format!(
            "`{}` is still writable in the case's mount namespace",
            m.point
        )));
    }
    v.host_read_only = true;
    Ok(())
}

/// The per-mount flags of `point` that a remount must repeat (a user namespace may not clear
/// them, and nobody wants them cleared).
fn kept_flags(point: &str) -> MsFlags {
    use nix::sys::statvfs::FsFlags;
    let Ok(st) = nix::sys::statvfs::statvfs(point) else {
        return MsFlags::empty();
    };
    let f = st.flags();
    let mut out = MsFlags::empty();
    for (has, flag) in [
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ] {
        if f.contains(has) {
            out |= flag;
        }
    }
    out
}

/// The whole isolation of a case, through `k`: namespaces verified new, mounts verified
/// private, the host verified read-only, then the case's own `/tmp` and `/dev`. The order is
/// the safety: each mount happens only after the checks before it passed.
pub fn isolate(k: &mut dyn Kernel, mode: Isolation) -> Result<Verified, SandboxError> {
    isolate_with(k, mode.flags())
}

fn isolate_with(k: &mut dyn Kernel, flags: CloneFlags) -> Result<Verified, SandboxError> {
    let (uid, gid) = (getuid(), getgid());
    let mut v = unshare_verified(k, flags)?;
    if flags.contains(CloneFlags::CLONE_NEWUSER) {
        map_ids(uid, gid)?;
    }
    if !flags.contains(CloneFlags::CLONE_NEWNS) {
        return Ok(v);
    }
    make_private_verified(k, &mut v)?;
    host_read_only_verified(k, &mut v)?;
    k.mount(
        Some("tmpfs"),
        "/tmp",
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some("mode=1777"),
    )
    .map_err(|source| SandboxError::Mount {
        step: "mount the case's /tmp (tmpfs)".into(),
        source,
    })?;
    k.private_dev()?;
    Ok(v)
}

/// The device nodes a program may need, bound from the host's `/dev` into a tmpfs of the
/// case's own: the host's disks and consoles are not there, and `/dev/shm` is writable.
const DEV_NODES: &[&str] = &["null", "zero", "full", "random", "urandom", "tty"];

fn private_dev(k: &mut dyn Kernel) -> Result<(), SandboxError> {
    let err = |step: String| move |source| SandboxError::Mount { step, source };
    // Held open (O_PATH) before /dev is covered; bound from /proc/self/fd/N afterwards.
    let held: Vec<(&str, OwnedFd)> = DEV_NODES
        .iter()
        .filter_map(|n| {
            nix::fcntl::open(
                format!("/dev/{n}").as_str(),
                nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_CLOEXEC,
                nix::sys::stat::Mode::empty(),
            )
            .ok()
            .map(|fd| (*n, fd))
        })
        .collect();
    k.mount(
        Some("tmpfs"),
        "/dev",
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some("mode=755,size=1m"),
    )
    .map_err(err("mount the case's /dev (tmpfs)".into()))?;
    for (name, fd) in &held {
        let node = format!("/dev/{name}");
        // A regular empty file is a bind mount point for a device node.
        let _ = fs::File::create(&node);
        let from = format!("/proc/self/fd/{}", fd.as_raw_fd());
        k.mount(Some(&from), &node, None, MsFlags::MS_BIND, None)
            .map_err(err(format!("bind the host's {node} into the case's /dev")))?;
    }
    let _ = fs::create_dir("/dev/shm").and_then(|_| set_mode(Path::new("/dev/shm"), 0o1777));
    for (link, to) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        let _ = std::os::unix::fs::symlink(to, format!("/dev/{link}"));
    }
    Ok(())
}

/// What [`enter`] made: the private directory and what was verified.
#[derive(Debug, Clone)]
pub struct Entered {
    pub dir: PathBuf,
    pub verified: Verified,
}

/// Enters the namespaces for `mode` and returns the private directory to use. For
/// [`Isolation::Shared`] and [`Isolation::NetUts`] the runner-made `shared_dir` is used.
pub fn enter(mode: Isolation, shared_dir: Option<&Path>) -> Result<Entered, SandboxError> {
    let runner_dir = || {
        shared_dir
            .map(Path::to_path_buf)
            .unwrap_or_else(std::env::temp_dir)
    };
    if mode == Isolation::Shared {
        return Ok(Entered {
            dir: runner_dir(),
            verified: Verified::default(),
        });
    }
    let mut verified = isolate(&mut HostKernel, mode)?;
    verified.loopback_was_up = loopback_up().map_err(SandboxError::Loopback)?;
    if !mode.private_tmp() {
        return Ok(Entered {
            dir: runner_dir(),
            verified,
        });
    }
    OWN_NAMESPACES.store(true, Ordering::SeqCst);
    // The case's own /tmp is a tmpfs of its own like a `mount_tmpfs` directory: names there
    // (`rawpath("/tmp/…")`) are the case's alone.
    if let Ok(mut dirs) = SCRATCH_DIRS.lock() {
        dirs.push(PathBuf::from("/tmp"));
    }
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
    Ok(Entered { dir, verified })
}

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

/// The tmpfs directory of the case's own (its `/tmp`, or one it covered with
/// [`mount_scratch`]) that `path` lies strictly inside, if any.
pub fn own_tmpfs_of(path: &Path) -> Option<PathBuf> {
    if !owns_namespaces() {
        return None;
    }
    let dirs = SCRATCH_DIRS.lock().ok()?;
    dirs.iter()
        .filter(|d| path.starts_with(d) && path != d.as_path())
        .max_by_key(|d| d.as_os_str().len())
        .cloned()
}

/// Grading: joins the network namespace of the sandbox holder `pid` (so `127.0.0.1` reaches
/// the server under test), with a private mount namespace, the host read-only and a `/tmp`
/// of its own like [`enter`].
pub fn enter_netns_of(pid: i32) -> Result<Entered, SandboxError> {
    let ns =
        fs::File::open(format!("/proc/{pid}/ns/net")).map_err(|source| SandboxError::Unshare {
            what: "the server's network",
            source: nix::Error::from_raw(source.raw_os_error().unwrap_or(libc::ESRCH)),
        })?;
    nix::sched::setns(&ns, CloneFlags::CLONE_NEWNET).map_err(|source| SandboxError::Unshare {
        what: "the server's network",
        source,
    })?;
    // No pid namespace: the case signals and inspects the server's processes by their pids
    // in the grader's namespace (`server_signal`, `server_fact`), through the host's /proc.
    // Its init is then a subreaper that sweeps what the case started.
    let verified = isolate_with(&mut HostKernel, CloneFlags::CLONE_NEWNS)?;
    let dir = PathBuf::from(ISOLATED_PRIVATE_DIR);
    fs::create_dir_all(&dir).map_err(|source| SandboxError::PrivateDir {
        path: dir.clone(),
        source,
    })?;
    Ok(Entered { dir, verified })
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

/// `ip link set lo up`, with the two ioctls it is made of. Returns whether `lo` was already
/// up: then it is left alone (gVisor's is, and refuses `SIOCSIFFLAGS` with ENOTTY).
pub(crate) fn loopback_up() -> io::Result<bool> {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None)?;
    // SAFETY: ifreq is plain old data; an all-zero value is valid.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    let want = (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
    // SAFETY: the fd is a live socket and `req` is a valid ifreq for these requests.
    unsafe {
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) < 0 {
            return Err(io::Error::last_os_error());
        }
        if req.ifr_ifru.ifru_flags & (libc::IFF_UP as libc::c_short) != 0 {
            return Ok(true);
        }
        req.ifr_ifru.ifru_flags |= want;
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(false)
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

/// The level chosen for a run, why, and what was verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    pub mode: Isolation,
    /// Why a stronger level is not in use (the failing step and errno), when it is not.
    pub reason: Option<String>,
    /// What the probe verified at this level ([`Verified::summary`]).
    pub checks: String,
}

/// Tries `mode` in a throw-away child process (the probe must not change the runner's own
/// namespaces): `Ok` with what was verified, or `Err` with the failing step and errno.
pub fn probe(exe: &Path, mode: Isolation) -> Result<String, String> {
    let out = std::process::Command::new(exe)
        .arg("__probe-isolation")
        .arg(mode.as_str())
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("cannot run the isolation probe `{}`: {e}", exe.display()))?;
    let text = |b: &[u8]| String::from_utf8_lossy(b).trim().to_string();
    if out.status.success() {
        Ok(text(&out.stdout))
    } else {
        let why = text(&out.stderr);
        Err(if why.is_empty() {
            format!("the isolation probe failed ({})", out.status)
        } else {
            why
        })
    }
}

/// The body of `__probe-isolation MODE`: exit status 0 and what was verified on stdout when
/// the namespaces can be entered, 1 and the failing step on stderr when not.
pub fn probe_main(mode: &str) -> i32 {
    let mode = match mode {
        "netns" => Isolation::Netns,
        "userns+netns" => Isolation::UserNetns,
        "net+uts" => Isolation::NetUts,
        _ => return 2,
    };
    arm_parent_death_signal();
    let entered = enter(mode, None).and_then(|mut e| {
        if e.verified.pid_pending {
            verify_pid_namespace()?;
            e.verified.pid_pending = false;
            e.verified.namespaces.push("pid");
        }
        Ok(e)
    });
    match entered {
        Ok(entered) => {
            println!("{}", entered.verified.summary());
            0
        }
        Err(e) => {
            eprintln!("{}", crate::child::error_chain(&e));
            1
        }
    }
}

/// Picks the strongest isolation this machine allows, with the reason when it is not the
/// strongest: full (root, or a user namespace), then private network and UTS only, then
/// shared.
pub fn choose(exe: &Path) -> Choice {
    let root = nix::unistd::geteuid().is_root();
    let mut failed = Vec::new();
    let mut tries = Vec::new();
    if root {
        tries.push(Isolation::Netns);
    }
    tries.extend([Isolation::UserNetns, Isolation::NetUts]);
    for mode in tries {
        match probe(exe, mode) {
            Ok(checks) => {
                return Choice {
                    mode,
                    reason: (!failed.is_empty()).then(|| failed.join("; ")),
                    checks,
                }
            }
            Err(why) => failed.push(format!("{}: {why}", mode.as_str())),
        }
    }
    Choice {
        mode: Isolation::Shared,
        reason: Some(failed.join("; ")),
        checks: String::new(),
    }
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

#[cfg(test)]
mod tests {
    //! A kernel that lies, to prove the order of checks: nothing is mounted unless the mount
    //! namespace was verified new and private, and the host verified read-only.

    use super::*;
    use std::collections::BTreeMap;

    struct Mount {
        point: String,
        shared: bool,
        ro: bool,
    }

    struct FakeKernel {
        /// `unshare` returns 0; it changes the namespaces only when this is true.
        unshare_works: bool,
        /// `/proc/self/ns` entries that do not exist (gVisor has no `mnt`).
        missing: Vec<&'static str>,
        /// `mount(MS_REC | MS_PRIVATE)` fails with EINVAL (gVisor).
        refuse_rec: bool,
        /// A non-recursive `MS_PRIVATE` returns 0 without changing anything.
        single_private_is_noop: bool,
        /// What `mount_setattr` returns.
        setattr: Result<(), Errno>,
        /// `mount_setattr` returns 0 and leaves this mount writable.
        setattr_skips: Option<&'static str>,
        ns: BTreeMap<&'static str, u64>,
        mounts: Vec<Mount>,
        /// Every call that changed the mount table, in order.
        log: Vec<String>,
    }

    impl FakeKernel {
        fn new() -> FakeKernel {
            let ns = ["user", "net", "mnt", "uts", "pid_for_children"]
                .into_iter()
                .zip(1..)
                .collect();
            let mounts = ["/", "/proc", "/dev", "/home/user files"]
                .into_iter()
                .map(|p| Mount {
                    point: p.to_string(),
                    shared: true,
                    ro: false,
                })
                .collect();
            FakeKernel {
                unshare_works: true,
                missing: Vec::new(),
                refuse_rec: false,
                single_private_is_noop: false,
                setattr: Ok(()),
                setattr_skips: None,
                ns,
                mounts,
                log: Vec::new(),
            }
        }

        /// The mounts made after the checks: the case's own `/tmp` and `/dev`.
        fn case_mounts(&self) -> Vec<&String> {
            self.log
                .iter()
                .filter(|l| l.starts_with("tmpfs") || l.starts_with("dev"))
                .collect()
        }
    }

    impl Kernel for FakeKernel {
        fn unshare(&mut self, flags: CloneFlags) -> nix::Result<()> {
            if self.unshare_works {
                for kind in namespace_kinds(flags) {
                    if let Some(id) = self.ns.get_mut(kind) {
                        *id += 100;
                    }
                }
            }
            Ok(())
        }

        fn namespace_id(&self, kind: &str) -> Option<u64> {
            if self.missing.contains(&kind) {
                return None;
            }
            self.ns.get(kind).copied()
        }

        fn mount(
            &mut self,
            _source: Option<&str>,
            target: &str,
            fstype: Option<&str>,
            flags: MsFlags,
            _data: Option<&str>,
        ) -> nix::Result<()> {
            if flags.contains(MsFlags::MS_PRIVATE) {
                if flags.contains(MsFlags::MS_REC) {
                    if self.refuse_rec {
                        return Err(Errno::EINVAL);
                    }
                    self.mounts.iter_mut().for_each(|m| m.shared = false);
                } else if !self.single_private_is_noop {
                    self.mounts
                        .iter_mut()
                        .filter(|m| m.point == target)
                        .for_each(|m| m.shared = false);
                }
                self.log.push(format!("private {target}"));
            } else if flags.contains(MsFlags::MS_REMOUNT) {
                self.mounts
                    .iter_mut()
                    .filter(|m| m.point == target)
                    .for_each(|m| m.ro = flags.contains(MsFlags::MS_RDONLY));
                self.log.push(format!("remount {target}"));
            } else {
                self.log
                    .push(format!("{} {target}", fstype.unwrap_or("bind")));
            }
            Ok(())
        }

        fn read_only_tree(&mut self, _target: &str) -> nix::Result<()> {
            self.setattr?;
            for m in &mut self.mounts {
                if Some(m.point.as_str()) != self.setattr_skips {
                    m.ro = true;
                }
            }
            self.log.push("setattr /".into());
            Ok(())
        }

        fn mountinfo(&self) -> Option<String> {
            let lines: Vec<String> = self
                .mounts
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    format!(
                        "{} 1 0:{i} / {} {},relatime {}- fs none rw",
                        20 + i,
                        m.point.replace(' ', "\\040"),
                        if m.ro { "ro" } else { "rw" },
                        if m.shared { "shared:1 " } else { "" }
                    )
                })
                .collect();
            Some(lines.join("\n") + "\n")
        }

        fn private_dev(&mut self) -> Result<(), SandboxError> {
            self.log.push("dev".into());
            Ok(())
        }
    }

    #[test]
    fn an_unshare_that_does_nothing_is_caught_and_nothing_is_mounted() {
        let mut k = FakeKernel::new();
        k.unshare_works = false;
        let err = isolate(&mut k, Isolation::Netns).unwrap_err();
        assert!(
            matches!(err, SandboxError::NotNew { kind: "net", .. }),
            "{err}"
        );
        assert!(k.log.is_empty(), "mounted anyway: {:?}", k.log);
    }

    #[test]
    fn a_missing_namespace_entry_means_not_isolated() {
        let mut k = FakeKernel::new();
        k.missing = vec!["mnt"];
        let err = isolate(&mut k, Isolation::Netns).unwrap_err();
        assert!(err.to_string().contains("does not exist"), "{err}");
        assert!(k.log.is_empty(), "mounted anyway: {:?}", k.log);
    }

    #[test]
    fn the_intermediate_level_checks_network_and_uts_and_mounts_nothing() {
        let mut k = FakeKernel::new();
        k.missing = vec!["mnt"];
        let v = isolate_with(&mut k, NET_UTS).expect("net and uts are new");
        assert_eq!(v.namespaces, ["net", "uts"]);
        assert!(!v.mounts_private && !v.host_read_only);
        assert!(k.log.is_empty(), "mounted: {:?}", k.log);
    }

    #[test]
    fn a_refused_ms_rec_is_retried_one_mount_at_a_time_then_verified() {
        let mut k = FakeKernel::new();
        k.refuse_rec = true;
        let v = isolate(&mut k, Isolation::Netns).expect("isolates");
        assert!(v.mounts_private && v.private_without_rec && v.host_read_only);
        assert!(
            v.pid_pending,
            "the pid namespace is left to the init to check"
        );
        let privates = k.log.iter().filter(|l| l.starts_with("private")).count();
        assert_eq!(privates, 4, "{:?}", k.log);
        assert!(k.log.contains(&"private /home/user files".to_string()));
        let first_case_mount = k.log.iter().position(|l| l.starts_with("tmpfs")).unwrap();
        let last_private = k
            .log
            .iter()
            .rposition(|l| l.starts_with("private"))
            .unwrap();
        let setattr = k.log.iter().position(|l| l == "setattr /").unwrap();
        assert!(
            last_private < setattr && setattr < first_case_mount,
            "{:?}",
            k.log
        );
    }

    #[test]
    fn mounts_still_shared_after_the_retry_stop_everything_before_a_mount() {
        let mut k = FakeKernel::new();
        k.refuse_rec = true;
        k.single_private_is_noop = true;
        let err = isolate(&mut k, Isolation::Netns).unwrap_err();
        assert!(err.to_string().contains("still propagates"), "{err}");
        assert!(k.case_mounts().is_empty(), "mounted: {:?}", k.log);
        assert!(!k.log.iter().any(|l| l.starts_with("setattr")));
    }

    #[test]
    fn a_mount_left_writable_stops_the_case_before_its_own_mounts() {
        let mut k = FakeKernel::new();
        k.setattr_skips = Some("/home/user files");
        let err = isolate(&mut k, Isolation::Netns).unwrap_err();
        assert!(
            err.to_string()
                .contains("`/home/user files` is still writable"),
            "{err}"
        );
        assert!(k.case_mounts().is_empty(), "mounted: {:?}", k.log);
    }

    #[test]
    fn without_mount_setattr_each_mount_is_remounted_read_only() {
        let mut k = FakeKernel::new();
        k.setattr = Err(Errno::ENOSYS);
        let v = isolate(&mut k, Isolation::Netns).expect("isolates");
        assert!(v.host_read_only);
        assert_eq!(k.log.iter().filter(|l| l.starts_with("remount")).count(), 4);
        assert_eq!(k.case_mounts(), ["tmpfs /tmp", "dev"]);
    }

    #[test]
    fn mountinfo_is_parsed_with_escapes_and_tags() {
        let text =
            "36 35 98:0 /mnt1 /mnt\\040two rw,noatime master:1 shared:2 - ext3 /dev/root rw\n";
        let m = parse_mountinfo(text);
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].point, "/mnt two");
        assert_eq!(m[0].options, ["rw", "noatime"]);
        assert_eq!(m[0].tags, ["master:1", "shared:2"]);
    }

    #[test]
    fn the_summary_says_what_was_verified() {
        let v = Verified {
            namespaces: vec!["net", "mnt"],
            mounts_private: true,
            private_without_rec: true,
            host_read_only: true,
            ..Verified::default()
        };
        assert_eq!(
            v.summary(),
            "new net, mnt namespaces; mounts private (one by one: MS_REC refused); host file system read-only (verified)"
        );
    }
}
