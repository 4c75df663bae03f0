//! Grading servers: run a submission's server in a sandbox of its own (`holder`), find the
//! sockets it opened without connecting (`procfs`, `server`), run each client scenario of a
//! suite (`manifest`) against a fresh server inside that sandbox's network namespace, and
//! turn the verdicts and the server's behaviour into scores (`grader`).
//!
//! ```text
//! grader::grade_batch ── per (submission, case), on --jobs workers, gates first
//!   ├─ server::ServerRun::start ── `sockspec __server` ── holder: namespaces, new root,
//!   │                                                      init (pid 1) ── the command
//!   ├─ ServerRun::discover   /proc/<holder>/net/{tcp,udp}[6] ∩ the tree's socket inodes
//!   ├─ spawn::run_case       `sockspec __case` with setns into the holder's network namespace
//!   └─ ServerRun::stop       facts, SIGTERM, grace, SIGKILL init → the namespace is gone
//! ```

pub mod grader;
pub mod holder;
pub mod manifest;
pub mod procfs;
pub mod resources;
pub mod server;
pub mod target;
pub mod workspace;

pub use grader::{grade_batch, BatchOptions, Progress, SubmissionInput, NOT_JUDGED};
pub use holder::Limits;
pub use manifest::Suite;
pub use resources::Resources;
pub use target::ServerTarget;
