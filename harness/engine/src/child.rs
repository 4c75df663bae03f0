//! The case process: entered as `sockspec __case RUNNER-PID` with its spec on stdin, it
//! parses the scenario, isolates itself, puts its init in place ([`crate::init`]), runs the
//! scenario and streams [`Wire`] events on stdout.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use sockspec_reports::Outcome;

use crate::exec::{self, Context, Event, Facts};
use crate::wire::{CaseSpec, Wire};
use crate::{init, sandbox};

/// Runs the case the runner describes on standard input (a [`CaseSpec`] as JSON; or in
/// `arg` itself when it is JSON); `arg` is otherwise the runner's pid. Returns the process
/// exit code.
pub fn case_main(arg: &str) -> i32 {
    sandbox::arm_parent_death_signal();
    // The runner starts this process with posix_spawn, so what a fork-time hook used to do
    // happens here: die with the runner (checked, in case it died before the prctl) and keep
    // descriptors the runner's own parent leaked from reaching the case.
    if let Ok(runner) = arg.parse::<i32>() {
        if nix::unistd::getppid().as_raw() != runner {
            return 1;
        }
    }
    mark_inherited_cloexec();
    let mut out = std::io::stdout().lock();
    let mut send = |event: Wire| {
        if let Ok(line) = serde_json::to_string(&event) {
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
    };
    let spec = match read_spec(arg) {
        Ok(spec) => spec,
        Err(e) => {
            send(error_end(format!(
                "the runner passed an unreadable case spec: {e}"
            )));
            return 2;
        }
    };
    let started = Instant::now();
    let source = match spec.source.clone() {
        Some(s) => s,
        None => match std::fs::read_to_string(&spec.file) {
            Ok(s) => s,
            Err(e) => {
                send(error_end(format!(
                    "cannot read case file `{}`: {e}",
                    spec.file.display()
                )));
                return 0;
            }
        },
    };
    let file_name = spec.file.display().to_string();
    let scenario = match sockspec_lang::parse(&file_name, &source) {
        Ok(s) => s,
        Err(diags) => {
            send(error_end(diags.render(false)));
            return 0;
        }
    };
    let entered = match &spec.server {
        Some(target) => sandbox::enter_netns_of(target.netns_pid),
        None => sandbox::enter(spec.isolation, spec.shared_dir.as_deref()),
    };
    let entered = match entered {
        Ok(entered) => entered,
        Err(e) => {
            send(error_end(format!(
                "cannot isolate the case: {}",
                error_chain(&e)
            )));
            return 0;
        }
    };
    let verified = &entered.verified;
    if let Err(e) = init::split(verified.pid_namespace(), verified.mounts_private) {
        send(error_end(format!(
            "cannot start the case's init: {}",
            error_chain(&e)
        )));
        return 0;
    }
    let private_dir = entered.dir;
    if spec.drop_privileges && nix::unistd::geteuid().is_root() {
        let dropped = match (&spec.server, spec.isolation) {
            (None, sandbox::Isolation::UserNetns) => sandbox::drop_capabilities(),
            _ => sandbox::drop_to_nobody(),
        };
        if let Err(e) = dropped {
            send(error_end(error_chain(&e)));
            return 0;
        }
    }
    let flavour = spec
        .flavour
        .as_deref()
        .and_then(sockspec_lang::Flavour::from_name);
    let ctx = Context {
        time_scale: spec.time_scale,
        flavour,
        private_dir,
        unique: spec.unique.clone(),
        facts: Facts::probe(spec.isolation.is_isolated() || spec.server.is_some()),
        deadline: started + Duration::from_millis(spec.deadline_ms),
        server: spec.server.clone(),
    };
    let end = exec::execute(&scenario, &source, &ctx, &mut |event| match event {
        Event::Started { index, line } => send(Wire::Started { index, line }),
        Event::Step(record) => send(Wire::Step { record }),
    });
    send(Wire::End {
        outcome: end.outcome,
        message: end.message,
        failure: end.failure,
    });
    0
}

/// The spec from `arg` when it is JSON, else from standard input, which is then replaced by
/// `/dev/null` (the programs a case spawns must not inherit it).
fn read_spec(arg: &str) -> Result<CaseSpec, String> {
    if arg.starts_with('{') {
        return serde_json::from_str(arg).map_err(|e| e.to_string());
    }
    let mut text = String::new();
    std::io::stdin()
        .lock()
        .read_to_string(&mut text)
        .map_err(|e| format!("cannot read standard input: {e}"))?;
    if let Ok(null) = std::fs::File::open("/dev/null") {
        let _ = nix::unistd::dup2_stdin(&null);
    }
    serde_json::from_str(&text).map_err(|e| e.to_string())
}

/// Marks every descriptor above 2 close-on-exec: ones whoever started the runner left open
/// (a shell's, a CI agent's) would otherwise take descriptor numbers in the case and be
/// inherited by the programs it spawns. Linux 5.11+; older kernels keep them.
fn mark_inherited_cloexec() {
    // SAFETY: close_range(2) with integer arguments only changes descriptor flags.
    unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        );
    }
}

fn error_end(message: String) -> Wire {
    Wire::End {
        outcome: Outcome::Error,
        message: Some(message),
        failure: None,
    }
}

/// `outer: inner: innermost`, the way errors with sources are printed on one line.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
