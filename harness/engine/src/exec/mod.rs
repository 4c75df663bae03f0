//! Executes the steps of one scenario in this process, against the kernel, and records the
//! transcript.
//!
//! Data flow: [`execute`] walks the steps; each call is resolved against the handle table
//! (`prepare`), performed (`call`, on this thread or on a thread of its own for `blocks`),
//! applied to the table (new handles, local addresses) and checked (`expect`); every step
//! is reported as an [`Event`] before and after it runs.

mod addr;
mod addrlen;
mod bytes;
mod call;
mod consts;
mod content;
mod context;
mod expect;
mod fdset;
mod names;
mod pending;
mod prepare;
mod process;
mod render;
mod run;
mod signals;
mod table;
mod tc;
#[cfg(test)]
mod tests;

pub use bytes::{pattern, pattern_byte};
pub use context::{
    parse_kernel_release, read_proc_sys, CaseEnd, Context, Event, Facts, HarnessError,
};
pub use run::execute;
