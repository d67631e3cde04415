import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { encodeMask, frBbox, toCocoRle } from '../src/data/rle.js';
import { AREA_RANGES, IOU_THRESHOLDS, arAuc, evaluate, formatTable, type Detection, type GtAnnotation, type ImageInfo } from '../src/eval/cocoeval.js';

type Box = [number, number, number, number];
const H = 40,
  W = 60;
const img = (id: number): ImageInfo => ({ id, height: H, width: W });
/** A box as a one-polygon segmentation; with integer corners it covers exactly w·h pixels. */
const poly = ([x, y, w, h]: Box): number[][] => [[x, y, x, y + h, x + w, y + h, x + w, y]];
const gt = (id: number, image_id: number, b: Box, extra: Partial<GtAnnotation> = {}): GtAnnotation => ({
  id,
  image_id,
  iscrowd: 0,
  area: b[2] * b[3],
  bbox: b,
  segmentation: poly(b),
  ...extra,
});
/** A mask proposal (compressed RLE, as DeepMask writes them) covering box b. */
const det = (image_id: number, score: number, b: Box): Detection => ({ image_id, score, category_id: 1, segmentation: toCocoRle(frBbox(b, H, W)) });
const segm = { iouType: 'segm' as const };

/** AR at area 'all' for a single GT [10,10,10,10] and one detection box, at maxDets 10. */
const arOne = (d: Box): number => evaluate([img(1)], [gt(1, 1, [10, 10, 10, 10])], [det(1, 0.9, d)], { iouType: 'segm', maxDets: [10] }).AR['AR@10']!;

test('IoU thresholds are numpy linspace(0.5, 0.95, 10) values', () => {
  assert.is(IOU_THRESHOLDS.length, 10);
  assert.equal(IOU_THRESHOLDS.slice(0, 8), [0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85]);
  assert.is(IOU_THRESHOLDS[8], 0.8999999999999999); // numpy's value, not 0.9
  assert.is(IOU_THRESHOLDS[9], 0.95);
  assert.equal(
    AREA_RANGES.map((r) => [r.lo, r.hi]),
    [
      [0, 1e10],
      [0, 1024],
      [1024, 9216],
      [9216, 1e10],
    ],
  );
});

test('perfect proposals give AR 1 at every maxDets, segm and bbox', () => {
  const boxes: Box[] = [
    [0, 0, 10, 10],
    [20, 5, 30, 20],
    [5, 25, 8, 12],
  ];
  const gts = boxes.map((b, i) => gt(i + 1, 1 + (i % 2), b));
  const dts = boxes.map((b, i) => det(1 + (i % 2), 0.5, b));
  for (const iouType of ['segm', 'bbox'] as const) {
    const r = evaluate([img(1), img(2)], gts, dts, { iouType });
    assert.equal(r.maxDets, [10, 100, 1000]);
    assert.is(r.AR['AR@10'], 1);
    assert.is(r.AR['AR@100'], 1);
    assert.is(r.AR['AR@1000'], 1);
    assert.is(r.AR['AR_small@1000'], 1);
    assert.is(r.AR['AR_medium@1000'], -1, 'no GT of medium size');
    assert.is(r.recall.length, 10);
    assert.is(r.recall[0]!.length, 4);
    assert.is(r.recall[0]![0]!.length, 3);
  }
});

test('a proposal shifted by k pixels matches the thresholds up to IoU (10-k)/(10+k)', () => {
  // 10x10 square shifted right by k: intersection 10(10-k), union 10(10+k).
  assert.is(arOne([10, 10, 10, 10]), 1);
  assert.is(arOne([11, 10, 10, 10]), 0.7); // 9/11 = 0.818: 0.50 .. 0.80
  assert.is(arOne([12, 10, 10, 10]), 0.4); // 8/12 = 0.667: 0.50 .. 0.65
  assert.is(arOne([13, 10, 10, 10]), 0.1); // 7/13 = 0.538: 0.50
  assert.is(arOne([14, 10, 10, 10]), 0); // 6/14 = 0.429
});

test('an IoU equal to a threshold matches it (skip only when iou < t)', () => {
  // Inside the 10x10 GT: IoU = covered area / 100.
  assert.is(arOne([10, 10, 7, 10]), 0.5); // 0.70 → 0.50 .. 0.70
  assert.is(arOne([10, 10, 5, 10]), 0.1); // 0.50 → 0.50 only
  assert.is(arOne([10, 10, 9, 10]), 0.9); // 0.90 ≥ 0.8999999999999999 → 9 thresholds
  assert.is(arOne([10, 10, 7, 7]), 0); // 0.49
  // 20x10 GT with a 19x10 proposal: IoU 0.95 reaches the last threshold.
  const r = evaluate([img(1)], [gt(1, 1, [0, 0, 20, 10])], [det(1, 1, [0, 0, 19, 10])], { iouType: 'segm', maxDets: [1] });
  assert.is(r.AR['AR@1'], 1);
  const r2 = evaluate([img(1)], [gt(1, 1, [0, 0, 20, 10])], [det(1, 1, [0, 0, 15, 10])], { iouType: 'segm', maxDets: [1] });
  assert.equal(
    r2.recall.map((t) => t[0]![0]),
    [1, 1, 1, 1, 1, 1, 0, 0, 0, 0],
  ); // IoU 0.75
  assert.is(r2.AR['AR@1'], 0.6);
});

test('each GT is matched once; recall pools GT over images', () => {
  // Two identical proposals for G1 and none for G2: 1 of 2.
  const gts = [gt(1, 1, [0, 0, 10, 10]), gt(2, 1, [30, 20, 10, 10])];
  const r = evaluate([img(1)], gts, [det(1, 0.9, [0, 0, 10, 10]), det(1, 0.8, [0, 0, 10, 10])], segm);
  assert.is(r.AR['AR@10'], 0.5);
  // Pooling: image 1 has 2 GT found, image 2 has 1 GT of 2 found → 3/4 at every threshold.
  const gts2 = [...gts, gt(3, 2, [0, 0, 10, 10]), gt(4, 2, [30, 20, 10, 10])];
  const dts2 = [det(1, 0.9, [0, 0, 10, 10]), det(1, 0.9, [30, 20, 10, 10]), det(2, 0.9, [0, 0, 10, 10])];
  assert.is(evaluate([img(1), img(2)], gts2, dts2, segm).AR['AR@100'], 0.75);
});

const crowdRle = (b: Box) => ({ size: [H, W] as [number, number], counts: frBbox(b, H, W).counts });

test('crowd regions are ignored: not in the denominator, and matching them neither helps nor hurts', () => {
  const regular = gt(1, 1, [0, 0, 10, 10]);
  const crowd = gt(2, 1, [30, 0, 20, 20], { iscrowd: 1, segmentation: crowdRle([30, 0, 20, 20]) });
  // A proposal inside the crowd region (crowd IoU = 1) ranked first, then the right one.
  const inCrowd = det(1, 0.99, [32, 2, 5, 5]);
  const right = det(1, 0.5, [0, 0, 10, 10]);
  assert.is(evaluate([img(1)], [regular, crowd], [inCrowd, right], segm).AR['AR@10'], 1);
  assert.is(evaluate([img(1)], [regular, crowd], [inCrowd], segm).AR['AR@10'], 0, 'denominator is 1, not 2');
  // Only crowd GT: no regular GT at all → -1 (excluded), even with a perfect match on the crowd.
  const r = evaluate([img(1)], [crowd], [det(1, 0.9, [30, 0, 20, 20])], segm);
  assert.is(r.AR['AR@10'], -1);
  assert.ok(r.recall.every((t) => t[0]!.every((v) => v === -1)));
  // Same in bbox mode: the crowd union is the detection's area.
  assert.is(evaluate([img(1)], [regular, crowd], [inCrowd], { iouType: 'bbox' }).AR['AR@10'], 0);
});

test('a detection prefers a regular GT over a better-overlapping crowd region', () => {
  // Regular 10x10 GT inside a 30x10 crowd region; the proposal is 16x10 from the left edge.
  // IoU with the regular GT 100/160 = 0.625; crowd IoU |D∩G|/|D| = 1. COCOeval matches the regular
  // GT where it can (0.50, 0.55, 0.60) and the crowd region above that.
  const regular = gt(1, 1, [0, 0, 10, 10]);
  const crowd = gt(2, 1, [0, 0, 30, 10], { iscrowd: 1, segmentation: crowdRle([0, 0, 30, 10]) });
  const r = evaluate([img(1)], [crowd, regular], [det(1, 0.9, [0, 0, 16, 10])], segm);
  assert.equal(
    r.recall.map((t) => t[0]![0]),
    [1, 1, 1, 0, 0, 0, 0, 0, 0, 0],
  );
  assert.is(r.AR['AR@10'], 0.3);
});

test('size buckets use the GT area field, inclusive at both ends', () => {
  // All GT masks are 10x10; only their area fields differ. B (32²) is both small and medium,
  // E (96²) both medium and large. A, C, D are found; B and E are missed.
  const gts = [
    gt(1, 1, [0, 0, 10, 10], { area: 500 }),
    gt(2, 1, [20, 0, 10, 10], { area: 1024 }),
    gt(3, 1, [40, 0, 10, 10], { area: 5000 }),
    gt(4, 1, [0, 20, 10, 10], { area: 10000 }),
    gt(5, 1, [20, 20, 10, 10], { area: 9216 }),
  ];
  const dts = [det(1, 0.9, [0, 0, 10, 10]), det(1, 0.8, [40, 0, 10, 10]), det(1, 0.7, [0, 20, 10, 10])];
  for (const iouType of ['segm', 'bbox'] as const) {
    const r = evaluate([img(1)], gts, dts, { iouType });
    assert.is(r.AR['AR@1000'], 0.5999999999999999); // np.mean of ten 0.6, bit for bit as COCOeval
    assert.is(r.AR['AR_small@1000'], 0.5); // A, B
    assert.ok(Math.abs(r.AR['AR_medium@1000']! - 1 / 3) < 1e-15, `medium ${r.AR['AR_medium@1000']}`); // B, C, E
    assert.is(r.AR['AR_large@1000'], 0.5); // E, D
  }
  // An unmatched detection of another size does not change recall in a bucket.
  const extra = [...dts, det(1, 0.95, [30, 10, 29, 29])];
  assert.is(evaluate([img(1)], gts, extra, segm).AR['AR_large@1000'], 0.5);
});

test('maxDets keeps the top detections per image by score', () => {
  const gts = [gt(1, 1, [20, 10, 10, 10]), gt(2, 2, [20, 10, 10, 10])];
  // 15 proposals per image; the right one has the 12th highest score in image 1 and the 5th in image 2.
  const dts: Detection[] = [];
  for (const [image, rank] of [
    [1, 12],
    [2, 5],
  ] as const) {
    for (let i = 1; i <= 15; i++) dts.push(det(image, 1 - i / 100, i === rank ? [20, 10, 10, 10] : [0, 0, 5 + i, 5]));
  }
  dts.reverse(); // input order does not matter, scores do
  const r = evaluate([img(1), img(2)], gts, dts, { iouType: 'segm', maxDets: [100, 10, 5, 4] });
  assert.equal(r.maxDets, [4, 5, 10, 100], 'sorted as COCOeval does');
  assert.is(r.AR['AR@4'], 0);
  assert.is(r.AR['AR@5'], 0.5);
  assert.is(r.AR['AR@10'], 0.5);
  assert.is(r.AR['AR@100'], 1);
  const only1 = evaluate([img(1), img(2)], gts, dts, { iouType: 'segm', maxDets: [10, 100], imgIds: [1] });
  assert.is(only1.AR['AR@10'], 0);
  assert.is(only1.AR['AR@100'], 1);
});

test('equal scores keep input order (stable sort) when cutting at maxDets', () => {
  const gts = [gt(1, 1, [20, 10, 10, 10])];
  const dts = (pos: number): Detection[] => Array.from({ length: 12 }, (_, i) => det(1, 0.5, i === pos ? [20, 10, 10, 10] : [0, 0, 3 + i, 3]));
  assert.is(evaluate([img(1)], gts, dts(9), { iouType: 'segm', maxDets: [10] }).AR['AR@10'], 1, '10th in input order');
  assert.is(evaluate([img(1)], gts, dts(10), { iouType: 'segm', maxDets: [10] }).AR['AR@10'], 0, '11th in input order');
});

test('images without GT or without detections', () => {
  const gts = [gt(1, 1, [0, 0, 10, 10]), gt(2, 3, [0, 0, 10, 10])];
  // Image 2 has only detections (no effect); image 3 has a GT and no detections (a miss).
  const dts = [det(1, 0.9, [0, 0, 10, 10]), det(2, 0.9, [0, 0, 10, 10])];
  assert.is(evaluate([img(1), img(2), img(3)], gts, dts, segm).AR['AR@100'], 0.5);
  // No GT anywhere: recall is undefined (-1).
  const none = evaluate([img(1), img(2)], [], dts, segm);
  assert.is(none.AR['AR@100'], -1);
  // GT but not a single detection: 0.
  assert.is(evaluate([img(1)], gts, [], segm).AR['AR@100'], 0);
});

test('imgIds restricts GT and detections; unknown image ids are rejected', () => {
  const gts = [gt(1, 1, [0, 0, 10, 10]), gt(2, 2, [0, 0, 10, 10])];
  const dts = [det(1, 0.9, [0, 0, 10, 10]), det(2, 0.9, [30, 20, 10, 10])];
  assert.is(evaluate([img(1), img(2)], gts, dts, segm).AR['AR@100'], 0.5);
  assert.is(evaluate([img(1), img(2)], gts, dts, { iouType: 'segm', imgIds: [1] }).AR['AR@100'], 1);
  // A perfect proposal for image 2's GT, outside imgIds, does not count.
  const r = evaluate([img(1), img(2)], gts, [det(2, 0.9, [0, 0, 10, 10])], { iouType: 'segm', imgIds: [1] });
  assert.is(r.AR['AR@100'], 0);
  assert.throws(() => evaluate([img(1)], gts, [det(7, 0.9, [0, 0, 10, 10])], segm), /image_id 7 is not among the ground-truth images/);
});

test('bbox mode: GT bbox field, box-only proposals, boxes derived from masks', () => {
  const gts = [gt(1, 1, [10, 10, 10, 10])];
  const boxDet = (b: Box): Detection => ({ image_id: 1, score: 0.9, bbox: b });
  const ar = (d: Detection, iouType: 'segm' | 'bbox') => evaluate([img(1)], gts, [d], { iouType, maxDets: [10] }).AR['AR@10'];
  assert.is(ar(boxDet([10, 10, 10, 7]), 'bbox'), 0.5); // IoU 0.7
  assert.is(ar(boxDet([10.5, 10, 10, 10]), 'bbox'), 0.9); // 95/105 = 0.905: fractional boxes are fine in bbox mode
  assert.is(ar(boxDet([10, 10, 10, 7]), 'segm'), 0.5, 'a box proposal is rasterised for segm');
  // An L-shaped mask whose box is the GT box: perfect as a box, IoU 0.51 as a mask.
  const m = new Uint8Array(H * W);
  for (let y = 10; y < 20; y++) for (let x = 10; x < 20; x++) if (x < 13 || y >= 17) m[y * W + x] = 1;
  const lDet: Detection = { image_id: 1, score: 0.9, segmentation: toCocoRle(encodeMask(m, H, W)) };
  assert.is(ar(lDet, 'bbox'), 1);
  assert.is(ar(lDet, 'segm'), 0.1);
  // The GT's bbox field is what bbox mode compares with, not its segmentation.
  const shiftedField = [gt(1, 1, [10, 10, 10, 10], { bbox: [30, 10, 10, 10] })];
  assert.is(evaluate([img(1)], shiftedField, [boxDet([10, 10, 10, 10])], { iouType: 'bbox' }).AR['AR@100'], 0);
  assert.is(evaluate([img(1)], shiftedField, [boxDet([10, 10, 10, 10])], segm).AR['AR@100'], 1);
});

test('GT in every COCO segmentation format, and malformed input errors', () => {
  const b: Box = [10, 10, 10, 10];
  const rle = frBbox(b, H, W);
  const forms = [poly(b), { size: [H, W] as [number, number], counts: rle.counts }, toCocoRle(rle)];
  for (const segmentation of forms) {
    assert.is(evaluate([img(1)], [gt(1, 1, b, { segmentation })], [det(1, 1, b)], segm).AR['AR@100'], 1);
  }
  assert.throws(() => evaluate([img(1)], [gt(5, 1, b, { segmentation: [[1, 2, 3, 4, 5, 6, 7]] })], [det(1, 1, b)], segm), /annotation 0 \(id 5\).*odd/);
  assert.throws(() => evaluate([img(1)], [gt(5, 1, b, { segmentation: { size: [H, W], counts: [3, 4] } })], [det(1, 1, b)], segm), /id 5.*sum to 7/);
  const badDet: Detection = { image_id: 1, score: 1, segmentation: { size: [W, H], counts: rle.counts } };
  assert.throws(() => evaluate([img(1)], [gt(1, 1, b)], [badDet], segm), /detection 0: .*does not match image 1/);
  assert.throws(() => evaluate([img(1)], [gt(1, 1, b)], [{ image_id: 1, score: 1 }], segm), /neither/);
  // A negative box size is an error, not a silent AR of 0.
  for (const iouType of ['bbox', 'segm'] as const) {
    assert.throws(
      () => evaluate([img(1)], [gt(1, 1, b)], [{ image_id: 1, score: 1, bbox: [10, 10, -10, 10] }], { iouType }),
      /detection 0: bbox \[x, y, w, h\] needs finite numbers and w, h >= 0, got \[10, 10, -10, 10\]/,
    );
  }
  assert.throws(() => evaluate([img(1)], [gt(1, 1, b)], [{ image_id: 1, score: 1, bbox: [10, NaN, 10, 10] }], { iouType: 'bbox' }), /finite numbers/);
});

test('arAuc: mean AR over a log-spaced grid of proposal counts', () => {
  const gts = [gt(1, 1, [20, 10, 10, 10]), gt(2, 2, [20, 10, 10, 10])];
  const first = [det(1, 0.9, [20, 10, 10, 10]), det(1, 0.5, [0, 0, 5, 5]), det(2, 0.9, [20, 10, 10, 10])];
  assert.is(arAuc([img(1), img(2)], gts, first, { iouType: 'segm' }), 1);
  // Right proposals ranked 2nd: AR(1) = 0, AR(N ≥ 2) = 1. On the default grid round(10^(i/20)),
  // i = 0..60, N = 1 for i = 0..3 (10^0.15 = 1.41), so the area is 57/61.
  const second = [det(1, 0.5, [20, 10, 10, 10]), det(1, 0.9, [0, 0, 5, 5]), det(2, 0.5, [20, 10, 10, 10]), det(2, 0.9, [0, 0, 5, 5])];
  assert.is(arAuc([img(1), img(2)], gts, second, { iouType: 'segm' }), 57 / 61);
  assert.is(arAuc([img(1), img(2)], gts, second, { iouType: 'bbox', counts: [1, 10] }), 0.5);
  assert.is(arAuc([img(1), img(2)], gts, second, { iouType: 'segm', counts: [1, 1, 1, 10] }), 0.25);
  assert.is(arAuc([img(1), img(2)], gts, second, { iouType: 'segm', area: 'small' }), 57 / 61);
  assert.is(arAuc([img(1), img(2)], gts, second, { iouType: 'segm', area: 'large' }), -1);
});

test('formatTable lists the AR figures', () => {
  const gts = [gt(1, 1, [0, 0, 10, 10]), gt(2, 1, [30, 20, 10, 10])];
  const dts = [det(1, 0.9, [0, 0, 10, 10])];
  const table = formatTable([evaluate([img(1)], gts, dts, segm), evaluate([img(1)], gts, dts, { iouType: 'bbox' })]);
  const lines = table.split('\n');
  assert.is(lines.length, 4);
  assert.match(lines[0]!, /^iouType\s+AR@10\s+AR@100\s+AR@1000\s+AR_small@1000\s+AR_medium@1000\s+AR_large@1000$/);
  assert.match(lines[2]!, /^segm\s+0\.500\s+0\.500\s+0\.500\s+0\.500\s+-\s+-$/);
  assert.match(lines[3]!, /^bbox\s+0\.500/);
});

test.run();
