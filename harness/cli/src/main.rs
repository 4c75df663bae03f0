//! The `sockspec` command line.
fn main() {}
