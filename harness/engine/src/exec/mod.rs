//! Executes the steps of one scenario in this process, against the kernel, and records the
//! transcript.
//!
//! Data flow: [`execute`] walks the steps; `dispatch` routes each call to its family under
//! `calls/`, which resolves it against the handle table (`prepare`, built from `resolve`),
//! performs it (`perform`, on this thread or on a thread of its own for `blocks`) and writes
//! its result (`render`); the step loop applies it to the table (new handles, local
//! addresses) and checks it (`expect`); every step is reported as an [`Event`] before and
//! after it runs. `sys` is the one FFI idiom and `observed` what a call returned; both are
//! leaves every family uses.

mod addr;
mod addrlen;
mod bytes;
mod calls;
mod consts;
mod content;
mod context;
mod deadline;
mod dispatch;
mod expect;
mod fdset;
mod observed;
mod pending;
mod render;
mod resolve;
mod run;
mod signals;
mod sys;
mod table;
#[cfg(test)]
mod tests;

pub use bytes::{pattern, pattern_at, pattern_byte, pattern_into, pattern_mismatch};
pub use context::{
    parse_kernel_release, read_proc_sys, CaseEnd, Context, Event, Facts, HarnessError,
};
pub use deadline::deadline_stop;
pub use run::execute;
