// Masks as COCO polygons: traced outlines rasterise back to the mask, simplified to a vertex budget.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { maskToPolygons, rleToPolygons, traceOutlines } from '../src/data/polygon.js';
import { encodeMask, frPoly, iou, merge, type RLE } from '../src/data/rle.js';
import { Rng } from '../src/graph/random.js';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encode as encodeJpeg } from 'jpeg-js';
import { decodePng } from '../src/data/png.js';
import { annToRle } from '../src/data/rle.js';
import { generateScenes } from '../src/data/synth.js';
import { decodeImage } from '../src/data/image.js';
import { repoPath } from './lib/shared.js';

const rleOf = (rows: Uint8Array, w: number, h: number): RLE => encodeMask(rows, h, w);
/** COCO's reading of polygons: each rasterised by frPoly, the union of all. */
const rasterise = (polys: number[][], h: number, w: number): RLE =>
  polys.length ? merge(polys.map((p) => frPoly(p, h, w))) : encodeMask(new Uint8Array(h * w), h, w);
const iouOf = (a: RLE, b: RLE) => iou([a], [b], [false])[0]![0]!;
const vertices = (polys: number[][]) => polys.reduce((s, p) => s + p.length / 2, 0);

/** A random star-shaped blob (radius varying with angle) centred at (cx, cy), row-major. */
function blob(rows: Uint8Array, w: number, h: number, cx: number, cy: number, r: number, rng: Rng): void {
  const k = [rng.next(), rng.next(), rng.next(), rng.next()];
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const a = Math.atan2(y - cy, x - cx);
      const rr = r * (1 + 0.25 * Math.sin(3 * a + 6 * k[0]!) + 0.15 * Math.cos(5 * a + 6 * k[1]!));
      if ((x - cx) ** 2 + (y - cy) ** 2 < rr * rr) rows[y * w + x] = 1;
    }
  }
}

test('unsimplified outlines are exact: rasterised by frPoly they give the mask back pixel for pixel', () => {
  const w = 40,
    h = 30;
  const rows = new Uint8Array(w * h);
  blob(rows, w, h, 18, 14, 10, new Rng(3));
  rows[2 * w + 35] = rows[3 * w + 36] = 1; // two pixels touching diagonally: two 4-connected parts
  const outs = traceOutlines(rows, w, h);
  assert.is(outs.length, 3);
  assert.equal(
    outs.slice(1).map((o) => o.area),
    [1, 1],
  );
  const back = rasterise(
    outs.map((o) => o.ring),
    h,
    w,
  );
  assert.is(iouOf(back, rleOf(rows, w, h)), 1);
});

test('a rasterised polygon round trip keeps IoU >= 0.9 within the vertex budget (random blobs, several sizes)', () => {
  const rng = new Rng(11);
  for (let k = 0; k < 12; k++) {
    const w = 64 + Math.floor(rng.next() * 200),
      h = 48 + Math.floor(rng.next() * 150);
    const rows = new Uint8Array(w * h);
    const r = 6 + rng.next() * (Math.min(w, h) / 3);
    blob(rows, w, h, w / 2 + (rng.next() - 0.5) * 10, h / 2, r, rng);
    const gt = rleOf(rows, w, h);
    for (const maxVertices of [16, 64]) {
      const polys = rleToPolygons(gt, { maxVertices });
      assert.ok(polys.length >= 1 && vertices(polys) <= maxVertices, `blob ${k}: ${vertices(polys)} vertices for a budget of ${maxVertices}`);
      for (const p of polys) assert.ok(p.length >= 6 && p.length % 2 === 0, 'COCO polygons: x, y pairs, at least 3 points');
      const v = iouOf(rasterise(polys, h, w), gt);
      assert.ok(v >= 0.9, `blob ${k} (${w}x${h}, radius ${r.toFixed(1)}), budget ${maxVertices}: IoU ${v.toFixed(3)} < 0.9`);
    }
  }
});

test('holes are filled (COCO unites polygons), separate parts get one polygon each, specks and budgets are handled', () => {
  const w = 120,
    h = 80;
  // A ring (square with a square hole) and a disc beside it.
  const rows = new Uint8Array(w * h);
  for (let y = 10; y < 50; y++) for (let x = 10; x < 50; x++) rows[y * w + x] = x < 20 || x >= 40 || y < 20 || y >= 40 ? 1 : 0;
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) if ((x - 90) ** 2 + (y - 40) ** 2 < 15 ** 2) rows[y * w + x] = 1;
  rows[75 * w + 5] = 1; // a one-pixel speck: below minArea, dropped
  const polys = maskToPolygons(rows, w, h, { maxVertices: 64 });
  assert.is(polys.length, 2, 'one polygon per part, none for the hole or the speck');
  // The ring's polygon is its outer square, exactly (corners only): the hole filled.
  const square = polys.find((p) => p.length === 8)!;
  assert.ok(square, 'the ring is its outer square');
  const filled = new Uint8Array(w * h);
  for (let y = 10; y < 50; y++) for (let x = 10; x < 50; x++) filled[y * w + x] = 1;
  assert.is(iouOf(frPoly(square, h, w), rleOf(filled, w, h)), 1);
  // The disc: round trip IoU >= 0.9 against the disc itself.
  const disc = polys.find((p) => p !== square)!;
  const discRows = new Uint8Array(w * h);
  for (let i = 0; i < w * h; i++) discRows[i] = rows[i]! && i % w >= 70 ? 1 : 0;
  assert.ok(iouOf(frPoly(disc, h, w), rleOf(discRows, w, h)) >= 0.9);
  // A budget too small for every part keeps the largest parts; an empty mask gives no polygon.
  const tight = maskToPolygons(rows, w, h, { maxVertices: 4 });
  assert.is(tight.length, 1);
  assert.ok(vertices(tight) <= 4);
  assert.equal(maskToPolygons(new Uint8Array(w * h), w, h), []);
  assert.throws(() => maskToPolygons(rows, w, h, { maxVertices: 2 }), /maxVertices must be an integer of at least 3, got 2/);
});

test('infer --polygons writes COCO polygons beside each RLE that rasterise back to it; --viz draws numbered, scored proposals (a child process)', () => {
  const scene = generateScenes({ images: 1, seed: 5 }).images[0]!;
  const img = decodeImage(scene.png);
  const dir = mkdtempSync(join(tmpdir(), 'dm-poly-'));
  // The scene as a JPEG whose EXIF says "rotate 90° clockwise": results are for the upright picture.
  const rgba = new Uint8Array(img.width * img.height * 4);
  for (let i = 0; i < img.width * img.height; i++) rgba.set([...img.data.subarray(i * 3, i * 3 + 3)].map((v) => Math.round(v * 255)).concat(255), i * 4);
  const jpeg = new Uint8Array(encodeJpeg({ data: rgba, width: img.width, height: img.height }, 95).data);
  const exif = [0x45, 0x78, 0x69, 0x66, 0, 0, 0x49, 0x49, 42, 0, 8, 0, 0, 0, 1, 0, 0x12, 0x01, 3, 0, 1, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0];
  writeFileSync(join(dir, 'phone.jpg'), new Uint8Array([0xff, 0xd8, 0xff, 0xe1, 0, exif.length + 2, ...exif, ...jpeg.subarray(2)]));
  const r = spawnSync(
    process.execPath,
    [
      repoPath('bin/deepmask.js'),
      'infer',
      join(dir, 'phone.jpg'),
      '--weights',
      repoPath('models/tiny-synth'),
      '--proposals',
      '10',
      '--polygons',
      '--polygon-vertices',
      '40',
      '--viz',
      '--out',
      join(dir, 'out'),
    ],
    { encoding: 'utf8' },
  );
  assert.is(r.status, 0, r.stderr);
  // A lone image shows its stages (each scale through the trunk and heads, then the masks) and a rate per image.
  assert.match(r.stderr, /image 1\/1 {2}trunk 1\/\d+ \(scale [\d.]+\)\n/);
  assert.match(r.stderr, /image 1\/1 {2}paste 1\/1\n/);
  assert.match(r.stderr, /\d+\.\d (s\/image|images\/s)/);
  const res = JSON.parse(readFileSync(join(dir, 'out', 'results.json'), 'utf8')) as {
    segmentation: { size: [number, number]; counts: string };
    polygons: number[][];
  }[];
  assert.is(res.length, 10);
  const ious: number[] = [];
  for (const p of res) {
    assert.equal(p.segmentation.size, [img.width, img.height], 'the upright (rotated) size, [h, w]');
    assert.ok(vertices(p.polygons) <= 40);
    const [h, w] = p.segmentation.size;
    const mask = annToRle(p.segmentation, h, w);
    if (mask.counts.length > 1) ious.push(iouOf(rasterise(p.polygons, h, w), mask));
  }
  // The tiny model's masks are ragged (10-25 parts, holes): 40 vertices keep >= 0.85 of each and
  // >= 0.9 on average (the smooth synthetic blobs above keep >= 0.9 each).
  const mean = ious.reduce((x, y) => x + y, 0) / ious.length;
  assert.ok(ious.length > 0 && Math.min(...ious) >= 0.85 && mean >= 0.9, `polygon vs RLE IoU: ${ious.map((v) => v.toFixed(3)).join(', ')}`);
  const viz = decodePng(readFileSync(join(dir, 'out', 'viz', 'phone.png')));
  assert.equal([viz.width, viz.height], [img.height, img.width]);
  // Labels are opaque boxes with black or white glyphs: some pure black or white pixels where the scene has none.
  let ink = 0;
  for (let i = 0; i < viz.width * viz.height; i++) {
    const [a, b, c] = viz.rgba.subarray(i * 4, i * 4 + 3);
    if ((a === 0 && b === 0 && c === 0) || (a === 255 && b === 255 && c === 255)) ink++;
  }
  assert.ok(ink > 20, `label ink pixels: ${ink}`);
  // A click with --polygons: each mask at the point has its polygons too.
  const click = spawnSync(
    process.execPath,
    [
      repoPath('bin/deepmask.js'),
      'infer',
      join(dir, 'phone.jpg'),
      '--weights',
      repoPath('models/tiny-synth'),
      '--point',
      '40,60',
      '--polygons',
      '--out',
      join(dir, 'click'),
    ],
    { encoding: 'utf8' },
  );
  assert.is(click.status, 0, click.stderr);
  const clicked = JSON.parse(readFileSync(join(dir, 'click', 'results.json'), 'utf8')) as { point: number[]; polygons: number[][] }[];
  assert.is(clicked.length, 3);
  for (const p of clicked) assert.ok(Array.isArray(p.polygons) && vertices(p.polygons) <= 64 && p.point.join() === '40,60');
  const bad = spawnSync(
    process.execPath,
    [repoPath('bin/deepmask.js'), 'infer', join(dir, 'phone.jpg'), '--polygon-vertices', '2', '--polygons', '--out', join(dir, 'bad')],
    { encoding: 'utf8' },
  );
  assert.is(bad.status, 2);
  assert.match(bad.stderr, /--polygon-vertices/);
});

test.run();
