//! `cargo test` runs the built-in catalogue against this kernel, one trial per case and
//! flavour, with the same runner as `sockspec run`.

fn main() -> std::process::ExitCode {
    sockspec::run::catalogue_test_main(env!("CARGO_BIN_EXE_sockspec"))
}
