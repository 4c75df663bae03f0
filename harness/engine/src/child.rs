//! The case process: entered as `sockspec __case SPEC`, it isolates itself, parses the
//! scenario, runs it and streams [`Wire`] events on stdout.

use std::io::Write;
use std::time::{Duration, Instant};

use sockspec_reports::Outcome;

use crate::exec::{self, Context, Event, Facts};
use crate::sandbox;
use crate::wire::{CaseSpec, Wire};

/// Runs the case described by `spec_json`; returns the process exit code.
pub fn case_main(spec_json: &str) -> i32 {
    sandbox::arm_parent_death_signal();
    let mut out = std::io::stdout().lock();
    let mut send = |event: Wire| {
        if let Ok(line) = serde_json::to_string(&event) {
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
    };
    let spec: CaseSpec = match serde_json::from_str(spec_json) {
        Ok(spec) => spec,
        Err(e) => {
            send(error_end(format!(
                "the runner passed an unreadable case spec: {e}"
            )));
            return 2;
        }
    };
    let started = Instant::now();
    let source = match std::fs::read_to_string(&spec.file) {
        Ok(s) => s,
        Err(e) => {
            send(error_end(format!(
                "cannot read case file `{}`: {e}",
                spec.file.display()
            )));
            return 0;
        }
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
    let private_dir = match entered {
        Ok(dir) => dir,
        Err(e) => {
            send(error_end(format!(
                "cannot isolate the case: {}",
                error_chain(&e)
            )));
            return 0;
        }
    };
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
