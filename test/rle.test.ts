import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Rng } from '../src/graph/random.js';
import {
  annToRle,
  area,
  bboxIou,
  countsFromString,
  countsToString,
  decodeMask,
  encodeMask,
  frBbox,
  frPoly,
  iou,
  merge,
  toBbox,
  toCocoRle,
  type RLE,
} from '../src/data/rle.js';

/** A row-major mask from text rows ('1' = on). */
const maskOf = (rows: string[]): { mask: Uint8Array; h: number; w: number } => {
  const h = rows.length,
    w = rows[0]!.length;
  const mask = new Uint8Array(h * w);
  rows.forEach((r, y) => [...r].forEach((c, x) => (mask[y * w + x] = c === '1' ? 1 : 0)));
  return { mask, h, w };
};

const rowsOf = (mask: Uint8Array, h: number, w: number): string[] =>
  Array.from({ length: h }, (_, y) => Array.from({ length: w }, (_, x) => String(mask[y * w + x])).join(''));

/** Column-major run lengths computed the plain way, as a reference for encodeMask. */
const refCounts = (mask: Uint8Array, h: number, w: number): number[] => {
  const flat: number[] = [];
  for (let x = 0; x < w; x++) for (let y = 0; y < h; y++) flat.push(mask[y * w + x] ? 1 : 0);
  const counts = [0];
  let cur = 0;
  for (const v of flat) {
    if (v !== cur) {
      counts.push(0);
      cur = v;
    }
    counts[counts.length - 1]!++;
  }
  return counts;
};

const refBbox = (mask: Uint8Array, h: number, w: number): number[] => {
  let x0 = Infinity,
    y0 = Infinity,
    x1 = -1,
    y1 = -1;
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      if (mask[y * w + x]) {
        x0 = Math.min(x0, x);
        y0 = Math.min(y0, y);
        x1 = Math.max(x1, x);
        y1 = Math.max(y1, y);
      }
  return x1 < 0 ? [0, 0, 0, 0] : [x0, y0, x1 - x0 + 1, y1 - y0 + 1];
};

/** Random masks mixing noise (short runs) and rectangles (long runs). */
const randomMask = (rng: Rng, h: number, w: number): Uint8Array => {
  const m = new Uint8Array(h * w);
  const kind = rng.int(3);
  if (kind === 0) {
    const p = rng.next();
    for (let i = 0; i < m.length; i++) m[i] = rng.next() < p ? 1 : 0;
  } else {
    const n = 1 + rng.int(4);
    for (let k = 0; k < n; k++) {
      const x0 = rng.int(w),
        y0 = rng.int(h),
        x1 = x0 + rng.int(w - x0),
        y1 = y0 + rng.int(h - y0);
      for (let y = y0; y <= y1; y++) for (let x = x0; x <= x1; x++) m[y * w + x] = kind === 1 ? 1 : m[y * w + x]! ^ 1;
    }
  }
  return m;
};

const expectThrow = (f: () => unknown, pattern: RegExp, what: string): void => {
  try {
    f();
  } catch (e) {
    assert.match((e as Error).message, pattern, what);
    return;
  }
  assert.unreachable(`${what}: expected an error`);
};

// Spec §6.2 test vectors, produced by cocoapi's maskApi.c.
test('vector #1: 4x3 mask', () => {
  const { mask, h, w } = maskOf(['010', '011', '001', '000']);
  const r = encodeMask(mask, h, w);
  assert.equal(r, { h: 4, w: 3, counts: [4, 2, 3, 2, 1] });
  assert.is(countsToString(r.counts), '4230N');
  assert.equal(countsFromString('4230N'), [4, 2, 3, 2, 1]);
  assert.equal(toBbox(r), [1, 0, 2, 3]);
  assert.is(area(r), 4);
  assert.equal(decodeMask(r), mask);
});

test('vector #2: all ones starts with an empty run of 0s', () => {
  const r = encodeMask(new Uint8Array([1, 1, 1, 1]), 2, 2);
  assert.equal(r.counts, [0, 4]);
  assert.is(countsToString(r.counts), '04');
  assert.equal(toBbox(r), [0, 0, 2, 2]);
  assert.is(area(r), 4);
});

test('vector #3: empty mask', () => {
  const r = encodeMask(new Uint8Array(9), 3, 3);
  assert.equal(r.counts, [9]);
  assert.is(countsToString(r.counts), '9');
  assert.equal(toBbox(r), [0, 0, 0, 0]);
  assert.is(area(r), 0);
});

const square100 = (x0: number): Uint8Array => {
  const m = new Uint8Array(100 * 100);
  for (let y = 20; y < 70; y++) for (let x = x0; x < x0 + 50; x++) m[y * 100 + x] = 1;
  return m;
};

test('vector #4: 100x100 square, string with deltas and multi-char values', () => {
  const r = encodeMask(square100(10), 100, 100);
  const expected = [1020];
  for (let i = 0; i < 99; i++) expected.push(50);
  expected.push(4030);
  assert.equal(r.counts, expected);
  assert.is(r.counts.length, 101);
  const s = 'lo0b1b1' + '0'.repeat(97) + '\\l3';
  assert.is(countsToString(r.counts), s);
  assert.equal(countsFromString(s), expected);
  assert.equal(toBbox(r), [10, 20, 50, 50]);
  assert.is(area(r), 2500);
});

test('vector #5: frPoly triangle and its raster', () => {
  const r = frPoly([1, 1, 8, 2, 4, 8], 10, 10);
  assert.equal(r.counts, [11, 1, 9, 3, 7, 6, 4, 6, 5, 4, 6, 2, 8, 1, 27]);
  assert.is(countsToString(r.counts), ';192N3M01N1N2Oc0');
  assert.equal(toBbox(r), [1, 1, 7, 6]);
  assert.is(area(r), 23);
  assert.equal(rowsOf(decodeMask(r), 10, 10), [
    '0000000000',
    '0111100000',
    '0011111100',
    '0011111000',
    '0001110000',
    '0001110000',
    '0001100000',
    '0000000000',
    '0000000000',
    '0000000000',
  ]);
});

test('vector #6: frBbox', () => {
  const r = frBbox([2, 3, 4, 5], 10, 12);
  assert.equal(r, { h: 10, w: 12, counts: [23, 5, 5, 5, 5, 5, 5, 5, 62] });
  assert.is(countsToString(r.counts), 'g05500000i1');
  assert.equal(toBbox(r), [2, 3, 4, 5]);
  assert.is(area(r), 20);
});

test('vector #7: IoU of the #4 square and its copy shifted by 25 in x is 1/3', () => {
  const a = encodeMask(square100(10), 100, 100),
    b = encodeMask(square100(35), 100, 100);
  const o = iou([a], [b], [false]);
  assert.is(o[0]![0], 1 / 3);
  assert.is(Number(o[0]![0]!.toFixed(6)), 0.333333);
});

test('encode/decode and the string codec round-trip on random 37x23 masks', () => {
  const rng = new Rng(11);
  const h = 37,
    w = 23;
  let sawLong = 0;
  for (let it = 0; it < 300; it++) {
    const m = randomMask(rng, h, w);
    const r = encodeMask(m, h, w);
    assert.equal(r.counts, refCounts(m, h, w), `encode ${it}`);
    assert.is(
      r.counts.reduce((a, b) => a + b, 0),
      h * w,
    );
    assert.equal(decodeMask(r), m, `decode ${it}`);
    const s = countsToString(r.counts);
    assert.match(s, /^[0-o]*$/);
    assert.equal(countsFromString(s), r.counts, `string ${it}`);
    if (r.counts.some((c) => c > 32)) sawLong++;
  }
  assert.ok(sawLong > 50, 'runs longer than 32 occur');
});

test('string codec on long runs: several 5-bit groups and negative deltas', () => {
  const rng = new Rng(5);
  let multi = 0,
    negative = 0;
  for (let it = 0; it < 200; it++) {
    const n = 1 + rng.int(40);
    const counts = Array.from({ length: n }, (_, i) => (i === 0 && rng.next() < 0.3 ? 0 : 1 + rng.int([3, 40, 2000, 200000][rng.int(4)]!)));
    const s = countsToString(counts);
    assert.equal(countsFromString(s), counts, `counts ${JSON.stringify(counts)}`);
    if (s.length > n + 2) multi++;
    for (let i = 3; i < n; i++) if (counts[i]! < counts[i - 2]!) negative++;
  }
  assert.ok(multi > 100 && negative > 100, `exercised multi-group (${multi}) and negative deltas (${negative})`);
  // Exact groups: 1000 = 0b11111_01000 → 8|0x20 then 31 with the sign bit set, so one more 0 group.
  assert.is(countsToString([1000]), String.fromCharCode(48 + (8 | 0x20), 48 + (31 | 0x20), 48));
  // Index 3 is a delta against index 1: 7 - 9 = -2 → 30 (sign bit, no more).
  assert.is(countsToString([1, 9, 2, 7]), '192N');
});

test('merge: union and intersection equal the pixel-wise reference, canonically encoded', () => {
  const rng = new Rng(3);
  for (let it = 0; it < 200; it++) {
    const h = 1 + rng.int(30),
      w = 1 + rng.int(30),
      n = 2 + rng.int(3);
    const masks = Array.from({ length: n }, () => randomMask(rng, h, w));
    for (const intersect of [false, true]) {
      const ref = new Uint8Array(h * w);
      for (let i = 0; i < ref.length; i++) ref[i] = intersect ? (masks.every((m) => m[i]) ? 1 : 0) : masks.some((m) => m[i]) ? 1 : 0;
      const r = merge(
        masks.map((m) => encodeMask(m, h, w)),
        intersect,
      );
      assert.equal(r.counts, refCounts(ref, h, w), `${intersect ? 'intersection' : 'union'} ${it}`);
    }
  }
  const one = encodeMask(square100(10), 100, 100);
  assert.equal(merge([one]), one);
  assert.equal(merge([]), { h: 0, w: 0, counts: [] });
  expectThrow(() => merge([one, frBbox([0, 0, 1, 1], 4, 4)]), /different sizes/, 'size mismatch');
});

test('toBbox: empty, wrapping run, and the pixel-wise box on random masks', () => {
  assert.equal(toBbox({ h: 5, w: 4, counts: [20] }), [0, 0, 0, 0]);
  // On pixels (x=1, y=3), (1, 4), (2, 0): one run that wraps into the next column.
  const wrap: RLE = { h: 5, w: 4, counts: [8, 3, 9] };
  assert.equal(toBbox(wrap), [1, 0, 2, 5]);
  assert.equal(toBbox(wrap), refBbox(decodeMask(wrap), 5, 4));
  // A trailing run of 1s (odd number of counts) still counts.
  assert.equal(toBbox({ h: 2, w: 2, counts: [3, 1] }), [1, 1, 1, 1]);
  const rng = new Rng(8);
  for (let it = 0; it < 200; it++) {
    const h = 1 + rng.int(20),
      w = 1 + rng.int(20);
    const m = randomMask(rng, h, w);
    assert.equal(toBbox(encodeMask(m, h, w)), refBbox(m, h, w), `mask ${it}`);
  }
});

test('iou equals the pixel-wise reference, including crowd regions', () => {
  const rng = new Rng(21);
  let crowdSeen = 0,
    partial = 0;
  for (let it = 0; it < 60; it++) {
    const h = 1 + rng.int(25),
      w = 1 + rng.int(25);
    const dm = Array.from({ length: 1 + rng.int(4) }, () => randomMask(rng, h, w));
    const gm = Array.from({ length: 1 + rng.int(4) }, () => randomMask(rng, h, w));
    const crowd = gm.map(() => rng.next() < 0.4);
    const o = iou(
      dm.map((m) => encodeMask(m, h, w)),
      gm.map((m) => encodeMask(m, h, w)),
      crowd,
    );
    assert.is(o.length, dm.length);
    dm.forEach((d, i) =>
      gm.forEach((g, j) => {
        let inter = 0,
          uni = 0,
          ad = 0;
        for (let p = 0; p < h * w; p++) {
          inter += d[p]! & g[p]!;
          uni += d[p]! | g[p]!;
          ad += d[p]!;
        }
        const expected = inter === 0 ? 0 : inter / (crowd[j] ? ad : uni);
        assert.is(o[i]![j], expected, `dt ${i} gt ${j} of case ${it}`);
        if (crowd[j] && inter > 0 && inter < uni) crowdSeen++;
        if (expected > 0 && expected < 1) partial++;
      }),
    );
  }
  assert.ok(crowdSeen > 10 && partial > 50, 'crowd and partial overlaps exercised');
  // Different sizes with overlapping boxes: -1 as in cocoapi.
  assert.equal(iou([frBbox([0, 0, 3, 3], 5, 5)], [frBbox([0, 0, 3, 3], 6, 5)], [false]), [[-1]]);
  expectThrow(() => iou([], [frBbox([0, 0, 1, 1], 2, 2)], []), /iscrowd/, 'iscrowd length');
});

test('bboxIou by hand, crowd union = detection area', () => {
  const dt = [
    [0, 0, 10, 10],
    [5, 0, 10, 10],
    [20, 20, 2, 2],
  ];
  const gt = [
    [0, 0, 10, 10],
    [0, 0, 20, 20],
  ];
  const o = bboxIou(dt, gt, [false, true]);
  assert.equal(o[0], [1, 1]); // crowd: inter 100 / area(dt) 100
  assert.equal(o[1], [50 / 150, 1]);
  assert.equal(o[2], [0, 0]); // touching at a corner is no overlap
  assert.equal(bboxIou([[0, 0, 10, 10]], [[0, 0, 20, 20]], [false]), [[0.25]]);
});

test('annToRle: polygons (merged), uncompressed RLE and compressed RLE', () => {
  const tri = annToRle([[1, 1, 8, 2, 4, 8]], 10, 10);
  assert.equal(tri.counts, [11, 1, 9, 3, 7, 6, 4, 6, 5, 4, 6, 2, 8, 1, 27]);
  // Two polygons are unioned: two disjoint boxes, then overlapping ones.
  const two = annToRle(
    [
      [0, 0, 0, 2, 2, 2, 2, 0],
      [5, 5, 5, 7, 7, 7, 7, 5],
    ],
    10,
    10,
  );
  assert.is(area(two), area(frBbox([0, 0, 2, 2], 10, 10)) + area(frBbox([5, 5, 2, 2], 10, 10)));
  const over = annToRle(
    [
      [0, 0, 0, 4, 4, 4, 4, 0],
      [2, 2, 2, 6, 6, 6, 6, 2],
    ],
    10,
    10,
  );
  assert.equal(over, merge([frBbox([0, 0, 4, 4], 10, 10), frBbox([2, 2, 4, 4], 10, 10)]));
  assert.is(area(over), 16 + 16 - 4);
  // pycocotools reads a list whose first entry has exactly 4 numbers as [x, y, w, h] boxes.
  assert.equal(annToRle([[2, 3, 4, 5]], 10, 12), frBbox([2, 3, 4, 5], 10, 12));
  // Uncompressed (crowd) RLE: counts array, size [h, w].
  const un = annToRle({ size: [4, 3], counts: [4, 2, 3, 2, 1] }, 4, 3);
  assert.equal(un, { h: 4, w: 3, counts: [4, 2, 3, 2, 1] });
  // Compressed RLE.
  assert.equal(annToRle({ size: [10, 10], counts: ';192N3M01N1N2Oc0' }, 10, 10), tri);
});

test('annToRle and the codecs reject malformed input with a clear message', () => {
  expectThrow(() => annToRle({ size: [4, 3], counts: [4, 2, 3, 2] }, 4, 3), /sum to 11, expected h\*w = 4\*3 = 12/, 'counts sum');
  expectThrow(() => annToRle([[1, 1, 8, 2, 4]], 10, 10), /odd number of coordinates/, 'odd polygon');
  expectThrow(
    () =>
      annToRle(
        [
          [1, 1, 8, 2, 4, 8],
          [1, 2, 3],
        ],
        10,
        10,
      ),
    /polygon 1: .*odd/,
    'odd second polygon',
  );
  expectThrow(() => annToRle({ size: [3, 4], counts: [4, 2, 3, 2, 1] }, 4, 3), /does not match the image size/, 'size mismatch');
  expectThrow(() => annToRle({ size: [10, 10], counts: ';192N3M01N1N2O' }, 10, 10), /sum to 73, expected/, 'compressed counts missing the last run');
  expectThrow(() => annToRle([], 10, 10), /empty/, 'no polygons');
  expectThrow(
    () =>
      annToRle(
        [
          [2, 3, 4, 5],
          [1, 1, 8, 2, 4, 8],
        ],
        10,
        12,
      ),
    /read as a box/,
    'mixed boxes and polygons',
  );
  expectThrow(() => countsFromString('4 2'), /outside/, 'bad character');
  expectThrow(() => countsFromString('4b'), /ends inside a value/, 'dangling continuation');
  expectThrow(() => countsFromString('N'), /negative count/, 'negative count');
  expectThrow(() => decodeMask({ h: 2, w: 2, counts: [1, 2] }), /sum to 3/, 'decode checks the sum');
  expectThrow(() => encodeMask(new Uint8Array(5), 2, 2), /5 pixels/, 'mask length');
  expectThrow(() => frBbox([1, 2, 3], 4, 4), /4 numbers/, 'bbox length');
});

test('toCocoRle: size is [h, w], counts compressed', () => {
  const r = frBbox([2, 3, 4, 5], 10, 12);
  assert.equal(toCocoRle(r), { size: [10, 12], counts: 'g05500000i1' });
  assert.equal(annToRle(toCocoRle(r), 10, 12), r);
});

test.run();
