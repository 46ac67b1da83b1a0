# Shared set-up of the bench scripts (sourced from the package root, after `set -euo pipefail`).

# bench_require TOOL…: every tool is on PATH, or the script stops saying what to install.
bench_require() {
  for tool in "$@"; do
    command -v "$tool" >/dev/null || { echo "missing $tool (make deps installs it)" >&2; exit 1; }
  done
}

# bench_firebuild: FIREBUILD_BIN (built with CONFIG, default release, unless given).
bench_firebuild() {
  if [ -z "${FIREBUILD_BIN:-}" ]; then
    swift build -c "${CONFIG:-release}" --product firebuild >/dev/null
    FIREBUILD_BIN="$(swift build -c "${CONFIG:-release}" --show-bin-path)/firebuild"
  fi
}

# bench_vm_inputs: KERNEL (newest Debian cloud kernel unless given) and FIREBUILD_INIT (the
# static guest init, built with `make init` when missing).
bench_vm_inputs() {
  KERNEL=${KERNEL:-$(ls -1 /boot/vmlinuz-*-cloud-amd64 2>/dev/null | sort -V | tail -1)}
  [ -n "$KERNEL" ] || { echo "no Debian cloud kernel: apt-get install linux-image-cloud-amd64" >&2; exit 1; }
  [ -x .build-static/firebuild-init-static ] || make init >/dev/null
  export FIREBUILD_INIT=${FIREBUILD_INIT:-$PWD/.build-static/firebuild-init-static}
}
