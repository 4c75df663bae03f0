//! Executes the steps of one scenario in this process.
