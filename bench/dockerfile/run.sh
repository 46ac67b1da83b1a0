#!/bin/sh
# Dockerfile front-end benchmark: parses and plans the BuildKit conformance corpus plus larger
# concatenated copies (a few MB in total) with a release build, printing MB/s and files/s.
# Target: >= 10 MB/s on one core.
# Usage: bench/dockerfile/run.sh [MEGABYTES]   (needs ../shared/conformance beside the checkout)
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
shared="$root/../shared/conformance/buildkit"
[ -d "$shared" ] || shared="$root/../../shared/conformance/buildkit"
[ -d "$shared" ] || { echo "conformance corpus not found beside $root" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Corpus: every golden Dockerfile, plus each one repeated 20x into a large file, plus a
# multi-stage sample with a heredoc and mounts.
i=0
for f in "$shared"/parser/testfiles/*/Dockerfile "$shared"/parser/testfiles-negative/*/Dockerfile; do
  i=$((i + 1))
  cp "$f" "$work/Dockerfile.$i"
  for _ in $(seq 20); do cat "$f"; printf '\n'; done > "$work/Dockerfile.big.$i"
done
printf '%s\n' \
  'ARG BASE=alpine:3.19' \
  'FROM ${BASE} AS build' \
  'ARG VERSION=1' \
  'ENV GOPATH=/go PATH=/go/bin:$PATH' \
  'RUN --mount=type=cache,target=/root/.cache <<END' \
  'set -e' \
  'echo building ${VERSION}' \
  'END' \
  'FROM scratch' \
  'COPY --from=build /go/bin/app /app' \
  'ENTRYPOINT ["/app"]' > "$work/Dockerfile.multi"
cd "$root"
swift build -c release --product firebuild >/dev/null
"$root/.build/release/firebuild" dockerfile bench "$work" --megabytes "${1:-16}"
