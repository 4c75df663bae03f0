# Shared by ci/run-in-gvisor.sh and ci/run-in-uml.sh (sourced, never run): the parts of
# "run the catalogue on another implementation of the Linux socket ABI, then merge it with this
# host's run" that do not depend on the implementation. The caller sets `tool` (its name in
# messages) before sourcing, then calls, in order:
#
#   elsewhere_parse "$@"        the common options (below); leaves the rest in `rest`
#   elsewhere_setup             output and temporary folders, the EXIT trap
#   need_deb COMMAND PACKAGE    installs a Debian package (root) or says how to
#   elsewhere_snapshot          builds (or takes SOCKSPEC_BIN) and copies binary + cases
#   elsewhere_host_run          the host's run (or --host-json), into $out/host.json
#   ... the caller's guest run, writing $out/guest.json, $out/guest.out, setting guest_rc ...
#   elsewhere_merge LABEL       matrix, diff, summary; returns the exit code to use
#
# Common options: --out DIR, --filter F (repeatable), --host-json FILE, --timeout SECS,
# --time-scale X, --baseline FILE, --no-baseline, --no-install, --keep, and `--` followed by
# extra `sockspec run` arguments for both runs.

say() { printf '%s: %s\n' "$tool" "$*" >&2; }
die() { say "error: $1"; exit "${2:-2}"; }
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
out=""
filters=()
host_json=""
guest_timeout=1800
time_scale=""
baseline=""
use_baseline=1
install=1
keep=0
extra=()
rest=()

elsewhere_parse() {
  while [ $# -gt 0 ]; do
    case "$1" in
      --out) out=${2:?--out needs a folder}; shift 2 ;;
      --filter) filters+=("${2:?--filter needs a value}"); shift 2 ;;
      --host-json) host_json=${2:?--host-json needs a file}; shift 2 ;;
      --timeout) guest_timeout=${2:?--timeout needs seconds}; shift 2 ;;
      --time-scale) time_scale=${2:?--time-scale needs a factor}; shift 2 ;;
      --baseline) baseline=${2:?--baseline needs a file}; shift 2 ;;
      --no-baseline) use_baseline=0; shift ;;
      --no-install) install=0; shift ;;
      --keep) keep=1; shift ;;
      -h|--help) usage; exit 0 ;;
      --) shift; extra=("$@"); break ;;
      *) rest+=("$1"); shift ;;
    esac
  done
  case "$guest_timeout" in ''|*[!0-9]*) die "--timeout must be a whole number of seconds" ;; esac
  if [ -n "$host_json" ]; then
    [ -f "$host_json" ] || die "--host-json $host_json: no such file"
    host_json=$(cd "$(dirname "$host_json")" && pwd)/$(basename "$host_json")
  fi
  if [ -n "$baseline" ]; then
    [ -f "$baseline" ] || die "--baseline $baseline: no such file"
    baseline=$(cd "$(dirname "$baseline")" && pwd)/$(basename "$baseline")
  fi
  [ "$use_baseline" = 1 ] || baseline=""
}

elsewhere_setup() {
  mkdir -p "$out"
  out=$(cd "$out" && pwd)
  work=$(mktemp -d "${TMPDIR:-/tmp}/sockspec-$tool.XXXXXX")
  trap elsewhere_cleanup EXIT
  trap 'exit 130' INT TERM
}

elsewhere_cleanup() {
  if [ "$keep" = 1 ]; then say "kept $work"; else rm -rf "$work"; fi
}

is_root() { [ "$(id -u)" -eq 0 ]; }
apt_updated=0
need_deb() { # need_deb COMMAND PACKAGE
  command -v "$1" >/dev/null 2>&1 && return 0
  if [ "$install" = 1 ] && is_root; then
    say "installing $2 (for $1)"
    export DEBIAN_FRONTEND=noninteractive
    [ "$apt_updated" = 1 ] || { apt-get update -qq; apt_updated=1; }
    apt-get install -y -qq --no-install-recommends "$2" >/dev/null
  fi
  command -v "$1" >/dev/null 2>&1 || die "$1 is missing: install Debian's $2 (apt-get install $2), or run this script as root"
}

# The guest runs the very binary and the very copy of the cases the host runs, snapshotted
# into $work first, so that a rebuild or an edit during the run changes nothing and every
# difference in the matrix comes from the implementation.
elsewhere_snapshot() {
  local bin_src
  if [ -n "${SOCKSPEC_BIN:-}" ]; then
    [ -x "$SOCKSPEC_BIN" ] || die "SOCKSPEC_BIN=$SOCKSPEC_BIN is not an executable"
    bin_src=$SOCKSPEC_BIN
  else
    local profile=${SOCKSPEC_PROFILE:-release} target=${CARGO_TARGET_DIR:-$repo/target} flag=()
    [ "$profile" = release ] && flag=(--release)
    command -v cargo >/dev/null 2>&1 || die "cargo is missing: install Rust, or give a built binary in SOCKSPEC_BIN"
    say "building sockspec ($profile) in $target"
    (cd "$repo" && CARGO_TARGET_DIR=$target cargo build -q "${flag[@]}" -p sockspec) || die "cargo build failed"
    bin_src=$target/$profile/sockspec
  fi
  mkdir -p "$work/sockspec"
  cp "$bin_src" "$work/sockspec/sockspec"
  cp -r "${SOCKSPEC_CASES:-$repo/cases}" "$work/sockspec/cases"
  # Readable by anyone: a guest may run it as another user (or see the host's root as such).
  chmod -R a+rX "$work"
  bin=$work/sockspec/sockspec
  cases=$work/sockspec/cases
  run_args=(run --cases "$cases" --color never --format terse)
  [ ${#extra[@]} -gt 0 ] && run_args+=("${extra[@]}")
  [ ${#filters[@]} -gt 0 ] && run_args+=("${filters[@]}")
  return 0
}

elsewhere_host_run() {
  if [ -n "$host_json" ]; then
    cp "$host_json" "$out/host.json"
    say "host: reusing $host_json"
    return 0
  fi
  say "host: sockspec ${run_args[*]}"
  local t0 rc
  t0=$(date +%s)
  set +e
  "$bin" "${run_args[@]}" --json "$out/host.json" >"$out/host.out" 2>&1
  rc=$?
  set -e
  say "host: exit $rc in $(( $(date +%s) - t0 ))s; $(grep -m1 '^test result' "$out/host.out" || true)"
  [ -f "$out/host.json" ] || die "the host run wrote no JSON (see $out/host.out)" 4
}

# One line per count, for the summary and ci/VM-RUN.md: trials and each outcome, from the
# guest's JSON (the JSON is the truth; the terminal's "ignored" mixes skips and known
# deviations).
elsewhere_counts() { # elsewhere_counts FILE
  python3 - "$1" <<'EOF' 2>/dev/null || echo "(python3 missing: no counts)"
import json, sys
r = json.load(open(sys.argv[1]))
cases = r["cases"]
count = lambda o: sum(1 for c in cases if c["outcome"] == o)
known = sum(1 for c in cases if c["outcome"] == "fail" and c.get("known_deviation"))
print(f"trials {len(cases)}: {count('pass')} pass, {count('fail')} fail "
      f"({known} known deviations, {count('fail') - known} new), {count('skip')} skip, "
      f"{count('error')} error; sockspec wall {r['environment']['duration_ms'] / 1000:.1f}s")
EOF
}

elsewhere_merge() { # elsewhere_merge WHAT -> echoes nothing, returns the script's exit code
  local what=$1 merge_rc
  set +e
  "$bin" report merge --matrix "$out/host.json" "$out/guest.json" --html "$out/matrix.html" --json "$out/merged.json" >"$out/merge.out" 2>&1
  merge_rc=$?
  "$bin" report diff "$out/host.json" "$out/guest.json" >"$out/diff.txt" 2>&1
  set -e
  [ $merge_rc -eq 0 ] || { cat "$out/merge.out" >&2; die "sockspec report merge failed (exit $merge_rc)" 4; }
  local unexpected
  unexpected=$(grep -c '^unexpected pass:' "$out/guest.out" || true)
  {
    echo "guest: $what"
    echo "host:  $(uname -sr)"
    echo "guest wall time: ${guest_secs}s (start and stop included), guest exit: $guest_rc"
    echo "guest $(elsewhere_counts "$out/guest.json")"
    echo "host  $(elsewhere_counts "$out/host.json")"
    echo "baseline: ${baseline:-(none)}; unexpected passes (listed but now passing): $unexpected"
    echo "filters: ${filters[*]:-(whole catalogue)}; extra arguments: ${extra[*]:-(none)}; guest --time-scale $time_scale"
  } >"$out/summary.txt"
  cat "$out/summary.txt" >&2
  grep '^unexpected pass:' "$out/guest.out" >&2 || true
  say "matrix: $out/matrix.html; differences: $out/diff.txt"
}
