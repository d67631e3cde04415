#!/usr/bin/env bash
# Prepares what scripts/gpu-check.sh needs on a bare Linux x64 machine with a GPU and no Node:
# .gpu/pack.tar (this Node binary xz-compressed, the built dist/, node_modules with only what the
# kernel tests and the bench load at run time and Dawn's linux-x64 build, and the Vulkan loader),
# split into .gpu/part-NN files of at most --part-mib MiB (default 10) with their sha256 sums, so
# that each part fits beside the working tree in one transfer (see "On a lent GPU machine" below).
#
#   bash scripts/gpu-pack.sh [--part-mib N] [--no-build]
#
# On a lent GPU machine (the device tool: 64 MiB for the working tree and what is carried; the tree
# alone is ~50 MiB with the bundled models), carry the parts one call at a time, in calls that
# follow each other while the machine is warm, the last one running the check:
#   run(carry: [".gpu/part-00", ".gpu/SHA256SUMS"], command: "bash scripts/gpu-check.sh --stash")
#   ...
#   run(carry: [".gpu/part-NN", ".gpu/SHA256SUMS"], command: "bash scripts/gpu-check.sh --out $OUT")
# (--stash keeps the carried parts in /var/tmp/deepmask-gpu/ and exits; the check assembles them
# once all are there.) Where the whole pack fits, carry ".gpu" and run gpu-check.sh in one call.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
part_mib=10
build=1
while [ $# -gt 0 ]; do
  case "$1" in
    --part-mib) part_mib="${2:?--part-mib needs a number of MiB}"; shift 2 ;;
    --no-build) build=0; shift ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "gpu-pack.sh: unknown option '$1' (have --part-mib N, --no-build)" >&2; exit 2 ;;
  esac
done
case "$part_mib" in ''|*[!0-9]*) echo "gpu-pack.sh: --part-mib must be a whole number of MiB, got '$part_mib'" >&2; exit 2 ;; esac
[ "$(uname -m)" = x86_64 ] || { echo "gpu-pack.sh: this machine is $(uname -m); the pack must hold x86-64 builds (Node, Dawn, the Vulkan loader)" >&2; exit 1; }
command -v xz >/dev/null || { echo "gpu-pack.sh: needs xz (apt-get install xz-utils)" >&2; exit 1; }

node_bin=$(command -v node)
nm="$root/node_modules"
[ -f "$nm/webgpu/dist/linux-x64/dawn.node" ] || { echo "gpu-pack.sh: $nm/webgpu/dist/linux-x64/dawn.node is missing (run npm ci first)" >&2; exit 1; }
if [ $build = 1 ]; then node scripts/build.mjs; fi
[ -f dist/bench/run.js ] || { echo "gpu-pack.sh: dist/ is not built (node scripts/build.mjs)" >&2; exit 1; }

mkdir -p .gpu
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

# Node: compressed once per binary (the slow part, ~1-2 minutes), then reused.
ver=$("$node_bin" -p 'process.version')
cached=".gpu/node-$ver-linux-x64.xz"
if [ ! -s "$cached" ]; then
  echo "compressing $node_bin ($ver) ..."
  xz -T2 -6 -c "$node_bin" >"$cached.tmp" && mv "$cached.tmp" "$cached"
fi
cp "$cached" "$stage/node.xz"

# node_modules: the packages dist/ loads at run time (the tfjs peer and esbuild are left out: the
# bench runs with --no-peer there), webgpu with only its linux-x64 Dawn.
mkdir -p "$stage/node_modules"
for p in jpeg-js upng-js pako wgsl_reflect fast-png iobuffer fflate uvu dequal diff kleur sade mri; do
  [ -d "$nm/$p" ] || { echo "gpu-pack.sh: $nm/$p is missing (run npm ci first)" >&2; exit 1; }
  cp -rL "$nm/$p" "$stage/node_modules/$p"
done
mkdir -p "$stage/node_modules/webgpu/dist"
cp -L "$nm/webgpu/package.json" "$nm/webgpu/index.js" "$stage/node_modules/webgpu/"
cp -rL "$nm/webgpu/dist/linux-x64" "$stage/node_modules/webgpu/dist/"
# The package itself, for the tests that import deepmask-webgpu by name.
mkdir -p "$stage/node_modules/deepmask-webgpu"
cp package.json "$stage/node_modules/deepmask-webgpu/"

# The Vulkan loader (a bare machine may have the NVIDIA driver's ICD but no libvulkan.so.1).
# (awk reads to the end: an early exit would SIGPIPE ldconfig and, with pipefail, stop the script.)
vk=$(ldconfig -p 2>/dev/null | awk '/libvulkan\.so\.1 .*x86-64/ && !f {print $NF; f = 1}')
if [ -z "$vk" ]; then
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download libvulkan1 >/dev/null) || { echo "gpu-pack.sh: no libvulkan.so.1 here and 'apt-get download libvulkan1' failed" >&2; exit 1; }
  dpkg -x "$tmp"/libvulkan1_*.deb "$tmp/x"
  vk=$(ls "$tmp"/x/usr/lib/x86_64-linux-gnu/libvulkan.so.1.* | head -1)
fi
mkdir -p "$stage/vk"
cp -L "$vk" "$stage/vk/libvulkan.so.1"

cp -r dist "$stage/dist"
rm -rf "$stage/dist/web"
echo "$ver $(git rev-parse --short HEAD 2>/dev/null || echo unknown) $(date -u +%FT%TZ)" >"$stage/PACKED"

rm -f .gpu/pack.tar .gpu/part-* .gpu/SHA256SUMS
# Node is xz already; the rest (mostly Dawn) goes into one more xz stream.
tar -C "$stage" -cf - node_modules vk dist | xz -T2 -6 >"$stage/rest.tar.xz"
tar -C "$stage" -cf .gpu/pack.tar node.xz rest.tar.xz PACKED
(cd .gpu && split -b "${part_mib}M" -d -a 2 pack.tar part- && rm pack.tar && sha256sum part-* >SHA256SUMS)
total=$(cat .gpu/part-* | wc -c)
tree=$(git ls-files -z | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1)
echo "wrote $(ls .gpu/part-* | wc -l) part(s) in .gpu/ ($((total / 1048576)) MiB in all; the tracked tree is $((tree / 1048576)) MiB of the 64 MiB a transfer may hold)"
ls -l .gpu/part-* | awk '{print "  " $NF " " $5}'
