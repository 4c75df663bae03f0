//! Argument parsing and dispatch of the subcommands.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

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
    #[command(after_help = run_help())]
    Run(RunArgs),
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
    Report(ReportCommand),
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

#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// Join the shards of a partitioned run into one report, or (for runs that overlap, e.g.
    /// two kernels) build a matrix of cases × runs that highlights disagreements.
    Merge {
        /// JSON files written by `sockspec run --json`.
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
        /// Always build a matrix, even from disjoint shards.
        #[arg(long)]
        matrix: bool,
        #[arg(long, value_name = "FILE")]
        html: Option<PathBuf>,
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
    },
    /// What changed from run A to run B: newly failing, newly passing, changed results.
    Diff {
        a: PathBuf,
        b: PathBuf,
        /// Exit 1 when a case newly fails or errors.
        #[arg(long)]
        check: bool,
    },
    /// Render a saved run again, in other formats.
    Render {
        input: PathBuf,
        #[arg(long, value_name = "FILE")]
        html: Option<PathBuf>,
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
        #[arg(long, value_name = "FILE")]
        tap: Option<PathBuf>,
        #[arg(long, value_name = "FILE")]
        markdown: Option<PathBuf>,
    },
}

const RUN_EXAMPLES: &str = "\
Examples:
  sockspec run                               the whole built-in catalogue
  sockspec run stream-message partial-io     only trials whose name contains a filter
  sockspec run --exact 'stream-message/coalesce[tcp4]'
  sockspec run --cases my-cases/ --json r.json
  sockspec run --list --format terse         names only, as cargo nextest expects
  sockspec run --html r.html --junit r.xml --json r.json --tap r.tap
  sockspec run --partition 2/4 --json shard2.json   then: sockspec report merge shard*.json
  sockspec run --baseline known.toml         listed failures become expected failures

Trials are named after the case file (relative to the catalogue, without .sock), with the
flavour in brackets for flavoured cases. Every case runs in its own process group, in a
private network namespace when the machine allows it (root, or unprivileged user
namespaces); otherwise cases that need isolation are skipped and say why.
";

/// `run --help`'s epilogue: examples, then the exit codes every command shares.
fn run_help() -> String {
    format!("{}\n\n{}", RUN_EXAMPLES.trim_end(), exit::HELP)
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Run only trials whose name contains one of these strings.
    #[arg(value_name = "FILTER")]
    pub filters: Vec<String>,
    /// A folder of .sock files (searched recursively) or a single file.
    #[arg(long, value_name = "PATH")]
    pub cases: Option<PathBuf>,
    /// Write the full results (environment, transcripts, claims) as JSON.
    #[arg(long, value_name = "FILE", help_heading = "Reports")]
    pub json: Option<PathBuf>,
    /// Write a self-contained HTML report (one file, works offline, prints).
    #[arg(long, value_name = "FILE", help_heading = "Reports")]
    pub html: Option<PathBuf>,
    /// Write JUnit XML (one testsuite per theme) for CI dashboards.
    #[arg(long, value_name = "FILE", help_heading = "Reports")]
    pub junit: Option<PathBuf>,
    /// Write TAP version 14.
    #[arg(long, value_name = "FILE", help_heading = "Reports")]
    pub tap: Option<PathBuf>,
    /// Write KTAP version 1, as kernel CI systems read it.
    #[arg(long, value_name = "FILE", help_heading = "Reports")]
    pub ktap: Option<PathBuf>,
    /// Write a Markdown summary, e.g. for a CI job summary.
    #[arg(long, value_name = "FILE", help_heading = "Reports")]
    pub markdown: Option<PathBuf>,
    /// Known deviations (TOML): listed failures become expected failures.
    #[arg(long, value_name = "FILE", help_heading = "Baselines")]
    pub baseline: Option<PathBuf>,
    /// Write a baseline listing every failure of this run.
    #[arg(long, value_name = "FILE", help_heading = "Baselines")]
    pub write_baseline: Option<PathBuf>,
    /// Run only shard K of N (`2/4`, or `hash:2/4`, `count:2/4`); stable as cases are added.
    #[arg(long, value_name = "K/N")]
    pub partition: Option<String>,
    /// Also run a short `sockspec bench` and decide the course's "Unix sockets are about
    /// twice as fast" and "sendto connects internally" claims from it (timing is kept out of
    /// the default run).
    #[arg(long)]
    pub bench: bool,
    /// Generated inputs per property check (properties run with the built-in catalogue).
    #[arg(
        long,
        value_name = "N",
        env = "SOCKSPEC_PROP_INPUTS",
        default_value_t = 24
    )]
    pub prop_inputs: u32,
    /// Re-run a failing case up to N times; a later pass marks it flaky (all attempts kept).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub retries: u32,
    /// List the trials instead of running them.
    #[arg(long)]
    pub list: bool,
    /// Filters must match trial names exactly.
    #[arg(long)]
    pub exact: bool,
    /// Run only cases marked `ignore`.
    #[arg(long)]
    pub ignored: bool,
    /// Run cases marked `ignore` as well.
    #[arg(long)]
    pub include_ignored: bool,
    /// Skip trials whose name contains this (repeatable).
    #[arg(long, value_name = "FILTER")]
    pub skip: Vec<String>,
    /// How many cases run at once (default: the number of CPUs).
    #[arg(long, value_name = "N")]
    pub test_threads: Option<usize>,
    /// Output style: one line per case, one character per case, or libtest JSON events.
    #[arg(long, value_enum, value_name = "pretty|terse|json")]
    pub format: Option<Format>,
    /// Alias for --format terse.
    #[arg(short, long)]
    pub quiet: bool,
    /// Multiply deadlines, `sleep` steps (they let the kernel settle) and the upper
    /// tolerance of timing windows — never lower bounds; raise it on slow or loaded machines.
    #[arg(long, value_name = "X", env = "SOCKSPEC_TIME_SCALE", default_value_t = 1.0, value_parser = parse_scale)]
    pub time_scale: f64,
    /// How to isolate cases: the strongest available, or force one.
    #[arg(long, value_enum, default_value = "auto")]
    pub isolation: IsolationArg,
    /// A label for this run in merged reports (default: the kernel release).
    #[arg(long)]
    pub label: Option<String>,
    /// Colour the output.
    #[arg(long, value_enum, value_name = "auto|always|never")]
    pub color: Option<ColorArg>,
    /// Accepted for `cargo test` compatibility; output is never captured.
    #[arg(long, hide = true)]
    pub nocapture: bool,
    /// Accepted for `cargo test` compatibility.
    #[arg(long, hide = true)]
    pub show_output: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Pretty,
    Terse,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorArg {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum IsolationArg {
    Auto,
    Netns,
    Userns,
    Shared,
}

fn parse_scale(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(x) if x.is_finite() && (1.0..=100.0).contains(&x) => Ok(x),
        Ok(_) => Err("the time scale must be between 1 and 100".to_string()),
        Err(_) => Err(format!("`{text}` is not a number")),
    }
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
