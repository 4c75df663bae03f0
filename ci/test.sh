#!/usr/bin/env bash
# The project's test command (the README's second command, and what .ci/run runs): installs
# the system packages the tests use, then runs every test of the workspace — unit tests, the
# parser's diagnostic snapshots, the CLI driven as a process, the grading fixtures, the HTML
# report in headless Chromium, and the whole built-in catalogue against this kernel.
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/install-deps.sh
cargo test --workspace --locked "$@"
