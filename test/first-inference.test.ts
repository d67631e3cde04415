// The first inference of a runtime: it says that the GPU kernels are compiling (a 'compile' stage
// before any other, once per runtime), and compiles fewer matmul variants where lanes share loads.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Runtime } from '../src/gpu/runtime.js';
import { setRuntime } from '../src/graph/tensor.js';
import { propose, type InferProgress } from '../src/infer/proposals.js';
import { decodeImage } from '../src/data/image.js';
import { generateScenes } from '../src/data/synth.js';
import { loadModel } from '../src/model/files.js';
import { COMPILE_LINE, stageLine } from '../src/cli/progress.js';
import { matmulLanes } from '../src/kernels/matmul.js';
import { lanesFor } from '../src/kernels/tiling.js';
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

test("fewer variants: where lanes share loads, matmul's wide lane layouts are one subgroup's", () => {
  for (const N of [64, 128, 512, 3136]) assert.equal(matmulLanes({ shareLanes: 8 }, N), { WG: 8, COL_LANES: 8 }, `N ${N}`);
  for (const N of [1, 8, 16, 32]) assert.equal(matmulLanes({ shareLanes: 8 }, N), lanesFor(N), `narrow N ${N} as before`);
  assert.equal(matmulLanes({ shareLanes: 0 }, 512), lanesFor(512), 'not sharing (GPUs): as wide as before');
});

test.run();
