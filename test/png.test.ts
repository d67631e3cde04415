// Every kind of PNG the project writes (a --viz overlay, the training curves, a synthetic scene)
// read by a second, independent decoder (fast-png), with deflate blocks of at most 64 KiB; and
// curves that can be read: a font whose letters and digits differ, tick labels that never repeat.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { decode as fastDecode } from 'fast-png';
import { decodePng, encodePng } from '../src/data/png.js';
import { drawOverlay } from '../src/data/draw.js';
import { decodeImage } from '../src/data/image.js';
import { generateScenes } from '../src/data/synth.js';
import { toRgba } from '../src/infer/results.js';
import { Rng } from '../src/graph/random.js';
import { axisTicks, glyph, GLYPH_CHARS, plotPanels } from '../src/train/plot.js';
import { deflateBlockSizes, idatStream } from './lib/deflate.js';
import { repoPath, sharedPath } from './lib/shared.js';

const bytesEqual = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && a.every((v, i) => v === b[i]);

/** fast-png's decode as RGBA8. */
function fastRgba(png: Uint8Array): { width: number; height: number; rgba: Uint8Array } {
  const d = fastDecode(png);
  assert.is(d.depth, 8);
  assert.ok(d.channels === 3 || d.channels === 4, `${d.channels} channels`);
  const n = d.width * d.height,
    rgba = new Uint8Array(n * 4);
  for (let i = 0; i < n; i++) for (let c = 0; c < 4; c++) rgba[4 * i + c] = c < d.channels ? d.data[i * d.channels + c]! : 255;
  return { width: d.width, height: d.height, rgba };
}

/** Checks a PNG the project wrote: blocks of at most 64 KiB, and both decoders give back the pixels. */
function checkPng(what: string, png: Uint8Array, rgba: Uint8Array, width: number, height: number): void {
  let fast: ReturnType<typeof fastRgba> | undefined,
    error = '';
  try {
    fast = fastRgba(png);
  } catch (e) {
    error = (e as Error).message;
  }
  if (!fast) return assert.unreachable(`${what}: fast-png cannot read it: ${error}`);
  const blocks = deflateBlockSizes(idatStream(png));
  const bpp = png[25] === 2 ? 3 : 4;
  assert.is(
    blocks.reduce((s, b) => s + b.bytes, 0),
    height * (width * bpp + 1),
    `${what}: deflate blocks add up to the filtered image`,
  );
  for (const b of blocks) assert.ok(b.bytes <= 65536, `${what}: a ${b.type} deflate block of ${b.bytes} bytes (more than 64 KiB)`);
  const ours = decodePng(png);
  assert.equal([fast.width, fast.height], [width, height], `${what}: size`);
  assert.equal([ours.width, ours.height], [width, height], `${what}: size`);
  assert.ok(bytesEqual(fast.rgba, ours.rgba), `${what}: fast-png and decodePng disagree`);
  assert.ok(bytesEqual(ours.rgba, rgba), `${what}: decoded pixels differ from the drawn ones`);
}

test('the block walker measures what zlib writes (fixed, dynamic and stored blocks)', () => {
  const rng = new Rng(3);
  const text = new TextEncoder().encode('the quick brown fox jumps over the lazy dog; '.repeat(4000));
  const noise = Uint8Array.from({ length: 200_000 }, () => rng.int(256));
  for (const [data, level] of [
    [text, 9],
    [noise, 6],
    [noise, 0],
    [new Uint8Array(10), 9],
  ] as const) {
    const blocks = deflateBlockSizes(deflateSync(data, { level }));
    assert.is(
      blocks.reduce((s, b) => s + b.bytes, 0),
      data.length,
    );
  }
});

test('a --viz overlay on a photo: blocks of at most 64 KiB, fast-png reads the same pixels', () => {
  // A COCO photo where the workspace has them (noisy, 640 px: the largest PNGs the CLI writes),
  // otherwise the repository's scene.
  const dir = sharedPath('data/coco-tiny-train2017/images');
  const file =
    dir && existsSync(dir)
      ? join(
          dir,
          readdirSync(dir)
            .filter((f) => f.endsWith('.jpg'))
            .sort()[0]!,
        )
      : repoPath('web/assets/scene.png');
  const img = decodeImage(new Uint8Array(readFileSync(file)), file);
  const { width: w, height: h } = img;
  const disc = new Uint8Array(w * h),
    box = new Uint8Array(w * h);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      if ((x - w / 3) ** 2 + (y - h / 2) ** 2 < (h / 4) ** 2) disc[y * w + x] = 1;
      if (x > w / 2 && x < (w * 9) / 10 && y > h / 5 && y < (h * 4) / 5) box[y * w + x] = 1;
    }
  const rgba = drawOverlay(toRgba(img), w, h, [disc, box]);
  checkPng(`overlay of ${file}`, encodePng(rgba, w, h), rgba, w, h);
  // With alpha (RGBA PNG) and as large again.
  const big = new Uint8Array(2 * w * h * 4);
  big.set(rgba);
  big.set(rgba, w * h * 4);
  for (let i = 3; i < big.length; i += 8) big[i] = 128;
  checkPng('RGBA overlay', encodePng(big, w, 2 * h), big, w, 2 * h);
});

test('training curves: blocks of at most 64 KiB, fast-png reads the same pixels', () => {
  const loss = Array.from({ length: 400 }, (_, i) => [i * 10, 0.6 * Math.exp(-i / 90) + 0.1 + 0.02 * Math.sin(i)] as [number, number]);
  const val = (a: number) => Array.from({ length: 12 }, (_, i) => [i * 360, a + 0.04 * i] as [number, number]);
  const panels = [
    { title: 'train loss', logY: true, series: [{ name: 'loss', color: [200, 60, 40] as [number, number, number], points: loss }] },
    {
      title: 'validation',
      yRange: [0, 1] as [number, number],
      series: [
        { name: 'mask IoU', color: [40, 90, 200] as [number, number, number], points: val(0.2) },
        { name: 'score acc', color: [30, 150, 60] as [number, number, number], points: val(0.5) },
      ],
    },
  ];
  // Large enough that the old single block was hundreds of KB.
  const png = plotPanels(panels, 1600, 600);
  const mine = decodePng(png);
  checkPng('curves', png, mine.rgba, 1600, 600);
  checkPng('curves (default size)', plotPanels(panels), decodePng(plotPanels(panels)).rgba, 960, 320);
});

test('a synthetic scene: blocks of at most 64 KiB, fast-png reads the same pixels', () => {
  for (const size of [256, 640]) {
    const im = generateScenes({ images: 1, width: size, height: (size * 3) / 4, seed: 7 }).images[0]!;
    checkPng(`synthetic scene ${size}`, im.png, im.rgba, im.width, im.height);
  }
});

test('the curves font: every glyph its own, letters and digits that look alike differ clearly', () => {
  const diff = (a: string, b: string): number => {
    const ga = glyph(a),
      gb = glyph(b);
    let d = 0;
    for (let r = 0; r < Math.max(ga.length, gb.length); r++) {
      let x = (ga[r] ?? 0) ^ (gb[r] ?? 0);
      for (; x; x >>= 1) d += x & 1;
    }
    return d;
  };
  for (let i = 0; i < GLYPH_CHARS.length; i++)
    for (let j = i + 1; j < GLYPH_CHARS.length; j++) {
      const [a, b] = [GLYPH_CHARS[i]!, GLYPH_CHARS[j]!];
      assert.ok(diff(a, b) >= 2, `'${a}' and '${b}' differ in ${diff(a, b)} pixels`);
    }
  for (const [a, b] of ['l1', 'lI', 'I1', 's5', 'S5', 'o0', 'O0', 'B8', 'Z2', 'g9', 'q9', 'b6', 'z2']) {
    assert.ok(diff(a!, b!) >= 3, `'${a}' and '${b}' differ in only ${diff(a!, b!)} pixels`);
  }
  // Everything the curves print has a glyph (none falls back to '?').
  for (const ch of 'train loss validation mask IoU score acc step 0123456789.-+e') assert.ok(GLYPH_CHARS.includes(ch), `no glyph for '${ch}'`);
});

test('axis ticks: distinct labels that read as their values, inside the range, 3 to 9 of them', () => {
  const rng = new Rng(11);
  const ranges: [number, number, boolean][] = [
    [0, 1, false],
    [0.5, 0.52, false],
    [0.501, 0.513, false],
    [0, 2990, false],
    [3, 7, false],
    [-1, 1, false],
    [1e6, 1.3e6, false],
    [1e-5, 3e-5, false],
    [0.7312, 0.7318, false],
    [12345, 12346, false],
    [0.12, 0.72, true],
    [0.6, 0.9, true],
    [0.001, 5, true],
    [1e-7, 1e3, true],
    [0.15, 1.6, true],
    [2e-5, 3e-5, true],
  ];
  for (let i = 0; i < 300; i++) {
    const lo = (rng.next() - 0.3) * 10 ** (rng.int(12) - 6),
      span = rng.next() * 10 ** (rng.int(10) - 5) + 1e-12;
    ranges.push([lo, lo + span, false]);
    if (lo > 0) ranges.push([lo, lo + span * 10 ** rng.int(6), true]);
  }
  for (const [lo, hi, log] of ranges) {
    const ticks = axisTicks(lo, hi, log),
      where = `[${lo}, ${hi}]${log ? ' log' : ''}: ${ticks.map((t) => t.label).join(' ')}`;
    const labels = ticks.map((t) => t.label);
    assert.is(new Set(labels).size, labels.length, `repeated label on ${where}`);
    assert.ok(ticks.length >= 3 && ticks.length <= 9, `${ticks.length} ticks on ${where}`);
    for (let k = 0; k < ticks.length; k++) {
      const { value, label } = ticks[k]!;
      assert.ok(value >= lo - (hi - lo) * 1e-6 && value <= hi + (hi - lo) * 1e-6, `tick ${value} outside ${where}`);
      if (k) assert.ok(value > ticks[k - 1]!.value, `ticks out of order on ${where}`);
      // The label is the value, to within a hundredth of the gap to the next tick.
      const gap = ticks[Math.min(k + 1, ticks.length - 1)]!.value - ticks[Math.max(k - 1, 0)]!.value;
      assert.ok(Math.abs(Number(label) - value) <= gap / 100, `label ${label} for ${value} on ${where}`);
      assert.ok(/^-?[0-9.]+(e-?[0-9]+)?$/.test(label), `label ${label} on ${where}`);
    }
  }
  assert.throws(() => axisTicks(1, 1), /range/);
  assert.throws(() => axisTicks(0, NaN), /range/);
});

test.run();
