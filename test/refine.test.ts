// SharpMask's refinement against an independent PyTorch definition (test/golden/refine.json, made by
// scripts/torch-golden-refine.py): the forward pass and every gradient, on the training path
// (window crops with context, unpadded) and the inference path (whole maps, then windows cut).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { noGrad, Rng, scope, Tensor, ops } from '../src/index.js';
import { SKIP_CONTEXT } from '../src/model/refine.js';
import { Refinement, checkRefineSpec } from '../src/model/refine.js';
import type { Trunk } from '../src/model/trunks.js';
import { DeepMask } from '../src/model/deepmask.js';
import { presetConfig } from '../src/model/presets.js';
import { assertClose } from './lib/check.js';
import './lib/gpu.js';

type Golden = Record<string, unknown> & { E: number; featureSize: number; mask: number; channels: number[]; widths: number[]; n: number };
const golden = JSON.parse(readFileSync(new URL('../../test/golden/refine.json', import.meta.url), 'utf8')) as Golden;
const win = golden.windows as Record<string, unknown>;
const dense = golden.dense as Record<string, unknown>;

/** NCHW -> NHWC. */
function nhwc(d: number[], [N, C, H, W]: number[]): number[] {
  const out = new Array<number>(d.length);
  for (let n = 0; n < N!; n++)
    for (let c = 0; c < C!; c++)
      for (let h = 0; h < H!; h++) for (let w = 0; w < W!; w++) out[((n * H! + h) * W! + w) * C! + c] = d[((n * C! + c) * H! + h) * W! + w]!;
  return out;
}
const nhwcShape = ([N, C, H, W]: number[]) => [N!, H!, W!, C!];

/** A PyTorch parameter in our layout: conv (out, in, kh, kw) -> (kh, kw, in, out); linear (out, in) -> (in, out). */
function ours(d: number[], shape: number[]): { shape: number[]; data: Float32Array } {
  if (shape.length === 4) {
    const [O, I, KH, KW] = shape as [number, number, number, number];
    const out = new Float32Array(d.length);
    for (let o = 0; o < O; o++)
      for (let i = 0; i < I; i++)
        for (let a = 0; a < KH; a++) for (let b = 0; b < KW; b++) out[((a * KW + b) * I + i) * O + o] = d[((o * I + i) * KH + a) * KW + b]!;
    return { shape: [KH, KW, I, O], data: out };
  }
  if (shape.length === 2) {
    const [O, I] = shape as [number, number];
    const out = new Float32Array(d.length);
    for (let o = 0; o < O; o++) for (let i = 0; i < I; i++) out[i * O + o] = d[o * I + i]!;
    return { shape: [I, O], data: out };
  }
  return { shape, data: Float32Array.from(d) };
}

/** A stand-in trunk naming three layers at strides 4, 2 and 1. */
const toyTrunk = {
  tap: (name: string) => {
    const i = ['s4', 's2', 's1'].indexOf(name);
    if (i < 0) throw new Error(`no layer '${name}'`);
    return { stride: 4 >> i, channels: golden.channels[i]! };
  },
} as unknown as Trunk;

function build(): Refinement {
  const r = new Refinement({ skips: ['s4', 's2', 's1'], mask: golden.mask, skipWidths: golden.widths }, toyTrunk, golden.featureSize, golden.E, new Rng(1));
  const params = win.params as Record<string, number[]>,
    shapes = win.shapes as Record<string, number[]>;
  r.loadState(new Map(Object.keys(params).map((k) => [k, ours(params[k]!, shapes[k]!)])), { source: 'refine.json' });
  return r;
}

async function checkGrads(r: Refinement, g: Record<string, unknown>, what: string): Promise<void> {
  const grads = g.grads as Record<string, number[]>,
    shapes = win.shapes as Record<string, number[]>;
  for (const [name, p] of r.namedParameters()) {
    assert.ok(p.grad, `${what}: ${name} has a gradient`);
    assertClose(await p.grad!.read(), ours(grads[name]!, shapes[name]!).data, `${what}: d/d${name} vs PyTorch`, 1e-4);
  }
}

test('refinement on window crops with context (the training path) matches PyTorch: forward and every gradient', async () => {
  const r = build();
  const emb = Tensor.from(win.embedding as number[], [golden.n, golden.E]);
  const cropShapes = win.cropShapes as number[][];
  const crops = (win.crops as number[][]).map((c, i) => Tensor.from(nhwc(c, cropShapes[i]!), nhwcShape(cropShapes[i]!)));
  for (const t of [emb, ...crops]) t.requiresGrad = true;
  const yShape = win.yShape as number[];
  const y = scope(() => {
    const y = r.forward(emb, r.skipWindows(crops));
    y.backward(Tensor.from(nhwc(win.g as number[], yShape), y.shape));
    return y;
  });
  assert.equal([...y.shape], nhwcShape(yShape));
  assertClose(await y.read(), nhwc(win.y as number[], yShape), 'refined logits vs PyTorch', 1e-4);
  await checkGrads(r, win, 'windows');
  assertClose(await emb.grad!.read(), win.dEmbedding as number[], 'd/dembedding vs PyTorch', 1e-4);
  for (let i = 0; i < crops.length; i++)
    assertClose(await crops[i]!.grad!.read(), nhwc((win.dCrops as number[][])[i]!, cropShapes[i]!), `d/dcrop ${i} vs PyTorch`, 1e-4);
  for (const t of [y, emb, ...crops]) t.dispose();
  r.dispose();
});

test('refinement over whole maps, then windows cut (the inference path) matches PyTorch: forward and every gradient', async () => {
  const r = build();
  const emb = Tensor.from(win.embedding as number[], [golden.n, golden.E]);
  const mapShapes = dense.mapShapes as number[][];
  const maps = (dense.maps as number[][]).map((m, i) => Tensor.from(nhwc(m, mapShapes[i]!), nhwcShape(mapShapes[i]!)));
  for (const t of [emb, ...maps]) t.requiresGrad = true;
  const cells = (dense.cells as [number, number][]).map(([row, col]) => ({ image: 0, r: row, c: col }));
  const yShape = dense.yShape as number[];
  const y = scope(() => {
    const y = r.forward(emb, r.cropSkips([r.skipMaps(maps)], cells));
    y.backward(Tensor.from(nhwc(dense.g as number[], yShape), y.shape));
    return y;
  });
  assertClose(await y.read(), nhwc(dense.y as number[], yShape), 'refined logits (dense) vs PyTorch', 1e-4);
  await checkGrads(r, dense, 'dense');
  assertClose(await emb.grad!.read(), dense.dEmbedding as number[], 'd/dembedding (dense) vs PyTorch', 1e-4);
  for (let i = 0; i < maps.length; i++)
    assertClose(await maps[i]!.grad!.read(), nhwc((dense.dMaps as number[][])[i]!, mapShapes[i]!), `d/dmap ${i} vs PyTorch`, 1e-4);
  for (const t of [y, emb, ...maps]) t.dispose();
  r.dispose();
});

test('cropSkips puts windows of several images back in the order asked', async () => {
  const r = build();
  const mapShapes = dense.mapShapes as number[][];
  const mapsOf = (seed: number) =>
    r.skipMaps(
      mapShapes.map((s) =>
        Tensor.from(
          Float32Array.from({ length: s.reduce((a, b) => a * b, 1) }, (_, i) => Math.sin(i * 0.37 + seed)),
          nhwcShape(s),
        ),
      ),
    );
  const a = mapsOf(1),
    b = mapsOf(2);
  const cells = [
    { image: 1, r: 0, c: 1 },
    { image: 0, r: 2, c: 0 },
    { image: 1, r: 1, c: 1 },
  ];
  const mixed = r.cropSkips([a, b], cells);
  for (const [j, cell] of cells.entries()) {
    const alone = r.cropSkips([cell.image ? b : a], [{ ...cell, image: 0 }]);
    for (let i = 0; i < mixed.length; i++) {
      const per = mixed[i]!.size / cells.length;
      assert.equal(Array.from(await mixed[i]!.read()).slice(j * per, (j + 1) * per), Array.from(await alone[i]!.read()), `stage ${i}, window ${j}`);
    }
    for (const t of alone) t.dispose();
  }
  for (const t of [...a, ...b, ...mixed]) t.dispose();
  r.dispose();
});

test('refine specs are checked against the trunk: names, strides, widths and mask channels', () => {
  const spec = { skips: ['s4', 's2', 's1'], mask: 8, skipWidths: [4, 3, 2] };
  checkRefineSpec(spec, toyTrunk);
  assert.throws(() => checkRefineSpec({ ...spec, skips: ['s4', 's1', 's2'] }, toyTrunk), /half the stride/);
  assert.throws(() => checkRefineSpec({ ...spec, skips: ['s4', 's3', 's1'] }, toyTrunk), /no layer 's3'/);
  assert.throws(() => checkRefineSpec({ ...spec, mask: 12 }, toyTrunk), /multiple of 2\^3/);
  assert.throws(() => checkRefineSpec({ ...spec, skipWidths: [4, 3] }, toyTrunk), /one integer in 1..4096 per skip/);
  assert.throws(() => new DeepMask({ ...presetConfig('squeeze'), refine: spec }), /names no layers/);
  assert.throws(
    () => new DeepMask({ ...presetConfig('tiny'), refine: { skips: ['features.9', 'features.6'], mask: 8, skipWidths: [4, 4] } }),
    /first skip 'features.9' is at stride 8/,
  );
  assert.throws(
    () => new DeepMask({ ...presetConfig('tiny'), refine: { skips: ['features.12', 'features.9'], mask: 8, skipWidths: [4, 4] } }),
    /2 stages refine a 7-cell window to 28 px/,
  );
});

test('training windows cut from the trunk maps with context give exactly the whole-map refinement, at the corners of the map too', async () => {
  const config = { ...presetConfig('tiny'), refine: { skips: ['features.12', 'features.9', 'features.6', 'features.3'], mask: 16, skipWidths: [6, 5, 4, 3] } };
  const m = new DeepMask(config, { seed: 3 }).eval();
  const refine = m.refine!;
  const [H, W] = [224, 208];
  const rng = new Rng(5);
  const image = Tensor.from(
    Float32Array.from({ length: H * W * 3 }, () => rng.uniform(-1, 1)),
    [1, H, W, 3],
  );
  const F = m.featureSize,
    rows = H / 16 - F + 1,
    cols = W / 16 - F + 1;
  const cells = [
    { image: 0, r: 0, c: 0 },
    { image: 0, r: rows - 1, c: cols - 1 },
    { image: 0, r: 3, c: 3 },
    { image: 0, r: 0, c: cols - 1 },
  ];
  const emb = Tensor.from(
    Float32Array.from({ length: cells.length * m.heads.embedWidth }, () => rng.uniform(-1, 1)),
    [cells.length, m.heads.embedWidth],
  );
  const [dense, windows, unmasked] = noGrad(() => {
    const { taps } = m.trunk.forwardTaps!(image, refine.skips);
    const whole = refine.forward(emb, refine.cropSkips([refine.skipMaps(taps)], cells));
    const crops = taps.map((t, i) =>
      ops.cropWindows(
        t,
        cells.map((c) => ({ image: 0, top: (c.r << i) - SKIP_CONTEXT, left: (c.c << i) - SKIP_CONTEXT })),
        refine.windowSide(i) + 2 * SKIP_CONTEXT,
      ),
    );
    const onMap = taps.map((t, i) => {
      const side = refine.windowSide(i) + 2 * SKIP_CONTEXT,
        [, th, tw] = t.shape as [number, number, number];
      const on = new Float32Array(cells.length * side * side);
      cells.forEach((c, k) => {
        for (let y = 0; y < side; y++)
          for (let x = 0; x < side; x++) {
            const ty = (c.r << i) - SKIP_CONTEXT + y,
              tx = (c.c << i) - SKIP_CONTEXT + x;
            on[(k * side + y) * side + x] = ty >= 0 && tx >= 0 && ty < th && tx < tw ? 1 : 0;
          }
      });
      return on;
    });
    const cut = m.refineWindows(emb, crops, onMap);
    const unmasked = m.refineWindows(emb, crops);
    return [whole, cut, unmasked];
  });
  const want = await dense.read();
  assertClose(await windows.read(), want, 'window crops with context vs whole maps', 1e-5);
  // Without the off-map zeroing the corner windows differ (the interior one, cells[2], does not).
  const loose = await unmasked.read(),
    per = want.length / cells.length;
  const worst = (k: number) => Math.max(...Array.from({ length: per }, (_, i) => Math.abs(loose[k * per + i]! - want[k * per + i]!)));
  assert.ok(worst(0) > 1e-3 && worst(1) > 1e-3, `the corners need the zeroing (${worst(0)}, ${worst(1)})`);
  assert.ok(worst(2) < 1e-4, 'an interior window does not');
  for (const t of [image, emb, dense, windows, unmasked]) t.dispose();
  m.dispose();
});

test('a refinement that adds to the coarse masks: the same logits plus the coarse mask resampled half-pixel to the window', async () => {
  const plain = build();
  const spec = { skips: ['s4', 's2', 's1'], mask: golden.mask, skipWidths: golden.widths, coarse: true };
  const res = new Refinement(spec, toyTrunk, golden.featureSize, golden.E, new Rng(1));
  const fresh = new Refinement(spec, toyTrunk, golden.featureSize, golden.E, new Rng(1));
  res.loadState(new Map((await plain.exportState()).entries()));
  const emb = Tensor.from(win.embedding as number[], [golden.n, golden.E]);
  const cropShapes = win.cropShapes as number[][];
  const crops = (win.crops as number[][]).map((c, i) => Tensor.from(nhwc(c, cropShapes[i]!), nhwcShape(cropShapes[i]!)));
  const m = 5,
    S = plain.maskSize;
  const coarseData = Float64Array.from({ length: golden.n * m * m }, (_, i) => Math.cos(i * 0.7) * 3);
  const coarse = Tensor.from(coarseData, [golden.n, m, m, 1]);
  const [a, b, c] = noGrad(() => [
    plain.forward(emb, plain.skipWindows(crops)),
    res.forward(emb, res.skipWindows(crops), coarse),
    fresh.forward(emb, fresh.skipWindows(crops), coarse),
  ]);
  const { resizeRef } = await import('./lib/ref.js');
  const up = resizeRef(coarseData, golden.n, m, m, 1, S, S, false);
  const av = await a.read();
  assertClose(
    await b.read(),
    Array.from(av, (v, i) => v + up[i]!),
    'refined + coarse',
    1e-5,
  );
  assertClose(await c.read(), up, 'a new residual refinement leaves the coarse mask as it is (zero last layer)', 1e-6);
  c.dispose();
  fresh.dispose();
  assert.throws(() => res.forward(emb, res.skipWindows(crops)), /adds to the coarse masks: give them/);
  assert.throws(() => plain.forward(emb, plain.skipWindows(crops), coarse), /coarse masks given/);
  for (const t of [emb, coarse, a, b, ...crops]) t.dispose();
  plain.dispose();
  res.dispose();
});

test.run();
