//! The result model every sockspec reporter reads, and the renderers: JSON (the model itself),
//! terminal summary, JUnit, TAP/KTAP, Markdown and a self-contained HTML page, plus the report
//! operations (merge, diff, shard join, baselines, partitions). Pure: strings in, strings out.
#![forbid(unsafe_code)]

mod common;
pub mod error;
pub mod model;

pub mod baseline;
pub mod claims;
pub mod differential;
pub mod grade;
pub mod grade_html;
pub mod html;
pub mod json;
pub mod junit;
pub mod lms;
pub mod markdown;
pub mod merge;
pub mod partition;
pub mod properties;
pub mod tap;
pub mod terminal;

#[cfg(test)]
mod test_support;

pub use common::{duration, terminal_safe};
pub use error::ReportError;
pub use model::*;
