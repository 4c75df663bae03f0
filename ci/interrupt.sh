#!/usr/bin/env bash
# Interrupts `sockspec run` with SIGINT, SIGTERM and SIGKILL at random moments (20 times each
# by default) and checks, after each, that nothing is left: no process of the run, no network
# or mount namespace held by a process, no new mount, no new sockspec directory in /tmp, no
# sockspec cgroup. Prints one row per signal. Exit status 1 when anything was left or an
# interrupted run did not exit 130 (SIGINT/SIGTERM).
#
#   bash ci/interrupt.sh                 # 20 × each signal, the whole catalogue
#   RUNS=5 ARGS="stream-message" bash ci/interrupt.sh
#   GRADE_ARGS="--suite echo-tcp --server './server {port}' submissions/*" bash ci/interrupt.sh
#
# GRADE_ARGS is the hook for `sockspec grade`: when set, every round is also run against
# `sockspec grade $GRADE_ARGS --out <tmp>` (grading's own signal handling must be merged).
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-20}
ARGS=${ARGS:-}
SOCKSPEC=${SOCKSPEC:-}
if [[ -z "$SOCKSPEC" ]]; then
    cargo build --release -p sockspec --locked >&2
    SOCKSPEC=target/release/sockspec
fi
# Longest a random moment may be: most catalogue runs are well past their start by then.
MAX_DELAY_MS=${MAX_DELAY_MS:-4000}
# How long the machine is given to finish what the kernel does asynchronously after the
# last process died (PR_SET_PDEATHSIG, namespace teardown) before a leftover is counted.
SETTLE_S=${SETTLE_S:-3}

snapshot() {
    # What a run marked $1 (runner pid $2) could leave, one item a line. Other users of the
    # machine run sockspec too, so only what carries this run's mark or pid is looked at:
    # processes by the mark in their environment, the namespaces those processes hold, the
    # runner's /tmp/sockspec-<pid>-* directories and cgroups named after it; mounts are the
    # host's own (a case's mounts live in its namespace, so a new host mount is a leak).
    python3 - "$1" "$2" <<'EOF'
import os, sys, glob
mark = ("SOCKSPEC_INTERRUPT_MARK=" + sys.argv[1]).encode()
runner = sys.argv[2]
out = []
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        env = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")
        stat = open(f"/proc/{pid}/stat").read()
        cmd = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ")
    except OSError:
        continue
    if mark not in env or stat.rsplit(")", 1)[1].split()[0] == "Z":
        continue
    out.append(f"process {pid} {cmd.decode(errors='replace')[:60]}")
    for ns in ("net", "mnt"):
        try:
            out.append(f"namespace {ns} {os.readlink(f'/proc/{pid}/ns/{ns}')}")
        except OSError:
            pass
for line in open("/proc/self/mountinfo"):
    f = line.split()
    out.append(f"mount {f[4]} {f[-3]}")
for d in glob.glob(f"/tmp/sockspec-{runner}-*"):
    out.append(f"tmpdir {d}")
for d in glob.glob(f"/sys/fs/cgroup/**/sockspec*{runner}*", recursive=True):
    out.append(f"cgroup {d}")
for item in sorted(set(out)):
    print(item)
EOF
}

# Lines of $2 not in $1, by kind.
left() { comm -13 <(sort "$1") <(sort "$2") | grep -c "^$3 " || true; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failed=0
commands=("run -q $ARGS")
if [[ -n "${GRADE_ARGS:-}" ]]; then
    commands+=("grade $GRADE_ARGS --out $tmp/grade-out")
fi

printf '%-8s %-6s %4s %8s %9s %10s %6s %7s %7s %7s\n' \
    command signal runs "exit ok" processes namespaces mounts tmpdirs cgroups "max s"
for command in "${commands[@]}"; do
    for sig in INT TERM KILL; do
        ok=0 procs=0 nss=0 mounts=0 dirs=0 cgroups=0 slowest=0
        for i in $(seq "$RUNS"); do
            mark="$$-$sig-$i"
            snapshot none none >"$tmp/before"
            # shellcheck disable=SC2086
            SOCKSPEC_INTERRUPT_MARK=$mark setsid $SOCKSPEC $command >/dev/null 2>&1 </dev/null &
            pid=$!
            sleep "$(awk -v m="$MAX_DELAY_MS" 'BEGIN{srand(); printf "%.3f", (100 + rand() * (m - 100)) / 1000}')"
            kill -s "$sig" "$pid" 2>/dev/null || true
            start=$(date +%s.%N)
            code=0
            { wait "$pid"; } 2>/dev/null || code=$?
            # A run that finished before the signal counts as exiting normally.
            if [[ $sig == KILL ]] || [[ $code == 130 ]] || [[ $code == 0 ]]; then
                ok=$((ok + 1))
            fi
            # Leftovers are counted once the settle time has passed, or as soon as none is left.
            deadline=$(awk -v s="$start" -v d="$SETTLE_S" 'BEGIN{print s + d}')
            while :; do
                snapshot "$mark" "$pid" >"$tmp/after"
                n=$(($(left "$tmp/before" "$tmp/after" process) + $(left "$tmp/before" "$tmp/after" namespace) + $(left "$tmp/before" "$tmp/after" mount) + $(left "$tmp/before" "$tmp/after" tmpdir) + $(left "$tmp/before" "$tmp/after" cgroup)))
                now=$(date +%s.%N)
                if [[ $n == 0 ]] || awk -v n="$now" -v d="$deadline" 'BEGIN{exit !(n > d)}'; then
                    break
                fi
                sleep 0.05
            done
            took=$(awk -v s="$start" -v n="$now" 'BEGIN{printf "%.2f", n - s}')
            slowest=$(awk -v a="$slowest" -v b="$took" 'BEGIN{print (b > a) ? b : a}')
            procs=$((procs + $(left "$tmp/before" "$tmp/after" process)))
            nss=$((nss + $(left "$tmp/before" "$tmp/after" namespace)))
            mounts=$((mounts + $(left "$tmp/before" "$tmp/after" mount)))
            dirs=$((dirs + $(left "$tmp/before" "$tmp/after" tmpdir)))
            cgroups=$((cgroups + $(left "$tmp/before" "$tmp/after" cgroup)))
            if [[ $n != 0 ]]; then
                echo "round $sig $i left:" >&2
                comm -13 <(sort "$tmp/before") <(sort "$tmp/after") >&2
                # Clean up so the next round starts from a clean machine.
                pkill -KILL -s "$pid" 2>/dev/null || true
            fi
        done
        printf '%-8s %-6s %4d %8d %9d %10d %6d %7d %7d %7s\n' \
            "${command%% *}" "$sig" "$RUNS" "$ok" "$procs" "$nss" "$mounts" "$dirs" "$cgroups" "$slowest"
        if ((ok != RUNS || procs + nss + mounts + dirs + cgroups > 0)); then
            failed=1
        fi
    done
done
exit $failed
