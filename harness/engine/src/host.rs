//! What the host says about itself that takes a system call to read: the kernel log, which
//! tells gVisor and User-mode Linux from Linux.

/// The oldest part of the kernel log, as `dmesg` reads it (syslog(2)), or nothing when it
/// cannot be read (no CAP_SYSLOG with `kernel.dmesg_restrict`): only its first lines matter.
pub fn kernel_log_head() -> String {
    const SYSLOG_ACTION_READ_ALL: libc::c_int = 3;
    let mut buf = vec![0u8; 4096];
    // SAFETY: klogctl writes at most `buf.len()` bytes into `buf`, which lives across the call.
    let n = unsafe {
        libc::klogctl(
            SYSLOG_ACTION_READ_ALL,
            buf.as_mut_ptr().cast(),
            buf.len() as libc::c_int,
        )
    };
    if n <= 0 {
        return String::new();
    }
    buf.truncate(n as usize);
    String::from_utf8_lossy(&buf).into_owned()
}
