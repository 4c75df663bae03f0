#!/usr/bin/env bash
# The project's test command (the README's second command, and what .ci/run runs): installs
# the system packages the tests use, then runs every test of the workspace — unit tests, the
# parser's diagnostic snapshots, the CLI driven as a process, the grading fixtures, the HTML
# report in headless Chromium, and the whole built-in catalogue against this kernel; before
# them, rustfmt and clippy (warnings are errors).
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/install-deps.sh
# Formatting and lints first: they take seconds and name the exact line.
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# --no-fail-fast: one failing test binary must not hide the results of the others.
cargo test --workspace --locked --no-fail-fast "$@"
