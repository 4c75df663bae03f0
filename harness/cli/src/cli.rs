//! Argument parsing and dispatch of the subcommands.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::exit;

#[derive(Debug, Parser)]
#[command(
    name = "sockspec",
    version,
    about = "Check how this kernel's BSD sockets really behave, one scenario at a time.",
    long_about = "sockspec runs scenario files — strace-like scripts of socket calls with the \
results they must give — each in its own process and network namespace, and reports case by \
case (and course claim by claim) whether the kernel agrees.",
    after_help = exit::HELP
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run cases (the built-in catalogue unless --cases is given), like `cargo test`.
    #[command(after_help = crate::run::run_help())]
    Run(crate::run::RunArgs),
    /// Check scenario files for mistakes without running them.
    Check {
        /// Case files or folders.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Measure Unix-domain against Internet sockets (latency, throughput) and unconnected
    /// `sendto` against connected `send`, and decide the course's claims that Unix sockets
    /// are about twice as fast and that sendto pays for an internal connect.
    Bench(crate::bench::BenchArgs),
    /// Grade server submissions against a suite (sandboxed, one fresh server per case).
    #[command(after_help = crate::grade::GRADE_HELP)]
    Grade(crate::grade::GradeArgs),
    /// Merge, compare and re-render saved JSON results.
    #[command(subcommand)]
    Report(crate::report::ReportCommand),
    /// List the course claims of the register and the cases that decide each.
    Claims {
        /// The catalogue folder holding claims.toml (default: the built-in catalogue).
        #[arg(long, value_name = "DIR")]
        cases: Option<PathBuf>,
        /// Print the register as the Markdown index kept in `cases/CLAIMS.md`
        /// (`sockspec claims --markdown > cases/CLAIMS.md` after editing claims.toml).
        #[arg(long)]
        markdown: bool,
    },
}

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::USAGE
            } else {
                exit::SUCCESS
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match cli.command {
        Command::Run(args) => crate::run::run(args),
        Command::Check { paths } => crate::run::check(&paths),
        Command::Claims { cases, markdown } => crate::run::list_claims(cases, markdown),
        Command::Report(cmd) => crate::report::main(cmd),
        Command::Grade(args) => crate::grade::main(args),
        Command::Bench(args) => crate::bench::main(args),
    }
}
