//! The sockspec engine: everything that touches the operating system.
//!
//! `exec` runs the steps of one scenario inside the current process and records the
//! transcript; `sandbox` gives a case its own network and mount namespaces; `child` is the
//! re-executed case process, `spawn` its parent side, and `wire` the protocol between them;
//! `grade` runs a server under test in its own sandbox for `sockspec grade`.

pub mod bench;
pub mod cgroup;
pub mod child;
pub mod exec;
pub mod grade;
pub mod properties;
pub mod sandbox;
pub mod spawn;
pub mod wire;
