import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PatchSampler, renderSample, cropResize, type SamplerDataset } from '../src/data/sampler.js';
import { Rng } from '../src/graph/random.js';
import { presetConfig } from '../src/model/presets.js';

const cfg = presetConfig('tiny'); // window 112, objects 64 px, stride 16, ground truth 112
const S = cfg.inputSize,
  G = cfg.gtSize;

/** Rectangles as polygon objects in 400x300 images. */
function dataset(): SamplerDataset {
  const rng = new Rng(4);
  const images = Array.from({ length: 6 }, (_, i) => ({ id: i + 1, width: 400, height: 300 }));
  const annotations = [];
  let id = 1;
  for (const im of images) {
    for (let k = 0; k < 4; k++) {
      const w = rng.uniform(12, 150),
        h = rng.uniform(12, 150),
        x = rng.uniform(0, 400 - w),
        y = rng.uniform(0, 300 - h);
      annotations.push({
        id: id++,
        image_id: im.id,
        category_id: 1 + (k % 2),
        iscrowd: 0 as const,
        bbox: [x, y, w, h],
        segmentation: [[x, y, x + w, y, x + w, y + h, x, y + h]],
      });
    }
  }
  annotations.push({
    id: id++,
    image_id: 1,
    category_id: 1,
    iscrowd: 1 as const,
    bbox: [0, 0, 50, 50],
    segmentation: { size: [300, 400] as [number, number], counts: [0, 300 * 400] },
  });
  return { images, annotations };
}

test('positives: the object is centred within ±stride window pixels, its longest side objectSize·2^±1/4', () => {
  const ds = dataset();
  const s = new PatchSampler(ds, cfg, new Rng(1));
  const anns = new Map(ds.annotations.map((a) => [a.id, a]));
  for (let i = 0; i < 2000; i++) {
    const p = s.positive();
    const a = anns.get(p.annId!)!;
    assert.is(a.iscrowd, 0, 'crowd regions are never positives');
    const [x, y, w, h] = a.bbox as number[];
    const k = S / p.side; // image px -> window px
    const inWindow = Math.max(w!, h!) * k;
    assert.ok(inWindow >= cfg.objectSize * 2 ** -0.25 - 1e-9 && inWindow <= cfg.objectSize * 2 ** 0.25 + 1e-9, `object side ${inWindow}`);
    assert.ok(Math.abs((x! + w! / 2 - p.cx) * k) <= cfg.stride + 1e-9 && Math.abs((y! + h! / 2 - p.cy) * k) <= cfg.stride + 1e-9, 'centred within ±16 px');
    assert.is(p.label, 1);
  }
});

test('negatives: at least 2·stride px or an octave from every object (the paper rule)', () => {
  const ds = dataset();
  const s = new PatchSampler(ds, cfg, new Rng(2));
  let checked = 0;
  for (let i = 0; i < 1000; i++) {
    const n = s.negative();
    assert.is(n.label, -1);
    if (!s.farFromObjects(n)) continue; // after 100 rejected tries the last draw is kept, as in the official code
    checked++;
    for (const a of ds.annotations.filter((a) => a.image_id === n.imageId)) {
      const [x, y, w, h] = a.bbox as number[];
      const canonical = (S * Math.max(w!, h!)) / cfg.objectSize;
      const far = Math.abs(Math.log2(n.side / canonical)) >= 1 || (Math.hypot(n.cx - x! - w! / 2, n.cy - y! - h! / 2) * S) / n.side >= 2 * cfg.stride;
      assert.ok(far, `negative too close to object ${a.id}`);
    }
  }
  assert.ok(checked > 950, `${checked} of 1000 negatives obey the rule`);
  // And the rule rejects a window centred on an object at its canonical scale.
  const a = ds.annotations[0]!;
  const [x, y, w, h] = a.bbox as number[];
  assert.not.ok(s.farFromObjects({ imageId: a.image_id, cx: x! + w! / 2, cy: y! + h! / 2, side: (S * Math.max(w!, h!)) / cfg.objectSize }));
});

test('joint batches are half positive; decisions are reproducible from the seed', () => {
  const ds = dataset();
  const a = new PatchSampler(ds, cfg, new Rng(9)).batch(32, 'joint');
  const b = new PatchSampler(ds, cfg, new Rng(9)).batch(32, 'joint');
  const c = new PatchSampler(ds, cfg, new Rng(10)).batch(32, 'joint');
  assert.is(a.filter((s) => s.label > 0).length, 16);
  assert.equal(a, b);
  assert.not.equal(a, c);
  const official = new PatchSampler(ds, cfg, new Rng(3), 'official');
  for (let i = 0; i < 200; i++) {
    const p = official.positive(true);
    const [, , w, h] = ds.annotations.find((x) => x.id === p.annId)!.bbox as number[];
    const side = (Math.max(w!, h!) * S) / p.side;
    assert.ok(side > cfg.objectSize - 1e-6 && side <= cfg.objectSize * 2 ** 0.25 + 1e-6, `official positive: object side ${side} in (64, 76]`);
  }
});

test('rendering: grey outside the image, the target is the centred object at the ground-truth size, flips mirror both', () => {
  // A 200x100 image, black, with a white 40x40 square at (80, 30).
  const W = 200,
    H = 100;
  const data = new Float32Array(W * H * 3);
  for (let y = 30; y < 70; y++) for (let x = 80; x < 120; x++) data.fill(1, (y * W + x) * 3, (y * W + x) * 3 + 3);
  const img = { width: W, height: H, data };
  const ann = { id: 1, image_id: 1, category_id: 1, iscrowd: 0 as const, bbox: [80, 30, 40, 40], segmentation: [[80, 30, 120, 30, 120, 70, 80, 70]] };
  const side = (S * 40) / cfg.objectSize; // canonical: the square's side becomes 64 window px
  const spec = { imageId: 1, cx: 100, cy: 50, side, flip: false, label: 1 as const, annId: 1 };
  const identity = { space: 'rgb' as const, mean: [0, 0, 0] as [number, number, number], std: [1, 1, 1] as [number, number, number] };
  const r = renderSample(img, spec, ann, cfg, identity);
  const px = (x: number, y: number) => r.input[(y * S + x) * 3]!;
  assert.ok(Math.abs(px(S / 2, S / 2) - 1) < 1e-6, 'object in the middle');
  assert.ok(Math.abs(px(2, S / 2)) < 1e-6, 'image background at the left');
  const far = renderSample(img, { ...spec, cx: 10, cy: 10 }, ann, cfg, identity);
  assert.ok(Math.abs(far.input[0]! - 0.5) < 1e-6, 'grey 0.5 outside the image');
  const t = r.target!;
  const on = t.reduce((n, v) => n + (v > 0 ? 1 : 0), 0);
  const expected = ((64 / S) * G) ** 2; // 64 window px of 112 at G = 112
  assert.ok(Math.abs(on - expected) / expected < 0.05, `target area ${on} ~ ${expected}`);
  assert.ok(t[(G / 2) * G + G / 2]! > 0 && t[0]! < 0, 'target centred');
  // A square off to the right: flipping moves it to the left in input and target alike.
  const shifted = { ...spec, cx: 85 };
  const a = renderSample(img, shifted, ann, cfg, identity),
    b = renderSample(img, { ...shifted, flip: true }, ann, cfg, identity);
  for (const [y, x] of [
    [56, 20],
    [56, 90],
    [30, 60],
  ] as const) {
    assert.is(a.input[(y * S + x) * 3], b.input[(y * S + (S - 1 - x)) * 3], `input mirrored at ${x}`);
    const yg = Math.round((y * G) / S),
      xg = Math.round((x * G) / S);
    assert.is(a.target![yg * G + xg], b.target![yg * G + (G - 1 - xg)], `target mirrored at ${xg}`);
  }
});

test('cropResize averages areas when shrinking and interpolates when enlarging', () => {
  // 4x1 single-channel ramp 0, 1, 2, 3.
  const src = Float32Array.of(0, 1, 2, 3);
  const down = cropResize(src, 4, 1, 1, 0, 0, 4, 2, 0, false); // 2x2 from a 4x4 window (rows 1..3 outside: fill 0)
  assert.ok(Math.abs(down[0]! - 0.25) < 1e-6 && Math.abs(down[1]! - 1.25) < 1e-6, `area average ${Array.from(down)}`);
  const up = cropResize(src, 4, 1, 1, 0, 0, 1, 4, 0, false); // pixel 0 enlarged 4x
  assert.ok(Math.abs(up[0]! - 0) < 1e-6 && up[3]! > 0 && up[3]! < 1, `interpolation ${Array.from(up)}`);
});

test.run();
