//! The sockspec scenario language: a pure parser from `.sock` text to a [`Scenario`].
//!
//! This crate knows nothing of the operating system (no libc, nix or socket2), so it builds
//! and can be fuzzed anywhere. The engine executes what it produces.
#![forbid(unsafe_code)]

pub mod ast;
pub mod span;
pub mod symbols;

pub use ast::*;
pub use span::{line_col, Span};
