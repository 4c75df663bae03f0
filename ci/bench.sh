#!/usr/bin/env bash
# Benchmarks of the harness itself (they report, they never fail on a timing):
#
#   (a) the per-case overhead
#       - one run of the smallest case (fixtures/cli/empty.sock: one socket() call), N times:
#         the cost of starting sockspec + one case process + its namespaces;
#       - a folder of 100 copies of that case, at --test-threads 1 and at the default
#         (the number of CPUs): the wall time / 100, and the marginal cost of one more case,
#         (T(100 copies) - T(1 case)) / 99, which leaves out the start-up of sockspec;
#   (b) the wall time of the whole built-in catalogue (`sockspec run -q`), M times;
#   (c) where the catalogue's time goes: the case files (`cases/`, run with --cases) at 1x and
#       at 2x size (a second copy with renamed files), at each --test-threads of --threads
#       (default: "default 8 16"), one run each. Per run it prints the wall time; the CPU time
#       of sockspec and every process it reaped (user + system, RUSAGE_CHILDREN via
#       /usr/bin/time), and also the run's cgroup CPU when a cgroup can be made for it (v2
#       cpu.stat, or v1 cpuacct.usage); the critical-path bound max(CPU / cores, longest
#       case) and wall / bound; the sum of the case durations (--json duration_us) and
#       wall / sum; the outcome counts; and, for 2x, its CPU / the 1x CPU at the same threads.
#       Network namespaces are torn down by kernel workers after their last process exits:
#       that CPU is charged to no process and no cgroup of the run, so neither figure holds it.
#
# Usage: ci/bench.sh [--runs N] [--catalogue-runs M] [--copies C] [--no-catalogue]
#                    [--threads "default 8 16"] [--no-throughput] [--out FILE]
#   --runs N            runs of the single empty case (default 30)
#   --copies C          copies of the empty case in the folder (default 100)
#   --folder-runs F     runs of each folder measurement (default 5)
#   --catalogue-runs M  runs of the whole catalogue (default 5)
#   --no-catalogue      skip (b)
#   --threads LIST      the --test-threads values of (c), "default" for none given
#   --no-throughput     skip (c)
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
throughput=1
thread_list="default 8 16"
out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=${2:?}; shift 2 ;;
    --copies) copies=${2:?}; shift 2 ;;
    --folder-runs) folder_runs=${2:?}; shift 2 ;;
    --catalogue-runs) catalogue_runs=${2:?}; shift 2 ;;
    --no-catalogue) catalogue=0; shift ;;
    --threads) thread_list=${2:?}; shift 2 ;;
    --no-throughput) throughput=0; shift ;;
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
cgroup=""
cleanup() {
  # The run's cgroup is empty once its processes are reaped; rmdir refuses otherwise.
  [ -n "$cgroup" ] && rmdir "$cgroup" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
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

# (c) where the catalogue's time goes
trows=()
if [ "$throughput" = 1 ]; then
  command -v python3 >/dev/null || { echo "bench.sh: (c) needs python3 to read --json" >&2; exit 2; }
  [ -x /usr/bin/time ] || { echo "bench.sh: (c) needs /usr/bin/time (apt-get install time)" >&2; exit 2; }
  mkdir -p "$work/x1" "$work/x2/copy"
  cp -r "$repo/cases/." "$work/x1/"
  cp -r "$repo/cases/." "$work/x2/"
  cp -r "$repo/cases/." "$work/x2/copy/"
  # The second copy's files are renamed so that its trials have names of their own.
  find "$work/x2/copy" -name '*.sock' -exec sh -c 'for f; do mv "$f" "${f%.sock}-bis.sock"; done' sh {} +
  # A cgroup for the run, if this machine lets us make one: v2, else v1 cpuacct.
  cg_kind=""
  if [ -f /sys/fs/cgroup/cgroup.controllers ] && mkdir "/sys/fs/cgroup/sockspec-bench-$$" 2>/dev/null; then
    cgroup=/sys/fs/cgroup/sockspec-bench-$$; cg_kind=v2
  elif [ -d /sys/fs/cgroup/cpuacct ] && mkdir "/sys/fs/cgroup/cpuacct/sockspec-bench-$$" 2>/dev/null; then
    cgroup=/sys/fs/cgroup/cpuacct/sockspec-bench-$$; cg_kind=v1
  fi
  cg_cpu_ms() {
    case "$cg_kind" in
      v2) awk '$1 == "usage_usec" { printf "%.0f", $2 / 1000 }' "$cgroup/cpu.stat" ;;
      v1) awk '{ printf "%.0f", $1 / 1e6 }' "$cgroup/cpuacct.usage" ;;
      *) echo "-" ;;
    esac
  }
  declare -A cpu1
  for threads in $thread_list; do
    for size in 1 2; do
      flag=(); [ "$threads" != default ] && flag=(--test-threads "$threads")
      echo "bench: case files ${size}x, --test-threads $threads" >&2
      before=$(cg_cpu_ms)
      rc=0
      # The shell joins the cgroup first, so sockspec and all it spawns are counted in it.
      sh -c '[ -n "$1" ] && echo $$ >"$1/cgroup.procs"; shift; exec "$@"' sh "$cgroup" \
        /usr/bin/time -f '%e %U %S' -o "$work/time" \
        "$bin" run --cases "$work/x$size" -q --color never "${flag[@]}" --json "$work/run.json" \
        >/dev/null 2>&1 || rc=$?
      after=$(cg_cpu_ms)
      # /usr/bin/time writes "Command exited with non-zero status N" first when it does.
      read -r wall_s user_s sys_s < <(tail -n 1 "$work/time")
      cg_ms="-"; [ "$before" != "-" ] && cg_ms=$((after - before))
      read -r n sum_ms longest_ms outcomes < <(python3 -c '
import json, sys, collections
cases = json.load(open(sys.argv[1]))["cases"]
d = [c.get("duration_us", 0) / 1000 for c in cases]
o = collections.Counter(c["outcome"] for c in cases)
for c in cases:
    if c["outcome"] != "pass":
        print("bench:   " + c["outcome"] + ": " + c["name"], file=sys.stderr)
print(len(cases), round(sum(d)), round(max(d, default=0)), ",".join(f"{k}={v}" for k, v in sorted(o.items())))
' "$work/run.json")
      python3 -c 'import json,sys; [print(c["name"], c["outcome"]) for c in json.load(open(sys.argv[1]))["cases"]]' \
        "$work/run.json" | sort >"$work/verdicts-$threads-$size"
      row=$(awk -v w="$wall_s" -v u="$user_s" -v s="$sys_s" -v c="$cpus" -v l="$longest_ms" -v sum="$sum_ms" 'BEGIN {
        wall = w * 1000; cpu = (u + s) * 1000; bound = cpu / c; if (l > bound) bound = l
        printf "%.0f %.0f %.0f %.2f %.2f", wall, cpu, bound, wall / bound, wall / sum }')
      read -r wall_ms cpu_ms bound_ms r_bound r_sum <<<"$row"
      vs1="-"
      if [ "$size" = 1 ]; then cpu1[$threads]=$cpu_ms
      else vs1=$(awk -v a="$cpu_ms" -v b="${cpu1[$threads]}" 'BEGIN { printf "%.2fx", a / b }'); fi
      trows+=("| ${size}x ($n trials) | $threads | $wall_ms | $cpu_ms | $cg_ms | $longest_ms | $bound_ms | $r_bound | $sum_ms | $r_sum | $vs1 | $outcomes, exit $rc |")
    done
  done
  # Verdicts must not depend on the thread count: compare every run of a size with the first.
  for size in 1 2; do
    first=""
    for threads in $thread_list; do
      if [ -z "$first" ]; then first=$threads; continue; fi
      changed=$(diff "$work/verdicts-$first-$size" "$work/verdicts-$threads-$size" | grep -c '^>' || true)
      trows+=("| ${size}x verdicts, $threads vs $first threads | | | | | | | | | | | $changed changed |")
    done
  done
fi

table=$(
  echo "sockspec benchmarks: $(uname -r), $cpus CPUs, load before $load_before, after $(cut -d' ' -f1-3 /proc/loadavg)"
  echo
  echo "| measurement | runs | median ms | min ms | max ms | ms per case | last exit |"
  echo "|---|---:|---:|---:|---:|---:|---|"
  printf '%s\n' "${rows[@]}"
  if [ "${#trows[@]}" -gt 0 ]; then
    echo
    echo "Where the catalogue's time goes (one run each; CPU = user + system of sockspec and the"
    echo "processes it reaped; bound = max(CPU / $cpus cores, longest case); sum = sum of case durations):"
    echo
    echo "| case files | threads | wall ms | CPU ms | cgroup CPU ms | longest case ms | bound ms | wall / bound | sum ms | wall / sum | CPU vs 1x | outcomes |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    printf '%s\n' "${trows[@]}"
  fi
)
echo "$table"
[ -n "$out" ] && echo "$table" >"$out"
exit 0
