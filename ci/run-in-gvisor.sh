#!/usr/bin/env bash
# Runs the sockspec catalogue inside gVisor (runsc, a user-space kernel with its own network
# stack), and merges the result with this host's run into one matrix (cases × runs):
#
#   host.json  +  guest.json  --sockspec report merge-->  matrix.html, merged.json, diff.txt
#
# The guest is `runsc --network=none do …`: the host's root filesystem read-only under a
# throw-away tmpfs overlay, no network but the sandbox's own loopback (nothing is pointed at
# any other address). Because the overlay vanishes with the sandbox, the guest's JSON comes out
# on its stdout (everything sockspec prints goes to its stderr, kept as guest.out). The sandbox's
# state lives in a temporary --root folder; every container left in it is force-deleted at the
# end, so no runsc process outlives the script.
#
# Under gVisor some cases fail because gVisor differs from Linux. The known ones are listed,
# one entry per behaviour with its reason and reference, in ci/baselines/gvisor-<version>.toml,
# used by default when it exists for the installed runsc: the run then exits 0 unless a
# behaviour deviates that is not listed, and a listed behaviour that passes again is printed as
# an "unexpected pass" (and counted in summary.txt).
#
# Usage:
#   ci/run-in-gvisor.sh [options] [-- extra `sockspec run` arguments for both runs]
#
# Options:
#   --out DIR          where the results go (default: ./gvisor-run): host.json guest.json
#                      matrix.html merged.json diff.txt host.out guest.out summary.txt
#   --filter F         run only trials whose name contains F (repeatable; both runs)
#   --platform P       runsc --platform (default: ptrace; kvm needs a working /dev/kvm)
#   --no-net-raw       leave out runsc --net-raw: runsc then drops CAP_NET_RAW, as it does by
#                      default, and the raw-socket cases skip saying so
#   --baseline FILE    known deviations (default: ci/baselines/gvisor-<runsc version>.toml)
#   --no-baseline      no baseline: every deviation fails the run
#   --timeout SECS     wall-clock limit of the sandbox (default: 1800)
#   --time-scale X     --time-scale of the guest run (default: 2; syscalls cost more there)
#   --host-json FILE   reuse this host result instead of running the host part
#   --no-install       never install anything; fail with a message instead
#   --keep             keep the temporary folder (its path is printed)
#   -h, --help         this text
#
# Environment:
#   SOCKSPEC_BIN       the sockspec binary to use (default: build it with cargo)
#   SOCKSPEC_CASES     the catalogue to run (default: the repository's cases/)
#   CARGO_TARGET_DIR   where cargo builds (default: the repository's target/)
#   SOCKSPEC_PROFILE   release (default) or debug
#
# Needs root (runsc's sandbox setup). Installs Debian's runsc when it is missing.
#
# Exit code: the guest run's own (0 every trial passed or is a known deviation, 1 some
# trial failed, 3 some trial could not be judged), 2 on a usage error or a missing
# prerequisite, 4 when the sandbox produced no result.
set -euo pipefail

tool=run-in-gvisor
# shellcheck source=ci/lib/elsewhere.sh
. "$(dirname "$0")/lib/elsewhere.sh"
out=gvisor-run
platform=ptrace
net_raw=1
elsewhere_parse "$@"
set -- "${rest[@]+"${rest[@]}"}"
while [ $# -gt 0 ]; do
  case "$1" in
    --platform) platform=${2:?--platform needs a name}; shift 2 ;;
    --no-net-raw) net_raw=0; shift ;;
    *) usage >&2; die "unknown option: $1" ;;
  esac
done
[ -n "$time_scale" ] || time_scale=2
is_root || die "runsc needs root to build its sandbox: run this script as root"

need_deb runsc runsc
need_deb timeout coreutils
need_deb python3 python3-minimal
elsewhere_setup

version=$(runsc --version 2>/dev/null | sed -n 's/^runsc version //p' | head -1)
[ -n "$version" ] || die "cannot read the version of runsc (runsc --version)"
# Debian's version is 0.0~20221219.0: the release date is gVisor's own release name.
release=$(printf '%s' "$version" | grep -oE '[0-9]{8}' | head -1 || true)
if [ "$use_baseline" = 1 ] && [ -z "$baseline" ] && [ -n "$release" ] && [ -f "$repo/ci/baselines/gvisor-$release.toml" ]; then
  baseline=$repo/ci/baselines/gvisor-$release.toml
fi
say "runsc $version, platform $platform${baseline:+, baseline $baseline}"

elsewhere_snapshot
elsewhere_host_run

# ---------------------------------------------------------------- guest run
runsc_flags=(--root "$work/runsc-state" --network=none --platform="$platform")
[ "$net_raw" = 1 ] && runsc_flags+=(--net-raw)
guest_args=("${run_args[@]}" --time-scale "$time_scale")
[ -n "$baseline" ] && guest_args+=(--baseline "$baseline")
mkdir -p "$work/runsc-state"

reap_sandboxes() {
  # `runsc do` deletes its container when it ends normally; after a timeout it may not.
  local id
  for id in $(runsc --root "$work/runsc-state" list -q 2>/dev/null); do
    runsc --root "$work/runsc-state" delete --force "$id" >/dev/null 2>&1 || true
  done
}
trap 'reap_sandboxes; elsewhere_cleanup' EXIT

say "guest: runsc ${runsc_flags[*]} do sockspec ${guest_args[*]}"
t0=$(date +%s)
set +e
# What runsc cannot be asked from inside (its version and flags) is handed to sockspec's
# environment report here; what it can, sockspec finds out itself (cli/src/environment.rs).
SOCKSPEC_RUNTIME_VERSION="runsc $version" \
SOCKSPEC_RUNTIME_FLAGS="${runsc_flags[*]:2}" \
  timeout --kill-after=30 "$guest_timeout" nice -n 10 \
  runsc "${runsc_flags[@]}" do -quiet -cwd / \
  sh -c '"$@" --json /tmp/guest.json >&2; rc=$?; cat /tmp/guest.json; exit $rc' sockspec-guest \
  "$bin" "${guest_args[@]}" </dev/null >"$out/guest.json" 2>"$out/guest.out"
guest_rc=$?
set -e
guest_secs=$(( $(date +%s) - t0 ))
reap_sandboxes
[ $guest_rc -eq 124 ] && say "guest: the sandbox hit the ${guest_timeout}s timeout"
if ! python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$out/guest.json" 2>/dev/null; then
  say "guest: no result (exit $guest_rc); last lines of $out/guest.out:"
  tail -15 "$out/guest.out" >&2 || true
  die "the sandbox produced no result after ${guest_secs}s" 4
fi
say "guest: exit $guest_rc in ${guest_secs}s; $(grep -m1 '^test result' "$out/guest.out" || true)"

elsewhere_merge "gVisor runsc $version (${runsc_flags[*]:2})"
exit "$guest_rc"
