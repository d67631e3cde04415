// The high-level API: load() from a folder, from bytes and from a URL served over HTTP (byte progress
// that never goes back, an abort that rejects with AbortError and leaves nothing on the GPU, the
// Cache API used where there is one), then everything(), at() and select() on any image input.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { decodeImage, propose, Segmenter, load as loadUniversal, setRuntime, Tensor } from '../src/index.js';
import { load } from '../src/node.js';
import { iou, annToRle, contains, merge, toCocoRle } from '../src/data/rle.js';
import { generateScenes } from '../src/data/synth.js';
import { loadModel } from '../src/model/files.js';
import { rt } from './lib/gpu.js';
import { repoPath } from './lib/shared.js';

const TINY = repoPath('models/tiny-synth');
const scenes = generateScenes({ images: 3, seed: 77 });
const counts = (ps: { rle: Parameters<typeof toCocoRle>[0] }[]) => ps.map((p) => toCocoRle(p.rle).counts);

async function idle(): Promise<number> {
  rt.flush();
  await rt.sync();
  return rt.memory().inUseBytes;
}

/** Serves models/tiny-synth in small chunks (slowly when asked), counting requests per path. */
async function modelServer(delayMs = 0): Promise<{ server: Server; url: string; hits: Map<string, number> }> {
  const hits = new Map<string, number>();
  const server = createServer(async (req, res) => {
    const path = req.url ?? '',
      name = path.split('/').pop()!;
    hits.set(name, (hits.get(name) ?? 0) + 1);
    let body: Buffer;
    try {
      if (!path.startsWith('/models/tiny-synth/')) throw new Error('not found');
      body = readFileSync(`${TINY}/${name}`);
    } catch {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-length': body.length });
    for (let i = 0; i < body.length; i += 64 << 10) {
      if (res.destroyed) return;
      res.write(body.subarray(i, i + (64 << 10)));
      if (delayMs) await new Promise((r) => setTimeout(r, delayMs));
    }
    res.end();
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/models/tiny-synth/`, hits };
}

test('load() from a folder: everything() equals propose(), bytes progress is monotone and ends at the total', async () => {
  const before = await idle();
  const events: { loaded: number; total?: number }[] = [];
  const seg = await load(TINY, { onProgress: (e) => events.push(e) });
  assert.ok(seg instanceof Segmenter);
  const size = readFileSync(`${TINY}/config.json`).length + readFileSync(`${TINY}/model.safetensors`).length;
  assert.ok(events.length >= 2, `${events.length} progress events`);
  events.forEach((e, i) => {
    assert.is(e.total, size);
    if (i) assert.ok(e.loaded >= events[i - 1]!.loaded, 'loaded never decreases');
  });
  assert.is(events.at(-1)!.loaded, size);

  const img = decodeImage(scenes.images[0]!.png);
  const model = loadModel(TINY);
  const direct = (await propose(model, img, { proposals: 20 })).proposals;
  for (const p of model.parameters()) p.dispose();
  const mine = (await seg.everything(img, { proposals: 20 })).proposals;
  assert.equal(counts(mine), counts(direct));
  assert.equal(
    mine.map((p) => p.score),
    direct.map((p) => p.score),
  );
  // ImageData-like RGBA bytes and the PNG file's bytes give the same proposals.
  const rgba = scenes.images[0]!.rgba;
  assert.equal(
    counts((await seg.everything({ width: img.width, height: img.height, data: new Uint8ClampedArray(rgba) }, { proposals: 20 })).proposals),
    counts(direct),
  );
  assert.equal(counts((await seg.everything(scenes.images[0]!.png, { proposals: 20 })).proposals), counts(direct));
  // A file: URL is a folder too.
  const again = await load(pathToFileURL(`${TINY}/`));
  assert.equal(counts((await again.everything(img, { proposals: 20 })).proposals), counts(direct));
  again.dispose();
  seg.dispose();
  assert.is(await idle(), before, 'dispose() frees the weights');
  await seg.encode(img).then(
    () => assert.unreachable('a disposed segmenter must refuse work'),
    (e: Error) => assert.match(e.message, /disposed/),
  );
});

test('load() from bytes; a click (at) and shift-clicks (select) on an encoding', async () => {
  const seg = await loadUniversal({ config: readFileSync(`${TINY}/config.json`, 'utf8'), weights: readFileSync(`${TINY}/model.safetensors`) });
  const scene = scenes.images[0]!,
    img = decodeImage(scene.png);
  const anns = scenes.coco.annotations.filter((a) => a.image_id === scene.id).sort((a, b) => b.area - a.area);
  const enc = await seg.encode(img);
  const a = anns[0]!;
  const gt = annToRle(a.segmentation, img.height, img.width);
  const [x, y] = insidePoint(gt);
  const [first] = await seg.at(enc, x, y, { count: 1 });
  const direct = await enc.at(x, y, { count: 1 });
  assert.equal(counts([first!]), counts(direct));
  const one = await seg.select(enc, [[x, y]]);
  assert.is(one.mode, 'one');
  assert.ok(iou([one.rle], [gt], [false])[0]![0]! >= 0.5, 'one click selects the object');
  // Two points on two objects far apart: the selection covers both (one proposal that covers both,
  // or else the union of each point's mask).
  const centre = (q: typeof a) => [q.bbox[0] + q.bbox[2] / 2, q.bbox[1] + q.bbox[3] / 2];
  const dist = (q: typeof a) => Math.hypot(centre(q)[0]! - centre(a)[0]!, centre(q)[1]! - centre(a)[1]!);
  const b = anns.slice(1).sort((p, q) => dist(q) - dist(p))[0]!;
  const gtB = annToRle(b.segmentation, img.height, img.width);
  const [x2, y2] = insidePoint(gtB);
  const two = await seg.select(enc, [
    [x, y],
    [x2, y2],
  ]);
  assert.ok(contains(two.rle, x, y) && contains(two.rle, x2, y2), 'the selection covers both clicked points');
  console.log(`    two objects: ${two.mode} of ${two.masks.length}, area ${two.area} (objects ${a.area} + ${b.area})`);
  // Two objects apart in another scene: no proposal covers both and agrees with their own masks, so
  // the selection is the union of each point's own mask.
  const far = scenes.images[2]!,
    farImg = decodeImage(far.png);
  const farAnns = scenes.coco.annotations.filter((q) => q.image_id === far.id).sort((p, q) => q.area - p.area);
  const pts = farAnns.slice(0, 2).map((q) => insidePoint(annToRle(q.segmentation, farImg.height, farImg.width)));
  const farEnc = await seg.encode(farImg);
  const both = await seg.select(farEnc, pts);
  assert.is(both.mode, 'union');
  assert.is(both.masks.length, 2);
  assert.equal(both.rle, merge(both.masks.map((m) => m.rle)));
  pts.forEach((pt, i) => assert.ok(contains(both.masks[i]!.rle, ...pt), `part ${i} covers its point ${pt}`));
  console.log(`    two objects apart: ${both.mode}, ${both.area} px (objects ${farAnns[0]!.area} + ${farAnns[1]!.area})`);
  farEnc.dispose();
  enc.dispose();
  // A click on an image (not an encoding) encodes, answers and frees.
  const before = await idle();
  const viaImage = await seg.at(img, x, y, { count: 1 });
  assert.equal(counts(viaImage), counts(direct));
  assert.is(await idle(), before);
  seg.dispose();
});

test('select() passes points to leave out to each point: no mask of its answer covers them', async () => {
  const seg = await loadUniversal({ config: readFileSync(`${TINY}/config.json`, 'utf8'), weights: readFileSync(`${TINY}/model.safetensors`) });
  const scene = scenes.images[0]!,
    img = decodeImage(scene.png);
  const a = scenes.coco.annotations.filter((q) => q.image_id === scene.id).sort((p, q) => q.area - p.area)[0]!;
  const gt = annToRle(a.segmentation, img.height, img.width);
  const enc = await seg.encode(img);
  // Two points on one object: one mask covers both.
  const p1 = insidePoint(gt);
  const [bx, by, bw, bh] = a.bbox.map(Math.round) as [number, number, number, number];
  let p2: [number, number] | null = null;
  for (let y = by; y < by + bh && !p2; y++)
    for (let x = bx; x < bx + bw && !p2; x++) if (contains(gt, x, y) && Math.hypot(x - p1[0], y - p1[1]) > Math.min(bw, bh) / 4) p2 = [x, y];
  const whole = await seg.select(enc, [p1, p2!]);
  assert.is(whole.mode, 'one');
  // A pixel of that mask away from both points, left out: the answer no longer covers it.
  let n: [number, number] | null = null;
  const [wx, wy, ww, wh] = whole.bbox;
  for (let y = wy; y < wy + wh && !n; y++)
    for (let x = wx; x < wx + ww && !n; x++) if (contains(whole.rle, x, y) && [p1, p2!].every(([px, py]) => Math.hypot(x - px, y - py) > 6)) n = [x, y];
  const left = await seg.select(enc, [p1, p2!], { negative: [n!] });
  console.log(`    two points, ${n} left out: ${left.mode} of ${left.masks.length}, ${left.area} px (was one mask, ${whole.area} px)`);
  if (left.mode === 'one') assert.ok(!contains(left.rle, ...n!), `the one mask leaves ${n} out`);
  else left.masks.forEach((m, i) => assert.ok(!contains(m.rle, ...n!), `part ${i} leaves ${n} out`));
  enc.dispose();
  seg.dispose();
});

test('load() from an http URL: progress, abort frees everything, the Cache API is used when present', async () => {
  const { server, url, hits } = await modelServer(5);
  const before = await idle();
  try {
    const events: { loaded: number; total?: number; fromCache: boolean }[] = [];
    const seg = await loadUniversal(url, { onProgress: (e) => events.push(e) });
    const size = readFileSync(`${TINY}/config.json`).length + readFileSync(`${TINY}/model.safetensors`).length;
    assert.ok(events.length > 5, `${events.length} progress events over HTTP`);
    events.forEach((e, i) => i && assert.ok(e.loaded >= events[i - 1]!.loaded, 'loaded never decreases'));
    assert.is(events.at(-1)!.loaded, size);
    assert.is(events.at(-1)!.total, size);
    const img = decodeImage(scenes.images[1]!.png);
    const fromFolder = await load(TINY);
    assert.equal(counts((await seg.everything(img, { proposals: 10 })).proposals), counts((await fromFolder.everything(img, { proposals: 10 })).proposals));
    seg.dispose();
    fromFolder.dispose();
    // The folder given as its config.json URL works alike.
    (await loadUniversal(`${url}config.json`)).dispose();

    // Abort half-way through the weights: AbortError, nothing left on the GPU.
    const ctl = new AbortController();
    let seen = 0;
    const err = await loadUniversal(url, { signal: ctl.signal, onProgress: (e) => e.loaded > size / 2 && !seen++ && ctl.abort() }).then(
      () => null,
      (e: Error) => e,
    );
    assert.is(err?.name, 'AbortError', String(err));
    const pre = new AbortController();
    pre.abort();
    assert.is(((await load(TINY, { signal: pre.signal }).catch((e: Error) => e)) as Error).name, 'AbortError');
    assert.is(await idle(), before, 'no GPU memory left after the aborted loads');

    // A missing model is an error that names the URL.
    await loadUniversal(url.replace('tiny-synth', 'nope')).then(
      () => assert.unreachable(),
      (e: Error) => assert.match(e.message, /nope\/config\.json: HTTP 404/),
    );

    // With a Cache API (as in a browser), the second load downloads nothing.
    const store = new Map<string, Response>();
    const g = globalThis as { caches?: unknown };
    g.caches = {
      open: async () => ({
        match: async (u: string) => store.get(u)?.clone(),
        put: async (u: string, r: Response) => void store.set(u, r),
      }),
    };
    try {
      hits.clear();
      (await loadUniversal(url)).dispose();
      assert.is(hits.get('model.safetensors'), 1);
      const cached: boolean[] = [];
      (await loadUniversal(url, { onProgress: (e) => cached.push(e.fromCache) })).dispose();
      assert.is(hits.get('model.safetensors'), 1, 'the second load reads the cache');
      assert.ok(cached.length > 0 && cached.every(Boolean));
    } finally {
      delete g.caches;
    }
  } finally {
    server.close();
  }
  assert.is(await idle(), before);
});

/** The mask's pixel nearest its box centre. */
function insidePoint(rle: { counts: number[]; h: number; w: number }): [number, number] {
  let x0 = Infinity,
    y0 = Infinity,
    x1 = -1,
    y1 = -1;
  for (let x = 0; x < rle.w; x++)
    for (let y = 0; y < rle.h; y++) if (contains(rle, x, y)) [x0, y0, x1, y1] = [Math.min(x0, x), Math.min(y0, y), Math.max(x1, x), Math.max(y1, y)];
  const cx = (x0 + x1) / 2,
    cy = (y0 + y1) / 2;
  let best: [number, number] = [0, 0],
    d = Infinity;
  for (let x = x0; x <= x1; x++)
    for (let y = y0; y <= y1; y++) {
      const e = (x - cx) ** 2 + (y - cy) ** 2;
      if (e < d && contains(rle, x, y)) [d, best] = [e, [x, y]];
    }
  return best;
}

test('options are refused at the door, naming the option and the value', async () => {
  const seg = await load(TINY);
  const img = decodeImage(scenes.images[0]!.png);
  const refused = async (p: Promise<unknown>, re: RegExp) => {
    const e = await p.then(
      () => null,
      (x: Error) => x,
    );
    assert.ok(e, `expected a refusal matching ${re}`);
    assert.match(e!.message, re);
  };
  for (const threshold of [NaN, 0, 2]) await refused(seg.everything(img, { threshold }), /threshold must be a probability in \(0, 1\), got/);
  await refused(seg.everything(img, { proposals: -1 }), /proposals must be a positive integer, got -1/);
  await refused(seg.at(img, 10, 10, { count: -1 }), /count must be a positive integer, got -1/);
  await refused(seg.everything(img, { scales: [1e6] }), /scales: each pyramid scale must be a number from 2\^-8 to 2\^8 .*1000000/);
  await refused(seg.everything(img, { rerank: { pool: 0, power: 1 } }), /rerank must be false or/);
  await refused(load(null as unknown as string), /load\(\): the source must be .* got null/);
  await refused(loadUniversal(null as unknown as string), /load\(\): the source must be .* got null/);
  seg.dispose();
});

test('segmenters that load() made share its runtime: disposing one leaves the others working', async () => {
  setRuntime(null); // as in a program that never called init()
  try {
    const a = await load(TINY),
      b = await load(TINY);
    assert.ok(a.runtime === b.runtime && a.runtime !== rt, 'the second load shares the runtime the first made');
    a.dispose();
    const { proposals } = await b.everything(decodeImage(scenes.images[0]!.png), { proposals: 3 });
    assert.is(proposals.length, 3, 'b still works after a is disposed');
    const shared = b.runtime;
    b.dispose();
    assert.throws(() => Tensor.from([1], [1], { rt: shared }), /after destroy/, 'the last one disposed destroys the runtime');
  } finally {
    setRuntime(rt);
  }
});

test.run();
