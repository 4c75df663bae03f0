//! Writing reports, and the `sockspec report` commands on saved JSON.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use sockspec_reports::merge::{self, Merged};
use sockspec_reports::tap::TapFlavour;
use sockspec_reports::{html, json, junit, markdown, tap, RunReport};

use clap::{Args, Subcommand, ValueEnum};

use crate::exit;

/// Which TAP version `--tap` writes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum TapVersion {
    /// TAP 13: what Perl's `prove` (TAP::Harness 3.x) and most TAP consumers read.
    #[default]
    #[value(name = "13")]
    V13,
    /// TAP 14 (escaped `#` in descriptions, the current specification).
    #[value(name = "14")]
    V14,
}

/// Where each requested report goes: the one group of report flags every command that writes
/// reports flattens into its arguments, so each of them writes every format. `-` is stdout.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Reports (FILE, or - for stdout)")]
pub struct Outputs {
    /// Write the full results (environment, transcripts, claims) as JSON.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write a self-contained HTML report (one file, works offline, prints).
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Write JUnit XML (one testsuite per theme) for CI dashboards.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Write TAP (version 13 unless --tap-version 14), as `prove` reads it.
    #[arg(long, value_name = "FILE")]
    pub tap: Option<PathBuf>,
    /// The TAP version `--tap` writes.
    #[arg(long, value_enum, value_name = "13|14", default_value = "13")]
    pub tap_version: TapVersion,
    /// Write KTAP version 1, as kernel CI systems read it.
    #[arg(long, value_name = "FILE")]
    pub ktap: Option<PathBuf>,
    /// Write a Markdown summary, e.g. for a CI job summary.
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
}

/// The path that means standard output.
const STDOUT: &str = "-";

impl Outputs {
    fn paths(&self) -> [(&'static str, Option<&PathBuf>); 6] {
        [
            ("--json", self.json.as_ref()),
            ("--html", self.html.as_ref()),
            ("--junit", self.junit.as_ref()),
            ("--tap", self.tap.as_ref()),
            ("--ktap", self.ktap.as_ref()),
            ("--markdown", self.markdown.as_ref()),
        ]
    }

    /// Whether one report goes to stdout; the human-readable output then goes to stderr.
    pub fn uses_stdout(&self) -> bool {
        self.paths()
            .iter()
            .any(|(_, p)| p.is_some_and(|p| p.as_os_str() == STDOUT))
    }

    /// At most one report may go to stdout: two would be interleaved into one unreadable
    /// stream.
    pub fn check(&self) -> Result<(), String> {
        let to_stdout: Vec<&str> = self
            .paths()
            .iter()
            .filter(|(_, p)| p.is_some_and(|p| p.as_os_str() == STDOUT))
            .map(|(flag, _)| *flag)
            .collect();
        if to_stdout.len() > 1 {
            return Err(format!(
                "{} all write to stdout (`-`); give all but one of them a file",
                to_stdout.join(", ")
            ));
        }
        Ok(())
    }
}

/// Writes `text` to `path`, or to stdout for `-`. A closed stdout (`| head`) is not an error:
/// the reader has what it wanted.
fn write(path: &Path, text: &str) -> Result<(), String> {
    if path.as_os_str() == STDOUT {
        return match crate::output::stdout(text) {
            Ok(()) => Ok(()),
            Err(e) => Err(format!("cannot write to stdout: {e}")),
        };
    }
    std::fs::write(path, text).map_err(|e| format!("cannot write `{}`: {e}", path.display()))
}

/// Writes every requested report of `report`.
pub fn write_all(report: &RunReport, out: &Outputs) -> Result<(), String> {
    out.check()?;
    if let Some(p) = &out.json {
        write(p, &json::to_json(report))?;
    }
    if let Some(p) = &out.html {
        write(p, &html::to_html(report))?;
    }
    if let Some(p) = &out.junit {
        write(p, &junit::to_junit(report).map_err(|e| e.to_string())?)?;
    }
    if let Some(p) = &out.tap {
        let flavour = match out.tap_version {
            TapVersion::V13 => TapFlavour::Tap13,
            TapVersion::V14 => TapFlavour::Tap14,
        };
        write(p, &tap::to_tap(report, flavour))?;
    }
    if let Some(p) = &out.ktap {
        write(p, &tap::to_tap(report, TapFlavour::Ktap1))?;
    }
    if let Some(p) = &out.markdown {
        write(p, &markdown::to_markdown(report))?;
    }
    Ok(())
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
        #[command(flatten)]
        outputs: Outputs,
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
        #[command(flatten)]
        outputs: Outputs,
    },
}

pub fn read_run(path: &Path) -> Result<RunReport, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    json::from_json(&text)
        .map_err(|e| format!("`{}` is not a sockspec run report: {e}", path.display()))
}

pub fn main(cmd: ReportCommand) -> ExitCode {
    match run(cmd) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(exit::USAGE)
        }
    }
}

fn run(cmd: ReportCommand) -> Result<u8, String> {
    match cmd {
        ReportCommand::Merge {
            inputs,
            matrix,
            outputs,
        } => {
            let runs = inputs
                .iter()
                .map(|p| read_run(p))
                .collect::<Result<Vec<_>, _>>()?;
            if !matrix && disjoint(&runs) {
                let joined = merge::join_shards(runs).map_err(|e| e.to_string())?;
                write_all(&joined, &outputs)?;
                say(
                    &outputs,
                    &format!(
                        "joined {} shard(s): {} cases, {} failed, {} errors\n",
                        inputs.len(),
                        joined.cases.len(),
                        joined.count(sockspec_reports::Outcome::Fail),
                        joined.count(sockspec_reports::Outcome::Error)
                    ),
                );
                return Ok(exit::SUCCESS);
            }
            outputs.check()?;
            let single_run_only = [
                ("--junit", &outputs.junit),
                ("--tap", &outputs.tap),
                ("--ktap", &outputs.ktap),
                ("--markdown", &outputs.markdown),
            ];
            if let Some((flag, _)) = single_run_only.iter().find(|(_, p)| p.is_some()) {
                return Err(format!("{flag} needs shards of one run; a matrix of several runs has only --html and --json views"));
            }
            let merged: Merged = merge::merge(runs);
            if let Some(p) = &outputs.html {
                write(p, &html::render_matrix_html(&merged))?;
            }
            if let Some(p) = &outputs.json {
                write(p, &json::merged_to_json(&merged))?;
            }
            let disagree = merged.rows.iter().filter(|r| r.disagree).count();
            say(
                &outputs,
                &format!(
                    "matrix of {} runs × {} cases: {disagree} case(s) where the runs disagree\n",
                    merged.runs.len(),
                    merged.rows.len()
                ),
            );
            Ok(exit::SUCCESS)
        }
        ReportCommand::Diff { a, b, check } => {
            let (a, b) = (read_run(&a)?, read_run(&b)?);
            let d = merge::diff(&a, &b);
            print!("{}", merge::render_diff_text(&d));
            Ok(if check && !d.newly_failing.is_empty() {
                exit::FAILURES
            } else {
                exit::SUCCESS
            })
        }
        ReportCommand::Render { input, outputs } => {
            let report = read_run(&input)?;
            write_all(&report, &outputs)?;
            Ok(exit::SUCCESS)
        }
    }
}

/// A one-line account of what a command did: on stdout, or on stderr when a report went there.
fn say(outputs: &Outputs, text: &str) {
    if outputs.uses_stdout() {
        eprint!("{text}");
    } else {
        let _ = crate::output::stdout(text);
    }
}

/// Shards of one partitioned run share no case.
fn disjoint(runs: &[RunReport]) -> bool {
    let mut seen = std::collections::HashSet::new();
    runs.iter()
        .flat_map(|r| &r.cases)
        .all(|c| seen.insert(c.name.as_str()))
}
