// Encode once, query many times: everything() equals propose(), a click returns the clicked
// object's mask, progress arrives in order, and a cancelled encoding frees its GPU memory.
import { test } from 'uvu';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import { DeepMask, encode, propose, type Proposal } from '../src/index.js';
import { parseModelConfig } from '../src/model/weights.js';
import { rerankOption } from '../src/cli/infer.js';
import { assertClose } from './lib/check.js';
import { decodeImage } from '../src/data/image.js';
import { annToRle, contains, iou, toCocoRle } from '../src/data/rle.js';
import { generateScenes } from '../src/data/synth.js';
import { loadModel } from '../src/model/files.js';
import { rt } from './lib/gpu.js';
import { trainedTiny } from './lib/trained.js';
import { repoPath } from './lib/shared.js';

const scenes = generateScenes({ images: 6, seed: 77 }); // not the training scenes

test('everything() on an encoding gives exactly the proposals of propose(), and the encoding answers again', async () => {
  const model = loadModel((await trainedTiny()).modelDir);
  const img = decodeImage(scenes.images[0]!.png);
  const direct = (await propose(model, img, { proposals: 30 })).proposals;
  const enc = await encode(model, img);
  for (let round = 0; round < 2; round++) {
    const again = (await enc.everything({ proposals: 30 })).proposals;
    assert.equal(
      again.map((p) => toCocoRle(p.rle).counts),
      direct.map((p) => toCocoRle(p.rle).counts),
    );
    assert.equal(
      again.map((p) => p.score),
      direct.map((p) => p.score),
    );
  }
  enc.dispose();
  await enc.everything().then(
    () => assert.unreachable('a disposed encoding must refuse queries'),
    (e: Error) => assert.match(e.message, /disposed/),
  );
  model.dispose();
});

test("a click inside a drawn object returns that object's mask first (the bundled tiny model, trained on such scenes)", async () => {
  const model = loadModel(repoPath('models/tiny-synth'));
  const ious: number[] = [];
  for (const scene of scenes.images) {
    const img = decodeImage(scene.png);
    const anns = scenes.coco.annotations.filter((a) => a.image_id === scene.id).sort((a, b) => b.area - a.area);
    const enc = await encode(model, img);
    // The largest object of each scene: tiny's pyramid (up to scale 1, 64-px canonical objects) cannot
    // see the smallest shapes at their size.
    for (const a of anns.slice(0, 1)) {
      // The object's visible pixel nearest its box centre.
      const gt = annToRle(a.segmentation, img.height, img.width);
      const mask = decodeMaskOf(gt);
      const [bx, by, bw, bh] = a.bbox;
      let best = [0, 0],
        d = Infinity;
      for (let x = 0; x < img.width; x++)
        for (let y = 0; y < img.height; y++) {
          if (!mask[x * img.height + y]) continue;
          const e = (x - bx - bw / 2) ** 2 + (y - by - bh / 2) ** 2;
          if (e < d) [d, best] = [e, [x, y]];
        }
      const [first] = await enc.at(best[0]!, best[1]!, { count: 1 });
      ious.push(iou([first!.rle], [gt], [false])[0]![0]!);
    }
    enc.dispose();
  }
  ious.sort((x, y) => x - y);
  const median = ious[Math.floor(ious.length / 2)]!;
  console.log(`    click IoU over ${ious.length} objects: median ${median.toFixed(3)}, min ${ious[0]!.toFixed(3)}, max ${ious[ious.length - 1]!.toFixed(3)}`);
  assert.ok(median >= 0.5, `median IoU ${median}`);
  model.dispose();
});

test('re-ranking by mask confidence: the best of a pool by objectness x confidence^power, masks unchanged; power 0 is objectness; config and CLI values checked', async () => {
  const model = loadModel((await trainedTiny()).modelDir);
  const enc = await encode(model, decodeImage(scenes.images[0]!.png));
  const key = (p: Proposal) => `${p.scale},${p.cell}`;
  const base = (await enc.everything({ proposals: 40, rerank: false })).proposals;
  const byCell = new Map(base.map((p) => [key(p), p]));
  // Power 0 ranks by objectness alone: the first 15 of the plain ranking.
  const flat = (await enc.everything({ proposals: 15, rerank: { pool: 40, power: 0 } })).proposals;
  assert.equal(
    flat.map((p) => [key(p), toCocoRle(p.rle).counts]),
    base.slice(0, 15).map((p) => [key(p), toCocoRle(p.rle).counts]),
  );
  // Power 1 over the whole pool, then the best 15 of it.
  const all = (await enc.everything({ proposals: 40, rerank: { pool: 40, power: 1 } })).proposals;
  const best = (await enc.everything({ proposals: 15, rerank: { pool: 40, power: 1 } })).proposals;
  assert.equal(new Set(all.map(key)), new Set(base.map(key)), 'the same pool of windows');
  for (const p of all) {
    const b = byCell.get(key(p))!;
    assert.is(toCocoRle(p.rle).counts, toCocoRle(b.rle).counts, 'a window keeps its mask');
    assert.is(p.objectness, b.score);
    assert.ok(p.confidence! >= 0.2 - 1e-6 && p.confidence! <= 1, `confidence ${p.confidence}: a mean of probabilities at or above the 0.2 threshold`);
    assertClose([p.score], [p.objectness * p.confidence!], 'score = objectness x confidence', 1e-6);
  }
  for (let i = 1; i < all.length; i++) assert.ok(all[i - 1]!.score >= all[i]!.score, 'best first');
  assert.ok(
    all.some((p, i) => key(p) !== key(base[i]!)),
    'the confidences reorder this image',
  );
  assert.equal(best.map(key), all.slice(0, 15).map(key));
  // The model's config.inference.rerank is the default.
  model.config.inference = { ...model.config.inference, rerank: { pool: 40, power: 1 } };
  assert.equal((await enc.everything({ proposals: 15 })).proposals.map(key), best.map(key));
  enc.dispose();
  model.dispose();
  const cfg = JSON.parse(readFileSync(join((await trainedTiny()).modelDir, 'config.json'), 'utf8'));
  cfg.model.inference = { rerank: { pool: 0, power: 1 } };
  assert.throws(
    () => parseModelConfig(JSON.stringify(cfg), 'm/config.json'),
    /m\/config\.json: model\.inference\.rerank\.pool must be a positive integer, got 0/,
  );
  assert.equal(rerankOption('1000:1'), { pool: 1000, power: 1 });
  assert.is(rerankOption('off'), null);
  assert.throws(() => rerankOption('1000'), /--rerank must be POOL:POWER/);
  assert.throws(() => rerankOption('0:1'), /--rerank must be POOL:POWER/);
});

function decodeMaskOf(rle: { counts: number[]; h: number; w: number }): Uint8Array {
  const out = new Uint8Array(rle.h * rle.w);
  let p = 0;
  rle.counts.forEach((n, i) => {
    if (i % 2) out.fill(1, p, p + n);
    p += n;
  });
  return out;
}

/** A scene's largest object: its mask, and its visible pixel nearest its box centre. */
function largestObject(scene: (typeof scenes.images)[number]): { gt: ReturnType<typeof annToRle>; point: [number, number] } {
  const a = scenes.coco.annotations.filter((q) => q.image_id === scene.id).sort((p, q) => q.area - p.area)[0]!;
  const gt = annToRle(a.segmentation, scene.height, scene.width);
  const mask = decodeMaskOf(gt);
  const [bx, by, bw, bh] = a.bbox;
  let point: [number, number] = [0, 0],
    d = Infinity;
  for (let x = 0; x < scene.width; x++)
    for (let y = 0; y < scene.height; y++) {
      const e = (x - bx - bw / 2) ** 2 + (y - by - bh / 2) ** 2;
      if (mask[x * scene.height + y] && e < d) [d, point] = [e, [x, y]];
    }
  return { gt, point };
}

test('a negative point inside the best mask makes at() prefer a mask that leaves it out and still covers the click', async () => {
  const model = loadModel(repoPath('models/tiny-synth'));
  const scene = scenes.images[0]!;
  const enc = await encode(model, decodeImage(scene.png));
  const {
    point: [x, y],
  } = largestObject(scene);
  const masks = await enc.at(x, y, { count: 8 });
  const best = masks[0]!;
  assert.ok(contains(best.rle, x, y));
  // A pixel of the best mask that another candidate covering the click leaves out.
  const [bx, by, bw, bh] = best.bbox;
  const leftOut = (p: Proposal): [number, number] | null => {
    for (let yy = by; yy < by + bh; yy++) for (let xx = bx; xx < bx + bw; xx++) if (contains(best.rle, xx, yy) && !contains(p.rle, xx, yy)) return [xx, yy];
    return null;
  };
  const neg = masks
    .filter((p) => p !== best && contains(p.rle, x, y))
    .map(leftOut)
    .find((n) => n);
  assert.ok(neg, 'another candidate covering the click leaves part of the best mask out');
  const [first] = await enc.at(x, y, { count: 1, negative: [neg!] });
  assert.ok(!contains(first!.rle, ...neg!), `the mask leaves the negative point ${neg} out`);
  assert.ok(contains(first!.rle, x, y), 'and covers the click');
  // The best mask itself is back without the negative point.
  assert.is(toCocoRle((await enc.at(x, y, { count: 1 }))[0]!.rle).counts, toCocoRle(best.rle).counts);
  enc.dispose();
  model.dispose();
});

test("a box prompt returns the window whose object box is nearest the drawn box (DeepMask's windows are boxes)", async () => {
  const model = loadModel(repoPath('models/tiny-synth'));
  const { objectSize, inputSize } = model.config;
  const scene = scenes.images[0]!;
  const enc = await encode(model, decodeImage(scene.png));
  const {
    point: [x, y],
  } = largestObject(scene);
  // Each candidate window's own object box (centred in the window, side objectSize at its scale),
  // drawn as the box: that window comes first, at whichever scale it is.
  const masks = await enc.at(x, y, { count: 8 });
  const key = (p: Proposal) => `${p.scale}:${p.cell}`;
  const scales = new Set<number>();
  for (const p of masks.filter((q) => contains(q.rle, x, y))) {
    if (scales.has(p.scale)) continue;
    scales.add(p.scale);
    const [wx, wy, side] = p.window,
      obj = (side * objectSize) / inputSize;
    const box: [number, number, number, number] = [wx + side / 2 - obj / 2, wy + side / 2 - obj / 2, obj, obj];
    const [first] = await enc.at(x, y, { count: 1, box });
    assert.is(key(first!), key(p), `the box ${box.map(Math.round)} gives its window`);
    // A box a little off in position and size still finds it; a flat one is framed by its longer side.
    const [near] = await enc.at(x, y, { count: 1, box: [box[0] + obj * 0.02, box[1] - obj * 0.02, obj * 1.1, obj * 1.1] });
    assert.is(key(near!), key(p), 'a nearby box gives the same window');
    const [flat] = await enc.at(x, y, { count: 1, box: [box[0], box[1] + obj * 0.2, obj, obj * 0.6] });
    assert.is(key(flat!), key(p), 'a flat box gives the window of its longer side');
  }
  assert.ok(scales.size >= 2, `windows at ${scales.size} scales tried`);
  enc.dispose();
  model.dispose();
});

test('negative points and boxes are refused at the door, naming the option and the value', async () => {
  const model = loadModel(repoPath('models/tiny-synth'));
  const enc = await encode(model, decodeImage(scenes.images[0]!.png), { scales: [1] });
  const refused = (o: object, re: RegExp) =>
    enc.at(5, 5, o).then(
      () => assert.unreachable(`${JSON.stringify(o)} must be refused`),
      (e: Error) => assert.match(e.message, re),
    );
  await refused({ negative: [[5, 5, 5]] }, /negative must be a list of points \[x, y\] inside the \d+x\d+ image, got \[\[5,5,5\]\]/);
  await refused({ negative: [[-1, 5]] }, /negative must be .* got \[\[-1,5\]\]/);
  await refused({ negative: [5, 5] }, /negative must be/);
  await refused({ negative: [['5', 5]] }, /negative must be/);
  await refused({ box: [0, 0, 0, 10] }, /box must be \[x, y, w, h\] with w, h > 0, .* got \[0,0,0,10\]/);
  await refused({ box: [0, 0, 10] }, /box must be/);
  await refused({ box: [1e5, 0, 10, 10] }, /box must be .*overlapping/);
  await refused({ box: [0, 0, NaN, 10] }, /box must be/);
  enc.dispose();
  model.dispose();
});

test('progress events arrive in order; a cancelled encoding stops within a stage and frees its GPU memory', async () => {
  const model = new DeepMask('tiny', { seed: 4 });
  const img = decodeImage(scenes.images[1]!.png);
  const events: string[] = [];
  const enc = await encode(model, img, { scales: [0.5, 1, 2], onProgress: (e) => events.push(`${e.stage}:${e.done}/${e.total}`) });
  enc.dispose();
  assert.equal(events, ['trunk:1/3', 'heads:1/3', 'trunk:2/3', 'heads:2/3', 'trunk:3/3', 'heads:3/3', 'scores:1/1']);
  rt.flush();
  await rt.sync();
  const before = rt.memory().inUseBytes;
  const ctl = new AbortController();
  let stages = 0;
  const run = encode(model, img, { scales: [0.5, 1, 2], onProgress: () => ++stages === 2 && ctl.abort(), signal: ctl.signal });
  let error: Error | null = null;
  try {
    await run;
  } catch (e) {
    error = e as Error;
  }
  assert.is(error?.name, 'AbortError');
  assert.is(stages, 2, 'stopped at the next stage boundary');
  rt.flush();
  await rt.sync();
  assert.is(rt.memory().inUseBytes, before, 'GPU memory back to its baseline');
  const ctl2 = new AbortController();
  ctl2.abort();
  await propose(model, img, { signal: ctl2.signal }).then(
    () => assert.unreachable('an aborted signal must stop propose'),
    (e: Error) => assert.is(e.name, 'AbortError'),
  );
  model.dispose();
});

test('deepmask infer IMAGE --point X,Y writes the masks at each click, best first', () => {
  const dir = mkdtempSync(join(tmpdir(), 'deepmask-point-'));
  const scene = scenes.images[0]!;
  writeFileSync(join(dir, 'scene.png'), scene.png);
  const a = scenes.coco.annotations.filter((x) => x.image_id === scene.id).sort((p, q) => q.area - p.area)[0]!;
  const [x, y] = [Math.round(a.bbox[0] + a.bbox[2] / 2), Math.round(a.bbox[1] + a.bbox[3] / 2)];
  const cli = (...args: string[]) =>
    spawnSync(process.execPath, [repoPath('bin/deepmask.js'), 'infer', join(dir, 'scene.png'), '--weights', repoPath('models/tiny-synth'), ...args], {
      encoding: 'utf8',
    });
  const r = cli('--point', `${x},${y}`, '--point', '5,5', '--out', join(dir, 'out'));
  assert.is(r.status, 0, r.stderr);
  const res = JSON.parse(readFileSync(join(dir, 'out', 'results.json'), 'utf8')) as { point: number[]; score: number }[];
  assert.is(res.length, 6, 'three masks for each of two clicks');
  assert.equal(
    res.map((q) => q.point.join()),
    [`${x},${y}`, `${x},${y}`, `${x},${y}`, '5,5', '5,5', '5,5'],
  );
  const bad = cli('--point', '5;5', '--out', join(dir, 'bad'));
  assert.is(bad.status, 2);
  assert.match(bad.stderr, /--point must be X,Y/);
});

test.run();
