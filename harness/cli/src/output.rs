//! Writing to stdout when the reader may go away: `sockspec run --list | head` closes the
//! pipe early, which must end the output quietly, never in a panic.

use std::io::{ErrorKind, Write};

/// Writes `text` to stdout and flushes it. A closed pipe is success: the reader stopped
/// reading because it had what it wanted, as with `cat file | head`.
pub fn stdout(text: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}
