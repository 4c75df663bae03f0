//! The batch directory of one `sockspec grade` run: where each submission is copied (within
//! a size, entry and depth budget, never following links), built and read by its servers.
//!
//! ```text
//! $TMPDIR/sockspec-grade-XXXXXX/      the batch, removed when the run ends
//!   .lock                             flock()ed by the grader for its whole life
//!   <i>/                              submission i: a size-limited tmpfs where the
//!     work/                           grader has a mount namespace of its own
//! ```
//!
//! The grader runs in a mount namespace of its own ([`private_mounts`]), so the tmpfs of a
//! submission is invisible to the host and vanishes with the grader, however it ends: a
//! build that writes without end fills its own tmpfs, not the host's disk. A later run
//! removes batch directories whose `.lock` it can take ([`sweep`]): the kernel drops a lock
//! when its holder dies, in any pid namespace, which a pid check cannot tell.

use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use nix::fcntl::{Flock, FlockArg};
use nix::mount::{mount, umount2, MntFlags, MsFlags};

/// The prefix of batch directories in the temporary directory.
pub const PREFIX: &str = "sockspec-grade-";
const LOCK: &str = ".lock";

/// What one submission may bring in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Apparent size of all files together: a sparse file counts its full size, since a copy
    /// would allocate it.
    pub bytes: u64,
    /// Files, directories and links.
    pub entries: u64,
    /// Directory levels below the submission's root.
    pub depth: usize,
    /// Size of the submission's tmpfs: its copy plus everything its build writes.
    pub tmpfs_bytes: u64,
}

impl Budget {
    /// A student's server is a few source files and a binary; 64 MiB leaves room for a
    /// Java project's jars, 256 MiB of tmpfs for a compiler's objects, 10,000 entries for a
    /// small vendored library, 32 levels for any source layout.
    pub const DEFAULT: Budget = Budget {
        bytes: 64 << 20,
        entries: 10_000,
        depth: 32,
        tmpfs_bytes: 256 << 20,
    };
}

/// Why a submission could not be prepared: graded as an error with this reason.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    #[error(
        "the submission is larger than the grader's budget of {} MiB (at `{}`, {} bytes{})",
        budget >> 20, shorten(path), size, sparse_note(*size, *allocated)
    )]
    TooLarge {
        path: PathBuf,
        size: u64,
        allocated: u64,
        budget: u64,
    },
    #[error("the submission has more than {budget} files and directories")]
    TooManyEntries { budget: u64 },
    #[error(
        "the submission's folders nest deeper than {budget} levels or PATH_MAX (at `{}`)",
        shorten(path)
    )]
    TooDeep { path: PathBuf, budget: usize },
    #[error("cannot copy the submission (`{}`)", shorten(path))]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// A path for a message: a student's names can be thousands of characters long.
fn shorten(path: &Path) -> String {
    let text = path.display().to_string();
    let chars: Vec<char> = text.chars().collect();
    if chars.len() <= 160 {
        return text;
    }
    let head: String = chars[..60].iter().collect();
    let tail: String = chars[chars.len() - 60..].iter().collect();
    format!("{head}…{tail} ({} characters)", chars.len())
}

fn sparse_note(size: u64, allocated: u64) -> String {
    if allocated < size / 2 {
        format!(", {allocated} allocated: a sparse file")
    } else {
        String::new()
    }
}

/// Batch directories of live runs in this process, for the interrupt handler.
static LIVE: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Gives the calling process a mount namespace of its own with private propagation, so the
/// tmpfs mounts of [`Workspace`] stay invisible to the host and go with the process. Must be
/// called while the process has one thread (unshare of CLONE_NEWNS takes CLONE_FS).
pub fn private_mounts() -> nix::Result<()> {
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)?;
    crate::sandbox::make_mounts_private()
}

/// One run's batch directory.
#[derive(Debug)]
pub struct Workspace {
    dir: PathBuf,
    budget: Budget,
    /// Mount a tmpfs per submission (the process has private mounts).
    tmpfs: bool,
    _lock: Flock<fs::File>,
}

impl Workspace {
    /// Creates the batch directory under the temporary directory, after sweeping what
    /// dead runs left there. `tmpfs`: the caller called [`private_mounts`].
    pub fn create(budget: Budget, tmpfs: bool) -> io::Result<Workspace> {
        let tmp = std::env::temp_dir();
        sweep(&tmp);
        let dir = tempfile::Builder::new()
            .prefix(PREFIX)
            .tempdir_in(&tmp)?
            .keep();
        let lock = fs::File::create(dir.join(LOCK))
            .and_then(|f| {
                Flock::lock(f, FlockArg::LockExclusiveNonblock).map_err(|(_, e)| e.into())
            })
            .inspect_err(|_| {
                let _ = fs::remove_dir_all(&dir);
            })?;
        if let Ok(mut live) = LIVE.lock() {
            live.push(dir.clone());
        }
        Ok(Workspace {
            dir,
            budget,
            tmpfs,
            _lock: lock,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Copies submission `index` from `from` and returns its work directory.
    pub fn prepare(&self, index: usize, from: &Path) -> Result<PathBuf, PrepareError> {
        let root = self.dir.join(index.to_string());
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| PrepareError::Io { path, source }
        };
        fs::create_dir(&root).map_err(io(&root))?;
        if self.tmpfs {
            mount(
                Some("tmpfs"),
                &root,
                Some("tmpfs"),
                MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
                Some(format!("size={},mode=0755", self.budget.tmpfs_bytes).as_str()),
            )
            .map_err(|e| io(&root)(e.into()))?;
        }
        let work = root.join("work");
        let mut used = Used::default();
        copy_tree(from, &work, 0, &self.budget, &mut used).inspect_err(|_| self.release(index))?;
        Ok(work)
    }

    /// Frees submission `index`'s copy (and its tmpfs) once nothing reads it any more.
    pub fn release(&self, index: usize) {
        release_dir(&self.dir.join(index.to_string()));
    }
}

impl Drop for Workspace {
    fn drop(&mut self) {
        remove_batch(&self.dir);
        if let Ok(mut live) = LIVE.lock() {
            live.retain(|d| d != &self.dir);
        }
    }
}

fn release_dir(root: &Path) {
    // Not mounted (no private mounts, or released already): EINVAL, nothing to do.
    let _ = umount2(root, MntFlags::MNT_DETACH);
    let _ = fs::remove_dir_all(root);
}

fn remove_batch(dir: &Path) {
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_name() != LOCK {
                release_dir(&e.path());
            }
        }
    }
    let _ = fs::remove_dir_all(dir);
}

/// Removes the batch directories of this process (on SIGINT/SIGTERM, before exit).
pub fn clean_up_interrupted() {
    let dirs = LIVE.lock().map(|d| d.clone()).unwrap_or_default();
    for d in dirs {
        remove_batch(&d);
    }
}

/// Removes the batch directories under `tmp` whose grader is gone; returns how many.
pub fn sweep(tmp: &Path) -> usize {
    let Ok(entries) = fs::read_dir(tmp) else {
        return 0;
    };
    let mut removed = 0;
    for e in entries.flatten() {
        if !e.file_name().to_string_lossy().starts_with(PREFIX) {
            continue;
        }
        let dir = e.path();
        let Ok(meta) = fs::symlink_metadata(&dir) else {
            continue;
        };
        if !meta.is_dir() {
            continue;
        }
        // No lock file: a batch being created this instant, or one of a grader that
        // predates the lock, which may well be alive: never ours to remove.
        let Ok(f) = fs::File::open(dir.join(LOCK)) else {
            continue;
        };
        // Held while removing, so two sweepers do not race.
        if let Ok(held) = Flock::lock(f, FlockArg::LockExclusiveNonblock) {
            remove_batch(&dir);
            drop(held);
            removed += 1;
        }
    }
    removed
}

#[derive(Debug, Default)]
struct Used {
    bytes: u64,
    entries: u64,
}

/// Copies a tree without following symbolic links (they are copied as links: they resolve
/// inside the sandbox, where the host is not), skipping devices, FIFOs and sockets, and
/// stopping at the first budget it exceeds, before reading the file that exceeds it.
fn copy_tree(
    from: &Path,
    to: &Path,
    depth: usize,
    budget: &Budget,
    used: &mut Used,
) -> Result<(), PrepareError> {
    // Past PATH_MAX the names alone are the trouble, whatever the level.
    let io = |path: &Path| {
        let path = path.to_path_buf();
        let depth = budget.depth;
        move |source: io::Error| match source.raw_os_error() {
            Some(libc::ENAMETOOLONG) => PrepareError::TooDeep {
                path,
                budget: depth,
            },
            _ => PrepareError::Io { path, source },
        }
    };
    if depth > budget.depth {
        return Err(PrepareError::TooDeep {
            path: from.to_path_buf(),
            budget: budget.depth,
        });
    }
    fs::create_dir(to).map_err(io(to))?;
    fs::set_permissions(to, fs::Permissions::from_mode(0o755)).map_err(io(to))?;
    let mut entries: Vec<fs::DirEntry> = fs::read_dir(from)
        .map_err(io(from))?
        .collect::<Result<_, _>>()
        .map_err(io(from))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        used.entries += 1;
        if used.entries > budget.entries {
            return Err(PrepareError::TooManyEntries {
                budget: budget.entries,
            });
        }
        let src = entry.path();
        let dst = to.join(entry.file_name());
        let meta = fs::symlink_metadata(&src).map_err(io(&src))?;
        let ty = meta.file_type();
        if ty.is_dir() {
            copy_tree(&src, &dst, depth + 1, budget, used)?;
        } else if ty.is_symlink() {
            let target = fs::read_link(&src).map_err(io(&src))?;
            std::os::unix::fs::symlink(target, &dst).map_err(io(&dst))?;
        } else if ty.is_file() {
            let size = meta.len();
            if used.bytes.saturating_add(size) > budget.bytes {
                return Err(PrepareError::TooLarge {
                    path: src,
                    size,
                    allocated: meta.blocks() * 512,
                    budget: budget.bytes,
                });
            }
            copy_file(&src, &dst, size, meta.mode(), budget, used)?;
        }
    }
    Ok(())
}

/// Copies at most what is left of the budget, so a file growing during the copy cannot
/// take more.
fn copy_file(
    src: &Path,
    dst: &Path,
    size: u64,
    mode: u32,
    budget: &Budget,
    used: &mut Used,
) -> Result<(), PrepareError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| PrepareError::Io { path, source }
    };
    let left = budget.bytes - used.bytes;
    let input = fs::File::open(src).map_err(io(src))?;
    let mut output = fs::File::create(dst).map_err(io(dst))?;
    let copied = io::copy(&mut input.take(left + 1), &mut output).map_err(io(dst))?;
    if copied > left {
        return Err(PrepareError::TooLarge {
            path: src.to_path_buf(),
            size: size.max(copied),
            allocated: copied,
            budget: budget.bytes,
        });
    }
    output.flush().map_err(io(dst))?;
    // The sandbox's uid must be able to read (and run) what the student could.
    fs::set_permissions(dst, fs::Permissions::from_mode((mode & 0o777) | 0o444))
        .map_err(io(dst))?;
    used.bytes += copied;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget() -> Budget {
        Budget {
            bytes: 1 << 20,
            entries: 50,
            depth: 4,
            tmpfs_bytes: 4 << 20,
        }
    }

    fn copy(from: &Path, b: &Budget) -> Result<(), PrepareError> {
        let to = tempfile::tempdir().unwrap();
        copy_tree(from, &to.path().join("w"), 0, b, &mut Used::default())
    }

    #[test]
    fn copies_files_dirs_and_links_within_the_budget() {
        let src = tempfile::tempdir().unwrap();
        fs::create_dir(src.path().join("d")).unwrap();
        fs::write(src.path().join("d/f"), b"hello").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", src.path().join("l")).unwrap();
        let to = tempfile::tempdir().unwrap();
        let w = to.path().join("w");
        copy_tree(src.path(), &w, 0, &budget(), &mut Used::default()).unwrap();
        assert_eq!(fs::read(w.join("d/f")).unwrap(), b"hello");
        assert_eq!(
            fs::read_link(w.join("l")).unwrap(),
            PathBuf::from("/etc/passwd")
        );
    }

    #[test]
    fn a_sparse_file_is_refused_before_it_is_read() {
        let src = tempfile::tempdir().unwrap();
        let f = fs::File::create(src.path().join("hole")).unwrap();
        f.set_len(2 << 30).unwrap();
        let e = copy(src.path(), &budget()).unwrap_err();
        let text = e.to_string();
        assert!(matches!(e, PrepareError::TooLarge { .. }), "{text}");
        assert!(text.contains("sparse file"), "{text}");
    }

    #[test]
    fn deep_and_wide_trees_are_refused() {
        let src = tempfile::tempdir().unwrap();
        let mut p = src.path().to_path_buf();
        for _ in 0..6 {
            p = p.join("d");
        }
        fs::create_dir_all(&p).unwrap();
        assert!(matches!(
            copy(src.path(), &budget()),
            Err(PrepareError::TooDeep { .. })
        ));
        let wide = tempfile::tempdir().unwrap();
        for i in 0..60 {
            fs::write(wide.path().join(i.to_string()), b"").unwrap();
        }
        assert!(matches!(
            copy(wide.path(), &budget()),
            Err(PrepareError::TooManyEntries { .. })
        ));
    }

    #[test]
    fn sweep_takes_dead_batches_and_leaves_live_ones() {
        let tmp = tempfile::tempdir().unwrap();
        let dead = tmp.path().join(format!("{PREFIX}dead"));
        let live = tmp.path().join(format!("{PREFIX}live"));
        for d in [&dead, &live] {
            fs::create_dir(d).unwrap();
            fs::write(d.join(LOCK), b"").unwrap();
            fs::write(d.join("payload"), b"x").unwrap();
        }
        let _held = Flock::lock(
            fs::File::open(live.join(LOCK)).unwrap(),
            FlockArg::LockExclusiveNonblock,
        )
        .unwrap();
        assert_eq!(sweep(tmp.path()), 1);
        assert!(!dead.exists());
        assert!(live.join("payload").exists());
    }
}
