#!/usr/bin/env bash
# Runs the sockspec catalogue on User-mode Linux (Debian's user-mode-linux: Linux 6.1 built
# to run as an ordinary process), and merges the result with this host's run into one matrix
# (cases × runs):
#
#   host.json  +  guest.json  --sockspec report merge-->  matrix.html, merged.json, diff.txt
#
# The UML kernel (`linux.uml`) boots with the host's root filesystem over hostfs, READ-ONLY,
# and a tiny init script of ours as its init: it mounts /proc, /sys and a tmpfs /tmp, loads the
# modules the catalogue uses from the package's own module tree (/usr/lib/uml/modules/<ver>:
# ipv6, and the qdisc, classifier and action of the `tc` cases), runs sockspec, and powers the
# kernel off. The one writable place is a second hostfs mount of a folder of ours, where the
# guest leaves its JSON. UML has no network device here: the cases use its loopback only.
# No emulation is involved (UML runs natively), so it is much faster than ci/run-in-vm.sh
# under TCG; it has one CPU and a 100 Hz tick.
#
# Usage:
#   ci/run-in-uml.sh [options] [-- extra `sockspec run` arguments for both runs]
#
# Options:
#   --out DIR          where the results go (default: ./uml-run): host.json guest.json
#                      matrix.html merged.json diff.txt host.out guest.out uml.log summary.txt
#   --filter F         run only trials whose name contains F (repeatable; both runs)
#   --memory SIZE      the UML kernel's memory, as its mem= option (default: 2G)
#   --baseline FILE    known deviations for the guest run (default: none)
#   --timeout SECS     wall-clock limit of the UML kernel (default: 1800)
#   --time-scale X     --time-scale of the guest run (default: 3: one CPU, shared host)
#   --host-json FILE   reuse this host result instead of running the host part
#   --no-install       never install anything; fail with a message instead
#   --keep             keep the temporary folder (its path is printed)
#   -h, --help         this text
#
# Environment: SOCKSPEC_BIN, SOCKSPEC_CASES, CARGO_TARGET_DIR, SOCKSPEC_PROFILE, as for
# ci/run-in-gvisor.sh.
#
# Needs root: the guest's root is the host's own, seen through hostfs with the host
# permissions of the user running UML, and the cases need a root that can create namespaces.
# Installs Debian's user-mode-linux and kmod when they are missing.
#
# Exit code: the guest run's own (0 all passed, 1 some trial failed, 3 some trial could not be
# judged), 2 on a usage error or a missing prerequisite, 4 when the guest produced no result.
set -euo pipefail

tool=run-in-uml
# shellcheck source=ci/lib/elsewhere.sh
. "$(dirname "$0")/lib/elsewhere.sh"
out=uml-run
memory=2G
elsewhere_parse "$@"
set -- "${rest[@]+"${rest[@]}"}"
while [ $# -gt 0 ]; do
  case "$1" in
    --memory) memory=${2:?--memory needs a size}; shift 2 ;;
    *) usage >&2; die "unknown option: $1" ;;
  esac
done
[ -n "$time_scale" ] || time_scale=3
is_root || die "the guest runs the catalogue as root over the host's root filesystem: run this script as root"

need_deb linux.uml user-mode-linux
need_deb modprobe kmod
need_deb timeout coreutils
need_deb python3 python3-minimal
elsewhere_setup

uml_version=$(linux.uml --version 2>/dev/null | grep -oE '[0-9]+\.[0-9]+\.[0-9]+' | head -1 || true)
[ -n "$uml_version" ] || die "cannot read the version of linux.uml (linux.uml --version)"
modules=/usr/lib/uml/modules/$uml_version
[ -d "$modules" ] || die "no module tree for UML $uml_version at $modules (reinstall user-mode-linux)"
say "User-mode Linux $uml_version, modules from $modules"

elsewhere_snapshot
elsewhere_host_run

# ---------------------------------------------------------------- guest run
guest_args=("${run_args[@]}" --time-scale "$time_scale")
[ -n "$baseline" ] && guest_args+=(--baseline "$baseline")
shared=$work/shared
mkdir -p "$shared"
q() { printf '%q ' "$@"; }
# The modules the catalogue needs and Debian builds as modules: IPv6 (the *6 flavours), and
# for the `tc` cases the tbf and clsact (sch_ingress) qdiscs, the u32 classifier and the
# mirred action. modprobe resolves their dependencies from the tree's modules.dep; it wants
# <dir>/lib/modules/<version>, so a symlink in the guest's tmpfs provides that layout.
cat >"$work/init.sh" <<EOF
#!/bin/sh
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t tmpfs run /run
# A writable /tmp, without hiding our own folder under it (the binary, the cases, this
# script): moved aside, then back to the same path on the new tmpfs.
mkdir /run/work
mount --bind $work /run/work
mount -t tmpfs tmp /tmp
mkdir -p $work
mount --move /run/work $work
mount -t hostfs -o $shared shared $shared
mkdir -p /tmp/modroot/lib/modules
ln -s $modules /tmp/modroot/lib/modules/$uml_version
for m in ipv6 sch_tbf sch_ingress cls_u32 act_mirred; do
  modprobe -d /tmp/modroot \$m 2>>$shared/modules.log || echo "modprobe \$m failed" >>$shared/modules.log
done
ip link set lo up
cd /tmp
$(q "$bin" "${guest_args[@]}") --json $shared/guest.json >$shared/guest.out 2>&1
echo \$? >$shared/guest.rc
poweroff -f
EOF
chmod +x "$work/init.sh"
# con0 (the kernel's console) goes to uml.log; every other console is discarded; no block
# device and no network device. `ro`: the guest never writes to the host's root.
uml_args=("mem=$memory" root=/dev/root rootfstype=hostfs rootflags=/ ro
  "init=$work/init.sh" con=null con0=null,fd:1 quiet)
say "guest: linux.uml ${uml_args[*]}"
t0=$(date +%s)
set +e
# UML runs each guest process as a host process in linux.uml's process group: timeout
# signals the whole group, and the UML kernel's own children die with it.
TMPDIR=$work timeout --kill-after=30 "$guest_timeout" nice -n 10 \
  linux.uml "${uml_args[@]}" </dev/null >"$out/uml.log" 2>&1
uml_rc=$?
set -e
guest_secs=$(( $(date +%s) - t0 ))
[ $uml_rc -eq 124 ] && say "guest: UML hit the ${guest_timeout}s timeout"
[ -s "$shared/modules.log" ] && { say "guest: some modules did not load:"; cat "$shared/modules.log" >&2; }
if [ ! -f "$shared/guest.rc" ] || [ ! -f "$shared/guest.json" ]; then
  say "guest: no result (linux.uml exit $uml_rc); last lines of $out/uml.log:"
  tail -15 "$out/uml.log" >&2 || true
  die "UML produced no result after ${guest_secs}s" 4
fi
guest_rc=$(cat "$shared/guest.rc")
cp "$shared/guest.json" "$out/guest.json"
cp "$shared/guest.out" "$out/guest.out"
say "guest: exit $guest_rc in ${guest_secs}s; $(grep -m1 '^test result' "$out/guest.out" || true)"

elsewhere_merge "User-mode Linux $uml_version (linux.uml, mem=$memory, hostfs root)"
exit "$guest_rc"
