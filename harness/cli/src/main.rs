//! The `sockspec` binary.
#![forbid(unsafe_code)]

use std::process::ExitCode;

fn main() -> ExitCode {
    // The case process, the grading sandbox's holder and the isolation probe are re-executions of this binary; they are
    // dispatched before clap so a case starts in microseconds.
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("__case") => {
            let spec = args.get(2).map(String::as_str).unwrap_or("");
            return ExitCode::from(sockspec_engine::child::case_main(spec) as u8);
        }
        Some("__server") => {
            let spec = args.get(2).map(String::as_str).unwrap_or("");
            return ExitCode::from(sockspec_engine::grade::holder::holder_main(spec) as u8);
        }
        Some("__probe-isolation") => {
            let mode = args.get(2).map(String::as_str).unwrap_or("");
            return ExitCode::from(sockspec_engine::sandbox::probe_main(mode) as u8);
        }
        _ => {}
    }
    sockspec::cli::main()
}
