#!/usr/bin/env bash
# Images benchmark (issue "Images"): registry → stored ext4 root filesystem.
# A Debian bookworm minbase image (mmdebstrap → tar → umoci OCI layout) is pushed with skopeo to a
# docker-registry this script starts on 127.0.0.1 (free port, own config in a temp dir). Then, side
# by side and interleaved, N runs each, medians:
#   (a) firebuild  `firebuild image pull REF --insecure-registry …` into a fresh store each run
#   (b) pipeline   `skopeo copy docker://REF oci:DIR` + `umoci unpack` + `mkfs.ext4 -d` (same mkfs flags)
#   (c) mkfs       `mkfs.ext4 -d` alone on the already unpacked tree
# and the ratios firebuild/pipeline (target ≤ 0.8) and firebuild/mkfs (target ≤ 1.5). Every
# firebuild run logs at debug level; from its own phase timings the script also prints
# firebuild's tree → stored ext4 stage (size estimate + mkfs.ext4 -d + commit) against mkfs
# alone: the like-for-like reading of "≤ 1.5× mkfs.ext4 -d alone on the already unpacked tree".
#   bench/images/run.sh                      release build; N=5
#   N=9 CONFIG=debug bench/images/run.sh
#   BENCH_CACHE=DIR                          where the minbase tarball and layout are cached
#                                            (default ~/.cache/firebuild-bench; reruns skip mmdebstrap)
#   FIREBUILD_BIN=PATH                       use this binary instead of building
#   PIPE_SCRATCH=/dev/shm                    where the pipeline keeps its OCI copy and unpacked bundle
#                                            (default: the work dir on disk; firebuild puts its own
#                                            transient tree on /dev/shm when it fits, so this gives
#                                            the pipeline the same advantage). Outputs stay on disk.
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${N:-5}
CONFIG=${CONFIG:-release}
CACHE=${BENCH_CACHE:-$HOME/.cache/firebuild-bench}
. bench/lib.sh
bench_require mmdebstrap umoci skopeo docker-registry mkfs.ext4 curl python3
bench_firebuild

# --- fixture: the minbase tarball and its OCI layout, cached across runs ---------------------
mkdir -p "$CACHE"
TARBALL=$CACHE/bookworm-minbase.tar
LAYOUT=$CACHE/bookworm-layout
if [ ! -s "$TARBALL" ]; then
  echo "building $TARBALL with mmdebstrap (needs deb.debian.org, ~30 s)…" >&2
  mmdebstrap --quiet --variant=minbase --format=tar bookworm "$TARBALL.tmp"
  mv "$TARBALL.tmp" "$TARBALL"
fi
if [ ! -f "$LAYOUT/index.json" ] || [ "$TARBALL" -nt "$LAYOUT/index.json" ]; then
  rm -rf "$LAYOUT" "$LAYOUT.tmp"
  umoci init --layout "$LAYOUT.tmp"
  umoci new --image "$LAYOUT.tmp:minbase"
  umoci raw add-layer --image "$LAYOUT.tmp:minbase" --history.created_by "mmdebstrap --variant=minbase bookworm" "$TARBALL"
  umoci config --image "$LAYOUT.tmp:minbase" --config.cmd /bin/bash \
    --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --os linux --architecture amd64
  umoci gc --layout "$LAYOUT.tmp"
  mv "$LAYOUT.tmp" "$LAYOUT"
fi

# --- registry on 127.0.0.1, free port, own config --------------------------------------------
WORK=$(mktemp -d /var/tmp/fb-bench-images.XXXXXX)
PIPE_BASE=$(mktemp -d "${PIPE_SCRATCH:-$WORK}/fb-bench-pipeline.XXXXXX")
REG_PID=
cleanup() {
  local rc=$?
  if [ -n "$REG_PID" ]; then kill "$REG_PID" 2>/dev/null || true; wait "$REG_PID" 2>/dev/null || true; fi
  rm -rf "$WORK" "$PIPE_BASE"
  exit "$rc"
}
trap cleanup EXIT
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$WORK/registry/data"
cat > "$WORK/registry/config.yml" <<EOF
version: 0.1
log: {level: error}
storage:
  filesystem: {rootdirectory: $WORK/registry/data}
  delete: {enabled: true}
http: {addr: 127.0.0.1:$PORT}
EOF
docker-registry serve "$WORK/registry/config.yml" >"$WORK/registry/log" 2>&1 & REG_PID=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$PORT/v2/" >/dev/null && break; sleep 0.1; done
curl -fs "http://127.0.0.1:$PORT/v2/" >/dev/null || { cat "$WORK/registry/log" >&2; exit 1; }
REF=127.0.0.1:$PORT/fbx/bookworm:minbase
skopeo copy --quiet --dest-tls-verify=false "oci:$LAYOUT:minbase" "docker://$REF"

# --- the three contenders ----------------------------------------------------------------------
now() { date +%s.%N; }
firebuild_pull() {  # $1 = fresh FIREBUILD_HOME; its debug log goes to $1.log
  mkdir -p "$1"
  FIREBUILD_HOME=$1 "$FIREBUILD_BIN" image pull "$REF" --tag bench/bookworm:minbase \
    --insecure-registry "127.0.0.1:$PORT" --log-level debug ${FB_ARGS:-} >/dev/null 2>"$1.log"
}
# A number from firebuild's debug log: $1 = log, $2 = message, $3 = field.
log_field() { sed -n "s/.*$2.* $3=\([0-9.]*\).*/\1/p" "$1" | head -1; }
MKFS_FLAGS=(-q -F -t ext4 -T default -b 4096 -I 256 -m 0)
pipeline() {  # $1 = output dir (the ext4), $2 = scratch dir (OCI copy and bundle)
  skopeo copy --quiet --src-tls-verify=false "docker://$REF" "oci:$2/oci:minbase"
  umoci unpack --image "$2/oci:minbase" "$2/bundle" >/dev/null
  mkfs.ext4 "${MKFS_FLAGS[@]}" -d "$2/bundle/rootfs" "$1/rootfs.ext4" "$SIZE_K" >/dev/null
}
mkfs_alone() { mkfs.ext4 "${MKFS_FLAGS[@]}" -d "$TREE" "$1" "$SIZE_K" >/dev/null; }

# Warm-up (not timed): fills the page cache and gives the size firebuild chose, which the pipeline
# and mkfs use too so all three write the same filesystem size.
firebuild_pull "$WORK/warm-fb"
STORED=$(find "$WORK/warm-fb/rootfs" -type f -name rootfs | head -1)
[ -n "$STORED" ] || { echo "firebuild stored no ext4 under $WORK/warm-fb/rootfs" >&2; exit 1; }
SIZE_K="$(( $(stat -c %s "$STORED") / 1024 ))k"
rm -rf "$WORK/warm-fb"
mkdir -p "$WORK/warm-p" "$PIPE_BASE/warm-p"; pipeline "$WORK/warm-p" "$PIPE_BASE/warm-p"
TREE=$PIPE_BASE/warm-p/bundle/rootfs
echo "image: $(du -sh "$TARBALL" | cut -f1) layer tar, $(find "$TREE" | wc -l) entries; ext4 size $SIZE_K; N=$N;" \
     "pipeline scratch on $(df --output=fstype "$PIPE_BASE" | tail -1)" >&2
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

declare -a T_FB T_PIPE T_MKFS T_STAGE T_APPLY
for i in $(seq "$N"); do
  t0=$(now); firebuild_pull "$WORK/fb$i"; t1=$(now); T_FB+=("$(echo "$t1 - $t0" | bc)")
  T_STAGE+=("$(log_field "$WORK/fb$i.log" "stored ext4 from tree" seconds)")
  T_APPLY+=("$(log_field "$WORK/fb$i.log" "fetched and applied layers" seconds)")
  [ -n "${T_STAGE[-1]}" ] && [ -n "${T_APPLY[-1]}" ] || { echo "no phase timings in $WORK/fb$i.log:" >&2; cat "$WORK/fb$i.log" >&2; exit 1; }
  rm -rf "$WORK/fb$i" "$WORK/fb$i.log"
  mkdir -p "$WORK/p$i" "$PIPE_BASE/p$i"
  t0=$(now); pipeline "$WORK/p$i" "$PIPE_BASE/p$i"; t1=$(now); T_PIPE+=("$(echo "$t1 - $t0" | bc)")
  rm -rf "$WORK/p$i" "$PIPE_BASE/p$i"
  t0=$(now); mkfs_alone "$WORK/m$i.ext4"; t1=$(now); T_MKFS+=("$(echo "$t1 - $t0" | bc)")
  rm -f "$WORK/m$i.ext4"
  echo "run $i: firebuild ${T_FB[-1]} s (fetch+apply ${T_APPLY[-1]} s, tree→ext4 ${T_STAGE[-1]} s)," \
       "pipeline ${T_PIPE[-1]} s, mkfs ${T_MKFS[-1]} s" >&2
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

python3 - "${T_FB[*]}" "${T_PIPE[*]}" "${T_MKFS[*]}" "${T_APPLY[*]}" "${T_STAGE[*]}" <<'PY'
import statistics, sys
runs = dict(zip(("firebuild", "pipeline", "mkfs", "fb fetch+apply", "fb tree->ext4"),
                ([float(x) for x in a.split()] for a in sys.argv[1:6])))
m = {k: statistics.median(v) for k, v in runs.items()}
for k, v in m.items():
    print(f"{k:<15} median {v:7.2f} s   (min {min(runs[k]):.2f})")
r1, r2 = m["firebuild"] / m["pipeline"], m["firebuild"] / m["mkfs"]
r3 = m["fb tree->ext4"] / m["mkfs"]
print(f"firebuild/pipeline           {r1:.2f}  (target <= 0.8: {'ok' if r1 <= 0.8 else 'MISSED'})")
print(f"firebuild whole pull/mkfs    {r2:.2f}  (registry → stored ext4 against mkfs alone)")
print(f"firebuild tree->ext4/mkfs    {r3:.2f}  (target <= 1.5 on the unpacked tree: {'ok' if r3 <= 1.5 else 'MISSED'})")
PY
