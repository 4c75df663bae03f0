//! Private directories the runner makes for cases that have no `/tmp` of their own (shared
//! and net+uts isolation), and the sweep that removes those a killed runner left.
//!
//! A directory's owner is identified by a lock, not a pid: the runner holds `flock` on a
//! file inside it for as long as the directory is in use, and the kernel drops the lock when
//! the runner dies, however it dies. Pids say nothing across pid namespaces (every runner
//! started in a container may be pid 45), a lock says exactly "nobody holds this any more".

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The prefix of every runner-made directory under the temp directory.
pub const PREFIX: &str = "sockspec-";

/// The lock file inside each directory.
const OWNER: &str = ".sockspec-owner";

/// A directory with no lock file is being created (mkdir and the lock are two steps) or
/// predates locks; it is left alone until it is this old, far longer than those two steps.
const UNLOCKED_GRACE: Duration = Duration::from_secs(60);

/// A private directory held by this process; removed on drop.
#[derive(Debug)]
pub struct SharedDir {
    // Field order: the directory is removed before the lock is released.
    dir: tempfile::TempDir,
    _owner: File,
}

impl SharedDir {
    /// Makes `sockspec-<pid>-XXXX` in the temp directory, locked by this process.
    pub fn create() -> io::Result<SharedDir> {
        let dir = tempfile::Builder::new()
            .prefix(&format!("{PREFIX}{}-", std::process::id()))
            .tempdir()?;
        let owner = File::create(dir.path().join(OWNER))?;
        lock(&owner, libc::LOCK_EX)?;
        Ok(SharedDir { dir, _owner: owner })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

fn lock(file: &File, op: libc::c_int) -> io::Result<()> {
    // SAFETY: flock(2) on a descriptor we own.
    if unsafe { libc::flock(file.as_raw_fd(), op) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Removes the runner-made directories under `root` whose owner is gone; returns them.
pub fn sweep(root: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let is_ours = name.to_str().is_some_and(|n| {
            n.strip_prefix(PREFIX)
                .and_then(|r| r.split('-').next())
                .is_some_and(|pid| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
        });
        // symlink_metadata: a symlink named like ours is never followed into.
        let is_dir = entry
            .path()
            .symlink_metadata()
            .is_ok_and(|m| m.file_type().is_dir());
        if is_ours && is_dir && abandoned(&entry.path()) {
            let _ = std::fs::remove_dir_all(entry.path());
            removed.push(entry.path());
        }
    }
    removed
}

/// Whether nobody holds the directory: its lock can be taken, or it has none and is old.
fn abandoned(dir: &Path) -> bool {
    match File::open(dir.join(OWNER)) {
        Ok(owner) => lock(&owner, libc::LOCK_EX | libc::LOCK_NB).is_ok(),
        Err(_) => dir
            .symlink_metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| t.elapsed().is_ok_and(|age| age > UNLOCKED_GRACE)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_directory_is_kept_and_a_released_one_swept() {
        let root = tempfile::tempdir().unwrap();
        let held = root.path().join("sockspec-45-held");
        let gone = root.path().join("sockspec-45-gone");
        let young = root.path().join("sockspec-45-young");
        let other = root.path().join("sockspec-grade-x");
        for d in [&held, &gone, &young, &other] {
            std::fs::create_dir(d).unwrap();
        }
        // Same pid in both names: only the lock tells them apart.
        let holder = File::create(held.join(OWNER)).unwrap();
        lock(&holder, libc::LOCK_EX).unwrap();
        drop(File::create(gone.join(OWNER)).unwrap());
        let removed = sweep(root.path());
        assert_eq!(removed, std::slice::from_ref(&gone));
        assert!(held.exists() && young.exists() && other.exists() && !gone.exists());
        drop(holder);
        assert_eq!(sweep(root.path()), [held]);
    }

    #[test]
    fn a_created_directory_is_locked_until_dropped() {
        let dir = SharedDir::create().unwrap();
        let path = dir.path().to_path_buf();
        assert!(!abandoned(&path));
        drop(dir);
        assert!(!path.exists());
    }
}
