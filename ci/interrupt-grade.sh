#!/usr/bin/env bash
# Interrupts `sockspec grade` at random moments and checks that nothing outlives it.
#
#   ci/interrupt-grade.sh [RUNS_PER_SIGNAL]     (default 20; needs root, like grading)
#
# Each run grades six copies of the reference fork echo server (with a `make` build, so
# builds are interrupted too), sends SIGINT, SIGTERM or SIGKILL after a random 0.2-6 s,
# then checks, after the grader is gone:
#   - exit status: 130 for SIGINT/SIGTERM (137 = killed, for SIGKILL);
#   - the run's private TMPDIR is empty (SIGINT/SIGTERM), or holds only directories a
#     later run sweeps (SIGKILL: the next run must remove them, and is checked to);
#   - no process carries the run's TMPDIR in its environment (holders, inits, servers)
#     5 s after the grader is gone (named if one does);
#   - no unlocked owner directory under sockspec.slice in the cgroup2 hierarchy.
# Prints one line per run and a summary; exits 1 if anything was left behind.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-20}
[[ $(id -u) == 0 ]] || { echo "needs root (grading builds sandboxes)" >&2; exit 2; }
cargo build -q -p sockspec
bin=$PWD/target/debug/sockspec
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
make -s -C fixtures/servers OUT="$work/bin" "$work/bin/ref-echo-tcp-fork"
for i in 1 2 3 4 5 6; do
  mkdir -p "$work/subs/s$i"
  cp fixtures/servers/ref-echo-tcp-fork.c "$work/subs/s$i/server.c"
  printf 'server: server.c\n\tcc -O1 -o server server.c\n' > "$work/subs/s$i/Makefile"
done

cgroup_slice() {
  for m in /sys/fs/cgroup /sys/fs/cgroup/unified; do
    [[ -d $m/sockspec.slice ]] && echo "$m/sockspec.slice"
  done
  return 0
}

# Owner directories whose flock can be taken: their grader is gone.
unlocked_owners() {
  local n=0 d
  for s in $(cgroup_slice); do
    for d in "$s"/owner-*; do
      [[ -d $d ]] || continue
      if flock -n -x "$d" true 2>/dev/null; then n=$((n + 1)); fi
    done
  done
  echo "$n"
}

procs_with_env() {
  local needle=$1 n=0 p
  for p in /proc/[0-9]*; do
    if tr '\0' '\n' 2>/dev/null < "$p/environ" | grep -qxF "$needle"; then n=$((n + 1)); fi
  done
  echo "$n"
}

bad=0
declare -A leftover_total
for sig in INT TERM KILL; do
  leftover_total[$sig]=0
  for r in $(seq 1 "$runs"); do
    tmp="$work/tmp-$sig-$r"
    mkdir -p "$tmp"
    delay=$(awk -v s="$RANDOM" 'BEGIN { srand(s); printf "%.2f", 0.2 + rand() * 5.8 }')
    TMPDIR=$tmp "$bin" grade --suite echo-tcp --quiet --jobs 4 --build make \
      --server './server {port}' "$work"/subs/s? > /dev/null 2> "$tmp.err" &
    pid=$!
    sleep "$delay"
    kill -s "$sig" "$pid" 2>/dev/null || true
    set +e
    wait "$pid"
    rc=$?
    set -e
    # Sandboxes die with the grader (PR_SET_PDEATHSIG), but on a loaded machine a dying
    # process can take a while to exit: up to 5 s is dying, longer is a leak.
    for _ in $(seq 50); do
      procs=$(procs_with_env "TMPDIR=$tmp")
      [[ $procs == 0 ]] && break
      sleep 0.1
    done
    if [[ $procs != 0 ]]; then
      for p in /proc/[0-9]*; do
        if tr '\0' '\n' 2>/dev/null < "$p/environ" | grep -qxF "TMPDIR=$tmp"; then
          echo "  left: ${p#/proc/} $(tr '\0' ' ' 2>/dev/null < "$p/cmdline" | cut -c1-120)"
        fi
      done
    fi
    left=$(find "$tmp" -mindepth 1 -maxdepth 1 | wc -l)
    if [[ $sig == KILL ]]; then
      # A later run must sweep what the killed one left.
      TMPDIR=$tmp "$bin" grade --suite echo-tcp --quiet --jobs 4 --server './server {port}' \
        "$work"/subs/s1 > /dev/null 2>&1 || true
      swept=$(find "$tmp" -mindepth 1 -maxdepth 1 | wc -l)
    else
      swept=$left
    fi
    owners=$(unlocked_owners)
    status=ok
    if [[ $sig != KILL && $rc != 130 && $rc != 0 ]]; then status="exit $rc"; fi
    if [[ $procs != 0 || $swept != 0 || $owners != 0 ]]; then status="LEFT"; fi
    [[ $status == ok ]] || bad=$((bad + 1))
    leftover_total[$sig]=$((leftover_total[$sig] + procs + swept + owners))
    printf '%-4s run %2d at %5.2fs: exit %3d, processes %d, tmp entries %d (after sweep %d), unlocked cgroups %d: %s\n' \
      "$sig" "$r" "$delay" "$rc" "$procs" "$left" "$swept" "$owners" "$status"
  done
done
echo "summary: $((3 * runs)) interrupted runs, $bad with something left behind" \
  "(INT ${leftover_total[INT]}, TERM ${leftover_total[TERM]}, KILL ${leftover_total[KILL]} leftovers)"
[[ $bad == 0 ]]
