//! `tc(...)`: runs the iproute2 `tc` program inside the case's own network namespace, so a
//! case can make its loopback hold back, reorder or duplicate packets; and what a `require`
//! step counts as "not supported here" (a skip) rather than as a failure.
//!
//! tc is not a system call, so its outcome is reported in the scenario's terms: `0` when it
//! exits with status 0, otherwise `-1` with an errno that classifies the failure (see
//! [`classify`]); what tc printed goes into the transcript note.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use sockspec_lang::Op;

use crate::exec::observed::Observed;
use crate::exec::resolve::{wrong_family, Resolver};
use crate::exec::HarnessError;

/// How long one tc command may take before it is killed. A tc command is one netlink request
/// answered in milliseconds; the margin covers the kernel loading a qdisc module on demand
/// on a loaded machine. Scaled by `--time-scale` and never past the case deadline.
pub(crate) const TC_TIMEOUT: Duration = Duration::from_secs(2);

/// At most this much of tc's output is kept for the transcript: `tc -s qdisc show` on one
/// device is a few hundred bytes.
const OUTPUT_CAP: usize = 4096;

/// Where tc lives when it is not on `PATH` (unprivileged users often lack the sbin dirs).
const TC_DIRS: [&str; 4] = ["/usr/sbin", "/sbin", "/usr/bin", "/bin"];

/// What tc prints when the kernel lacks the qdisc, classifier or action named (the kernel's
/// extended acks, which iproute2 5.x and later print; older ones print the errno text). A
/// misspelt kind reads the same as a missing one: the skip reason shows tc's words.
const KERNEL_LACKS: [&str; 4] = [
    "Specified qdisc kind is unknown",
    "TC classifier not found",
    "Failed to load TC action module",
    "Operation not supported",
];

/// The errnos a `require` step takes for "this environment cannot do it": no tc program
/// (`ENOENT`) or a kernel without the qdisc, classifier or action (`EOPNOTSUPP`).
pub(crate) const UNSUPPORTED: [&str; 2] = ["ENOENT", "EOPNOTSUPP"];

/// `tc ARGS`, killed after `limit`.
#[derive(Debug)]
pub(crate) struct Call {
    args: Vec<String>,
    limit: Duration,
}

/// Resolves `tc(...)`; refused outside a network namespace of the case's own.
pub(crate) fn prepare(r: &Resolver, op: &Op) -> Result<(Call, String), HarnessError> {
    Ok(match op {
        Op::Tc { args, .. } => {
            // The host's qdiscs are never touched: tc runs only in a namespace of the
            // case's own (a grading case shares the server's, so it is refused too), the
            // same rule the calls of names.rs follow.
            if !crate::sandbox::owns_namespaces() {
                return Err(HarnessError::Refused(
                        "tc() runs only in a case with a network namespace of its own (`needs isolation`)".into(),
                    ));
            }
            let limit = TC_TIMEOUT.mul_f64(r.ctx.time_scale.max(1.0));
            (
                Call {
                    args: args.clone(),
                    limit,
                },
                format!("tc({:?})", args.join(" ")),
            )
        }
        _ => return Err(wrong_family(op, "tc")),
    })
}

/// Runs the call, never past `deadline`.
pub(crate) fn perform(call: &Call, o: &mut Observed, deadline: Instant) {
    *o = run(&call.args, call.limit, deadline);
}

/// Runs `tc ARGS` and waits for it until `limit` or `deadline`, whichever comes first.
fn run(args: &[String], limit: Duration, deadline: Instant) -> Observed {
    let Some(program) = find_tc() else {
        let mut o = Observed::new(Err(libc::ENOENT));
        o.note = Some("no `tc` program (iproute2) on PATH or in /usr/sbin, /sbin".into());
        return o;
    };
    let spawned = Command::new(&program)
        .args(args)
        // tc's messages are matched in English by `classify`.
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    // tc stays in the case's process group, so the runner's kill at the case deadline ends it
    // too, even if this process dies first.
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            let mut o = Observed::new(Err(e.raw_os_error().unwrap_or(libc::EIO)));
            o.note = Some(format!("cannot start `{}`: {e}", program.display()));
            return o;
        }
    };
    let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
    let (tx, rx) = mpsc::channel();
    // Each pipe is drained on its own thread so a chatty tc never blocks on a full pipe.
    let readers: Vec<_> = [
        stdout.map(|p| Box::new(p) as Box<dyn Read + Send>),
        stderr.map(|p| Box::new(p) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .enumerate()
    .map(|(i, pipe)| {
        let tx = tx.clone();
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut buf);
            }
            let _ = tx.send((i, buf));
        })
    })
    .collect();
    drop(tx);
    let until = (Instant::now() + limit).min(deadline);
    let mut outputs = [Vec::new(), Vec::new()];
    let mut timed_out = false;
    for _ in 0..2 {
        match rx.recv_timeout(until.saturating_duration_since(Instant::now())) {
            Ok((i, buf)) => outputs[i] = buf,
            Err(_) => {
                timed_out = true;
                break;
            }
        }
    }
    if timed_out {
        let _ = child.kill();
    }
    // The pipes are closed (or tc was killed), so this returns at once and reaps tc.
    let status = child.wait();
    for r in readers {
        let _ = r.join();
    }
    let [out, err] = outputs.map(|b| text(&b));
    let mut o = match (&status, timed_out) {
        (_, true) => Observed::new(Err(libc::ETIMEDOUT)),
        (Ok(s), false) if s.success() => Observed::new(Ok(0)),
        (Ok(_), false) => Observed::new(Err(classify(&err))),
        (Err(e), false) => Observed::new(Err(e.raw_os_error().unwrap_or(libc::EIO))),
    };
    let how = match (&status, timed_out) {
        (_, true) => format!("killed after {}ms", limit.as_millis()),
        (Ok(s), _) => match s.code() {
            Some(c) => format!("exit status {c}"),
            None => "killed by a signal".to_string(),
        },
        (Err(e), _) => format!("cannot wait for tc: {e}"),
    };
    let mut note = Vec::new();
    if o.ret.is_err() {
        note.push(format!("tc {how}"));
    }
    for (label, t) in [("stdout", out), ("stderr", err)] {
        if !t.is_empty() {
            note.push(format!("tc's {label}: {t}"));
        }
    }
    o.note = (!note.is_empty()).then(|| note.join("; "));
    o
}

/// The errno a failed tc command is reported with: `EOPNOTSUPP` when the kernel lacks what
/// was named, `EPERM` when the case may not change the namespace, `EINVAL` for anything else
/// (tc's own usage errors and the kernel refusing the parameters: a mistake in the case).
pub(crate) fn classify(stderr: &str) -> i32 {
    if KERNEL_LACKS.iter().any(|m| stderr.contains(m)) {
        libc::EOPNOTSUPP
    } else if stderr.contains("Operation not permitted") {
        libc::EPERM
    } else {
        libc::EINVAL
    }
}

fn find_tc() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(TC_DIRS.iter().map(PathBuf::from))
        .map(|d| d.join("tc"))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// tc's output on one line, capped, for the transcript.
fn text(bytes: &[u8]) -> String {
    let t = String::from_utf8_lossy(&bytes[..bytes.len().min(OUTPUT_CAP)]);
    t.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kernel_without_the_qdisc_is_unsupported_and_a_typo_is_not() {
        assert_eq!(
            classify("Error: Specified qdisc kind is unknown.\n"),
            libc::EOPNOTSUPP
        );
        assert_eq!(
            classify("Error: TC classifier not found.\nWe have an error talking to the kernel\n"),
            libc::EOPNOTSUPP
        );
        assert_eq!(
            classify("Error: Failed to load TC action module.\n"),
            libc::EOPNOTSUPP
        );
        assert_eq!(classify("Illegal \"match\"\n"), libc::EINVAL);
        assert_eq!(
            classify("tbf: either \"limit\" or \"latency\" is required.\n"),
            libc::EINVAL
        );
        assert_eq!(
            classify("RTNETLINK answers: Operation not permitted\n"),
            libc::EPERM
        );
    }

    #[test]
    fn output_is_one_capped_line() {
        assert_eq!(
            text(b"qdisc tbf 8001: root\n Sent 0 bytes\n"),
            "qdisc tbf 8001: root Sent 0 bytes"
        );
        assert!(text(&vec![b'x'; 10_000]).len() <= OUTPUT_CAP);
    }
}
