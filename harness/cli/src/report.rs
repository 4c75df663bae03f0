//! Writing reports, and the `sockspec report` commands on saved JSON.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use sockspec_reports::merge::{self, Merged};
use sockspec_reports::tap::TapFlavour;
use sockspec_reports::{html, json, junit, markdown, tap, RunReport};

use crate::cli::ReportCommand;
use crate::exit;

/// Where each requested report goes.
#[derive(Debug, Clone, Default)]
pub struct Outputs {
    pub json: Option<PathBuf>,
    pub html: Option<PathBuf>,
    pub junit: Option<PathBuf>,
    pub tap: Option<PathBuf>,
    pub ktap: Option<PathBuf>,
    pub markdown: Option<PathBuf>,
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("cannot write `{}`: {e}", path.display()))
}

/// Writes every requested report of `report`.
pub fn write_all(report: &RunReport, out: &Outputs) -> Result<(), String> {
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
        write(p, &tap::to_tap(report, TapFlavour::Tap14))?;
    }
    if let Some(p) = &out.ktap {
        write(p, &tap::to_tap(report, TapFlavour::Ktap1))?;
    }
    if let Some(p) = &out.markdown {
        write(p, &markdown::to_markdown(report))?;
    }
    Ok(())
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
            html: html_out,
            json: json_out,
            junit: junit_out,
        } => {
            let runs = inputs
                .iter()
                .map(|p| read_run(p))
                .collect::<Result<Vec<_>, _>>()?;
            if !matrix && disjoint(&runs) {
                let joined = merge::join_shards(runs).map_err(|e| e.to_string())?;
                let out = Outputs {
                    json: json_out,
                    html: html_out,
                    junit: junit_out,
                    ..Default::default()
                };
                write_all(&joined, &out)?;
                println!(
                    "joined {} shard(s): {} cases, {} failed, {} errors",
                    inputs.len(),
                    joined.cases.len(),
                    joined.count(sockspec_reports::Outcome::Fail),
                    joined.count(sockspec_reports::Outcome::Error)
                );
                return Ok(exit::SUCCESS);
            }
            if junit_out.is_some() {
                return Err("--junit needs shards of one run; a matrix of several runs has no single JUnit view".into());
            }
            let merged: Merged = merge::merge(runs);
            if let Some(p) = &html_out {
                write(p, &html::render_matrix_html(&merged))?;
            }
            if let Some(p) = &json_out {
                write(p, &json::merged_to_json(&merged))?;
            }
            let disagree = merged.rows.iter().filter(|r| r.disagree).count();
            println!(
                "matrix of {} runs × {} cases: {disagree} case(s) where the runs disagree",
                merged.runs.len(),
                merged.rows.len()
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
        ReportCommand::Render {
            input,
            html: h,
            junit: j,
            tap: t,
            markdown: m,
        } => {
            let report = read_run(&input)?;
            write_all(
                &report,
                &Outputs {
                    html: h,
                    junit: j,
                    tap: t,
                    markdown: m,
                    ..Default::default()
                },
            )?;
            Ok(exit::SUCCESS)
        }
    }
}

/// Shards of one partitioned run share no case.
fn disjoint(runs: &[RunReport]) -> bool {
    let mut seen = std::collections::HashSet::new();
    runs.iter()
        .flat_map(|r| &r.cases)
        .all(|c| seen.insert(c.name.as_str()))
}
