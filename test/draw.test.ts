// Proposal pictures people can read (--viz and the page): outlines over light fills, small masks on
// top, labels that never cover one another, rank 1's always there.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { drawLabel, drawMasks, edgeDistance, labelFor, labelScale, labelSize, overlayColor, placeLabels, inkOn, type Box, type Rgb } from '../src/data/draw.js';
import { drawProposals } from '../src/infer/results.js';
import { encodeMask, toBbox } from '../src/data/rle.js';
import type { Proposal } from '../src/infer/proposals.js';
import type { RgbImage } from '../src/data/image.js';

const overlaps = ([ax, ay, aw, ah]: Box, [bx, by, bw, bh]: Box) => ax < bx + bw && bx < ax + aw && ay < by + bh && by < ay + ah;

/** A w x h mask with the rectangle [x, y, rw, rh] on. */
function rect(w: number, h: number, [x, y, rw, rh]: Box): Uint8Array {
  const m = new Uint8Array(w * h);
  for (let yy = y; yy < y + rh; yy++) for (let xx = x; xx < x + rw; xx++) m[yy * w + xx] = 1;
  return m;
}

const px = (rgba: Uint8Array, w: number, x: number, y: number): number[] => Array.from(rgba.subarray(4 * (y * w + x), 4 * (y * w + x) + 3));

test('placeLabels: labels of overlapping boxes never intersect, stay inside the image, rank 1 at its first place', () => {
  const W = 200,
    H = 150;
  // Eight boxes sharing a corner, plus two at the image's edges (their outside places are off the picture).
  const boxes: Box[] = [...Array.from({ length: 8 }, (_, k): Box => [30, 30, 60 + 8 * k, 50 + 6 * k]), [0, 0, 40, 30], [170, 120, 30, 30]];
  const spots = placeLabels(
    W,
    H,
    boxes.map((box) => ({ w: 50, h: 14, box })),
  );
  assert.equal(spots[0], [30, 16], 'rank 1: above its box, left-aligned');
  const placed = spots.map((s): Box | null => (s ? [s[0], s[1], 50, 14] : null));
  assert.ok(
    placed.every((b) => b !== null),
    `all ten fit in a 200x150 picture: ${JSON.stringify(spots)}`,
  );
  for (const [i, a] of placed.entries()) {
    const [x, y] = a!;
    assert.ok(x >= 0 && y >= 0 && x + 50 <= W && y + 14 <= H, `label ${i + 1} at ${x},${y} leaves the image`);
    for (const [j, b] of placed.entries()) if (j > i) assert.not.ok(overlaps(a!, b!), `labels ${i + 1} and ${j + 1} intersect`);
  }
  // A crowded picture: what does not fit is left out (null), never drawn over an earlier label.
  const crowded = placeLabels(
    60,
    40,
    Array.from({ length: 12 }, () => ({ w: 50, h: 14, box: [5, 5, 50, 30] as Box })),
  );
  assert.ok(crowded[0] !== null && crowded.some((s) => s === null));
  const kept = crowded.filter((s): s is [number, number] => s !== null).map(([x, y]): Box => [x, y, 50, 14]);
  for (const [i, a] of kept.entries()) for (const b of kept.slice(i + 1)) assert.not.ok(overlaps(a, b));
  // With every corner taken a label goes on the object, centred on its `inside` point.
  const whole: Box = [0, 0, 100, 100];
  const third = placeLabels(100, 100, [
    { w: 100, h: 10, box: whole },
    { w: 100, h: 10, box: whole },
    { w: 100, h: 10, box: whole, inside: [50, 60] },
  ]);
  assert.equal(third, [
    [0, 0],
    [0, 90],
    [0, 55],
  ]);
});

test('drawMasks: 2-px outlines in each colour, small masks on top, each pixel tinted once, large masks fainter', () => {
  const W = 40,
    H = 30;
  const grey = new Uint8Array(W * H * 4).fill(100);
  const big = rect(W, H, [0, 0, 40, 30]); // the whole picture
  const small = rect(W, H, [10, 8, 12, 10]);
  const red: Rgb = [255, 0, 0],
    blue: Rgb = [0, 0, 255];
  // Ranked best first: the big one is rank 1, yet the small one is drawn over it.
  const out = drawMasks(
    grey,
    W,
    H,
    [
      { mask: big, color: red },
      { mask: small, color: blue },
    ],
    { fillAlpha: 0.3 },
  );
  assert.ok(
    grey.every((v) => v === 100),
    'input untouched',
  );
  // Outlines: two pixels deep, the mask's own colour.
  for (const [x, y] of [
    [10, 8],
    [11, 9],
    [21, 17],
    [20, 12],
  ])
    assert.equal(px(out, W, x!, y!), blue, `small's outline at ${x},${y}`);
  for (const [x, y] of [
    [0, 0],
    [1, 5],
    [39, 29],
    [20, 28],
  ])
    assert.equal(px(out, W, x!, y!), red, `big's outline at ${x},${y}`);
  // Inside the small one: the photo tinted by it alone (not by both), at the full fill alpha.
  assert.equal(px(out, W, 15, 12), [70, 70, Math.round(100 * 0.7 + 255 * 0.3)]);
  // The big one covers the whole picture, four quarters: the alpha over four, but at least a third of it.
  const a = 0.3 / 3;
  assert.equal(px(out, W, 5, 20), [Math.round(100 * (1 - a) + 255 * a), Math.round(100 * (1 - a)), Math.round(100 * (1 - a))]);
  const bare = drawMasks(grey, W, H, [{ mask: small, color: blue }], { fillAlpha: 0, outlineWidth: 0 });
  assert.ok(
    bare.every((v) => v === 100),
    'no fill, no outline: nothing drawn',
  );
  assert.throws(() => drawMasks(grey, W, H, [{ mask: new Uint8Array(3), color: red }]), /mask 0 has 3 pixels for 40x30/);
  assert.throws(() => drawMasks(new Uint8Array(7), W, H, []), /7 bytes for 40x30 RGBA/);
});

test('edgeDistance: city-block steps to the nearest pixel off the mask or outside the image', () => {
  const m = rect(7, 5, [0, 0, 7, 5]);
  m[2 * 7 + 3] = 0;
  const d = edgeDistance(m, 7, 5);
  assert.equal(Array.from(d.subarray(7, 14)), [1, 2, 2, 1, 2, 2, 1]);
  assert.equal(Array.from(d.subarray(14, 21)), [1, 2, 1, 0, 1, 2, 1]);
  assert.equal(labelFor(m, 7, 5, 4, 3).box, [0, 0, 7, 5]);
});

test('labelScale: legible on thumbnails, photos and big pictures', () => {
  assert.is(labelScale(120, 90), 1);
  assert.is(labelScale(256, 192), 2);
  assert.is(labelScale(640, 480), 2);
  assert.is(labelScale(1920, 1080), 6);
});

/** Where the picture holds `patch` (pw x ph RGB, exactly): top-left corners. */
function find(rgba: Uint8Array, w: number, h: number, patch: Uint8Array, pw: number, ph: number): [number, number][] {
  const hits: [number, number][] = [];
  for (let y = 0; y + ph <= h; y++) {
    next: for (let x = 0; x + pw <= w; x++) {
      for (let dy = 0; dy < ph; dy++)
        for (let dx = 0; dx < pw; dx++) {
          const i = 4 * ((y + dy) * w + x + dx),
            j = 4 * (dy * pw + dx);
          if (rgba[i] !== patch[j] || rgba[i + 1] !== patch[j + 1] || rgba[i + 2] !== patch[j + 2]) continue next;
        }
      hits.push([x, y]);
    }
  }
  return hits;
}

test('drawProposals: eight proposals sharing a box corner each keep a whole label (rank 1 first), and an outline pixel in their colour', () => {
  // Fails on the former drawing: its labels went above the box, else down its left edge, else on
  // top of the first one (rank 1's) when those places ran out.
  const W = 256,
    H = 192;
  const img: RgbImage = { width: W, height: H, data: new Float32Array(W * H * 3).fill(0.5) };
  const masks = Array.from({ length: 8 }, (_, k) => rect(W, H, [60, 50, 50 + 10 * k, 40 + 8 * k]));
  const proposals: Proposal[] = masks.map((m, k) => {
    const rle = encodeMask(m, H, W);
    return {
      score: 0.9 - 0.05 * k,
      objectness: 0.9 - 0.05 * k,
      rle,
      bbox: toBbox(rle),
      area: m.reduce((s, v) => s + v, 0),
      scale: 1,
      window: [0, 0, 160],
      cell: [0, 0],
    };
  });
  const out = drawProposals(img, proposals, 8, 1);
  const scale = labelScale(W, H);
  const found = proposals.map((p, k) => {
    const text = `${k + 1} ${p.score.toFixed(2)}`,
      [lw, lh] = labelSize(text, scale),
      c = overlayColor(k);
    const patch = new Uint8Array(lw * lh * 4);
    drawLabel(patch, lw, lh, 0, 0, text, c, inkOn(c), scale);
    const at = find(out, W, H, patch, lw, lh);
    assert.is(at.length, 1, `label "${text}" whole once in the picture (found ${at.length})`);
    return [...at[0]!, lw, lh] as Box;
  });
  for (const [i, a] of found.entries())
    for (const [j, b] of found.entries()) if (j > i) assert.not.ok(overlaps(a, b), `labels ${i + 1} and ${j + 1} intersect`);
  masks.forEach((m, k) => {
    const d = edgeDistance(m, W, H),
      c = overlayColor(k);
    let hits = 0;
    for (let i = 0; i < m.length; i++) if (d[i] === 1 && px(out, W, i % W, Math.floor(i / W)).join() === c.join()) hits++;
    assert.ok(hits > 0, `mask ${k + 1}: no outline pixel in its colour`);
  });
});

test.run();
