#!/usr/bin/env bash
# MicroVM runtime benchmark (issue "MicroVM runtime"): time to a ready guest.
#   (a) firebuild  `firebuild run --daemonize` of a tiny busybox image, until the command returns
#                  (the guest init reported ready and took its metadata); its debug log gives the
#                  guest's uptime at ready and the init's start-up phases, printed per run
#   (b) raw QEMU   the very argv firebuild used (read from /proc/PID/cmdline of a warm-up VM), with
#                  a fresh qcow2 overlay on the same stored ext4, the same kernel and initrd, and
#                  `firebuild.init=/bench-init`: a shell script printing a marker to the serial
#                  console (a file, polled every 10 ms)
# Interleaved, N runs each, medians, ratio firebuild/raw (target ≤ 1.15). Then the disk used by one
# new VM (du of its run directory, qcow2 overlay included) and eight VMs started at once
# (all must reach ready), killed and purged.
# No networking (no --cni-network-name): nothing touches the host's network namespace.
#   bench/vm/run.sh                 release build; N=5, PARALLEL=8
#   FIREBUILD_BIN=PATH              use this binary instead of building
#   KERNEL=/boot/vmlinuz-…          kernel to boot (default: the newest Debian cloud kernel)
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${N:-5}
PARALLEL=${PARALLEL:-8}
CONFIG=${CONFIG:-release}
MARKER=FBX-BENCH-READY
. bench/lib.sh
bench_require qemu-system-x86_64 qemu-img busybox umoci python3
bench_vm_inputs
bench_firebuild

# Short path: QEMU's sockets live under it (sun_path is 108 bytes).
WORK=$(mktemp -d /tmp/fbvm.XXXXXX)
export FIREBUILD_HOME=$WORK/h
RAW_PIDS=()
fb() { "$FIREBUILD_BIN" "$@"; }
cleanup() {
  local rc=$?
  for p in "${RAW_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  if [ -d "$FIREBUILD_HOME/runs" ]; then
    for id in $(ls "$FIREBUILD_HOME/runs"); do fb kill --vmm-id "$id" --shutdown-timeout 1 >/dev/null 2>&1 || true; done
    fb purge >/dev/null 2>&1 || true
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
mkdir -p "$FIREBUILD_HOME"

# --- fixture: kernel + firebuild's small initrd, a busybox image with a marker init ------------
fb kernel import --id bench --path "$KERNEL" >/dev/null
fb kernel initrd --from-kernel bench >/dev/null
T=$WORK/tree
mkdir -p "$T"/{bin,sbin,etc,proc,sys,dev,run,tmp,root}
cp "$(command -v busybox)" "$T/bin/busybox"
for a in sh echo cat sleep poweroff; do ln -s busybox "$T/bin/$a"; done
printf 'root:x:0:0:root:/root:/bin/sh\n' > "$T/etc/passwd"
printf 'root:x:0:\n' > "$T/etc/group"
# The raw side's PID 1 (the initrd moved /proc, /sys and /dev in): print the marker, idle.
cat > "$T/bench-init" <<EOF
#!/bin/busybox sh
echo "$MARKER uptime=\$(cat /proc/uptime)" > /dev/console
exec sleep 3600
EOF
chmod 755 "$T/bench-init"
tar -C "$T" -cf "$WORK/busybox.tar" .
umoci init --layout "$WORK/layout"
umoci new --image "$WORK/layout:1"
umoci raw add-layer --image "$WORK/layout:1" "$WORK/busybox.tar"
umoci config --image "$WORK/layout:1" --config.cmd /bin/sh --config.cmd -c --config.cmd "echo $MARKER; exec sleep 3600" \
  --os linux --architecture amd64
fb image import "oci:$WORK/layout:1" --tag bench/busybox:1 >/dev/null

now() { date +%s.%N; }
# Debug logs carry the guest init's start-up milestones (guest uptime at ready, and each phase).
fb_start() {
  fb run --log-level debug --from bench/busybox:1 --name "$1" --daemonize --mem 128 >/dev/null 2>"$WORK/fb-$1.log" \
    || { cat "$WORK/fb-$1.log" >&2; return 1; }
}
fb_uptime() { sed -n 's/.*guest init ready.*guest-uptime=\([0-9.]*\).*/\1/p' "$WORK/fb-$1.log" | head -1; }
fb_phases() { sed -n 's/.*guest start-up phases="\([^"]*\)".*/\1/p' "$WORK/fb-$1.log" | head -1; }
fb_kill() { fb kill --vmm-id "$1" --shutdown-timeout 2 >/dev/null; }

# Warm-up VM (not timed): fills caches (initrd with init appended, accelerator probe) and gives
# the QEMU argv firebuild uses.
fb_start warm
QPID=$(cat "$FIREBUILD_HOME/runs/warm/qemu.pid")
mapfile -d '' ARGV < "/proc/$QPID/cmdline"
BASE=$(qemu-img info -U --output=json "$FIREBUILD_HOME/runs/warm/rootfs.qcow2" | python3 -c 'import json,sys; print(json.load(sys.stdin)["backing-filename"])')
DISK_USED=$(du -sk "$FIREBUILD_HOME/runs/warm" | cut -f1)
OVERLAY_USED=$(du -k "$FIREBUILD_HOME/runs/warm/rootfs.qcow2" | cut -f1)
fb_kill warm
echo "QEMU argv: ${ARGV[*]}" >&2

# The raw argv: firebuild's, with run-directory paths moved to DIR and the init switched.
raw_start() {  # $1 = dir; starts QEMU in the background, sets RAW_PID
  local dir=$1 a out=()
  mkdir -p "$dir"
  qemu-img create -q -f qcow2 -F raw -b "$BASE" "$dir/rootfs.qcow2"
  for a in "${ARGV[@]}"; do
    a=${a//$FIREBUILD_HOME\/runs\/warm/$dir}
    a=${a//firebuild.init=\/run\/firebuild-init/firebuild.init=\/bench-init}
    out+=("$a")
  done
  "${out[@]}" >"$dir/qemu.out" 2>&1 & RAW_PID=$!
  RAW_PIDS+=("$RAW_PID")
}
wait_marker() {  # $1 = console file
  local i
  for i in $(seq 6000); do
    grep -q "$MARKER" "$1" 2>/dev/null && return 0
    sleep 0.01
  done
  echo "no marker in $1 after 60 s" >&2; return 1
}

declare -a T_FB T_RAW U_FB U_RAW
for i in $(seq "$N"); do
  t0=$(now); fb_start "b$i"; t1=$(now); T_FB+=("$(echo "$t1 - $t0" | bc)")
  U_FB+=("$(fb_uptime "b$i")")
  fb_kill "b$i"
  t0=$(now); raw_start "$WORK/raw$i"; wait_marker "$WORK/raw$i/console.log"; t1=$(now)
  T_RAW+=("$(echo "$t1 - $t0" | bc)")
  U_RAW+=("$(sed -n "s/.*$MARKER uptime=\([0-9.]*\).*/\1/p" "$WORK/raw$i/console.log" | head -1)")
  kill "$RAW_PID"; wait "$RAW_PID" 2>/dev/null || true; rm -rf "$WORK/raw$i"
  echo "run $i: firebuild ${T_FB[-1]} s, raw qemu ${T_RAW[-1]} s; guest uptime at ready ${U_FB[-1]} s vs raw marker ${U_RAW[-1]} s" >&2
  echo "  guest phases: $(fb_phases "b$i")" >&2
done

# Eight at once: all must reach ready.
t0=$(now)
pids=()
for i in $(seq "$PARALLEL"); do fb_start "p$i" & pids+=($!); done
failed=0
for p in "${pids[@]}"; do wait "$p" || failed=$((failed + 1)); done
t1=$(now)
ready=$(fb ls --json | python3 -c 'import json,sys; print(sum(1 for r in json.load(sys.stdin) if r.get("Running")))')
for i in $(seq "$PARALLEL"); do fb_kill "p$i" || true; done
fb purge >/dev/null
left=$(ls "$FIREBUILD_HOME/runs" 2>/dev/null | wc -l)

python3 - "${T_FB[*]}" "${T_RAW[*]}" "${U_FB[*]}" "${U_RAW[*]}" <<PY
import statistics, sys
fb, raw, ufb, uraw = ([float(x) for x in a.split()] for a in sys.argv[1:5])
mf, mr = statistics.median(fb), statistics.median(raw)
# Guest-side view, less sensitive to host load: the guest's own uptime at our ready frame vs at the marker.
if ufb and uraw:
    print(f"guest uptime: firebuild-init ready median {statistics.median(ufb):.2f} s, raw marker median {statistics.median(uraw):.2f} s")
print(f"firebuild run --daemonize  median {mf:6.2f} s  (min {min(fb):.2f})")
print(f"raw qemu to marker         median {mr:6.2f} s  (min {min(raw):.2f})")
r = mf / mr
print(f"firebuild/raw {r:.2f}  (target <= 1.15: {'ok' if r <= 1.15 else 'MISSED'})")
print(f"disk per new VM: run dir {$DISK_USED} KiB, of which qcow2 overlay {$OVERLAY_USED} KiB")
print(f"{$PARALLEL} at once: {$PARALLEL - $failed}/{$PARALLEL} commands succeeded, {$ready} running, in {float('$t1') - float('$t0'):.1f} s; after kill+purge {$left} run dirs left")
PY
[ "$failed" -eq 0 ] && [ "$left" -eq 0 ]
