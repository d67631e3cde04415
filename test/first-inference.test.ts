// The first inference of a runtime: it says that the GPU kernels are compiling (a 'compile' stage
// before any other, once per runtime), and compiles fewer variants: the GEMM kernels' wide lane
// layouts where lanes share loads, one pipeline for the narrow layouts, one for every bias/ReLU
// combination.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Runtime } from '../src/gpu/runtime.js';
import { noGrad, ops, Tensor } from '../src/index.js';
import { setRuntime } from '../src/graph/tensor.js';
import { propose, type InferProgress } from '../src/infer/proposals.js';
import { decodeImage } from '../src/data/image.js';
import { generateScenes } from '../src/data/synth.js';
import { loadModel } from '../src/model/files.js';
import { COMPILE_LINE, stageLine } from '../src/cli/progress.js';
import { laneArgs, lanesFor, lanesOn } from '../src/kernels/tiling.js';
import { rt as shared } from './lib/gpu.js';
import { repoPath } from './lib/shared.js';

test("onProgress reports a 'compile' stage first, on a runtime's first inference only", async () => {
  const img = decodeImage(generateScenes({ images: 1, seed: 91 }).images[0]!.png);
  const rt = await Runtime.create();
  setRuntime(rt);
  try {
    const model = loadModel(repoPath('models/tiny-synth'));
    const events: string[][] = [[], []];
    for (const round of [0, 1])
      await propose(model, img, { proposals: 5, onProgress: (e: InferProgress) => events[round]!.push(`${e.stage}:${e.done}/${e.total}`) });
    assert.is(events[0]![0], 'compile:0/1', events[0]!.join(' '));
    assert.is(events[0]!.filter((e) => e.startsWith('compile')).length, 1);
    assert.equal(
      events[1]!.filter((e) => e.startsWith('compile')),
      [],
      'the second inference compiles nothing',
    );
    assert.equal(events[1], events[0]!.slice(1), 'the other stages as before');
    model.dispose();
  } finally {
    setRuntime(shared);
    rt.destroy();
  }
});

test('the CLI names the compile stage for what it is', () => {
  assert.is(stageLine({ stage: 'compile', done: 0, total: 1 }), COMPILE_LINE);
  assert.match(COMPILE_LINE, /compiling GPU kernels/);
  assert.is(stageLine({ stage: 'trunk', scale: 0.3536, done: 3, total: 6 }), 'trunk 3/6 (scale 0.354)');
});

test("fewer variants: where lanes share loads, the GEMM kernels' wide lane layouts are one subgroup's", () => {
  for (const N of [64, 128, 512, 3136]) assert.equal(lanesOn({ shareLanes: 8 }, N), { WG: 8, COL_LANES: 8 }, `N ${N}`);
  for (const N of [1, 8, 16, 32]) assert.equal(lanesOn({ shareLanes: 8 }, N), lanesFor(N), `narrow N ${N} as before`);
  assert.equal(lanesOn({ shareLanes: 0 }, 512), lanesFor(512), 'not sharing (GPUs): as wide as before');
  // Narrow layouts pass their column lanes as a uniform (one pipeline); wide ones as a constant.
  assert.equal(laneArgs(lanesFor(8)), { constants: { WG: 8, COL_LANES: 0 }, colLanes: 1 });
  assert.equal(laneArgs(lanesFor(32)), { constants: { WG: 8, COL_LANES: 0 }, colLanes: 4 });
  assert.equal(laneArgs(lanesFor(512)), { constants: { WG: 64, COL_LANES: 64 }, colLanes: 64 });
});

test('narrow lane layouts (1, 2 and 4 column lanes) share one pipeline per kernel and still compute each product', async () => {
  const rt = await Runtime.create();
  setRuntime(rt);
  try {
    const rng = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + seed));
    const K = 7,
      M = 37;
    const x = Tensor.from(rng(M * K, 1), [M, K]);
    const img = Tensor.from(rng(2 * 9 * 9 * 5, 2), [2, 9, 9, 5]);
    const before = rt.counters.pipelines;
    // 8, 12 and 28 columns: 1, 2 and 4 column lanes of 8 (all vec4-aligned, so one variant each).
    for (const N of [8, 12, 28]) {
      const w = Tensor.from(rng(K * N, N), [K, N]);
      const y = noGrad(() => ops.linear(x, w));
      const got = await y.read(),
        a = await x.read(),
        b = await w.read();
      for (let m = 0; m < M; m++)
        for (let n = 0; n < N; n++) {
          let want = 0;
          for (let k = 0; k < K; k++) want += a[m * K + k]! * b[k * N + n]!;
          assert.ok(Math.abs(got[m * N + n]! - want) < 1e-5, `linear N ${N} [${m}, ${n}]: ${got[m * N + n]} vs ${want}`);
        }
      const k = Tensor.from(rng(3 * 3 * 5 * N, 3 + N), [3, 3, 5, N]);
      const c = noGrad(() => ops.conv2d(img, k, null, { pad: 1 }));
      const cv = await c.read(),
        iv = await img.read(),
        kv = await k.read();
      for (const [n0, oy, ox, co] of [
        [0, 0, 0, 0],
        [1, 8, 8, N - 1],
        [1, 4, 3, N >> 1],
      ] as const) {
        let want = 0;
        for (let ky = 0; ky < 3; ky++)
          for (let kx = 0; kx < 3; kx++)
            for (let ci = 0; ci < 5; ci++) {
              const iy = oy + ky - 1,
                ix = ox + kx - 1;
              if (iy >= 0 && iy < 9 && ix >= 0 && ix < 9) want += iv[((n0 * 9 + iy) * 9 + ix) * 5 + ci]! * kv[((ky * 3 + kx) * 5 + ci) * N + co]!;
            }
        const v = cv[((n0 * 9 + oy) * 9 + ox) * N + co]!;
        assert.ok(Math.abs(v - want) < 1e-5, `conv2d Cout ${N} at ${[n0, oy, ox, co]}: ${v} vs ${want}`);
      }
      for (const t of [w, y, k, c]) t.dispose();
    }
    assert.is(rt.counters.pipelines - before, 2, 'one matmul and one conv2d pipeline for the three layouts');
    x.dispose();
    img.dispose();
  } finally {
    setRuntime(shared);
    rt.destroy();
  }
});

test('bias, ReLU and ReLU6 are uniforms of the GEMM kernels: every combination shares one pipeline', async () => {
  const rt = await Runtime.create();
  setRuntime(rt);
  try {
    const x = Tensor.from(new Float32Array(6 * 5).fill(0.5), [6, 5]),
      w = Tensor.from(new Float32Array(5 * 8).fill(-0.25), [5, 8]),
      b = Tensor.from(new Float32Array(8).fill(0.5), [8]),
      big = Tensor.from(new Float32Array(8).fill(20), [8]);
    const img = Tensor.from(new Float32Array(2 * 7 * 7 * 3).fill(0.5), [2, 7, 7, 3]),
      k = Tensor.from(new Float32Array(3 * 3 * 3 * 8).fill(-0.1), [3, 3, 3, 8]);
    const outs = noGrad(() => [
      ops.linear(x, w),
      ops.linear(x, w, b),
      ops.linear(x, w, b, { relu: true }),
      ops.linear(x, w, big, { relu6: true }),
      ops.conv2d(img, k),
      ops.conv2d(img, k, b, { relu: true }),
      ops.conv2d(img, k, b, { relu6: true }),
    ]);
    const read = await Promise.all(outs.map((o) => o.read()));
    // x·w = -0.625: plain, + bias 0.5, ReLU of that, ReLU6 of -0.625 + 20.
    assert.equal([read[0]![0], read[1]![0], read[2]![0], read[3]![0]], [-0.625, -0.125, 0, 6], 'each epilogue as asked');
    assert.is(rt.counters.pipelines, 2, 'one matmul and one conv2d pipeline');
    for (const t of [x, w, b, big, img, k, ...outs]) t.dispose();
  } finally {
    setRuntime(shared);
    rt.destroy();
  }
});

test.run();
