//! cgroup v2 groups for sandboxes: a real resource controller where rlimits fall short.
//!
//! rlimits are per process and blind to kernel memory: RLIMIT_AS does not count socket
//! buffers or page cache, and it refuses the address-space reservations Java and Node make
//! at start. A cgroup bounds what a whole sandbox *uses*: `memory.max` (anonymous memory,
//! page cache, tmpfs pages and the kernel memory charged to the group), `pids.max` (tasks,
//! so threads too), `cpu.max` (bandwidth). `cgroup.kill` ends every process of a group at
//! once, in any session or pid namespace.
//!
//! The layout, under the cgroup2 mount:
//!
//! ```text
//! sockspec.slice/               the parent: controllers enabled for its children
//!   owner-<pid>-<nanos>/        one per runner; the runner holds flock() on this directory
//!     <group>/                  one per sandbox, the only level that holds processes
//! ```
//!
//! A process cannot live in a cgroup that distributes controllers to children (the "no
//! internal processes" rule), so processes only ever join the leaves. An owner directory
//! whose flock can be taken belongs to a runner that is gone (the kernel drops the lock with
//! the last descriptor, however the process died, whatever its pid namespace): [`sweep`]
//! kills and removes what it left.
//!
//! Callers treat every [`CgroupError`] as "no cgroup here" and fall back to rlimits; the
//! error says why, for the report.

use std::fs;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::fcntl::{Flock, FlockArg, OFlag};
use nix::sys::stat::Mode;

/// The parent directory every sockspec group lives under, below the cgroup2 mount.
pub const SLICE: &str = "sockspec.slice";
/// Overrides where the parent is: a directory delegated to this user (systemd's
/// `Delegate=yes`, or one prepared by an administrator) whose `cgroup.subtree_control` the
/// runner may write.
pub const PARENT_ENV: &str = "SOCKSPEC_CGROUP_PARENT";
/// How long [`Group::remove`] waits for a killed group to empty: SIGKILL is delivered at
/// once and exit is milliseconds, but a task in an uninterruptible sleep (a loaded disk)
/// finishes it first; two seconds covers a machine under heavy load.
pub const REMOVE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long [`Delegation::clean_up`] keeps trying to remove a runner's groups before it
/// leaves them to the next run's [`sweep`]: the runner is exiting, so only long enough for
/// killed tasks on a heavily loaded machine to finish exiting.
const CLEAN_UP_TIMEOUT: Duration = Duration::from_secs(8);

/// A controller a group may be limited by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Controller {
    Memory,
    Pids,
    Cpu,
    Io,
}

impl Controller {
    pub const ALL: [Controller; 4] = [
        Controller::Memory,
        Controller::Pids,
        Controller::Cpu,
        Controller::Io,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Controller::Memory => "memory",
            Controller::Pids => "pids",
            Controller::Cpu => "cpu",
            Controller::Io => "io",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("cgroup v2 is not mounted (no cgroup2 file system in /proc/self/mountinfo)")]
    NotMounted,
    #[error(
        "the {controller} controller is not available in cgroup v2 at `{}` (on this host it \
         may be bound to a cgroup v1 hierarchy)",
        path.display()
    )]
    ControllerMissing {
        controller: &'static str,
        path: PathBuf,
    },
    #[error("cannot {what} `{}`", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cgroup `{}` still has processes {} ms after cgroup.kill", path.display(), waited.as_millis())]
    NotEmpty { path: PathBuf, waited: Duration },
}

fn io_err<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> CgroupError + 'a {
    move |source| CgroupError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// What a group may use. `None` leaves the parent's limit (usually none).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// `memory.max` in bytes: resident memory, page cache, tmpfs and charged kernel memory.
    pub memory_max: Option<u64>,
    /// `memory.swap.max` in bytes; 0 keeps a group from escaping `memory.max` into swap.
    pub swap_max: Option<u64>,
    /// `pids.max`: tasks, threads included.
    pub pids_max: Option<u64>,
    /// `cpu.max` as (quota, period) in µs: at most `quota` of CPU time per `period`.
    pub cpu_max: Option<(u64, u64)>,
}

/// The cgroup2 mount point, from mountinfo text (field 5 of the first `cgroup2` line).
pub fn parse_mount(mountinfo: &str) -> Option<PathBuf> {
    mountinfo.lines().find_map(|l| {
        let (left, right) = l.split_once(" - ")?;
        (right.split_whitespace().next()? == "cgroup2")
            .then(|| left.split_whitespace().nth(4).map(unescape_mount_path))?
    })
}

/// mountinfo writes space, tab, newline and backslash as `\ooo`.
fn unescape_mount_path(s: &str) -> PathBuf {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(u8::is_ascii_digit) {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    use std::os::unix::ffi::OsStringExt;
    PathBuf::from(std::ffi::OsString::from_vec(out))
}

/// The names in a `cgroup.controllers` or `cgroup.subtree_control` file.
pub fn parse_controllers(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_string).collect()
}

/// One counter of a flat-keyed file (`memory.events`: `oom_kill 3`).
pub fn parse_keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok())?
    })
}

/// `cpu.max`'s text for (quota, period).
pub fn cpu_max_text(quota_us: u64, period_us: u64) -> String {
    format!("{quota_us} {period_us}")
}

fn read(path: &Path) -> Result<String, CgroupError> {
    fs::read_to_string(path).map_err(io_err("read", path))
}

fn write(path: &Path, text: &str) -> Result<(), CgroupError> {
    // One write(2) per value: a cgroup file parses each write as one command.
    let mut f = fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(io_err("open", path))?;
    f.write_all(text.as_bytes()).map_err(io_err("write", path))
}

/// Makes `controllers` available to the children of `dir` (each written alone, so one
/// already enabled or unavailable does not undo the others), then checks they are.
fn enable(dir: &Path, controllers: &[Controller]) -> Result<(), CgroupError> {
    let control = dir.join("cgroup.subtree_control");
    let on = parse_controllers(&read(&control)?);
    for c in controllers {
        if !on.iter().any(|n| n == c.name()) {
            let _ = write(&control, &format!("+{}", c.name()));
        }
    }
    let on = parse_controllers(&read(&control)?);
    match controllers
        .iter()
        .find(|c| !on.iter().any(|n| n == c.name()))
    {
        Some(c) => Err(CgroupError::ControllerMissing {
            controller: c.name(),
            path: dir.to_path_buf(),
        }),
        None => Ok(()),
    }
}

/// This runner's place in the hierarchy: an owner directory it holds locked, with the
/// controllers it needs enabled for the groups it creates.
#[derive(Debug)]
pub struct Delegation {
    dir: PathBuf,
    available: Vec<Controller>,
    /// Held for the runner's life: [`sweep`] leaves a locked owner directory alone.
    _lock: Flock<fs::File>,
    next: std::sync::atomic::AtomicU64,
}

impl Delegation {
    /// Finds the parent (`$SOCKSPEC_CGROUP_PARENT`, else `sockspec.slice` under the cgroup2
    /// mount), sweeps what dead runners left there, and creates this runner's owner
    /// directory. `required` controllers must be available; the others in
    /// [`Controller::ALL`] are used where they are.
    pub fn acquire(required: &[Controller]) -> Result<Delegation, CgroupError> {
        let parent = match std::env::var_os(PARENT_ENV) {
            Some(p) => PathBuf::from(p),
            None => {
                let info = fs::read_to_string("/proc/self/mountinfo")
                    .map_err(io_err("read", Path::new("/proc/self/mountinfo")))?;
                let mount = parse_mount(&info).ok_or(CgroupError::NotMounted)?;
                let have = parse_controllers(&read(&mount.join("cgroup.controllers"))?);
                if let Some(c) = required
                    .iter()
                    .find(|c| !have.iter().any(|n| n == c.name()))
                {
                    return Err(CgroupError::ControllerMissing {
                        controller: c.name(),
                        path: mount,
                    });
                }
                let wanted: Vec<Controller> = Controller::ALL
                    .into_iter()
                    .filter(|c| have.iter().any(|n| n == c.name()))
                    .collect();
                enable(&mount, &wanted)?;
                let slice = mount.join(SLICE);
                match fs::create_dir(&slice) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                    Err(e) => return Err(io_err("create", &slice)(e)),
                }
                slice
            }
        };
        Self::under(&parent, required)
    }

    /// [`Delegation::acquire`] below a given parent directory.
    pub fn under(parent: &Path, required: &[Controller]) -> Result<Delegation, CgroupError> {
        let have = parse_controllers(&read(&parent.join("cgroup.controllers"))?);
        if let Some(c) = required
            .iter()
            .find(|c| !have.iter().any(|n| n == c.name()))
        {
            return Err(CgroupError::ControllerMissing {
                controller: c.name(),
                path: parent.to_path_buf(),
            });
        }
        let available: Vec<Controller> = Controller::ALL
            .into_iter()
            .filter(|c| have.iter().any(|n| n == c.name()))
            .collect();
        enable(parent, &available)?;
        sweep(parent);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir = parent.join(format!("owner-{}-{nanos}", std::process::id()));
        fs::create_dir(&dir).map_err(io_err("create", &dir))?;
        let lock = lock_dir(&dir, FlockArg::LockExclusiveNonblock)
            .map_err(|e| io_err("lock", &dir)(io::Error::from(e)))?;
        if let Err(e) = enable(&dir, &available) {
            let _ = fs::remove_dir(&dir);
            return Err(e);
        }
        Ok(Delegation {
            dir,
            available,
            _lock: lock,
            next: std::sync::atomic::AtomicU64::new(0),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn has(&self, c: Controller) -> bool {
        self.available.contains(&c)
    }

    /// Kills every process of every group of this runner and removes them (on SIGINT or
    /// SIGTERM, before the runner exits without running destructors).
    pub fn clean_up(&self) {
        // A group whose last task is still exiting (a loaded machine took over 2 s once)
        // keeps the owner directory busy: try again until CLEAN_UP_TIMEOUT.
        let deadline = Instant::now() + CLEAN_UP_TIMEOUT;
        while !remove_tree(&self.dir) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        remove_empty_slice(&self.dir);
    }

    /// A new, empty group with `limits` (those whose controller is available).
    pub fn create(&self, label: &str, limits: &Limits) -> Result<Group, CgroupError> {
        let n = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let label: String = label
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .take(40)
            .collect();
        let dir = self.dir.join(format!("{n}-{label}"));
        fs::create_dir(&dir).map_err(io_err("create", &dir))?;
        let group = Group { dir };
        group.set(self, limits)?;
        Ok(group)
    }
}

impl Drop for Delegation {
    fn drop(&mut self) {
        // Groups were removed by their owners; a leftover one is killed here so the owner
        // directory can go.
        remove_tree(&self.dir);
        remove_empty_slice(&self.dir);
    }
}

/// The shared parent goes with its last owner (another runner's owner keeps it busy).
fn remove_empty_slice(owner: &Path) {
    if let Some(parent) = owner.parent().filter(|p| p.ends_with(SLICE)) {
        let _ = fs::remove_dir(parent);
    }
}

fn lock_dir(dir: &Path, arg: FlockArg) -> Result<Flock<fs::File>, nix::Error> {
    let fd = nix::fcntl::open(
        dir,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    Flock::lock(fs::File::from(fd), arg).map_err(|(_, e)| e)
}

/// Kills and removes every owner directory under `parent` whose runner is gone (its flock
/// can be taken). Returns how many were removed.
pub fn sweep(parent: &Path) -> usize {
    let Ok(dir) = fs::read_dir(parent) else {
        return 0;
    };
    let mut removed = 0;
    for entry in dir.flatten() {
        let name = entry.file_name();
        if !name.to_string_lossy().starts_with("owner-") || !entry.path().is_dir() {
            continue;
        }
        // Held while removing, so a second sweeper skips it.
        let Ok(_lock) = lock_dir(&entry.path(), FlockArg::LockExclusiveNonblock) else {
            continue;
        };
        if remove_tree(&entry.path()) {
            removed += 1;
        }
    }
    removed
}

/// Kills every process below `dir` and removes its groups, leaves first; true when `dir`
/// itself is gone.
fn remove_tree(dir: &Path) -> bool {
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                let _ = (Group { dir: e.path() }).remove(REMOVE_TIMEOUT);
            }
        }
    }
    fs::remove_dir(dir).is_ok()
}

/// One leaf group: the processes of one sandbox.
#[derive(Debug)]
pub struct Group {
    dir: PathBuf,
}

impl Group {
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn set(&self, d: &Delegation, l: &Limits) -> Result<(), CgroupError> {
        if d.has(Controller::Memory) {
            if let Some(m) = l.memory_max {
                write(&self.dir.join("memory.max"), &m.to_string())?;
            }
            // Absent without swap support in the kernel: nothing to escape into then.
            if let Some(s) = l.swap_max {
                let f = self.dir.join("memory.swap.max");
                if f.exists() {
                    write(&f, &s.to_string())?;
                }
            }
        }
        if let (true, Some(p)) = (d.has(Controller::Pids), l.pids_max) {
            write(&self.dir.join("pids.max"), &p.to_string())?;
        }
        if let (true, Some((q, p))) = (d.has(Controller::Cpu), l.cpu_max) {
            write(&self.dir.join("cpu.max"), &cpu_max_text(q, p))?;
        }
        Ok(())
    }

    /// Moves a process (and, from then on, the children it forks) into the group.
    pub fn add(&self, pid: i32) -> Result<(), CgroupError> {
        write(&self.dir.join("cgroup.procs"), &pid.to_string())
    }

    /// `cgroup.procs` opened for writing, for a child to join between fork and exec by
    /// writing `0` (see [`join_from_pre_exec`]), so everything it ever forks is inside.
    pub fn procs_file(&self) -> Result<OwnedFd, CgroupError> {
        let path = self.dir.join("cgroup.procs");
        let fd = nix::fcntl::open(&path, OFlag::O_WRONLY | OFlag::O_CLOEXEC, Mode::empty())
            .map_err(|e| io_err("open", &path)(io::Error::from(e)))?;
        Ok(fd)
    }

    /// The group's directory as a descriptor, for `clone3(CLONE_INTO_CGROUP)`.
    pub fn dir_fd(&self) -> Result<OwnedFd, CgroupError> {
        nix::fcntl::open(
            &self.dir,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| io_err("open", &self.dir)(io::Error::from(e)))
    }

    /// Highest memory use since the group was created, in bytes (`memory.peak`, Linux 5.19).
    pub fn memory_peak(&self) -> Option<u64> {
        read(&self.dir.join("memory.peak"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    pub fn memory_current(&self) -> Option<u64> {
        read(&self.dir.join("memory.current"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// How many processes the OOM killer killed in the group (`memory.events`).
    pub fn oom_kills(&self) -> Option<u64> {
        parse_keyed(&read(&self.dir.join("memory.events")).ok()?, "oom_kill")
    }

    /// How often a fork failed at `pids.max` (`pids.events`).
    pub fn pids_max_hits(&self) -> Option<u64> {
        parse_keyed(&read(&self.dir.join("pids.events")).ok()?, "max")
    }

    /// The group or one below it holds a process (`cgroup.events`).
    pub fn populated(&self) -> bool {
        read(&self.dir.join("cgroup.events"))
            .ok()
            .and_then(|t| parse_keyed(&t, "populated"))
            .is_some_and(|n| n > 0)
    }

    /// SIGKILLs every process in the group, in any session or pid namespace.
    pub fn kill(&self) -> Result<(), CgroupError> {
        let kill = self.dir.join("cgroup.kill");
        if kill.exists() {
            return write(&kill, "1");
        }
        // Before Linux 5.14: one pass per round, since a process may fork while we read.
        for pid in read(&self.dir.join("cgroup.procs"))?.lines() {
            if let Ok(pid) = pid.trim().parse::<i32>() {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
        Ok(())
    }

    /// Kills what is left, waits until the group is empty (up to `timeout`), removes it.
    pub fn remove(self, timeout: Duration) -> Result<(), CgroupError> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(entries) = fs::read_dir(&self.dir) {
                for e in entries.flatten() {
                    if e.file_type().is_ok_and(|t| t.is_dir()) {
                        let _ = (Group { dir: e.path() }).remove(Duration::ZERO);
                    }
                }
            }
            if !self.populated() {
                match fs::remove_dir(&self.dir) {
                    Ok(()) => return Ok(()),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
                    // EBUSY: the last task left between the two reads; try again.
                    Err(e) if e.raw_os_error() != Some(libc::EBUSY) => {
                        return Err(io_err("remove", &self.dir)(e))
                    }
                    Err(_) => {}
                }
            }
            let _ = self.kill();
            if Instant::now() >= deadline {
                return Err(CgroupError::NotEmpty {
                    path: self.dir.clone(),
                    waited: timeout,
                });
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// Between fork and exec: moves the calling process into the group whose `cgroup.procs`
/// is `procs` (from [`Group::procs_file`]). Only write(2), so async-signal-safe.
pub fn join_from_pre_exec(procs: &impl AsRawFd) -> io::Result<()> {
    // SAFETY: write(2) of a static buffer to a descriptor the caller keeps open.
    let n = unsafe { libc::write(procs.as_raw_fd(), b"0".as_ptr().cast(), 1) };
    if n == 1 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_cgroup2_mount() {
        let hybrid = "25 30 0:22 / /sys/fs/cgroup rw - tmpfs tmpfs rw,mode=755\n\
                      33 25 0:27 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n\
                      41 25 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";
        assert_eq!(
            parse_mount(hybrid),
            Some(PathBuf::from("/sys/fs/cgroup/unified"))
        );
        let escaped = "41 25 0:38 / /mnt/a\\040b rw - cgroup2 none rw\n";
        assert_eq!(parse_mount(escaped), Some(PathBuf::from("/mnt/a b")));
        assert_eq!(parse_mount("33 25 0:27 / /x rw - cgroup cgroup rw\n"), None);
    }

    #[test]
    fn reads_keyed_counters_and_controller_lists() {
        let events = "low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\noom_group_kill 0\n";
        assert_eq!(parse_keyed(events, "oom_kill"), Some(1));
        assert_eq!(parse_keyed(events, "max"), Some(12));
        assert_eq!(parse_keyed(events, "missing"), None);
        assert_eq!(
            parse_controllers("cpuset cpu io memory pids\n"),
            ["cpuset", "cpu", "io", "memory", "pids"]
        );
        assert_eq!(cpu_max_text(50_000, 100_000), "50000 100000");
    }

    /// Where cgroup v2 lacks the controllers (a hybrid host binds them to v1) the error
    /// must name the missing one; the life of a group (join, kill, remove) works without
    /// them, and limits are written wherever their controller is there.
    #[test]
    fn a_group_limits_kills_and_goes() {
        if !nix::unistd::Uid::effective().is_root() {
            return;
        }
        let Ok(d) = Delegation::acquire(&[]) else {
            assert!(matches!(
                Delegation::acquire(&[Controller::Memory]),
                Err(CgroupError::NotMounted | CgroupError::Io { .. })
            ));
            return;
        };
        if !d.has(Controller::Memory) {
            let e = Delegation::acquire(&[Controller::Memory]).unwrap_err();
            assert!(
                e.to_string().contains("memory controller is not available"),
                "{e}"
            );
        }
        let g = d
            .create(
                "unit test",
                &Limits {
                    memory_max: Some(64 << 20),
                    swap_max: Some(0),
                    pids_max: Some(8),
                    cpu_max: Some((50_000, 100_000)),
                },
            )
            .unwrap();
        assert!(g.dir().starts_with(d.dir()));
        if d.has(Controller::Memory) {
            assert_eq!(
                read(&g.dir().join("memory.max")).unwrap().trim(),
                "67108864"
            );
        }
        if d.has(Controller::Pids) {
            assert_eq!(read(&g.dir().join("pids.max")).unwrap().trim(), "8");
        }
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        g.add(child.id() as i32).unwrap();
        assert!(g.populated());
        let dir = g.dir().to_path_buf();
        g.remove(REMOVE_TIMEOUT).unwrap();
        let status = child.wait().unwrap();
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(libc::SIGKILL)
        );
        assert!(!dir.exists());
        let owner = d.dir().to_path_buf();
        drop(d);
        assert!(!owner.exists());
    }

    #[test]
    fn sweep_removes_only_unlocked_owners() {
        let Ok(parent) = tempfile::tempdir() else {
            return;
        };
        // A plain directory stands in for the hierarchy: flock and rmdir behave alike.
        let dead = parent.path().join("owner-1-1");
        let live = parent.path().join("owner-2-2");
        let other = parent.path().join("not-ours");
        for d in [&dead, &live, &other] {
            fs::create_dir(d).unwrap();
        }
        let _held = lock_dir(&live, FlockArg::LockExclusiveNonblock).unwrap();
        assert_eq!(sweep(parent.path()), 1);
        assert!(!dead.exists());
        assert!(live.exists());
        assert!(other.exists());
    }
}
