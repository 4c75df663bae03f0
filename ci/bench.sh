#!/usr/bin/env bash
# Benchmarks of the harness itself (they report, they never fail on a timing):
#
#   (a) the per-case overhead
#       - one run of the smallest case (fixtures/cli/empty.sock: one socket() call), N times:
#         the cost of starting sockspec + one case process + its namespaces;
#       - a folder of 100 copies of that case, at --test-threads 1 and at the default
#         (the number of CPUs): the wall time / 100, and the marginal cost of one more case,
#         (T(100 copies) - T(1 case)) / 99, which leaves out the start-up of sockspec;
#   (b) the wall time of the whole built-in catalogue (`sockspec run -q`), M times.
#
# Usage: ci/bench.sh [--runs N] [--catalogue-runs M] [--copies C] [--no-catalogue] [--out FILE]
#   --runs N            runs of the single empty case (default 30)
#   --copies C          copies of the empty case in the folder (default 100)
#   --folder-runs F     runs of each folder measurement (default 5)
#   --catalogue-runs M  runs of the whole catalogue (default 5)
#   --no-catalogue      skip (b)
#   --out FILE          also write the table (Markdown) to FILE
#
# Environment: SOCKSPEC_BIN (a binary to measure instead of building one), CARGO_TARGET_DIR
# (default: the repository's target/). Builds `cargo build --release -p sockspec` first.
# Times are wall-clock, from `date +%s%N` around each process; the machine's load average is
# printed with them, since other work on the machine shows in every figure.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
runs=30
copies=100
folder_runs=5
catalogue_runs=5
catalogue=1
out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=${2:?}; shift 2 ;;
    --copies) copies=${2:?}; shift 2 ;;
    --folder-runs) folder_runs=${2:?}; shift 2 ;;
    --catalogue-runs) catalogue_runs=${2:?}; shift 2 ;;
    --no-catalogue) catalogue=0; shift ;;
    --out) out=${2:?}; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

if [ -n "${SOCKSPEC_BIN:-}" ]; then
  bin=$SOCKSPEC_BIN
else
  target=${CARGO_TARGET_DIR:-$repo/target}
  echo "bench: cargo build --release -p sockspec (target: $target)" >&2
  (cd "$repo" && CARGO_TARGET_DIR=$target cargo build -q --release -p sockspec)
  bin=$target/release/sockspec
fi
[ -x "$bin" ] || { echo "bench.sh: $bin is not an executable" >&2; exit 2; }
empty=$repo/fixtures/cli/empty.sock
[ -f "$empty" ] || { echo "bench.sh: $empty is missing" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/sockspec-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM
mkdir -p "$work/copies"
for i in $(seq -w 1 "$copies"); do cp "$empty" "$work/copies/empty-$i.sock"; done

# time_runs N CMD...: prints N wall times in milliseconds (3 decimals), one a line, after one
# untimed warm-up run. Exit codes are recorded in $work/rc (the last one), never acted upon.
time_runs() {
  local n=$1; shift
  "$@" >/dev/null 2>&1 || true
  local i t0 t1 rc
  for ((i = 0; i < n; i++)); do
    t0=$(date +%s%N)
    rc=0; "$@" >/dev/null 2>&1 || rc=$?
    t1=$(date +%s%N)
    echo "$rc" >"$work/rc"
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", (b - a) / 1e6 }'
  done
}
# stats: reads numbers, prints "median min max"
stats() { sort -g | awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.1f %.1f %.1f\n", m, v[1], v[NR] }'; }
fmt() { awk -v x="$1" -v d="${2:-1}" 'BEGIN { printf "%.*f", d, x }'; }

cpus=$(nproc)
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
echo "bench: $("$bin" --version 2>/dev/null || echo sockspec) on $(uname -r), $cpus CPUs, load $load_before" >&2

rows=()
# (a) one empty case
echo "bench: empty case x $runs" >&2
read -r one_med one_min one_max < <(time_runs "$runs" "$bin" run --cases "$empty" -q --color never | stats)
rows+=("| one empty case (\`run --cases empty.sock\`) | $runs | $one_med | $one_min | $one_max | $(fmt "$one_med") | exit $(cat "$work/rc") |")

# (a) the folder of copies, at 1 thread and at the default
for threads in 1 default; do
  flag=(); [ "$threads" = 1 ] && flag=(--test-threads 1)
  echo "bench: $copies copies, --test-threads $threads, x $folder_runs" >&2
  read -r med min max < <(time_runs "$folder_runs" "$bin" run --cases "$work/copies" -q --color never "${flag[@]}" | stats)
  per=$(awk -v t="$med" -v n="$copies" 'BEGIN { printf "%.2f", t / n }')
  marginal=$(awk -v t="$med" -v o="$one_med" -v n="$copies" 'BEGIN { printf "%.2f", (t - o) / (n - 1) }')
  label="$copies empty cases, --test-threads $threads"; [ "$threads" = default ] && label="$copies empty cases, default threads ($cpus)"
  rows+=("| $label | $folder_runs | $med | $min | $max | $per (marginal $marginal) | exit $(cat "$work/rc") |")
done

# (b) the whole catalogue
if [ "$catalogue" = 1 ]; then
  ntrials=$("$bin" run --list --format terse 2>/dev/null | grep -c ': test$' || true)
  echo "bench: whole catalogue ($ntrials trials) x $catalogue_runs" >&2
  read -r med min max < <(time_runs "$catalogue_runs" "$bin" run -q --color never | stats)
  spread=$(awk -v a="$min" -v b="$max" -v m="$med" 'BEGIN { printf "%.0f%%", (b - a) / m * 100 }')
  per=$(awk -v t="$med" -v n="$ntrials" 'BEGIN { if (n > 0) printf "%.2f", t / n; else print "-" }')
  rows+=("| whole catalogue (\`run -q\`, $ntrials trials) | $catalogue_runs | $med | $min | $max | $per (spread $spread) | exit $(cat "$work/rc") |")
fi

table=$(
  echo "sockspec benchmarks: $(uname -r), $cpus CPUs, load before $load_before, after $(cut -d' ' -f1-3 /proc/loadavg)"
  echo
  echo "| measurement | runs | median ms | min ms | max ms | ms per case | last exit |"
  echo "|---|---:|---:|---:|---:|---:|---|"
  printf '%s\n' "${rows[@]}"
)
echo "$table"
[ -n "$out" ] && echo "$table" >"$out"
exit 0
