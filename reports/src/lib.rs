//! The result model every sockspec reporter reads, and the renderers.
#![forbid(unsafe_code)]

pub mod model;

pub use model::*;
