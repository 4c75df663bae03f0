//! The terminal of a run, laid out like cargo's: libtest's live lines and failures, then
//! sockspec's short summary, then libtest's `test result:` verdict line, last.
//!
//! libtest-mimic prints its verdict line itself at the end of its run, before the results
//! exist for sockspec's summary. So its output goes through a pipe: a thread forwards every
//! line at once, holds back the verdict line and what follows, and prints them after the
//! summary. The forwarder also keeps a closed stdout (`| head`) from panicking libtest.

use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::thread::JoinHandle;

use libtest_mimic::{Arguments, ColorSetting};

use crate::run::Human;

/// The line that starts libtest's verdict (pretty and terse formats).
const VERDICT: &str = "test result: ";

pub struct Terminal {
    human: Human,
    libtest: Arguments,
    color: bool,
    forwarder: Option<(OwnedFd, JoinHandle<Vec<u8>>)>,
}

impl Terminal {
    /// Starts forwarding libtest's output to where the human output goes.
    pub fn open(human: Human, base: &Arguments) -> Result<Terminal, String> {
        let mut libtest = base.clone();
        let color = match base.color {
            Some(ColorSetting::Always) => true,
            Some(ColorSetting::Never) => false,
            _ => wants_color(human),
        };
        // libtest's JSON events, or a log file the user asked for, are left as they are.
        if human == Human::Silent || base.logfile.is_some() {
            return Ok(Terminal {
                human,
                libtest,
                color,
                forwarder: None,
            });
        }
        let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
            .map_err(|e| format!("cannot make a pipe for the test output: {e}"))?;
        libtest.logfile = Some(format!("/proc/self/fd/{}", write.as_raw_fd()));
        libtest.color = Some(if color {
            ColorSetting::Always
        } else {
            ColorSetting::Never
        });
        let forwarder = std::thread::Builder::new()
            .name("sockspec-output".into())
            .spawn(move || forward(BufReader::new(std::fs::File::from(read)), human))
            .map_err(|e| format!("cannot start the output thread: {e}"))?;
        Ok(Terminal {
            human,
            libtest,
            color,
            forwarder: Some((write, forwarder)),
        })
    }

    /// The arguments libtest must run with: its output goes into the pipe.
    pub fn libtest_args(&self) -> &Arguments {
        &self.libtest
    }

    /// Whether the summary may use colour.
    pub fn color(&self) -> bool {
        self.color
    }

    /// Prints the summary, then libtest's held-back verdict line.
    pub fn finish(self, summary: &str) {
        let held = match self.forwarder {
            Some((write, thread)) => {
                // libtest closed its own descriptor when its run ended; this is the last one,
                // so the forwarder sees the end of the stream.
                drop(write);
                thread.join().unwrap_or_default()
            }
            None => Vec::new(),
        };
        self.human.say(summary);
        self.human.say(&String::from_utf8_lossy(&held));
    }
}

/// Colour when the destination is a terminal and the environment does not refuse it
/// (`NO_COLOR`, `CLICOLOR=0`, `TERM=dumb`; `CLICOLOR_FORCE` forces it), as anstream decides.
fn wants_color(human: Human) -> bool {
    let choice = match human {
        Human::Stdout => anstream::AutoStream::choice(&std::io::stdout()),
        Human::Stderr => anstream::AutoStream::choice(&std::io::stderr()),
        Human::Silent => return false,
    };
    !matches!(choice, anstream::ColorChoice::Never)
}

/// Copies lines to the destination until the verdict line, and returns the rest. A write
/// error (the reader closed the pipe) stops the copying, never the reading: libtest must be
/// able to write everything it has to say.
fn forward(mut input: impl BufRead, human: Human) -> Vec<u8> {
    let mut held = Vec::new();
    let mut line = Vec::new();
    let mut open = true;
    loop {
        line.clear();
        match input.read_until(b'\n', &mut line) {
            Ok(0) => return held,
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => return held,
        }
        if !held.is_empty() || line.starts_with(VERDICT.as_bytes()) {
            held.extend_from_slice(&line);
            continue;
        }
        if open {
            let written = match human {
                Human::Stderr => std::io::stderr().write_all(&line),
                Human::Stdout => {
                    let mut out = std::io::stdout().lock();
                    out.write_all(&line).and_then(|()| out.flush())
                }
                Human::Silent => Ok(()),
            };
            open = written.is_ok();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_verdict_line_and_what_follows_are_held_back() {
        let text = "running 2 tests\ntest a ... ok\n\ntest result: ok. 2 passed\n\n";
        let held = forward(text.as_bytes(), Human::Silent);
        assert_eq!(
            String::from_utf8(held).unwrap(),
            "test result: ok. 2 passed\n\n"
        );
    }
}
