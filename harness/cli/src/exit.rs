//! The exit codes of `sockspec`, documented in `--help` and the README.

/// Every selected case passed or was skipped with a reason.
pub const SUCCESS: u8 = 0;
/// At least one case failed: the kernel (or server) differs from an expectation.
pub const FAILURES: u8 = 1;
/// Bad command line, missing file, malformed scenario or empty selection: nothing was judged.
pub const USAGE: u8 = 2;
/// No case failed, but at least one could not be judged (deadline, crash, harness error).
pub const ERRORS: u8 = 3;
/// Interrupted by SIGINT/SIGTERM; every case process was killed and cleaned up.
pub const INTERRUPTED: u8 = 130;

/// The text `--help` shows after the options.
pub const HELP: &str = "\
Exit codes:
  0    every selected case passed (skipped cases say why)
  1    at least one case failed: the system under test differs from an expectation
  2    usage error: bad flag, missing file, malformed scenario, nothing selected
  3    no failure, but at least one case could not be judged (deadline, crash)
  130  interrupted; all case processes were killed and cleaned up";
