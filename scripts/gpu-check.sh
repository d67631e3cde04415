#!/usr/bin/env bash
# The GPU check in one command: on a bare Linux x64 machine with a GPU and no Node, unpacks what
# scripts/gpu-pack.sh prepared (Node, dist/, the runtime node_modules with Dawn's linux-x64 build,
# the Vulkan loader), runs the kernel tests and the bench on the real adapter, and writes
# bench/results/<adapter>.json. Nothing is installed system-wide: all goes to /var/tmp/deepmask-gpu.
#
#   bash scripts/gpu-check.sh [--quick] [--only LIST] [--tests REGEX | --no-tests] [--no-bench]
#                             [--results DIR] [--out DIR] [--allow-software] [--packed-loader] [--stash]
#
#   --quick           the bench's quick mode (fewer repetitions)
#   --only LIST       bench sections (default: all but the tfjs peer: matmul,conv,mobilenet,model,
#                     deepmask,loader,click); the peer is not carried (esbuild and tfjs: ~80 MB)
#   --tests REGEX     test files to run (default: the kernel tests, $KERNEL_TESTS below)
#   --results DIR     where bench/results/<adapter>.json goes (default: this checkout's bench/results)
#   --out DIR         also copy the results and the logs there (on the device tool: --out $OUT)
#   --allow-software  accept a software adapter (lavapipe, SwiftShader): for trying this script
#                     on a machine without a GPU; otherwise that is an error (the check would
#                     measure the CPU)
#   --packed-loader   use the packed Vulkan loader even where the system has one
#   --stash           only keep the carried .gpu/part-* in the stash and exit (packs split over
#                     several transfers; see scripts/gpu-pack.sh)
#
# Exit status: 0 all passed; 1 a test or the bench failed, or no (hardware) adapter; 2 usage; 3 the
# pack is incomplete or corrupt (the message lists the missing parts).
set -uo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
KERNEL_TESTS='(engine|ops|depthwise|half|golden|model)\.test\.js$'
STASH=${DEEPMASK_GPU_STASH:-/var/tmp/deepmask-gpu}
PARTS=${DEEPMASK_GPU_PARTS:-.gpu} # where the carried parts are
quick=() only='matmul,conv,mobilenet,model,deepmask,loader,click' tests=$KERNEL_TESTS bench=1 results=$repo/bench/results out='' software=0 stash_only=0 packed_loader=0
usage() { sed -n '7,23p' "$0" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=(--quick); shift ;;
    --only) only="${2:?--only needs a list of bench sections}"; shift 2 ;;
    --tests) tests="${2:?--tests needs a regular expression}"; shift 2 ;;
    --no-tests) tests=''; shift ;;
    --no-bench) bench=0; shift ;;
    --results) results="${2:?--results needs a folder}"; shift 2 ;;
    --out) out="${2:?--out needs a folder}"; shift 2 ;;
    --allow-software) software=1; shift ;;
    --stash) stash_only=1; shift ;;
    --packed-loader) packed_loader=1; shift ;;
    -h|--help) usage ;;
    *) echo "gpu-check.sh: unknown option '$1'" >&2; usage ;;
  esac
done
[ "$(uname -m)" = x86_64 ] || { echo "gpu-check.sh: the pack holds x86-64 builds; this machine is $(uname -m)" >&2; exit 1; }

# 1. The parts: those carried in this tree join the stash (earlier transfers left theirs there).
mkdir -p "$STASH/parts"
if ls "$PARTS"/part-* >/dev/null 2>&1; then
  [ -f "$PARTS/SHA256SUMS" ] || { echo "gpu-check.sh: $PARTS/part-* without $PARTS/SHA256SUMS; carry both" >&2; exit 3; }
  if [ -f "$STASH/parts/SHA256SUMS" ] && ! cmp -s "$PARTS/SHA256SUMS" "$STASH/parts/SHA256SUMS"; then rm -f "$STASH"/parts/*; fi # another pack
  cp "$PARTS"/part-* "$PARTS/SHA256SUMS" "$STASH/parts/"
fi
[ -f "$STASH/parts/SHA256SUMS" ] || { echo "gpu-check.sh: no pack: run scripts/gpu-pack.sh where Node is, and carry .gpu (or its parts) here" >&2; exit 3; }
missing=$(cd "$STASH/parts" && awk '{print $2}' SHA256SUMS | while read -r p; do [ -f "$p" ] || echo "$p"; done)
if [ $stash_only = 1 ]; then
  echo "stashed in $STASH/parts: $(cd "$STASH/parts" && ls part-* | tr '\n' ' ')${missing:+; still missing: $(echo $missing)}"
  exit 0
fi
[ -z "$missing" ] || { echo "gpu-check.sh: the pack is incomplete; missing $(echo $missing) (carry them with --stash first)" >&2; exit 3; }
(cd "$STASH/parts" && sha256sum -c --quiet SHA256SUMS) || { echo "gpu-check.sh: a part of the pack is corrupt (sha256 mismatch above); carry it again" >&2; exit 3; }

# 2. Unpack into a fresh run folder: Node, node_modules, dist/, the Vulkan loader.
run="$STASH/run"
rm -rf "$run" && mkdir -p "$run/bin"
cat "$STASH"/parts/part-* | tar -x -C "$run" || { echo "gpu-check.sh: cannot unpack the pack" >&2; exit 3; }
unxz_to() { # FILE.xz OUT: xz, or Python's lzma where xz is missing
  if command -v xz >/dev/null; then xz -dc "$1" >"$2"; else python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$1" "$2"; fi
}
unxz_to "$run/node.xz" "$run/bin/node" && chmod +x "$run/bin/node" && rm "$run/node.xz"
unxz_to "$run/rest.tar.xz" "$run/rest.tar" && tar -x -C "$run" -f "$run/rest.tar" && rm "$run/rest.tar" "$run/rest.tar.xz" || { echo "gpu-check.sh: cannot unpack node_modules/dist" >&2; exit 3; }
node="$run/bin/node"
"$node" --version >/dev/null || { echo "gpu-check.sh: the packed Node does not run here" >&2; exit 1; }
# The checkout's data beside dist/ (models, test goldens, photos, shaders), linked, not copied.
for d in package.json models test web shaders scripts; do [ -e "$repo/$d" ] && ln -s "$repo/$d" "$run/$d"; done
mkdir -p "$run/bench/results" && cp "$repo"/bench/results/*.json "$run/bench/results/" 2>/dev/null
ln -sfn ../../dist "$run/node_modules/deepmask-webgpu/dist"

# 3. Vulkan: the packed loader when the system has none; the NVIDIA driver's ICD where only it is.
# (grep reads all of ldconfig's output: grep -q would SIGPIPE it and fail the pipeline.)
if [ $packed_loader = 1 ] || ! ldconfig -p 2>/dev/null | grep 'libvulkan\.so\.1 ' >/dev/null; then export LD_LIBRARY_PATH="$run/vk${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"; fi
if ! ls /usr/share/vulkan/icd.d/*.json /etc/vulkan/icd.d/*.json /usr/local/share/vulkan/icd.d/*.json >/dev/null 2>&1; then
  for f in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/local/nvidia/icd.d/nvidia_icd.json; do
    if [ -f "$f" ]; then export VK_DRIVER_FILES="$f" VK_ICD_FILENAMES="$f"; break; fi
  done
fi
logs="$run/logs"; mkdir -p "$logs"
adapter=$(cd "$run" && "$node" --input-type=module -e "
import { create, globals } from 'webgpu';
Object.assign(globalThis, globals);
const a = await create([]).requestAdapter({ powerPreference: 'high-performance' });
if (!a) { console.error('no WebGPU adapter'); process.exit(1); }
console.log(a.info.architecture + '|' + a.info.vendor + ' ' + a.info.description);
process.exit(0);" 2>"$logs/adapter.err")
if [ -z "$adapter" ]; then
  echo "gpu-check.sh: Dawn found no adapter ($(tail -1 "$logs/adapter.err")). Vulkan: LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-} VK_DRIVER_FILES=${VK_DRIVER_FILES:-}; nvidia-smi: $(nvidia-smi -L 2>&1 | head -1)" >&2
  exit 1
fi
echo "adapter: ${adapter#*|}; node $("$node" --version); pack: $(cat "$run/PACKED")"
case "${adapter%%|*} ${adapter#*|}" in
  *software*|*llvmpipe*|*SwiftShader*|*lavapipe*)
    if [ $software = 0 ]; then echo "gpu-check.sh: only a software adapter (${adapter#*|}); this check is for a GPU (--allow-software to run it anyway)" >&2; exit 1; fi ;;
esac

# 4. Kernel tests, then the bench.
status=0
if [ -n "$tests" ]; then
  echo "== tests: $tests"
  (cd "$run" && "$node" node_modules/uvu/bin.js dist/test "$tests") 2>&1 | tee "$logs/tests.log"
  [ "${PIPESTATUS[0]}" = 0 ] || { echo "gpu-check.sh: tests failed (log: $logs/tests.log)" >&2; status=1; }
fi
if [ $bench = 1 ]; then
  echo "== bench: --only $only ${quick[*]}"
  (cd "$run" && "$node" dist/bench/run.js --no-peer --only "$only" "${quick[@]}") 2>&1 | tee "$logs/bench.log"
  if [ "${PIPESTATUS[0]}" = 0 ]; then
    mkdir -p "$results"
    for f in "$run"/bench/results/*.json; do # the file(s) this run wrote
      if [ "$f" -nt "$logs/adapter.err" ]; then cp "$f" "$results/" && echo "wrote $results/$(basename "$f")"; fi
    done
  else
    echo "gpu-check.sh: the bench failed (log: $logs/bench.log)" >&2; status=1
  fi
fi
if [ -n "$out" ]; then
  mkdir -p "$out" && cp "$logs"/*.log "$out/" 2>/dev/null
  for f in "$run"/bench/results/*.json; do [ "$f" -nt "$logs/adapter.err" ] && cp "$f" "$out/"; done
fi
[ $status = 0 ] && echo "gpu-check: passed on ${adapter#*|}" || echo "gpu-check: FAILED on ${adapter#*|}"
exit $status
