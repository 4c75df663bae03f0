//! The sockspec engine: everything that touches the operating system.
//!
//! `exec` runs the steps of one scenario inside the current process and records the
//! transcript; `sandbox` gives a case its own namespaces and a read-only host; `child` is the
//! re-executed case process, `init` the process between it and the scenario, `spawn` its
//! parent side, and `wire` the protocol between them; `grade` runs a server under test in
//! its own sandbox for `sockspec grade`.

pub mod bench;
pub mod cgroup;
pub mod child;
pub mod confine;
pub mod exec;
pub mod grade;
pub mod host;
pub mod init;
pub mod properties;
pub mod sandbox;
pub mod shared_dir;
pub mod spawn;
pub mod wire;
