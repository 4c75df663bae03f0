//! The sockspec scenario language: a pure parser from `.sock` text to a [`Scenario`].
//!
//! This crate knows nothing of the operating system (no libc, nix or socket2), so it builds
//! and can be fuzzed anywhere. The engine executes what it produces.
#![forbid(unsafe_code)]

pub mod ast;
mod diag;
mod lexer;
mod parser;
pub mod span;
pub mod symbols;

pub use ast::*;
pub use diag::{Diagnostic, Diagnostics};
pub use parser::parse;
pub use span::{line_col, Span};
