import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DeepMask, fits, noGrad, Rng, Runtime, Tensor } from '../src/index.js';
import type { DenseModel } from '../src/model/deepmask.js';
import type { DenseOutput } from '../src/model/heads.js';
import { presetConfig } from '../src/model/presets.js';
import { defaultScales, encode, propose, type Proposal } from '../src/infer/proposals.js';
import { nms } from '../src/infer/results.js';
import { bitsToRuns, pasteMasks } from '../src/graph/paste.js';
import { decodeMask, encodeMask } from '../src/data/rle.js';
import { decodeImage } from '../src/data/image.js';
import { encodePng } from '../src/data/png.js';
import { assertClose, randomData } from './lib/check.js';
import { rt } from './lib/gpu.js';

const rng = new Rng(21);

/**
 * A model whose dense outputs are planted: one window (cell r, c at one scale) scores high, and
 * every mask is the central half of its window. Nothing but geometry is left to get right.
 */
class Planted implements DenseModel {
  readonly config = presetConfig('tiny');
  readonly featureSize = 7;
  constructor(
    readonly rt: Runtime,
    private readonly at: { scale: number; image: [number, number]; r: number; c: number },
  ) {}
  eval() {}
  features(image: Tensor): Tensor {
    return Tensor.empty([1, Math.floor(image.shape[1]! / 16), Math.floor(image.shape[2]! / 16), 1], { rt: this.rt });
  }
  denseHeads(f: Tensor): DenseOutput {
    const rows = f.shape[1]! - 6,
      cols = f.shape[2]! - 6;
    const [h, w] = this.at.image,
      S = this.config.inputSize;
    const planted = f.shape[1] === Math.floor((Math.round(h * this.at.scale) + S) / 16) && f.shape[2] === Math.floor((Math.round(w * this.at.scale) + S) / 16);
    // Other windows rank below, in grid order; the planted one scores logit 5.
    const scores = Float32Array.from({ length: rows * cols }, (_, i) => -5 - i * 1e-4);
    if (planted) scores[this.at.r * cols + this.at.c] = 5;
    return {
      embedding: Tensor.from(new Float32Array(rows * cols), [1, rows, cols, 1], { rt: this.rt }),
      scores: Tensor.from(scores, [1, rows, cols, 1], { rt: this.rt }),
    };
  }
  masksAt(_e: Tensor, cells: readonly number[]): Tensor {
    const m = 56,
      one = new Float32Array(m * m);
    for (let y = 0; y < m; y++) for (let x = 0; x < m; x++) one[y * m + x] = x >= 14 && x < 42 && y >= 14 && y < 42 ? 5 : -5;
    const all = new Float32Array(cells.length * m * m);
    cells.forEach((_, i) => all.set(one, i * m * m));
    return Tensor.from(all, [cells.length, m, m, 1], { rt: this.rt });
  }
}

test('the top window maps back to its place and scale in image coordinates', async () => {
  const image = { width: 333, height: 250, data: new Float32Array(333 * 250 * 3).fill(0.5) };
  const scales = defaultScales({ config: presetConfig('tiny') });
  for (const k of [2, 4, 0, 6]) {
    const s = scales[k]!;
    // A cell near the far corner of that scale's grid, row and column different.
    const rows = Math.floor((Math.round(250 * s) + 112) / 16) - 6,
      cols = Math.floor((Math.round(333 * s) + 112) / 16) - 6;
    const r = Math.max(0, rows - 2),
      c = Math.max(0, cols - 1);
    const model = new Planted(rt, { scale: s, image: [250, 333], r, c });
    const out = await propose(model, image, { proposals: 5 });
    const p = out.proposals[0]!;
    assert.is(p.scale, s, 'scale');
    assert.equal(p.cell, [r, c], 'grid cell (row, column), not transposed or shifted');
    const side = 112 / s,
      wx = (16 * c - 56) / s,
      wy = (16 * r - 56) / s;
    assertClose(p.window, [wx, wy, side], 'window', 1e-6);
    // The mask is the window's central half: logits +5 on mask pixels [14, 42), -5 elsewhere, so the
    // interpolated logit crosses the 0.2 threshold at mask coordinates 13 + t and 42 - t.
    const t = (5 + Math.log(0.2 / 0.8)) / 10;
    const lo = 13 + t,
      hi = 42 - t; // mask coordinates kept
    const px = (u: number, o: number) => (u + 0.5) * (side / 56) + o - 0.5; // image pixel with that mask coordinate
    const x0 = Math.max(0, Math.ceil(px(lo, wx))),
      x1 = Math.min(332, Math.floor(px(hi, wx)));
    const y0 = Math.max(0, Math.ceil(px(lo, wy))),
      y1 = Math.min(249, Math.floor(px(hi, wy)));
    assertClose(p.bbox, [x0, y0, x1 - x0 + 1, y1 - y0 + 1], `mask box at scale ${s}`, 0, 1.01);
    assert.ok(Math.abs(p.score - 1 / (1 + Math.exp(-5))) < 1e-6, 'score is the sigmoid of the logit');
    assert.ok(
      out.proposals.every((q, i) => i === 0 || q.score <= out.proposals[i - 1]!.score),
      'proposals in score order',
    );
  }
});

test('bit-packed masks convert to the same RLE as the reference encoder', () => {
  for (const [H, W, x0, y0, w, h] of [
    [37, 29, 3, 5, 20, 31],
    [64, 64, 0, 0, 64, 64],
    [10, 7, 6, 9, 1, 1],
  ] as const) {
    const perCol = Math.ceil(h / 32);
    const bits = new Uint32Array(w * perCol);
    const mask = new Uint8Array(H * W);
    for (let x = 0; x < w; x++)
      for (let y = 0; y < h; y++)
        if (rng.next() < 0.5 || (y > 10 && y < 45)) {
          bits[x * perCol + (y >> 5)]! |= 1 << (y & 31);
          mask[(y0 + y) * W + x0 + x] = 1;
        }
    const rle = bitsToRuns(bits, { x0, y0, w, h, first: 0 }, H, W);
    assert.equal(rle.counts, encodeMask(mask, H, W).counts);
    assert.equal(Array.from(decodeMask(rle)), Array.from(mask));
  }
});

test('pasteMasks: logits resampled over windows past every edge, thresholded, as the reference RLE; in groups past the binding limit', async () => {
  // A float64 reference: half-pixel bilinear resampling of each m x m mask over its window, clamped
  // at the mask's edge, set where the logit is at least the threshold, zero outside the window.
  const [H, W, m, T] = [53, 41, 7, 0.1];
  const wins = [
    { x: -9.5, y: 3.25, side: 30 },
    { x: 20.7, y: 40.1, side: 25.3 },
    { x: 2, y: 2, side: 3.5 },
    { x: 5, y: -60, side: 200 },
    { x: 60, y: 10, side: 8 }, // wholly off the image: an empty mask
  ];
  const logits = randomData(wins.length * m * m, rng);
  const want = wins.map((win, k) => {
    const mask = new Uint8Array(H * W);
    const scale = m / win.side,
      at = (v: number, u: number) => logits[k * m * m + v * m + u]!;
    for (let y = Math.max(0, Math.floor(win.y)); y < Math.min(H, Math.ceil(win.y + win.side)); y++)
      for (let x = Math.max(0, Math.floor(win.x)); x < Math.min(W, Math.ceil(win.x + win.side)); x++) {
        const u = Math.min(m - 1, Math.max(0, (x + 0.5 - win.x) * scale - 0.5)),
          v = Math.min(m - 1, Math.max(0, (y + 0.5 - win.y) * scale - 0.5));
        const [u0, v0] = [Math.floor(u), Math.floor(v)],
          [u1, v1] = [Math.min(u0 + 1, m - 1), Math.min(v0 + 1, m - 1)];
        const top = at(v0, u0) + (at(v0, u1) - at(v0, u0)) * (u - u0),
          bot = at(v1, u0) + (at(v1, u1) - at(v1, u0)) * (u - u0);
        if (top + (bot - top) * (v - v0) >= T) mask[y * W + x] = 1;
      }
    return mask;
  });
  const small = await Runtime.create({ maxBindingBytes: 300 }); // a group per mask: one mask's logits take 196 bytes
  try {
    for (const r of [rt, small]) {
      const x = Tensor.from(logits, [wins.length, m, m, 1], { rt: r });
      const runs = await pasteMasks(x, wins, { width: W, height: H }, T);
      x.dispose();
      assert.is(runs.length, wins.length);
      runs.forEach((rle, k) => {
        const got = decodeMask(rle);
        // The GPU's f32 interpolation may differ from float64 on a pixel whose logit sits on the threshold.
        const differ = got.reduce((n, v, i) => n + (v !== want[k]![i] ? 1 : 0), 0);
        assert.ok(differ <= 1, `mask ${k} (${r === rt ? 'one group' : 'groups'}): ${differ} pixels differ`);
        assert.equal(rle.counts, encodeMask(got, H, W).counts, 'canonical RLE');
      });
      assert.is(runs[4]!.counts.length, 1, 'the window off the image gives one run of zeros');
    }
    const x = Tensor.from(logits, [wins.length, m * m]);
    const error = await pasteMasks(x, wins.slice(1), { width: W, height: H }, T).catch((e: Error) => e);
    x.dispose();
    assert.match(String(error), /do not hold 4 square masks/);
  } finally {
    small.destroy();
  }
});

test('a trunk run in strips (past the binding limit) gives the one-pass feature map', async () => {
  const small = await Runtime.create({ maxBindingBytes: 4 * 2 ** 20 });
  const { setRuntime } = await import('../src/index.js');
  for (const preset of ['tiny', 'squeeze']) {
    const [H, W] = preset === 'tiny' ? [800, 300] : [360, 200];
    const data = randomData(H * W * 3, rng);
    const outs: Float32Array[] = [];
    for (const r of [rt, small]) {
      setRuntime(r);
      try {
        const m = new DeepMask(preset, { seed: 4 }).eval();
        const f = noGrad(() => m.features(Tensor.from(data, [1, H, W, 3], { rt: r })));
        outs.push(await f.read());
        assert.ok(r === rt || !fits(m.trunk.largestActivation(H, W), 'f32', r), 'the capped runtime needs strips');
        f.dispose();
        m.dispose();
      } finally {
        setRuntime(rt);
      }
    }
    assertClose(outs[1]!, outs[0]!, `${preset} strips`, 1e-5);
  }
  small.destroy();
});

test('a refining trunk run in strips gives the one-pass features and skip maps (taps and horizontal branches)', async () => {
  const small = await Runtime.create({ maxBindingBytes: 4 * 2 ** 20 });
  const { setRuntime } = await import('../src/index.js');
  const config = { ...presetConfig('tiny'), refine: { skips: ['features.12', 'features.9', 'features.6', 'features.3'], mask: 16, skipWidths: [8, 6, 5, 4] } };
  const [H, W] = [800, 304];
  const data = randomData(H * W * 3, rng);
  const outs: Float32Array[][] = [];
  for (const r of [rt, small]) {
    setRuntime(r);
    try {
      const m = new DeepMask(config, { seed: 4 }).eval();
      const { features, skips } = noGrad(() => m.featuresWithSkips(Tensor.from(data, [1, H, W, 3], { rt: r })));
      assert.equal(
        skips.map((t) => [...t.shape]),
        [
          [1, 50, 19, 8],
          [1, 100, 38, 4],
          [1, 200, 76, 2],
          [1, 400, 152, 1],
        ],
        'a skip map per stage, at its stride, n/2 channels',
      );
      outs.push([await features.read(), ...(await Promise.all(skips.map((t) => t.read())))]);
      assert.ok(r === rt || !fits(m.trunk.largestActivation(H, W), 'f32', r), 'the capped runtime needs strips');
      for (const t of [features, ...skips]) t.dispose();
      m.dispose();
    } finally {
      setRuntime(rt);
    }
  }
  outs[0]!.forEach((one, i) => assertClose(outs[1]![i]!, one, `map ${i} in strips`, 1e-5));
  small.destroy();
});

test('the pyramid on the GPU and, past the binding limit, on the host give the same proposals', async () => {
  const small = await Runtime.create({ maxBindingBytes: 1.5 * 2 ** 20 });
  const { setRuntime } = await import('../src/index.js');
  // A smooth image (so that proposals differ between windows) of 190x150; at scale 1.5 the framed
  // level is 397x337x3 floats, 1.6 MB: over the capped runtime's binding, so it resamples on the host.
  const W = 190,
    H = 150;
  const data = new Float32Array(W * H * 3);
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) data.set([0.5 + 0.4 * Math.sin(x / 13), 0.5 + 0.4 * Math.cos(y / 9), ((x * y) % 97) / 97], (y * W + x) * 3);
  assert.ok(rt.fits(397 * 337 * 12) && !small.fits(397 * 337 * 12), 'only the capped runtime takes the host path');
  const runs = [];
  for (const r of [rt, small]) {
    setRuntime(r);
    try {
      const m = new DeepMask('tiny', { seed: 3 }).eval();
      runs.push(await propose(m, { width: W, height: H, data }, { scales: [0.5, 1, 1.5], proposals: 30 }));
      m.dispose();
    } finally {
      setRuntime(rt);
    }
  }
  small.destroy();
  const [gpu, host] = [runs[0]!.proposals, runs[1]!.proposals];
  assert.is(gpu.length, 30);
  assert.is(host.length, 30);
  // The same windows in the same order (scores agree to float rounding), masks equal but for pixels at the threshold.
  for (let i = 0; i < 30; i++) {
    assert.equal([host[i]!.scale, ...host[i]!.cell], [gpu[i]!.scale, ...gpu[i]!.cell], `rank ${i}`);
    assert.ok(Math.abs(host[i]!.score - gpu[i]!.score) < 1e-5, `rank ${i} score ${host[i]!.score} vs ${gpu[i]!.score}`);
    assert.ok(Math.abs(host[i]!.area - gpu[i]!.area) <= Math.max(2, gpu[i]!.area * 0.002), `rank ${i} area ${host[i]!.area} vs ${gpu[i]!.area}`);
  }
});

test('images smaller than a window, grey and transparent images all give proposals', async () => {
  const model = new DeepMask('tiny', { seed: 1 }).eval();
  // 40x30 RGB, 50x70 grey PNG with alpha.
  const tiny = { width: 40, height: 30, data: randomData(40 * 30 * 3, rng, 0, 1).map(Math.fround) as unknown as Float32Array };
  const rgba = new Uint8Array(50 * 70 * 4);
  for (let i = 0; i < 50 * 70; i++) rgba.set([100, 100, 100, i % 3 ? 255 : 0], i * 4);
  const grey = decodeImage(encodePng(rgba, 50, 70), 'grey.png');
  for (const img of [{ ...tiny, data: Float32Array.from(tiny.data) }, grey]) {
    const out = await propose(model, img, { proposals: 10 });
    assert.is(out.proposals.length, 10);
    for (const p of out.proposals) assert.equal([p.rle.h, p.rle.w], [img.height, img.width]);
  }
  model.dispose();
});

/** A tiny refining model whose refinement gives masks with structure, and a 190x150 test image. */
function refiningModel() {
  const config = {
    ...presetConfig('tiny'),
    refine: { skips: ['features.12', 'features.9', 'features.6', 'features.3'], mask: 16, skipWidths: [6, 5, 4, 3] },
    inference: { rerank: { pool: 400, power: 1 } },
  };
  const model = new DeepMask(config, { seed: 9 }).eval();
  // Refinement weights that give masks with structure (the random init gives nearly constant logits).
  for (const [name, p] of model.namedParameters())
    if (name.startsWith('refine.'))
      p.rt.write(
        p.view(),
        Float32Array.from({ length: p.size }, (_, i) => Math.sin(i * 1.7 + name.length) * 0.6),
      );
  const W = 190,
    H = 150;
  const data = new Float32Array(W * H * 3);
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) data.set([0.5 + 0.4 * Math.sin(x / 13), 0.5 + 0.4 * Math.cos(y / 9), ((x * y) % 97) / 97], (y * W + x) * 3);
  return { model, image: { width: W, height: H, data } };
}

test('a refining model: the same windows and ranking as its coarse masks, refined masks independent of how many are refined at once, clicks refine what they return', async () => {
  const { model, image } = refiningModel();
  rt.flush();
  const before = rt.memory().inUseBytes;
  const fine = await encode(model, image),
    coarse = await encode(model, image, { refine: false });
  assert.ok(fine.refining && !coarse.refining);
  const a = await fine.everything({ proposals: 300 }),
    b = await coarse.everything({ proposals: 300 });
  const key = (p: Proposal) => `${p.scale}:${p.cell.join(',')}`;
  assert.equal(a.proposals.map(key), b.proposals.map(key), 'the same windows in the same order');
  assert.equal(
    a.proposals.map((p) => p.score),
    b.proposals.map((p) => p.score),
    'the same scores',
  );
  assert.ok(a.proposals.filter((p, i) => p.rle.counts.join() !== b.proposals[i]!.rle.counts.join()).length > 150, 'refined masks differ from the coarse ones');
  assert.ok(new Set(a.proposals.map((p) => p.area)).size > 20, 'refined masks of many sizes (not empty)');
  assert.ok(a.timings.refine > 0 && b.timings.refine === 0);
  // 300 masks are refined in chunks; 140 in fewer: the masks do not depend on it.
  const c = await fine.everything({ proposals: 140 });
  assert.equal(
    c.proposals.map((p) => p.rle.counts.join()),
    a.proposals.slice(0, 140).map((p) => p.rle.counts.join()),
    'chunking changes no mask',
  );
  // A click returns refined masks: each equals the same window's mask in everything().
  const byWindow = new Map(a.proposals.map((p) => [key(p), p]));
  const clicked = await fine.at(95, 75, { count: 3 });
  assert.is(clicked.length, 3);
  for (const p of clicked) {
    const same = byWindow.get(key(p)) ?? (await fine.everything({ proposals: 400 })).proposals.find((q) => key(q) === key(p))!;
    assert.equal(p.rle.counts, same.rle.counts, `click mask ${key(p)} is the refined mask of its window`);
  }
  fine.dispose();
  coarse.dispose();
  rt.flush();
  assert.is(rt.memory().inUseBytes, before, 'encodings free their skip maps');
  model.dispose();
});

test('NMS: survivors chosen on the coarse masks of the ranked pool; a refining model refines only them; the config default; bad values refused', async () => {
  const { model, image } = refiningModel();
  const fine = await encode(model, image),
    coarse = await encode(model, image, { refine: false });
  const key = (p: Proposal) => `${p.scale}:${p.cell.join(',')}`;
  const runs = (ps: Proposal[]) => ps.map((p) => p.rle.counts.join());
  // The whole ranked pool (rerank pool 400), no suppression: the reference.
  const pool = (await coarse.everything({ proposals: 400, nms: 1 })).proposals;
  const refinedPool = new Map((await fine.everything({ proposals: 400, nms: 1 })).proposals.map((p) => [key(p), p]));
  const expected = nms(pool, 0.7, 30);
  assert.ok(expected.length >= 10, `${expected.length} survivors`);
  assert.ok(
    expected.some((p, i) => key(p) !== key(pool[i]!)),
    'the suppression drops windows on this image',
  );
  const c = (await coarse.everything({ proposals: 30, nms: 0.7 })).proposals;
  assert.equal(c.map(key), expected.map(key), 'coarse: greedy NMS over the ranked pool (pasted in chunks until enough survive)');
  assert.equal(runs(c), runs(expected));
  const five = (await coarse.everything({ proposals: 5, nms: 0.7 })).proposals;
  assert.equal(five.map(key), nms(pool, 0.7, 5).map(key), 'the first chunk alone when it has enough survivors');
  const f = await fine.everything({ proposals: 30, nms: 0.7 });
  assert.equal(f.proposals.map(key), expected.map(key), 'refined: the windows chosen on the coarse masks');
  assert.equal(
    f.proposals.map((p) => [p.score, p.confidence]),
    expected.map((p) => [p.score, p.confidence]),
    'and their ranking',
  );
  assert.equal(runs(f.proposals), runs(f.proposals.map((p) => refinedPool.get(key(p))!)), 'each with its refined mask');
  assert.ok(
    runs(f.proposals).some((r, i) => r !== runs(c)[i]),
    'refined, not coarse',
  );
  // The model's config.inference.nms is the default.
  model.config.inference = { ...model.config.inference, nms: 0.7 };
  assert.equal(runs((await fine.everything({ proposals: 30 })).proposals), runs(f.proposals));
  for (const bad of [0, 1.5, Number.NaN])
    await fine.everything({ nms: bad }).then(
      () => assert.unreachable(`nms ${bad} must be refused`),
      (e: Error) => assert.match(e.message, /nms must be a mask IoU in \(0, 1\]/),
    );
  fine.dispose();
  coarse.dispose();
  model.dispose();
});

test.run();
