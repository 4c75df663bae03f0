#!/usr/bin/env bash
# Verdict stability of the catalogue: N consecutive runs, then M runs while two busy loops
# keep both cores loaded. Every run's verdicts (trial name -> outcome) must be identical.
# Prints the wall time of each run. Usage: ci/stability.sh [QUIET_RUNS] [LOADED_RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
quiet=${1:-20}
loaded=${2:-5}
target=${CARGO_TARGET_DIR:-target}
cargo build -q --release -p sockspec
bin="$target/release/sockspec"
work=$(mktemp -d)
hogs=()
cleanup() {
  for pid in "${hogs[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

verdicts() {
  python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); [print(c["name"], c["outcome"]) for c in r["cases"]]' "$1" | sort
}

run_once() {
  local label=$1 i=$2 start end
  start=$(date +%s.%N)
  "$bin" run -q --json "$work/$label-$i.json" >"$work/$label-$i.out" 2>&1 || true
  end=$(date +%s.%N)
  verdicts "$work/$label-$i.json" >"$work/$label-$i.verdicts"
  printf '%s run %2d: %5.2fs  %s\n' "$label" "$i" "$(python3 -c "print($end - $start)")" \
    "$(tail -n 20 "$work/$label-$i.out" | grep -m1 '^test result' || true)"
}

for i in $(seq 1 "$quiet"); do run_once quiet "$i"; done
for _ in 1 2; do (while :; do :; done) & hogs+=($!); done
for i in $(seq 1 "$loaded"); do run_once loaded "$i"; done

reference="$work/quiet-1.verdicts"
changes=0
for f in "$work"/*.verdicts; do
  if ! diff -q "$reference" "$f" >/dev/null; then
    changes=$((changes + 1))
    echo "verdicts differ in $(basename "$f" .verdicts):"
    diff "$reference" "$f" | head -20
  fi
done
echo "$(wc -l <"$reference") trials; $quiet quiet + $loaded loaded runs; runs whose verdicts differ from the first: $changes"
[ "$changes" -eq 0 ]
