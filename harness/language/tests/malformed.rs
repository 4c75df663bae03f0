//! Snapshot test of the parser's diagnostics: every `fixtures/malformed/NAME.sock` must fail
//! to parse, and its rendering must equal the blessed `NAME.stderr` beside it.
//!
//! Bless with `SOCKSPEC_BLESS=1 cargo test -p sockspec-lang --test malformed` (refused when
//! `CI` is set: CI only compares).

use std::path::{Path, PathBuf};

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/malformed")
}

const BLESS_COMMAND: &str = "SOCKSPEC_BLESS=1 cargo test -p sockspec-lang --test malformed";

/// A line-by-line view of where two renderings part.
fn diff(expected: &str, actual: &str) -> String {
    let (e, a): (Vec<&str>, Vec<&str>) = (expected.lines().collect(), actual.lines().collect());
    let mut out = String::new();
    for i in 0..e.len().max(a.len()) {
        match (e.get(i), a.get(i)) {
            (Some(x), Some(y)) if x == y => out.push_str(&format!("  {x}\n")),
            (x, y) => {
                if let Some(x) = x {
                    out.push_str(&format!("- {x}\n"));
                }
                if let Some(y) = y {
                    out.push_str(&format!("+ {y}\n"));
                }
            }
        }
    }
    out
}

#[test]
fn malformed_fixtures_render_as_blessed() {
    let dir = fixtures_dir();
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read `{}`: {e}", dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "sock"))
        .collect();
    cases.sort();
    // An empty discovery is a hard error: a moved folder must not pass silently.
    assert!(
        !cases.is_empty(),
        "no `.sock` fixtures in `{}`",
        dir.display()
    );

    let bless = std::env::var_os("SOCKSPEC_BLESS").is_some_and(|v| v == "1");
    let in_ci = std::env::var_os("CI").is_some();
    assert!(
        !(bless && in_ci),
        "SOCKSPEC_BLESS is refused when CI is set: CI never writes snapshots"
    );

    let mut failures = Vec::new();
    for path in &cases {
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        let shown = format!("fixtures/malformed/{stem}.sock");
        let source = std::fs::read_to_string(path).unwrap();
        let actual = match sockspec_lang::parse(&shown, &source) {
            Ok(_) => "(parsed without errors: a malformed fixture must fail)\n".to_string(),
            Err(diags) => diags.render(false),
        };
        let stderr_path = path.with_extension("stderr");
        if bless {
            std::fs::write(&stderr_path, &actual).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&stderr_path).unwrap_or_default();
        if expected != actual {
            failures.push(format!(
                "--- {shown}\nEXPECTED ({}):\n{expected}\nACTUAL:\n{actual}\nDIFF (- expected, + actual):\n{}",
                stderr_path.display(),
                diff(&expected, &actual)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} fixtures differ from their blessed rendering:\n\n{}\nTo accept the new output, run:\n    {BLESS_COMMAND}\n",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
