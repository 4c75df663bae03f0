//! `cases/CLAIMS.md` is the register's index as `sockspec claims --markdown` prints it: this
//! test fails when someone edits `claims.toml` or a case's `claims` line and forgets the index.
//! Bless with `SOCKSPEC_BLESS=1 cargo test -p sockspec --test claims_index`.

use std::path::Path;
use std::process::Command;

#[test]
fn claims_index_matches_the_register() {
    let out = Command::new(env!("CARGO_BIN_EXE_sockspec"))
        .args(["claims", "--markdown"])
        .output()
        .expect("cannot run sockspec");
    assert!(
        out.status.success(),
        "sockspec claims --markdown failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let actual = String::from_utf8(out.stdout).expect("the index is UTF-8");
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../cases/CLAIMS.md");
    if std::env::var_os("SOCKSPEC_BLESS").is_some() {
        std::fs::write(&path, &actual).expect("cannot write cases/CLAIMS.md");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    if expected != actual {
        let first = expected
            .lines()
            .zip(actual.lines())
            .position(|(e, a)| e != a)
            .unwrap_or(expected.lines().count().min(actual.lines().count()));
        panic!(
            "cases/CLAIMS.md is stale (first difference at line {}):\n  expected: {}\n  actual:   {}\n\
             regenerate it with: SOCKSPEC_BLESS=1 cargo test -p sockspec --test claims_index",
            first + 1,
            expected.lines().nth(first).unwrap_or("<end of file>"),
            actual.lines().nth(first).unwrap_or("<end of file>"),
        );
    }
}
