#!/usr/bin/env bash
# Runs the sockspec catalogue on ANOTHER Linux kernel, in a virtual machine, and merges the
# result with this host's run into one matrix (cases × kernels):
#
#   host.json  +  guest.json  --sockspec report merge-->  kernels.html, merged.json, diff.txt
#
# The guest runs the very same sockspec binary on the very same copy of the cases as the host
# (both are snapshotted into a temporary folder first, so a rebuild or an edit during the run
# changes nothing), so every difference in the matrix comes from the kernel (or from the
# guest being slower: see --time-scale).
#
# Two ways to boot the kernel, tried in this order with --method auto:
#   vng   virtme-ng (PyPI: virtme-ng): boots the kernel over the host's own filesystem,
#         read-only through 9p, with the output folder shared read-write. Modules (9p, virtio)
#         are taken from <kernel root>/lib/modules/<version>, as virtme-ng does: a Debian
#         kernel package extracted with `dpkg-deb -x` has that layout.
#   qemu  plain QEMU with an initramfs built here: busybox (busybox-static), the sockspec
#         binary with the shared libraries it links, the cases and a tiny /init. The guest
#         prints its results (gzip + base64) on the serial console, which the host decodes.
#         Needs no module at all, so it boots any x86-64 kernel with a serial port.
# Both run under software emulation (TCG) when /dev/kvm is missing, and with KVM when it is
# there. The VM runs under `nice -n 10` and `timeout`.
#
# Usage:
#   ci/run-in-vm.sh [options] [-- extra `sockspec run` arguments for both runs]
#
# Options:
#   --kernel PATH            the kernel image to boot (vmlinuz/bzImage)
#   --debian-kernel VERSION  fetch a Debian kernel with `apt-get download`: an ABI name such as
#                            6.1.0-56-amd64, or `default` (the one linux-image-amd64 depends on;
#                            this is what runs when neither option is given). Cached in
#                            ${SOCKSPEC_VM_CACHE:-~/.cache/sockspec-vm}.
#   --out DIR                where the results go (default: ./vm-run): host.json guest.json
#                            kernels.html merged.json diff.txt host.out guest.out vm.log
#   --filter F               run only trials whose name contains F (repeatable; both runs)
#   --method auto|vng|qemu   how to boot (default: auto = vng if usable, else qemu)
#   --accel auto|kvm|tcg     KVM or software emulation (default: auto = KVM if a probe VM
#                            starts with it, else TCG)
#   --timeout SECS           wall-clock limit of the VM (default: 3600)
#   --time-scale X           --time-scale of the guest run (default: 10; TCG is slow)
#   --cpus N                 guest CPUs (default: 2)
#   --memory SIZE            guest memory (default: 2G)
#   --host-json FILE         reuse this host result instead of running the host part
#   --no-install             never install anything; fail with a message instead
#   --keep                   keep the temporary folder (its path is printed)
#   -h, --help               this text
#
# Environment:
#   SOCKSPEC_BIN        the sockspec binary to use (default: build it, see below)
#   CARGO_TARGET_DIR    where cargo builds (default: the repository's target/)
#   SOCKSPEC_PROFILE    release (default) or debug
#
# Installs, when run as root and something is missing: qemu-system-x86, busybox-static, kmod,
# cpio (Debian) and virtme-ng (PyPI, into a venv under the cache folder). As another user it
# says what is missing and how to install it.
#
# Exit code: 0 when both runs finished and were merged (whatever their verdicts: the
# matrix and diff.txt tell), 1 when the VM did not produce a result, 2 on a usage error or a
# missing prerequisite.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
kernel=""
debian_kernel=""
out="vm-run"
filters=()
method=auto
accel=auto
vm_timeout=3600
time_scale=10
cpus=2
memory=2G
host_json=""
install=1
keep=0
extra=()
cache=${SOCKSPEC_VM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sockspec-vm}

say() { printf 'run-in-vm: %s\n' "$*" >&2; }
die() { say "error: $*"; exit "${2:-2}"; }
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
  case "$1" in
    --kernel) kernel=${2:?--kernel needs a path}; shift 2 ;;
    --debian-kernel) debian_kernel=${2:?--debian-kernel needs a version}; shift 2 ;;
    --out) out=${2:?--out needs a folder}; shift 2 ;;
    --filter) filters+=("${2:?--filter needs a value}"); shift 2 ;;
    --method) method=${2:?}; shift 2 ;;
    --timeout) vm_timeout=${2:?}; shift 2 ;;
    --time-scale) time_scale=${2:?}; shift 2 ;;
    --cpus) cpus=${2:?}; shift 2 ;;
    --accel) accel=${2:?}; shift 2 ;;
    --memory) memory=${2:?}; shift 2 ;;
    --host-json) host_json=${2:?}; shift 2 ;;
    --no-install) install=0; shift ;;
    --keep) keep=1; shift ;;
    -h|--help) usage; exit 0 ;;
    --) shift; extra=("$@"); break ;;
    *) usage >&2; die "unknown option: $1" ;;
  esac
done
case "$method" in auto|vng|qemu) ;; *) die "--method must be auto, vng or qemu" ;; esac
case "$accel" in auto|kvm|tcg) ;; *) die "--accel must be auto, kvm or tcg" ;; esac
[ -n "$kernel" ] && [ -n "$debian_kernel" ] && die "give --kernel or --debian-kernel, not both"
[ -z "$kernel" ] && [ -z "$debian_kernel" ] && debian_kernel=default
[ -n "$host_json" ] && { [ -f "$host_json" ] || die "--host-json $host_json: no such file"; host_json=$(cd "$(dirname "$host_json")" && pwd)/$(basename "$host_json"); }

mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/sockspec-vm.XXXXXX")
cleanup() {
  if [ "$keep" = 1 ]; then say "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- prerequisites
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

need_deb qemu-system-x86_64 qemu-system-x86
need_deb timeout coreutils
need_deb cpio cpio
need_deb gzip gzip
need_deb base64 coreutils
need_deb dpkg-deb dpkg
need_deb busybox busybox-static
need_deb depmod kmod
# The initramfs (and virtme-ng's) needs a statically linked busybox: Debian's busybox-static.
busybox_bin=$(command -v busybox)
if LC_ALL=C ldd "$busybox_bin" >/dev/null 2>&1; then
  die "$busybox_bin is dynamically linked: install Debian's busybox-static instead of busybox"
fi

vng_bin=""
find_vng() {
  if command -v vng >/dev/null 2>&1; then vng_bin=$(command -v vng); return 0; fi
  if [ -x "$cache/venv/bin/vng" ]; then vng_bin=$cache/venv/bin/vng; return 0; fi
  if [ "$install" = 1 ] && command -v python3 >/dev/null 2>&1; then
    say "installing virtme-ng into $cache/venv (pip)"
    mkdir -p "$cache"
    if python3 -m venv "$cache/venv" >/dev/null 2>&1 && "$cache/venv/bin/pip" install -q virtme-ng >/dev/null 2>&1; then
      vng_bin=$cache/venv/bin/vng; return 0
    fi
    say "could not install virtme-ng (pip install virtme-ng); falling back to QEMU"
  fi
  return 1
}

# KVM only when it really works: /dev/kvm can exist and still make QEMU abort (nested
# virtualisation that refuses some MSRs, as on this project's machines). Probe it: a VM that
# is still alive, halted, after 3 s works.
kvm_works() {
  [ -w /dev/kvm ] || return 1
  local rc
  rc=$( (timeout 3 qemu-system-x86_64 -accel kvm -cpu host -display none -nodefaults -S -m 64 </dev/null >/dev/null 2>&1; echo $?) 2>/dev/null)
  [ "$rc" = 124 ]
}
use_kvm=0
case "$accel" in
  kvm) use_kvm=1 ;;
  auto) kvm_works && use_kvm=1 ;;
esac
if [ "$use_kvm" = 1 ]; then
  kvm_flags_qemu=(-accel kvm -cpu host); kvm_flags_vng=()
  say "KVM works here: hardware virtualisation"
else
  kvm_flags_qemu=(-accel tcg -cpu max); kvm_flags_vng=(--disable-kvm)
  say "no working KVM: software emulation (TCG), expect it to be slow"
fi

# ---------------------------------------------------------------- the kernel
kernel_root=""   # folder holding lib/modules/<version> for virtme-ng, when known
if [ -n "$debian_kernel" ]; then
  command -v apt-get >/dev/null 2>&1 || die "--debian-kernel needs apt-get (a Debian host); use --kernel PATH"
  if [ "$debian_kernel" = default ]; then
    [ "$apt_updated" = 1 ] || { is_root && apt-get update -qq && apt_updated=1 || true; }
    dep=$(apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -1)
    [ -n "$dep" ] || die "could not tell which kernel linux-image-amd64 depends on (run apt-get update?)"
    pkg=$dep
  else
    pkg=linux-image-${debian_kernel#linux-image-}
  fi
  kernel_root=$cache/kernels/$pkg
  if [ ! -d "$kernel_root/boot" ]; then
    say "fetching Debian's $pkg (apt-get download)"
    mkdir -p "$cache/kernels"
    dl=$(mktemp -d "$work/dl.XXXX")
    chmod 777 "$dl"  # so that apt's sandbox user may write there
    (cd "$dl" && apt-get download -q "$pkg" >/dev/null 2>&1) ||
      die "apt-get download $pkg failed: check the name with apt-cache search linux-image"
    dpkg-deb -x "$dl"/*.deb "$kernel_root.tmp" && mv "$kernel_root.tmp" "$kernel_root"
    rm -rf "$dl"
  fi
  kernel=$(ls "$kernel_root"/boot/vmlinuz-* 2>/dev/null | head -1)
  [ -n "$kernel" ] || die "no boot/vmlinuz-* in $pkg"
else
  [ -f "$kernel" ] || die "--kernel $kernel: no such file"
  kernel=$(cd "$(dirname "$kernel")" && pwd)/$(basename "$kernel")
fi
kver=$(basename "$kernel" | sed -n 's/^vmlinuz-//p')
[ -n "$kver" ] || kver=$(strings -n 8 "$kernel" 2>/dev/null | grep -m1 -oE '^[0-9]+\.[0-9]+[^ ]* \(' | tr -d ' (' || true)
say "guest kernel: $kernel${kver:+ ($kver)}; host kernel: $(uname -r)"

# ---------------------------------------------------------------- binary and cases
if [ -n "${SOCKSPEC_BIN:-}" ]; then
  [ -x "$SOCKSPEC_BIN" ] || die "SOCKSPEC_BIN=$SOCKSPEC_BIN is not an executable"
  bin_src=$SOCKSPEC_BIN
else
  profile=${SOCKSPEC_PROFILE:-release}
  target=${CARGO_TARGET_DIR:-$repo/target}
  flag=(); [ "$profile" = release ] && flag=(--release)
  say "building sockspec ($profile) in $target"
  (cd "$repo" && CARGO_TARGET_DIR=$target cargo build -q "${flag[@]}" -p sockspec) || die "cargo build failed"
  bin_src=$target/$profile/sockspec
fi
mkdir -p "$work/sockspec"
cp "$bin_src" "$work/sockspec/sockspec"
cp -r "${SOCKSPEC_CASES:-$repo/cases}" "$work/sockspec/cases"
bin=$work/sockspec/sockspec
cases=$work/sockspec/cases
run_args=(run --cases "$cases" --color never --format terse)
[ ${#extra[@]} -gt 0 ] && run_args+=("${extra[@]}")
[ ${#filters[@]} -gt 0 ] && run_args+=("${filters[@]}")

# ---------------------------------------------------------------- host run
if [ -n "$host_json" ]; then
  cp "$host_json" "$out/host.json"
  say "host: reusing $host_json"
else
  say "host: sockspec ${run_args[*]}"
  t0=$(date +%s)
  set +e
  "$bin" "${run_args[@]}" --json "$out/host.json" >"$out/host.out" 2>&1
  host_rc=$?
  set -e
  say "host: exit $host_rc in $(( $(date +%s) - t0 ))s; $(grep -m1 '^test result' "$out/host.out" || true)"
  [ -f "$out/host.json" ] || die "the host run wrote no JSON (see $out/host.out)" 1
fi

# ---------------------------------------------------------------- guest run
guest_args=("${run_args[@]}" --time-scale "$time_scale")
q() { printf '%q ' "$@"; }

run_vng() {
  local shared=$work/shared
  mkdir -p "$shared"
  chmod 777 "$shared"
  local script=$work/guest.sh
  # The guest sees the host's filesystem read-only (with a throw-away overlay on /tmp), so
  # the binary and the cases in $work are there as they are; only $shared is writable.
  cat >"$script" <<EOF
#!/bin/sh
$(q "$bin" "${guest_args[@]}") --json $shared/guest.json >$shared/guest.out 2>&1
echo \$? >$shared/guest.rc
uname -r >$shared/guest.kernel
EOF
  chmod +x "$script"
  local vng_args=(--run "$kernel" "${kvm_flags_vng[@]}" --cpus "$cpus" --memory "$memory"
    --rwdir="$shared" --exec "$script")
  say "guest (virtme-ng): vng ${vng_args[*]}"
  set +e
  # vng runs its siblings (virtme-run) from PATH: put its folder (a venv's bin/) first.
  PATH="$(dirname "$vng_bin"):$PATH" timeout --kill-after=30 "$vm_timeout" nice -n 10 \
    "$vng_bin" "${vng_args[@]}" </dev/null >"$out/vm.log" 2>&1
  local rc=$?
  set -e
  [ $rc -eq 124 ] && say "guest: the VM hit the ${vm_timeout}s timeout"
  # vng's own exit code is not the script's when the guest lacks virtio-serial ports.
  if [ -f "$shared/guest.rc" ] && [ -f "$shared/guest.json" ]; then
    guest_rc=$(cat "$shared/guest.rc")
    cp "$shared/guest.json" "$out/guest.json"
    cp "$shared/guest.out" "$out/guest.out"
    return 0
  fi
  say "guest (virtme-ng): no result (vng exit $rc); last lines of $out/vm.log:"
  tail -15 "$out/vm.log" >&2 || true
  return 1
}

run_qemu() {
  local root=$work/initramfs
  mkdir -p "$root"/{bin,dev,proc,sys,tmp,sockspec}
  cp "$busybox_bin" "$root/bin/busybox"
  cp "$bin" "$root/sockspec/sockspec"
  cp -r "$cases" "$root/sockspec/cases"
  # the shared libraries the binary links, at the same paths
  local lib
  for lib in $(ldd "$bin" | grep -oE '/[^ ]+'); do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done
  local gargs=("${guest_args[@]}")
  gargs[2]=/sockspec/cases   # run --cases DIR: the copy inside the initramfs
  cat >"$root/init" <<EOF
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
mount -t tmpfs tmp /tmp
ip link set lo up
echo "@@SOCKSPEC kernel \$(uname -r)"
cd /tmp
/sockspec/sockspec $(q "${gargs[@]}") --json /tmp/guest.json >/tmp/guest.out 2>&1
echo "@@SOCKSPEC rc \$?"
for f in guest.out guest.json; do
  echo "@@SOCKSPEC begin \$f"
  [ -f /tmp/\$f ] && gzip -c /tmp/\$f | base64
  echo "@@SOCKSPEC end \$f"
done
sync
poweroff -f
EOF
  chmod +x "$root/init"
  (cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$work/initrd.gz"
  local qemu_args=(-m "$memory" -smp "$cpus" "${kvm_flags_qemu[@]}" -no-reboot
    -display none -monitor none -serial "file:$work/serial.log" -net none
    -kernel "$kernel" -initrd "$work/initrd.gz"
    -append "console=ttyS0 quiet loglevel=0 panic=-1 rdinit=/init")
  say "guest (qemu): qemu-system-x86_64 ${qemu_args[*]}"
  set +e
  timeout --kill-after=30 "$vm_timeout" nice -n 10 qemu-system-x86_64 "${qemu_args[@]}" </dev/null >"$out/vm.log" 2>&1
  local rc=$?
  set -e
  [ $rc -eq 124 ] && say "guest: the VM hit the ${vm_timeout}s timeout"
  tr -d '\r' <"$work/serial.log" >"$work/serial.txt"
  cp "$work/serial.txt" "$out/serial.log"
  extract() { sed -n "/^@@SOCKSPEC begin $1\$/,/^@@SOCKSPEC end $1\$/p" "$work/serial.txt" | sed '1d;$d' | base64 -d 2>/dev/null | gunzip -c 2>/dev/null; }
  extract guest.json >"$out/guest.json" || true
  extract guest.out >"$out/guest.out" || true
  guest_rc=$(sed -n 's/^@@SOCKSPEC rc //p' "$work/serial.txt" | head -1)
  if [ -s "$out/guest.json" ] && [ -n "$guest_rc" ]; then return 0; fi
  rm -f "$out/guest.json"
  say "guest (qemu): no result (qemu exit $rc); last lines of the serial console:"
  tail -15 "$work/serial.txt" >&2 || true
  return 1
}

guest_rc=""
t0=$(date +%s)
ok=1
case "$method" in
  vng) find_vng || die "virtme-ng is missing: pip install virtme-ng (or use --method qemu)"; run_vng || ok=0 ;;
  qemu) run_qemu || ok=0 ;;
  auto)
    if find_vng && run_vng; then :; else
      say "falling back to plain QEMU with an initramfs"
      run_qemu || ok=0
    fi ;;
esac
guest_secs=$(( $(date +%s) - t0 ))
[ "$ok" = 1 ] || die "the VM produced no result after ${guest_secs}s (see $out/vm.log)" 1
say "guest: exit $guest_rc in ${guest_secs}s; $(grep -m1 '^test result' "$out/guest.out" || true)"

# ---------------------------------------------------------------- merge
set +e
"$bin" report merge --matrix "$out/host.json" "$out/guest.json" --html "$out/kernels.html" --json "$out/merged.json" >"$out/merge.out" 2>&1
merge_rc=$?
"$bin" report diff "$out/host.json" "$out/guest.json" >"$out/diff.txt" 2>&1
set -e
[ $merge_rc -eq 0 ] || { cat "$out/merge.out" >&2; die "sockspec report merge failed (exit $merge_rc)" 1; }
{
  echo "guest kernel: $kver ($kernel)"
  echo "host kernel:  $(uname -r)"
  echo "guest wall time: ${guest_secs}s (boot included), guest exit: $guest_rc"
  echo "filters: ${filters[*]:-(whole catalogue)}; extra arguments: ${extra[*]:-(none)}; guest --time-scale $time_scale"
} >"$out/summary.txt"
cat "$out/summary.txt" >&2
say "matrix: $out/kernels.html; differences: $out/diff.txt"
