//! Files a case names by path: `unlink`, `stat`, `chmod`, `touch` and `dir_entries()` of the
//! case's private directory.

use std::ffi::CString;
use std::os::fd::RawFd;

use sockspec_lang::symbols::Category;
use sockspec_lang::Op;

use crate::exec::addr::AddrStyle;
use crate::exec::consts::name_of;
use crate::exec::observed::Observed;
use crate::exec::resolve::{wrong_family, Resolver};
use crate::exec::sys::{cvt, owned};
use crate::exec::HarnessError;

/// A call of this family with every argument resolved to what the syscall takes.
#[derive(Debug)]
pub(crate) enum Call {
    Unlink(CString),
    Stat(CString),
    Chmod(CString, u32),
    Touch(CString),
    /// `dir_entries()`: the case's private directory.
    DirEntries(std::path::PathBuf),
}

/// Resolves a call of this family; its transcript text comes with it.
pub(crate) fn prepare(r: &Resolver, op: &Op) -> Result<(Call, String), HarnessError> {
    Ok(match op {
        Op::Unlink { path } => {
            let (p, t) = r.file(path)?;
            (Call::Unlink(p), format!("unlink({t})"))
        }
        Op::Stat { path } => {
            let (p, t) = r.file(path)?;
            (Call::Stat(p), format!("stat({t})"))
        }
        Op::Chmod { path, mode } => {
            let (p, t) = r.file(path)?;
            (Call::Chmod(p, *mode), format!("chmod({t}, {mode:#o})"))
        }
        Op::Touch { path } => {
            let (p, t) = r.file(path)?;
            (Call::Touch(p), format!("touch({t})"))
        }
        Op::DirEntries => {
            // Outside isolation the directory is shared by every case of the run, so a
            // count would depend on what other cases do at the same moment.
            if !r.ctx.facts.isolated {
                return Err(HarnessError::Refused(
                        "dir_entries() needs a private directory of the case's own: add `needs isolation`".into(),
                    ));
            }
            (
                Call::DirEntries(r.ctx.private_dir.clone()),
                "dir_entries()".to_string(),
            )
        }
        _ => return Err(wrong_family(op, "files")),
    })
}

/// Runs the call; `deadline` bounds the engine's own loops, never the call itself.
pub(crate) fn perform(call: &Call, o: &mut Observed) {
    match call {
        Call::Unlink(p) => {
            // SAFETY: `p` is a NUL-terminated path.
            o.ret = cvt(unsafe { libc::unlink(p.as_ptr()) }.into());
        }
        Call::Stat(p) => {
            // SAFETY: an all-zero `stat` is a valid value for the kernel to overwrite.
            let mut st: libc::stat = unsafe { std::mem::zeroed() };
            // SAFETY: `p` is a NUL-terminated path and `st` is writable.
            o.ret = cvt(unsafe { libc::stat(p.as_ptr(), &mut st) }.into());
            if o.ret.is_ok() {
                o.stat_mode = Some(st.st_mode);
            }
        }
        Call::DirEntries(dir) => match std::fs::read_dir(dir) {
            Ok(entries) => {
                let mut names: Vec<String> = entries
                    .filter_map(Result::ok)
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect();
                names.sort();
                o.ret = Ok(names.len() as i64);
                o.note = Some(format!("entries: [{}]", names.join(", ")));
            }
            Err(e) => o.ret = Err(e.raw_os_error().unwrap_or(libc::EIO)),
        },
        Call::Chmod(p, mode) => {
            // SAFETY: `p` is a NUL-terminated path.
            o.ret = cvt(unsafe { libc::chmod(p.as_ptr(), *mode as libc::mode_t) }.into());
        }
        Call::Touch(p) => {
            let flags = libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC;
            // SAFETY: `p` is a NUL-terminated path; O_CREAT takes the mode argument.
            o.ret = cvt(unsafe { libc::open(p.as_ptr(), flags, 0o644 as libc::c_uint) }.into())
                .map(|fd| {
                    drop(owned(fd as RawFd));
                    0
                });
        }
    }
}

/// What a successful call returned, as a scenario would write it.
pub(crate) fn render(op: &Op, v: i64, o: &Observed, _style: &AddrStyle<'_>) -> String {
    match op {
        Op::Stat { .. } => match o.stat_mode {
            Some(m) => {
                let kind = name_of(Category::FileType, i64::from(m & libc::S_IFMT))
                    .map_or_else(|| format!("{:#o}", m & libc::S_IFMT), str::to_string);
                format!("sock({kind}, {:#o})", m & 0o7777)
            }
            None => v.to_string(),
        },
        _ => v.to_string(),
    }
}
