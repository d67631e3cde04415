#!/usr/bin/env bash
# Idempotent set-up for every npm entry point: installs npm dependencies when they are
# missing or stale and, on Linux without a WebGPU adapter, Mesa's lavapipe (software Vulkan).
# On a machine whose GPU driver already gives an adapter nothing extra is installed.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm dependencies (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
fi

export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/xdg-runtime-$(id -u)}"
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR" 2>/dev/null || true

# --browser (npm test): Debian's Chromium for the real-browser test, when it is missing.
if [ "${1:-}" = "--browser" ] && [ ! -x /usr/bin/chromium ] && [ -z "${CHROMIUM:-}" ] && command -v apt-get >/dev/null; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "setup: installing Debian's chromium for the browser test (log: /tmp/deepmask-setup-chromium.log)"
  { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium; } >/tmp/deepmask-setup-chromium.log 2>&1 \
    || echo "setup: could not install chromium; the browser test will be skipped" >&2
fi

probe() { node scripts/probe-adapter.mjs >/dev/null 2>&1; }
probe && exit 0

if [ "$(uname -s)" != "Linux" ] || [ ! -r /etc/os-release ]; then
  echo "setup: no WebGPU adapter found; install a GPU driver with Vulkan/Metal/D3D12 support" >&2
  exit 1
fi

. /etc/os-release
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
log=/tmp/deepmask-setup-apt.log
if [ "${VERSION_CODENAME:-}" = "bookworm" ]; then
  # Debian 12's own Mesa 22 is too old for Dawn; Mesa 25 comes from bookworm-backports.
  echo "setup: no WebGPU adapter found; installing Mesa lavapipe (software Vulkan) from bookworm-backports (log: $log)"
  echo "deb http://deb.debian.org/debian bookworm-backports main" | $SUDO tee /etc/apt/sources.list.d/bookworm-backports.list >/dev/null
  $SUDO apt-get update -qq >"$log" 2>&1
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers libvulkan1 >>"$log" 2>&1
else
  echo "setup: no WebGPU adapter found; installing Mesa lavapipe (software Vulkan) (log: $log)"
  $SUDO apt-get update -qq >"$log" 2>&1
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq mesa-vulkan-drivers libvulkan1 >>"$log" 2>&1
fi

if ! probe; then
  echo "setup: still no WebGPU adapter after installing lavapipe; details:" >&2
  node scripts/probe-adapter.mjs >&2 || true
  exit 1
fi
