#!/usr/bin/env bash
# Idempotent set-up for every npm entry point: installs npm dependencies when they are
# missing or stale and, on Linux without a WebGPU adapter, Mesa's lavapipe (software Vulkan).
# On a machine whose GPU driver already gives an adapter nothing extra is installed.
#
# Options: --browser   also Debian's Chromium for the browser test (npm test)
#          --no-npm    no npm step: `deepmask setup` runs this from an installed package
#                      (node_modules/deepmask-webgpu/scripts/), where npm already installed the
#                      dependencies and there is no lock file or devDependencies to install
#          --dry-run   say what would be installed, and the commands, without running them
#          --verbose   also say when there is nothing to do
set -euo pipefail
cd "$(dirname "$0")/.."

BROWSER=0; NPM=1; DRY=0; VERBOSE=0
for a in "$@"; do
  case "$a" in
    --browser) BROWSER=1 ;;
    --no-npm) NPM=0 ;;
    --dry-run) DRY=1; VERBOSE=1 ;;
    --verbose) VERBOSE=1 ;;
    *) echo "setup: unknown option '$a' (--browser, --no-npm, --dry-run, --verbose)" >&2; exit 2 ;;
  esac
done
# Runs a command, or under --dry-run only prints it.
run() { if [ "$DRY" = 1 ]; then echo "  would run: $*"; else "$@"; fi; }

# Only a checkout has the lock file `npm ci` needs (npm never publishes package-lock.json).
if [ "$NPM" = 1 ] && [ -f package-lock.json ] && { [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; }; then
  echo "setup: installing npm dependencies (npm ci)"
  run npm ci --no-audit --no-fund --loglevel=error
fi

export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/xdg-runtime-$(id -u)}"
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR" 2>/dev/null || true

SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"

# --browser (npm test): Debian's Chromium for the real-browser test, when it is missing.
if [ "$BROWSER" = 1 ] && [ ! -x /usr/bin/chromium ] && [ -z "${CHROMIUM:-}" ] && command -v apt-get >/dev/null; then
  echo "setup: installing Debian's chromium for the browser test (log: /tmp/deepmask-setup-chromium.log)"
  if [ "$DRY" = 1 ]; then run $SUDO apt-get install -y chromium
  else { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium; } >/tmp/deepmask-setup-chromium.log 2>&1 \
    || echo "setup: could not install chromium; the browser test will be skipped" >&2
  fi
fi

# The probe imports the `webgpu` package from wherever Node resolves it (the checkout's or the
# installing project's node_modules); Dawn's own warnings go to /dev/null with its output.
probe() { node scripts/probe-adapter.mjs >/dev/null 2>&1; }
if probe; then
  [ "$VERBOSE" = 1 ] && echo "setup: a WebGPU adapter is present ($(node scripts/probe-adapter.mjs 2>/dev/null)); nothing to install"
  exit 0
fi
if ! node -e "import('webgpu')" >/dev/null 2>&1; then
  echo "setup: the 'webgpu' package (Dawn's Node bindings, an optional dependency) is not installed: npm install webgpu" >&2
  exit 1
fi

if [ "$(uname -s)" != "Linux" ] || [ ! -r /etc/os-release ]; then
  echo "setup: no WebGPU adapter found; install a GPU driver with Vulkan/Metal/D3D12 support" >&2
  exit 1
fi

. /etc/os-release
if ! command -v apt-get >/dev/null; then
  echo "setup: no WebGPU adapter found; install Mesa's Vulkan driver (lavapipe) and the Vulkan loader with your distribution's package manager (this script knows apt-get only)" >&2
  exit 1
fi
if [ -n "$SUDO" ] && ! command -v sudo >/dev/null; then
  echo "setup: installing Mesa's Vulkan driver needs root: run this as root, or install sudo" >&2
  exit 1
fi
log=/tmp/deepmask-setup-apt.log
if [ "${VERSION_CODENAME:-}" = "bookworm" ]; then
  # Debian 12's own Mesa 22 is too old for Dawn; Mesa 25 comes from bookworm-backports.
  echo "setup: no WebGPU adapter found; $([ "$DRY" = 1 ] && echo 'would install' || echo 'installing') Mesa lavapipe (software Vulkan: mesa-vulkan-drivers) from bookworm-backports$([ "$DRY" = 1 ] || echo " (log: $log)")"
  if [ "$DRY" = 1 ]; then
    run "echo 'deb http://deb.debian.org/debian bookworm-backports main' | ${SUDO:+$SUDO }tee /etc/apt/sources.list.d/bookworm-backports.list"
    run $SUDO apt-get update
    run $SUDO apt-get install -y -t bookworm-backports mesa-vulkan-drivers libvulkan1
    exit 0
  fi
  echo "deb http://deb.debian.org/debian bookworm-backports main" | $SUDO tee /etc/apt/sources.list.d/bookworm-backports.list >/dev/null
  $SUDO apt-get update -qq >"$log" 2>&1
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers libvulkan1 >>"$log" 2>&1
else
  echo "setup: no WebGPU adapter found; $([ "$DRY" = 1 ] && echo 'would install' || echo 'installing') Mesa lavapipe (software Vulkan: mesa-vulkan-drivers)$([ "$DRY" = 1 ] || echo " (log: $log)")"
  if [ "$DRY" = 1 ]; then
    run $SUDO apt-get update
    run $SUDO apt-get install -y mesa-vulkan-drivers libvulkan1
    exit 0
  fi
  $SUDO apt-get update -qq >"$log" 2>&1
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq mesa-vulkan-drivers libvulkan1 >>"$log" 2>&1
fi

if ! probe; then
  echo "setup: still no WebGPU adapter after installing lavapipe; details:" >&2
  node scripts/probe-adapter.mjs >&2 || true
  exit 1
fi
[ "$VERBOSE" = 1 ] && echo "setup: WebGPU adapter: $(node scripts/probe-adapter.mjs 2>/dev/null)"
exit 0
