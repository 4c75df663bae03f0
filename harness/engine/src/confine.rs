//! The one rule for every file a scenario names: it lies inside the case's private directory
//! or inside a tmpfs the case mounted itself (its own `/tmp`, a `mount_tmpfs` directory), and
//! reaching it from there never leaves that directory — no `..`, no relative name, no symlink
//! pointing out. Every call that takes a file (`unlink`, `chmod`, `touch`, `stat`,
//! `write_file`, `read_file`, `bind` and `connect` on a path) goes through [`confine`], so
//! even a parser that let a bad name through cannot reach the host's files.
//!
//! Symlinks are resolved by the kernel with `openat2(RESOLVE_BENEATH)` (Linux 5.6+), which
//! fails with EXDEV as soon as a resolution would step outside the directory; older kernels
//! get the same walk done here, component by component, with `lstat` and `readlink`. The
//! path itself is returned unchanged: socket cases measure `sun_path` byte for byte.

use std::ffi::{CString, OsStr};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

/// Why a name was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfineError {
    #[error("`{0}` is not an absolute name inside the case's directory")]
    Relative(PathBuf),
    #[error("`{0}` climbs with `..`")]
    ParentDir(PathBuf),
    #[error(
        "`{0}` is outside the case's private directory and the directories it covered with a tmpfs"
    )]
    Outside(PathBuf),
    #[error("`{path}` leads outside `{base}` through a symlink")]
    Escapes { path: PathBuf, base: PathBuf },
    #[error("cannot resolve `{path}`: {message}")]
    Resolve { path: PathBuf, message: String },
}

/// Checks `path` against the case's private directory `private_dir` and the tmpfs
/// directories the case mounted ([`crate::sandbox::own_tmpfs_of`]); returns it unchanged
/// when it is confined.
pub fn confine(private_dir: &Path, path: &Path) -> Result<PathBuf, ConfineError> {
    let base = match base_of(private_dir, path)? {
        Some(base) => base,
        None => crate::sandbox::own_tmpfs_of(path)
            .ok_or_else(|| ConfineError::Outside(path.to_path_buf()))?,
    };
    beneath(&base, path)?;
    Ok(path.to_path_buf())
}

/// The lexical part: absolute, no `..`, and inside `dir` (or `None` when it is elsewhere).
fn base_of(dir: &Path, path: &Path) -> Result<Option<PathBuf>, ConfineError> {
    if !path.is_absolute() {
        return Err(ConfineError::Relative(path.to_path_buf()));
    }
    if path.components().any(|c| matches!(c, Component::ParentDir)) {
        return Err(ConfineError::ParentDir(path.to_path_buf()));
    }
    Ok(path.starts_with(dir).then(|| dir.to_path_buf()))
}

/// Whether resolving `path` (which starts with `base`) stays inside `base`, for the parent
/// directory and for the name itself (a call may follow a final symlink).
fn beneath(base: &Path, path: &Path) -> Result<(), ConfineError> {
    let rel = path.strip_prefix(base).unwrap_or(Path::new(""));
    if rel.as_os_str().is_empty() {
        return Ok(());
    }
    // Only a resolution that would step out is a refusal. Any other failure (ENOENT,
    // ENOTDIR, EACCES, ENAMETOOLONG) happens before an escape and is met the same way by the
    // call itself, which then reports its own errno; ELOOP is left to the walk by hand, which
    // tells a loop inside the directory (the call's own ELOOP) from a way out.
    match beneath_openat2(base, rel) {
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOSYS) | Some(libc::ELOOP)) => {
            beneath_by_hand(base, rel)
        }
        Err(e) if matches!(e.raw_os_error(), Some(libc::EXDEV) | Some(libc::EAGAIN)) => {
            Err(ConfineError::Escapes {
                path: path.to_path_buf(),
                base: base.to_path_buf(),
            })
        }
        Err(_) | Ok(()) => Ok(()),
    }
}

/// `RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS`, from linux/openat2.h.
const RESOLVE_BENEATH: u64 = 0x08;
const RESOLVE_NO_MAGICLINKS: u64 = 0x02;

#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

fn openat2(dir: &OwnedFd, rel: &Path, flags: i32) -> io::Result<OwnedFd> {
    let name = CString::new(rel.as_os_str().as_bytes()).map_err(io::Error::other)?;
    let how = OpenHow {
        flags: (flags | libc::O_PATH | libc::O_CLOEXEC) as u64,
        mode: 0,
        resolve: RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
    };
    // SAFETY: openat2(2) reads a NUL-terminated name and one open_how of the size given.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dir.as_raw_fd(),
            name.as_ptr(),
            &how as *const OpenHow,
            std::mem::size_of::<OpenHow>(),
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the descriptor was just returned by the kernel and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

fn open_dir(base: &Path) -> io::Result<OwnedFd> {
    let name = CString::new(base.as_os_str().as_bytes()).map_err(io::Error::other)?;
    // SAFETY: open(2) with a NUL-terminated name.
    let fd = unsafe {
        libc::open(
            name.as_ptr(),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: as above.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The parent directory, then the name itself (following a final symlink).
fn beneath_openat2(base: &Path, rel: &Path) -> io::Result<()> {
    let dir = open_dir(base)?;
    if let Some(parent) = rel.parent().filter(|p| !p.as_os_str().is_empty()) {
        openat2(&dir, parent, libc::O_DIRECTORY)?;
    }
    openat2(&dir, rel, 0).map(drop)
}

/// The walk `RESOLVE_BENEATH` does, for kernels without openat2: every symlink met is
/// spliced in and the position may never climb above `base`. At most 40 links (MAXSYMLINKS).
fn beneath_by_hand(base: &Path, rel: &Path) -> Result<(), ConfineError> {
    let escapes = || ConfineError::Escapes {
        path: base.join(rel),
        base: base.to_path_buf(),
    };
    let mut at: Vec<std::ffi::OsString> = Vec::new();
    let mut todo: Vec<std::ffi::OsString> = rel
        .components()
        .rev()
        .map(|c| c.as_os_str().to_owned())
        .collect();
    let mut links = 0;
    while let Some(part) = todo.pop() {
        match part.as_bytes() {
            b"." => continue,
            b".." => {
                if at.pop().is_none() {
                    return Err(escapes());
                }
                continue;
            }
            _ => {}
        }
        let here: PathBuf = base.join(at.iter().collect::<PathBuf>()).join(&part);
        match std::fs::symlink_metadata(&here) {
            Ok(m) if m.file_type().is_symlink() => {
                links += 1;
                let target = std::fs::read_link(&here).map_err(|e| ConfineError::Resolve {
                    path: here.clone(),
                    message: e.to_string(),
                })?;
                if target.is_absolute() {
                    return Err(escapes());
                }
                if links > 40 {
                    // The call itself stops here with ELOOP: nothing beyond is reached.
                    return Ok(());
                }
                todo.extend(
                    target
                        .components()
                        .rev()
                        .map(|c| OsStr::new(c.as_os_str()).to_owned()),
                );
            }
            Ok(_) => at.push(part),
            Err(_) => return Ok(()),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn dir() -> tempfile::TempDir {
        let d = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir(d.path().join("sub")).unwrap();
        std::fs::write(d.path().join("sub/file"), "x").unwrap();
        symlink("/etc", d.path().join("etc-link")).unwrap();
        symlink("../..", d.path().join("sub/up")).unwrap();
        symlink("sub/file", d.path().join("inside-link")).unwrap();
        symlink("nowhere", d.path().join("dangling")).unwrap();
        symlink("/etc/passwd-new", d.path().join("dangling-out")).unwrap();
        symlink("loop-b", d.path().join("loop-a")).unwrap();
        symlink("loop-a", d.path().join("loop-b")).unwrap();
        d
    }

    fn check(base: &Path, rel: &str) -> Result<PathBuf, ConfineError> {
        let path = base.join(rel);
        base_of(base, &path)?.ok_or_else(|| ConfineError::Outside(path.clone()))?;
        beneath(base, &path)?;
        Ok(path)
    }

    #[test]
    fn names_inside_the_directory_are_returned_unchanged() {
        let d = dir();
        for rel in [
            "sub/file",
            "sub",
            "new-file",
            "sub/new",
            "inside-link",
            "dangling",
        ] {
            assert_eq!(check(d.path(), rel).unwrap(), d.path().join(rel), "{rel}");
        }
    }

    #[test]
    fn dotdot_relative_and_outside_names_are_refused() {
        let d = dir();
        let base = d.path();
        assert!(matches!(
            check(base, "sub/../../x"),
            Err(ConfineError::ParentDir(_))
        ));
        assert!(matches!(
            base_of(base, Path::new("x")),
            Err(ConfineError::Relative(_))
        ));
        assert_eq!(base_of(base, Path::new("/etc/passwd")), Ok(None));
    }

    #[test]
    fn symlinks_pointing_out_are_refused_as_a_name_or_a_directory() {
        let d = dir();
        for rel in [
            "etc-link",
            "etc-link/passwd",
            "sub/up",
            "sub/up/x",
            "dangling-out",
        ] {
            assert!(
                matches!(check(d.path(), rel), Err(ConfineError::Escapes { .. })),
                "{rel}: {:?}",
                check(d.path(), rel)
            );
        }
    }

    #[test]
    fn the_walk_by_hand_agrees_with_openat2() {
        let d = dir();
        for (rel, ok) in [
            ("sub/file", true),
            ("inside-link", true),
            ("dangling", true),
            ("new-file", true),
            ("etc-link", false),
            ("etc-link/passwd", false),
            ("sub/up", false),
            ("dangling-out", false),
        ] {
            assert_eq!(
                beneath_by_hand(d.path(), Path::new(rel)).is_ok(),
                ok,
                "{rel}"
            );
        }
    }

    #[test]
    fn outside_any_own_tmpfs_a_host_name_is_refused() {
        let d = dir();
        assert!(matches!(
            confine(d.path(), Path::new("/var/tmp/keep")),
            Err(ConfineError::Outside(_))
        ));
        assert!(confine(d.path(), &d.path().join("sub/file")).is_ok());
    }
}
