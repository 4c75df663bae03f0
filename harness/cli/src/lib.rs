//! The `sockspec` command line as a library, so the `cargo test` catalogue target and the
//! binary share one runner.
#![forbid(unsafe_code)]

pub mod bench;
pub mod catalogue;
pub mod claims;
pub mod cli;
pub mod environment;
pub mod exit;
pub mod grade;
pub mod output;
pub mod report;
pub mod run;
pub mod runner;
pub mod terminal;
