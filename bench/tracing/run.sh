#!/usr/bin/env bash
# Tracing overhead: the same commands with tracing off and on (exporting OTLP/HTTP to a local
# do-nothing collector), medians of hyperfine runs, and the on/off ratio. Target: < 2 %.
#   bench/tracing/run.sh                 release build (CONFIG=debug to skip the release build)
#   RUNS=50 bench/tracing/run.sh
#   CACHED_BUILD=1 bench/tracing/run.sh  also a fully cached `rootfs --dockerfile` build: imports
#                                        the /boot cloud kernel and a busybox base into a temporary
#                                        FIREBUILD_HOME and runs the build once cold (one VM boot;
#                                        needs qemu, busybox and the static init from `make init`)
#   CACHED_BUILD_ARGS="--dockerfile … --tag …" bench/tracing/run.sh   a cached build of your own
# Hooks: add a case with `bench_case NAME "ARGS…"` below.
set -euo pipefail
cd "$(dirname "$0")/../.."
CONFIG=${CONFIG:-release}
RUNS=${RUNS:-30}
WARMUP=${WARMUP:-3}
PORT=${PORT:-$((20000 + RANDOM % 20000))}
OUT=${OUT:-bench/results/tracing}
mkdir -p "$OUT"

command -v hyperfine >/dev/null || { apt-get update -qq && apt-get install -y -qq hyperfine; }
swift build -c "$CONFIG" --product firebuild >/dev/null
BIN="$(swift build -c "$CONFIG" --show-bin-path)/firebuild"

WORK=$(mktemp -d)
python3 bench/tracing/collector.py "$PORT" & COLLECTOR=$!
trap 'kill $COLLECTOR 2>/dev/null || true; rm -rf "$WORK"' EXIT
sleep 0.5

# A recipe doing 1,000 log calls: measures the per-log cost of the trace-id metadata provider.
cat > "$WORK/logs.lua" <<'LUA'
local firebuild = require "firebuild"
for i = 1, 1000 do firebuild.log.info("tick", { i = i }) end
LUA

TRACE="--tracing-enable --tracing-collector-host-port 127.0.0.1:$PORT"
# Wall medians are noisy on a shared 2-core machine; CPU (median of the rounds' user+sys means)
# is printed too.
# The minimum is printed too: on a busy machine it is the steadiest estimate of the real cost.
printf "%-20s %10s %10s %7s %10s %10s %7s %9s\n" "case" "off ms" "on ms" "ratio" "off cpu" "on cpu" "ratio" "min ratio"
# Off and on alternate in ROUNDS rounds (hyperfine runs one command's runs back to back, and the
# load of a shared machine drifts between them); medians and minima are over all rounds.
ROUNDS=${ROUNDS:-5}
bench_case() {
  local name=$1 args=$2 r per=$(( (RUNS + ROUNDS - 1) / ROUNDS ))
  for r in $(seq "$ROUNDS"); do
    hyperfine -N --warmup "$WARMUP" --runs "$per" --style none --export-json "$OUT/$name.$r.json" \
      -n off "$BIN $args" -n on "$BIN $args $TRACE" >/dev/null 2>&1 \
      || { hyperfine -N --runs 2 --style none -n off "$BIN $args" -n on "$BIN $args $TRACE" 2>&1 | tail -5; return 1; }
  done
  python3 - "$OUT" "$name" "$ROUNDS" <<'PY'
import json, statistics, sys
out, name, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
wall, cpu = {"off": [], "on": []}, {"off": [], "on": []}
for r in range(1, rounds + 1):
    for x in json.load(open(f"{out}/{name}.{r}.json"))["results"]:
        wall[x["command"]] += [t * 1000 for t in x["times"]]
        cpu[x["command"]].append((x["user"] + x["system"]) * 1000)   # hyperfine gives a mean per round
json.dump({k: {"wall_ms": wall[k], "cpu_ms": cpu[k]} for k in wall}, open(f"{out}/{name}.json", "w"))
off, on = statistics.median(wall["off"]), statistics.median(wall["on"])
coff, con = statistics.median(cpu["off"]), statistics.median(cpu["on"])
mins = min(wall["on"]) / min(wall["off"])
print(f"{name:<20} {off:10.2f} {on:10.2f} {on / off:7.3f} {coff:10.2f} {con:10.2f} {con / coff:7.3f} {mins:9.3f}")
PY
}
bench_case version "version"
bench_case script-1000-logs "script $WORK/logs.lua --log-as-json"
# Hooks for commands other engineers are adding: run when they exist.
# (`help X` and `X --help` exit 0 even for unknown commands: look X up in the root help.)
has_command() { "$BIN" --help | grep -qE "^  +$1( |$)"; }
if has_command ls; then bench_case ls "ls"; fi

# A cached build (every step from the step cache, no VM): set up on request, see the header.
setup_cached_build() {
  export FIREBUILD_HOME="$WORK/home"
  local kernel base="$WORK/base"
  kernel=$(ls /boot/vmlinuz-*-cloud-amd64 2>/dev/null | sort | tail -1)
  [ -n "$kernel" ] && [ -x /bin/busybox ] && [ -x .build-static/firebuild-init-static ] \
    || { echo "cached-build: needs /boot/vmlinuz-*-cloud-amd64, /bin/busybox and make init" >&2; return 1; }
  export FIREBUILD_INIT="$PWD/.build-static/firebuild-init-static"
  "$BIN" kernel import --id cloud --path "$kernel" >/dev/null || return 1
  "$BIN" kernel initrd --from-kernel cloud >/dev/null || return 1
  mkdir -p "$base/bin" "$base/etc" "$base/proc" "$base/sys" "$base/dev" "$base/tmp" "$base/root"
  cp /bin/busybox "$base/bin/busybox"
  for a in sh echo cat mkdir ls; do ln -sf busybox "$base/bin/$a"; done
  echo 'root:x:0:0:root:/root:/bin/sh' > "$base/etc/passwd"; echo 'root:x:0:' > "$base/etc/group"
  tar -C "$base" -cf "$WORK/base.tar" .
  "$BIN" image import "$WORK/base.tar" --tag bench/busybox:1 >/dev/null || return 1
  printf 'FROM bench/busybox:1\nRUN mkdir -p /out && echo cached > /out/a.txt\nENV A=1\nCMD ["/bin/sh"]\n' > "$WORK/Dockerfile"
  local args="--dockerfile $WORK/Dockerfile --tag bench/cached:1 --vmlinux-id cloud --mem 256"
  echo "cached-build: cold build (one VM boot)…" >&2
  "$BIN" rootfs $args > "$WORK/cold-build.log" 2>&1 || { tail -5 "$WORK/cold-build.log" >&2; return 1; }
  CACHED_BUILD_ARGS=$args
}
if [ "${CACHED_BUILD:-0}" = 1 ] && [ -z "${CACHED_BUILD_ARGS:-}" ]; then setup_cached_build || true; fi
if [ -n "${CACHED_BUILD_ARGS:-}" ]; then bench_case cached-build "rootfs $CACHED_BUILD_ARGS"; fi
echo "results: $OUT/<case>.<round>.json (hyperfine JSON) and $OUT/<case>.json (all rounds); ratio = median on / median off"
