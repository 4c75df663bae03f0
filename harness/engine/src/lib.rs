//! The sockspec engine: everything that touches the operating system.
//!
//! `exec` runs the steps of one scenario inside the current process and records the
//! transcript; `sandbox` gives a case its own process group, private directory and network
//! namespace; `child` is the re-executed case process and `spawn` its parent side.

pub mod exec;
