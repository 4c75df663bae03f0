//! The sandbox a server under test (or its build) runs in: `sockspec __server SPEC`.
//!
//! The grader (root) starts this holder in its own process group. The holder creates new
//! mount, network, pid, IPC and UTS namespaces, brings `lo` up, builds a small root file
//! system on a size-limited tmpfs (system directories bound read-only, a synthetic `/etc`,
//! a few devices, the submission under `/sandbox/home/submission`) and pivots into it. Then it
//! forks the pid namespace's init, which mounts `/proc` and forks the command as an
//! unprivileged uid with rlimits. So the server sees no other process, no other submission,
//! no suite file and no network but `lo`, and `kill(-1, SIGKILL)` only reaches its own
//! processes. Killing init tears the whole namespace down, so one SIGKILL stops everything.
//!
//! The holder reports on fd 3 (one JSON [`HolderEvent`] a line); its stdout and stderr are
//! the command's.

use std::ffi::CString;
use std::fs;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{unshare, CloneFlags};
use nix::sys::resource::{setrlimit, Resource};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, ForkResult, Gid, Pid, Uid};
use serde::{Deserialize, Serialize};

use crate::sandbox;
use crate::spawn::signal_name;

/// The server's home inside the sandbox: its private, writable directory.
pub const SANDBOX_HOME: &str = "/sandbox/home";
/// Where the submission is mounted inside the sandbox, and the command's working directory.
/// It sits two levels below `/sandbox` so that `..` and `../..` stay inside the sandbox's
/// own directories.
pub const SUBMISSION_DIR: &str = "/sandbox/home/submission";

/// Resource limits of a sandbox. With a cgroup (see [`crate::cgroup`]) `memory` and
/// `processes` bound the whole sandbox; without one they fall back to rlimits of each
/// process (RLIMIT_DATA, RLIMIT_NPROC per uid).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Tasks (processes and threads): pids.max, and RLIMIT_NPROC (per uid) always. Enough
    /// for a fork server with 50 clients (plus 50 zombies of a server that never waits), a
    /// thread-per-client Python or Java server (the JVM alone starts about 20 threads on
    /// two CPUs), low enough to stop a fork bomb quickly.
    pub processes: u64,
    /// Memory in bytes: memory.max of the sandbox's cgroup (resident memory, page cache,
    /// tmpfs, socket buffers charged to it), or RLIMIT_DATA of each process without one.
    /// Never RLIMIT_AS: the JVM reserves its heap and Node its code range as address space
    /// they never touch, and either refuses to start under 512 MiB of it.
    pub memory: u64,
    /// RLIMIT_CPU in seconds (each process); SIGXCPU then SIGKILL. A server under test
    /// uses milliseconds of CPU per case; a spinning one is stopped within seconds instead
    /// of holding a core until the case deadline.
    pub cpu_seconds: u64,
    /// RLIMIT_NOFILE: 50 clients, their listener and leaks, with room to spare.
    pub open_files: u64,
    /// RLIMIT_FSIZE in bytes: the largest file the command may write.
    pub file_size: u64,
    /// Size of the sandbox's tmpfs (its only writable storage besides a build's tree).
    pub tmpfs_bytes: u64,
}

impl Limits {
    pub const SERVER: Limits = Limits {
        processes: 160,
        memory: 512 << 20,
        cpu_seconds: 4,
        open_files: 512,
        file_size: 16 << 20,
        tmpfs_bytes: 64 << 20,
    };
    /// A compiler needs more memory and processes than a server.
    pub const BUILD: Limits = Limits {
        processes: 128,
        memory: 2 << 30,
        cpu_seconds: 120,
        open_files: 512,
        file_size: 64 << 20,
        tmpfs_bytes: 128 << 20,
    };
}

/// What the grader asks the holder to run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HolderSpec {
    /// Run as `/bin/sh -c "exec COMMAND"` in [`SUBMISSION_DIR`].
    pub command: String,
    /// The host directory mounted at [`SUBMISSION_DIR`].
    pub workdir: PathBuf,
    /// Mount it writable (for a build) or read-only (for a server).
    pub writable: bool,
    pub uid: u32,
    pub gid: u32,
    pub limits: Limits,
    /// The sandbox is in a cgroup whose memory.max is `limits.memory`: no RLIMIT_DATA then.
    #[serde(default)]
    pub memory_in_cgroup: bool,
    /// Let the command create user namespaces (a suite about containers asks for it). By
    /// default a seccomp filter refuses them: unprivileged user namespaces are the usual
    /// first step of kernel privilege escalations, and no socket server needs one.
    #[serde(default)]
    pub user_namespaces: bool,
    /// Nice value of the command: servers yield the CPU to the grader's clients, so a
    /// spinning submission cannot starve the timing of another.
    pub nice: i32,
}

/// What the holder reports on fd 3.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum HolderEvent {
    /// The sandbox is up and init (this host pid) has started the command.
    Ready { init: i32 },
    /// The command's main process ended.
    Exited {
        /// `exit status 1`, `killed by SIGPIPE`.
        status: String,
        code: Option<i32>,
        signal: Option<String>,
        /// CPU time of the command and every process init reaped, in ms.
        cpu_ms: u64,
    },
    /// The sandbox could not be built.
    Error { message: String },
}

/// The fd the holder reports on.
pub const CONTROL_FD: i32 = 3;

fn report(control: &mut fs::File, event: &HolderEvent) {
    if let Ok(line) = serde_json::to_string(event) {
        let _ = writeln!(control, "{line}");
        let _ = control.flush();
    }
}

/// The argument that says the spec is in [`SPEC_ENV`].
pub const SPEC_FROM_ENV: &str = "-";
/// The environment variable holding the holder's spec.
pub const SPEC_ENV: &str = "SOCKSPEC_HOLDER_SPEC";

/// The body of `sockspec __server SPEC` (or `-`: the spec is in [`SPEC_ENV`]); returns the
/// holder's exit code.
pub fn holder_main(spec_arg: &str) -> i32 {
    // SAFETY: the grader dup2'ed the control pipe to fd 3 before exec; nothing else owns it.
    let mut control = unsafe { fs::File::from_raw_fd(CONTROL_FD) };
    let from_env;
    let spec_json = if spec_arg == SPEC_FROM_ENV {
        from_env = std::env::var(SPEC_ENV).unwrap_or_default();
        from_env.as_str()
    } else {
        spec_arg
    };
    let spec: HolderSpec = match serde_json::from_str(spec_json) {
        Ok(s) => s,
        Err(e) => {
            report(
                &mut control,
                &HolderEvent::Error {
                    message: format!("unreadable holder spec: {e}"),
                },
            );
            return 2;
        }
    };
    if let Err(message) = build_sandbox(&spec) {
        report(&mut control, &HolderEvent::Error { message });
        return 1;
    }
    // SAFETY: the holder is single-threaded (a fresh exec that started no thread).
    match unsafe { fork() } {
        Err(e) => {
            report(
                &mut control,
                &HolderEvent::Error {
                    message: format!("cannot fork the sandbox's init: {e}"),
                },
            );
            1
        }
        Ok(ForkResult::Child) => {
            init_main(&spec, control);
            // SAFETY: leaving the forked child without running the parent's destructors.
            unsafe { libc::_exit(0) }
        }
        Ok(ForkResult::Parent { child }) => {
            report(
                &mut control,
                &HolderEvent::Ready {
                    init: child.as_raw(),
                },
            );
            drop(control);
            while waitpid(child, None) == Err(nix::errno::Errno::EINTR) {}
            // Init is gone (a process-limit watcher may kill it while a case process is
            // still starting), but the network namespace must outlive it: case processes
            // enter it through this process, and an early exit turned a contained fork bomb
            // into "cannot isolate the case". The grader SIGKILLs this process in
            // `ServerRun::stop`; the hour only keeps the loop from spinning, and
            // PR_SET_PDEATHSIG ends it with the grader.
            loop {
                std::thread::sleep(std::time::Duration::from_secs(3600));
            }
        }
    }
}

/// Namespaces, loopback, the new root. Runs in the holder before init exists.
fn build_sandbox(spec: &HolderSpec) -> Result<(), String> {
    let err = |what: &str, e: &dyn std::fmt::Display| format!("{what}: {e}");
    unshare(
        CloneFlags::CLONE_NEWNS
            | CloneFlags::CLONE_NEWNET
            | CloneFlags::CLONE_NEWPID
            | CloneFlags::CLONE_NEWIPC
            | CloneFlags::CLONE_NEWUTS,
    )
    .map_err(|e| err("cannot create the sandbox's namespaces", &e))?;
    sandbox::make_mounts_private().map_err(|e| err("cannot make mounts private", &e))?;
    sandbox::loopback_up().map_err(|e| err("cannot bring lo up", &e))?;
    // The network namespace is the server's alone, so ports below 1024 (inetd's echo on 7)
    // harm nobody; the sysctl is per namespace.
    let _ = fs::write("/proc/sys/net/ipv4/ip_unprivileged_port_start", "0");
    // Opened inside the new mount namespace (a bind source must belong to it) and before
    // /tmp is covered: the submission copy usually lives under the host's /tmp.
    let work = fs::File::open(&spec.workdir)
        .map_err(|e| err(&format!("cannot open `{}`", spec.workdir.display()), &e))?;
    let _ = nix::unistd::sethostname("sandbox");
    let root = Path::new("/tmp");
    mount(
        Some("tmpfs"),
        root,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some(format!("size={},mode=0755", spec.limits.tmpfs_bytes).as_str()),
    )
    .map_err(|e| err("cannot mount the sandbox's tmpfs", &e))?;
    populate(root, spec, &work)?;
    let old = root.join(".old-root");
    fs::create_dir(&old).map_err(|e| err("cannot create the old-root mount point", &e))?;
    nix::unistd::pivot_root(root, &old).map_err(|e| err("cannot pivot into the sandbox", &e))?;
    nix::unistd::chdir("/").map_err(|e| err("cannot enter the sandbox", &e))?;
    umount2("/.old-root", MntFlags::MNT_DETACH)
        .map_err(|e| err("cannot detach the host's file system", &e))?;
    let _ = fs::remove_dir("/.old-root");
    Ok(())
}

fn bind(src: &Path, dst: &Path, writable: bool) -> Result<(), String> {
    let e = |what: &str, x: nix::Error| format!("cannot {what} `{}`: {x}", src.display());
    mount(
        Some(src),
        dst,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|x| e("bind", x))?;
    let mut flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_NOSUID;
    if !writable {
        flags |= MsFlags::MS_RDONLY;
    }
    mount(None::<&str>, dst, None::<&str>, flags, None::<&str>).map_err(|x| e("remount", x))
}

fn set_mode(path: &Path, mode: u32) -> Result<(), String> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(|e| format!("cannot chmod `{}`: {e}", path.display()))
}

fn mkdir(path: &Path, mode: u32) -> Result<(), String> {
    fs::create_dir_all(path).map_err(|e| format!("cannot create `{}`: {e}", path.display()))?;
    set_mode(path, mode)
}

/// The files of the host's /etc a program may need to run: the loader cache, name tables
/// and the time zone. Accounts (`passwd`, `shadow`, `group`) are deliberately absent.
const ETC_FILES: &[&str] = &[
    "ld.so.cache",
    "ld.so.conf",
    "services",
    "protocols",
    "hosts",
    "host.conf",
    "nsswitch.conf",
    "localtime",
    "gai.conf",
];

fn populate(root: &Path, spec: &HolderSpec, work: &fs::File) -> Result<(), String> {
    for dir in ["usr", "bin", "sbin", "lib", "lib64", "lib32", "libx32"] {
        let host = Path::new("/").join(dir);
        let Ok(meta) = fs::symlink_metadata(&host) else {
            continue;
        };
        let inside = root.join(dir);
        if meta.file_type().is_symlink() {
            let target = fs::read_link(&host).map_err(|e| e.to_string())?;
            symlink(target, &inside).map_err(|e| e.to_string())?;
        } else if meta.is_dir() {
            mkdir(&inside, 0o755)?;
            bind(&host, &inside, false)?;
        }
    }
    let etc = root.join("etc");
    mkdir(&etc, 0o755)?;
    for name in ETC_FILES {
        let _ = fs::copy(Path::new("/etc").join(name), etc.join(name));
    }
    // Debian's `cc`, `awk`… are symlinks through /etc/alternatives.
    if let Ok(dir) = fs::read_dir("/etc/alternatives") {
        let alt = etc.join("alternatives");
        mkdir(&alt, 0o755)?;
        for entry in dir.flatten() {
            if let Ok(target) = fs::read_link(entry.path()) {
                let _ = symlink(target, alt.join(entry.file_name()));
            }
        }
    }
    // Language runtimes keep their configuration in /etc (the JDK's `conf/security` links to
    // /etc/java-17-openjdk): those directories, and only those, are bound read-only.
    if let Ok(dir) = fs::read_dir("/etc") {
        for entry in dir.flatten() {
            let name = entry.file_name();
            let is_runtime = name.to_string_lossy().starts_with("java-");
            if is_runtime && entry.file_type().is_ok_and(|t| t.is_dir()) {
                let inside = etc.join(&name);
                mkdir(&inside, 0o755)?;
                bind(&entry.path(), &inside, false)?;
            }
        }
    }
    let dev = root.join("dev");
    mkdir(&dev, 0o755)?;
    for name in ["null", "zero", "full", "random", "urandom"] {
        let node = dev.join(name);
        fs::write(&node, b"").map_err(|e| e.to_string())?;
        bind(&Path::new("/dev").join(name), &node, true)?;
    }
    for (name, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        let _ = symlink(target, dev.join(name));
    }
    mkdir(&root.join("proc"), 0o555)?;
    mkdir(&root.join("tmp"), 0o1777)?;
    mkdir(&root.join("sandbox"), 0o755)?;
    let home = root.join(SANDBOX_HOME.trim_start_matches('/'));
    mkdir(&home, 0o700)?;
    nix::unistd::chown(
        &home,
        Some(Uid::from_raw(spec.uid)),
        Some(Gid::from_raw(spec.gid)),
    )
    .map_err(|e| format!("cannot chown the sandbox's home: {e}"))?;
    let sub = root.join(SUBMISSION_DIR.trim_start_matches('/'));
    mkdir(&sub, 0o755)?;
    let via_fd = PathBuf::from(format!("/proc/self/fd/{}", work.as_raw_fd()));
    bind(&via_fd, &sub, spec.writable)
}

/// Pid 1 of the sandbox: mounts /proc, starts the command, reaps every process, and reports
/// when the command's main process ends. It lives until the grader kills it.
fn init_main(spec: &HolderSpec, mut control: fs::File) {
    sandbox::arm_parent_death_signal();
    let _ = mount(
        Some("proc"),
        "/proc",
        Some("proc"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        None::<&str>,
    );
    // SAFETY: init is single-threaded.
    let server = match unsafe { fork() } {
        Ok(ForkResult::Child) => {
            drop(control);
            exec_command(spec);
        }
        Ok(ForkResult::Parent { child }) => child,
        Err(e) => {
            report(
                &mut control,
                &HolderEvent::Error {
                    message: format!("cannot fork the command: {e}"),
                },
            );
            return;
        }
    };
    loop {
        match waitpid(Pid::from_raw(-1), None) {
            Ok(WaitStatus::Exited(pid, code)) if pid == server => {
                report(
                    &mut control,
                    &HolderEvent::Exited {
                        status: format!("exit status {code}"),
                        code: Some(code),
                        signal: None,
                        cpu_ms: children_cpu_ms(),
                    },
                );
            }
            Ok(WaitStatus::Signaled(pid, sig, _)) if pid == server => {
                let name = signal_name(sig as i32);
                report(
                    &mut control,
                    &HolderEvent::Exited {
                        status: format!("killed by {name}"),
                        code: None,
                        signal: Some(name),
                        cpu_ms: children_cpu_ms(),
                    },
                );
            }
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            // No child left: wait for the grader's SIGKILL (it comes within the case's
            // deadline; the sleep only avoids spinning).
            Err(_) => std::thread::sleep(std::time::Duration::from_secs(3600)),
        }
    }
}

fn children_cpu_ms() -> u64 {
    nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)
        .map(|u| {
            let t = |tv: nix::sys::time::TimeVal| {
                tv.tv_sec() as u64 * 1000 + tv.tv_usec() as u64 / 1000
            };
            t(u.user_time()) + t(u.system_time())
        })
        .unwrap_or(0)
}

/// The command's process: drop to the submission's uid with rlimits, then exec.
fn exec_command(spec: &HolderSpec) -> ! {
    let fail = |what: &str, e: &dyn std::fmt::Display| -> ! {
        let _ = writeln!(std::io::stderr(), "sockspec sandbox: {what}: {e}");
        // SAFETY: leaving the forked child at once.
        unsafe { libc::_exit(126) }
    };
    // SAFETY: closing descriptors this process does not use; close_range takes integers.
    unsafe {
        libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32);
        let empty: libc::sigset_t = std::mem::zeroed();
        libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
        for sig in 1..32 {
            if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                libc::signal(sig, libc::SIG_DFL);
            }
        }
    }
    let _ = nix::unistd::setsid();
    // A new session is a new scheduler autogroup (`sched_autogroup_enabled`), and the
    // scheduler shares the CPU fairly between autogroups before it looks at nice values. So
    // the nice value below would only rank the server's own processes against each other,
    // and every spinning sandbox (a fork bomb's 96 processes, a busy loop) would get as much
    // CPU as the whole grader: on two loaded cores that starved the grader's other holders
    // past their 10 s start deadline. The group's own nice restores the ranking; a kernel
    // without autogroups has no such file and needs none.
    let _ = std::fs::write("/proc/self/autogroup", spec.nice.to_string());
    let l = spec.limits;
    // RLIMIT_DATA counts what is committed, touched or not, and the JVM commits its initial
    // heap, 1/64 of the machine's memory, at start (384 MiB of 24 GiB: a thread-per-client
    // Java server then failed its 30th thread at 512 MiB). The fallback leaves that on top
    // of the limit; a cgroup counts only what is used and needs no such allowance.
    let data = if spec.memory_in_cgroup {
        libc::RLIM_INFINITY
    } else {
        l.memory.saturating_add(physical_memory() / 64)
    };
    for (res, value) in [
        (Resource::RLIMIT_NPROC, l.processes),
        (Resource::RLIMIT_DATA, data),
        (Resource::RLIMIT_CPU, l.cpu_seconds),
        (Resource::RLIMIT_NOFILE, l.open_files),
        (Resource::RLIMIT_FSIZE, l.file_size),
        (Resource::RLIMIT_CORE, 0),
    ] {
        // CPU: the soft limit raises SIGXCPU (so the report can name the CPU limit), the
        // hard one a second later is SIGKILL for a server that ignores it.
        let hard = if res == Resource::RLIMIT_CPU {
            value + 1
        } else {
            value
        };
        if let Err(e) = setrlimit(res, value, hard) {
            fail(&format!("setrlimit({res:?})"), &e);
        }
    }
    // SAFETY: setpriority takes plain integers.
    unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, spec.nice) };
    if let Err(e) = nix::unistd::setgroups(&[]) {
        fail("setgroups", &e);
    }
    if let Err(e) = nix::unistd::setgid(Gid::from_raw(spec.gid)) {
        fail("setgid", &e);
    }
    if let Err(e) = nix::unistd::setuid(Uid::from_raw(spec.uid)) {
        fail("setuid", &e);
    }
    // Changing credentials cleared the parent-death signal: init dying must still kill us.
    sandbox::arm_parent_death_signal();
    if !spec.user_namespaces {
        if let Err(e) = deny_user_namespaces() {
            fail("cannot install the seccomp filter", &e);
        }
    }
    if let Err(e) = nix::unistd::chdir(SUBMISSION_DIR) {
        fail("chdir to the submission", &e);
    }
    let env: Vec<CString> = [
        "PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin".to_string(),
        format!("HOME={SANDBOX_HOME}"),
        "TMPDIR=/tmp".to_string(),
        "LANG=C".to_string(),
        "USER=student".to_string(),
        "SOCKSPEC_SANDBOX=1".to_string(),
    ]
    .into_iter()
    .filter_map(|s| CString::new(s).ok())
    .collect();
    let Ok(cmd) = CString::new(format!("exec {}", spec.command)) else {
        fail("the command", &"it contains a NUL byte");
    };
    let args = [c"sh".to_owned(), c"-c".to_owned(), cmd];
    let e = nix::unistd::execve(c"/bin/sh", &args, &env).unwrap_err();
    fail("cannot run /bin/sh", &e)
}

/// Refuses new user namespaces for this process and everything it starts: `unshare` and
/// `clone` with CLONE_NEWUSER fail with EPERM. `clone3` passes its flags in memory a filter
/// cannot read, so it fails with ENOSYS, on which glibc (2.34+) and the JVM fall back to
/// `clone`. no_new_privs first: an unprivileged process may only install a filter then
/// (and no set-uid program can regain what the sandbox dropped).
pub fn deny_user_namespaces() -> Result<(), String> {
    use seccompiler::{
        apply_filter, BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition,
        SeccompFilter, SeccompRule, TargetArch,
    };
    let arch = TargetArch::try_from(std::env::consts::ARCH).map_err(|e| e.to_string())?;
    let newuser = libc::CLONE_NEWUSER as u64;
    let flags_have_newuser = || -> Result<Vec<SeccompRule>, String> {
        let c = SeccompCondition::new(
            0,
            SeccompCmpArgLen::Qword,
            SeccompCmpOp::MaskedEq(newuser),
            newuser,
        )
        .map_err(|e| e.to_string())?;
        Ok(vec![SeccompRule::new(vec![c]).map_err(|e| e.to_string())?])
    };
    let eperm = SeccompFilter::new(
        [
            (libc::SYS_unshare, flags_have_newuser()?),
            (libc::SYS_clone, flags_have_newuser()?),
        ]
        .into_iter()
        .collect(),
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EPERM as u32),
        arch,
    )
    .map_err(|e| e.to_string())?;
    let enosys = SeccompFilter::new(
        [(libc::SYS_clone3, Vec::new())].into_iter().collect(),
        SeccompAction::Allow,
        SeccompAction::Errno(libc::ENOSYS as u32),
        arch,
    )
    .map_err(|e| e.to_string())?;
    // SAFETY: prctl with integer arguments.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(std::io::Error::last_os_error().to_string());
    }
    for filter in [eperm, enosys] {
        let program: BpfProgram = filter
            .try_into()
            .map_err(|e: seccompiler::BackendError| e.to_string())?;
        apply_filter(&program).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// The machine's memory in bytes (sysinfo(2)); 0 if unknown.
fn physical_memory() -> u64 {
    nix::sys::sysinfo::sysinfo().map_or(0, |i| i.ram_total())
}

/// Keeps an fd open (for the grader's side of the control pipe in `pre_exec`).
pub fn dup_to_control(fd: &OwnedFd) -> std::io::Result<()> {
    let raw = fd.as_raw_fd();
    // SAFETY: dup2/fcntl on descriptors we own, between fork and exec.
    unsafe {
        if raw == CONTROL_FD {
            let flags = libc::fcntl(raw, libc::F_GETFD);
            if libc::fcntl(raw, libc::F_SETFD, flags & !libc::FD_CLOEXEC) < 0 {
                return Err(std::io::Error::last_os_error());
            }
        } else if libc::dup2(raw, CONTROL_FD) < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}
