import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync } from 'node:fs';
import { annotationMask, parseCoco, subset, summary, type CocoAnnotation, type CocoDataset } from '../src/data/coco.js';
import { annToRle, area, countsToString, frPoly, merge, toBbox } from '../src/data/rle.js';
import { sharedPath, skipped } from './lib/shared.js';

const SRC = 'custom/instances.json';

/** A small valid dataset, fresh on every call so tests can break it in place. */
const mk = (): any => ({
  images: [
    { id: 1, file_name: 'a.jpg', width: 10, height: 8 },
    { id: 2, file_name: 'b.jpg', width: 6, height: 5 },
    { id: 3, file_name: 'c.jpg', width: 4, height: 4 },
  ],
  annotations: [
    { id: 11, image_id: 1, category_id: 1, iscrowd: 0, area: 12, bbox: [1, 1, 4, 3], segmentation: [[1, 1, 5, 1, 5, 4, 1, 4]] },
    // Crowd region as COCO stores it: uncompressed RLE, column-major; columns 1-2 of a 5x6 image.
    { id: 12, image_id: 2, category_id: 2, iscrowd: 1, area: 10, bbox: [1, 0, 2, 5], segmentation: { size: [5, 6], counts: [5, 10, 15] } },
    { id: 13, image_id: 1, category_id: 2, iscrowd: 0, area: 4, bbox: [6, 4, 2, 2], segmentation: [[6, 4, 8, 4, 8, 6, 6, 6]] },
  ],
  categories: [
    { id: 1, name: 'thing', supercategory: 'x' },
    { id: 2, name: 'other', supercategory: 'x' },
  ],
});

/** Runs f, expecting an Error whose message contains every part (strings literally, regexps by match). */
const throwsWith = (f: () => unknown, parts: (string | RegExp)[]): string => {
  try {
    f();
  } catch (e) {
    const msg = (e as Error).message;
    for (const p of parts) {
      if (typeof p === 'string') assert.ok(msg.includes(p), `message ${JSON.stringify(msg)} should contain ${JSON.stringify(p)}`);
      else assert.match(msg, p);
    }
    return msg;
  }
  assert.unreachable(`expected an error containing ${parts.join(' / ')}`);
  return '';
};

const parse = (d: unknown): CocoDataset => parseCoco(d, SRC);

// ---- the real data: 80 COCO train2017 photos ----

const tinyPath = sharedPath('data/coco-tiny-train2017/instances.json');
const tiny: CocoDataset | null = tinyPath && existsSync(tinyPath) ? parseCoco(readFileSync(tinyPath, 'utf8'), 'coco-tiny-train2017/instances.json') : null;
const skip = (): boolean => {
  if (tiny) return false;
  skipped('../shared/data/coco-tiny-train2017 not found; set DEEPMASK_SHARED');
  return true;
};

const perimeter = (seg: number[][]): number => {
  let s = 0;
  for (const p of seg)
    for (let i = 0; i < p.length; i += 2) {
      const j = (i + 2) % p.length;
      s += Math.hypot(p[j]! - p[i]!, p[j + 1]! - p[i + 1]!);
    }
  return s;
};

/** Largest distance between corresponding edges (x0, y0, x1, y1) of two [x, y, w, h] boxes. */
const edgeGap = (a: number[], b: number[]): number =>
  Math.max(Math.abs(a[0]! - b[0]!), Math.abs(a[1]! - b[1]!), Math.abs(a[0]! + a[2]! - b[0]! - b[2]!), Math.abs(a[1]! + a[3]! - b[1]! - b[3]!));

// COCO's polygon `area` is the exact polygon (shoelace) area, not the raster's pixel count (checked:
// they agree to 1e-11 on every object here), so the raster differs from it along the outline: allow
// half a pixel per unit of perimeter, plus one. Measured worst case: 0.38 of this tolerance
// (annotation 1065268: 78 px raster vs 88.8 stated). Area cannot see a transposed mask (same pixel
// count), so the raster's box is also held to the stated bbox: measured worst edge gap 3.49 px.
const areaTol = (ann: CocoAnnotation): number => 0.5 * perimeter(ann.segmentation as number[][]) + 1;
const EDGE_TOL = 5;

test('coco-tiny: counts, summary, categories, no warnings', () => {
  if (skip()) return;
  const ds = tiny!;
  assert.is(ds.images.length, 80);
  assert.is(ds.annotations.length, 705);
  assert.is(ds.annotations.filter((a) => a.iscrowd === 1).length, 6);
  assert.is(ds.categories.length, 80);
  assert.is(summary(ds), '80 images, 705 objects (6 crowd) in 80 categories');
  assert.equal(ds.warnings, []);
  // Polygons for every plain object, uncompressed RLE for every crowd, as the README says.
  for (const a of ds.annotations) assert.is(Array.isArray(a.segmentation), a.iscrowd === 0, `annotation ${a.id}`);
  // The parsed object and the JSON text give the same dataset.
  const again = parseCoco(JSON.parse(readFileSync(tinyPath!, 'utf8')), 'x');
  assert.is(again.annotations.length, 705);
  assert.equal(again.annotations[100], ds.annotations[100]);
});

test('coco-tiny: index maps are consistent', () => {
  if (skip()) return;
  const ds = tiny!;
  assert.is(ds.imageById.size, 80);
  assert.is(ds.annotationsByImage.size, 80);
  for (const img of ds.images) {
    assert.is(ds.imageById.get(img.id), img);
    for (const a of ds.annotationsByImage.get(img.id)!) assert.is(a.image_id, img.id);
  }
  for (const [cat, list] of ds.annotationsByCategory) for (const a of list) assert.is(a.category_id, cat);
  for (const c of ds.categories) assert.ok(ds.annotationsByCategory.has(c.id), `category ${c.id} indexed`);
  // Every annotation sits in exactly one list of each map.
  const count = (m: Map<number, CocoAnnotation[]>): Map<CocoAnnotation, number> => {
    const seen = new Map<CocoAnnotation, number>();
    for (const list of m.values()) for (const a of list) seen.set(a, (seen.get(a) ?? 0) + 1);
    return seen;
  };
  for (const m of [ds.annotationsByImage, ds.annotationsByCategory]) {
    const seen = count(m);
    assert.is(seen.size, 705);
    assert.ok([...seen.values()].every((n) => n === 1));
  }
  // One photo per category: every category has objects.
  assert.ok(ds.categories.every((c) => ds.annotationsByCategory.get(c.id)!.length > 0));
});

test('coco-tiny: every polygon mask agrees with its stated area and bbox', () => {
  if (skip()) return;
  const ds = tiny!;
  let worstArea = { ratio: 0, id: 0, mask: 0, area: 0 };
  let worstEdge = { gap: 0, id: 0 };
  let scaledCaught = 0,
    transposedCaught = 0,
    n = 0;
  for (const a of ds.annotations) {
    if (a.iscrowd) continue;
    n++;
    const m = annotationMask(ds, a);
    const img = ds.imageById.get(a.image_id)!;
    assert.is(m.h, img.height);
    assert.is(m.w, img.width);
    const got = area(m),
      tol = areaTol(a);
    const ratio = Math.abs(got - a.area) / tol;
    assert.ok(ratio <= 1, `annotation ${a.id}: mask area ${got} vs stated ${a.area} (tolerance ${tol.toFixed(1)})`);
    if (ratio > worstArea.ratio) worstArea = { ratio, id: a.id, mask: got, area: a.area };
    const gap = edgeGap(toBbox(m), a.bbox);
    assert.ok(gap <= EDGE_TOL, `annotation ${a.id}: mask box ${toBbox(m)} vs stated ${a.bbox}`);
    if (gap > worstEdge.gap) worstEdge = { gap, id: a.id };
    // The checks have teeth: a mask scaled by 1.1, or transposed, would fail them.
    const polys = a.segmentation as number[][];
    const scaled = annToRle(
      polys.map((p) => p.map((v) => v * 1.1)),
      img.height,
      img.width,
    );
    if (Math.abs(area(scaled) - a.area) > tol) scaledCaught++;
    const transposed = annToRle(
      polys.map((p) => p.map((_, i) => p[i ^ 1]!)),
      img.width,
      img.height,
    );
    if (edgeGap(toBbox(transposed), a.bbox) > EDGE_TOL) transposedCaught++;
  }
  console.log(
    `  worst area: annotation ${worstArea.id}, mask ${worstArea.mask} vs ${worstArea.area.toFixed(2)} (${(worstArea.ratio * 100).toFixed(0)}% of tolerance); worst box edge gap ${worstEdge.gap.toFixed(2)} px (annotation ${worstEdge.id}); a 1.1x scale fails ${scaledCaught}/${n}, a transpose ${transposedCaught}/${n}`,
  );
  assert.is(n, 699);
  assert.ok(worstArea.ratio < 0.6, 'margin on the area tolerance');
  assert.ok(scaledCaught >= 0.8 * n, `1.1x scale caught for ${scaledCaught}/${n}`);
  assert.ok(transposedCaught >= 0.95 * n, `transpose caught for ${transposedCaught}/${n}`);
});

test('coco-tiny: crowd regions decode (uncompressed RLE at the image size)', () => {
  if (skip()) return;
  const ds = tiny!;
  const crowd = ds.annotations.filter((a) => a.iscrowd === 1);
  assert.is(crowd.length, 6);
  for (const a of crowd) {
    const seg = a.segmentation as { size: [number, number]; counts: number[] | string };
    assert.ok(Array.isArray(seg.counts), `annotation ${a.id} is uncompressed`);
    const img = ds.imageById.get(a.image_id)!;
    const m = annotationMask(ds, a);
    assert.equal([m.h, m.w], [img.height, img.width]);
    assert.equal(m.counts, seg.counts);
    // COCO's crowd bboxes are the RLE box one pixel short in w and h; x and y agree exactly.
    const b = toBbox(m);
    assert.equal([b[0], b[1], b[2] - 1, b[3] - 1], a.bbox, `annotation ${a.id}`);
    // COCO's crowd `area` is not the RLE's pixel count (it is 2-25% larger on these 6); a
    // transposed or mis-sized decode would already have failed the box check above.
    const got = area(m);
    assert.ok(got <= a.area && got >= 0.7 * a.area, `annotation ${a.id}: mask area ${got} vs stated ${a.area}`);
    // The same mask as a compressed string decodes to the same runs.
    const compressed = { ...a, segmentation: { size: seg.size, counts: countsToString(seg.counts as number[]) } };
    assert.equal(annotationMask(ds, compressed).counts, m.counts);
  }
});

test('coco-tiny: multi-polygon objects are the union of their polygons', () => {
  if (skip()) return;
  const ds = tiny!;
  const multi = ds.annotations.filter((a) => !a.iscrowd && (a.segmentation as number[][]).length >= 2);
  assert.ok(multi.length > 0);
  let sawDisjoint = false;
  for (const a of multi) {
    const img = ds.imageById.get(a.image_id)!;
    const parts = (a.segmentation as number[][]).map((p) => frPoly(p, img.height, img.width));
    const union = annotationMask(ds, a);
    const partAreas = parts.map(area);
    const sum = partAreas.reduce((s, v) => s + v, 0);
    const u = area(union);
    assert.ok(u >= Math.max(...partAreas) && u <= sum, `annotation ${a.id}: union ${u}, parts ${partAreas}`);
    // Every polygon lies inside the union.
    for (const p of parts) assert.is(area(merge([p, union], true)), area(p));
    // Polygons that do not overlap add up exactly.
    const overlaps = parts.some((p, i) => parts.some((q, j) => j > i && area(merge([p, q], true)) > 0));
    if (!overlaps) {
      assert.is(u, sum, `annotation ${a.id}`);
      if (partAreas.filter((v) => v > 0).length >= 2) sawDisjoint = true;
    }
  }
  assert.ok(sawDisjoint, 'some object has several disjoint non-empty polygons');
  // A 3-polygon object is more than its first polygon.
  const three = multi.find((a) => (a.segmentation as number[][]).length >= 3)!;
  const img = ds.imageById.get(three.image_id)!;
  assert.ok(area(annotationMask(ds, three)) > area(frPoly((three.segmentation as number[][])[0]!, img.height, img.width)));
});

// ---- hand-made datasets ----

test('a valid small dataset parses from text and from an object', () => {
  const ds = parseCoco(JSON.stringify(mk()), SRC);
  assert.is(ds.source, SRC);
  assert.is(summary(ds), '3 images, 3 objects (1 crowd) in 2 categories');
  assert.equal(ds.warnings, []);
  assert.equal(ds.annotationsByImage.get(3), []);
  assert.equal(
    ds.annotationsByImage.get(1)!.map((a) => a.id),
    [11, 13],
  );
  assert.equal(
    ds.annotationsByCategory.get(2)!.map((a) => a.id),
    [12, 13],
  );
  assert.equal(ds.categories, [
    { id: 1, name: 'thing' },
    { id: 2, name: 'other' },
  ]);
  assert.equal(parse(mk()).annotations, ds.annotations);
  // Masks at the right size, the right place.
  assert.equal(toBbox(annotationMask(ds, ds.annotations[0]!)), [1, 1, 4, 3]);
  assert.equal(annotationMask(ds, ds.annotations[1]!), { h: 5, w: 6, counts: [5, 10, 15] });
  // A byte-order mark (Windows tools) is tolerated.
  assert.is(parseCoco('\ufeff' + JSON.stringify(mk()), SRC).images.length, 3);
});

test('error: not JSON', () => {
  throwsWith(() => parseCoco('{"images": [', SRC), [SRC, 'not valid JSON']);
});

test('error: top-level shape', () => {
  throwsWith(() => parse([{ image_id: 1, score: 0.5 }]), [SRC, 'got a list', 'results file']);
  throwsWith(() => parse(null), [SRC, 'expected a COCO instances object']);
  const noImages = mk();
  delete noImages.images;
  throwsWith(() => parse(noImages), [SRC, 'images must be a list, got nothing']);
  const annObj = mk();
  annObj.annotations = {};
  throwsWith(() => parse(annObj), [SRC, 'annotations must be a list, got {}']);
  const catObj = mk();
  catObj.categories = { 1: 'thing' };
  throwsWith(() => parse(catObj), [SRC, 'categories must be a list']);
});

test('categories are optional (custom class-agnostic data)', () => {
  const d = mk();
  delete d.categories;
  const ds = parse(d);
  assert.equal(ds.categories, []);
  assert.equal(ds.warnings, []);
  assert.equal([...ds.annotationsByCategory.keys()].sort(), [1, 2]);
  assert.is(summary(ds), '3 images, 3 objects (1 crowd) in 2 categories');
});

test('error: image required fields and types', () => {
  let d = mk();
  delete d.images[1].width;
  throwsWith(() => parse(d), [SRC, 'image 2:', 'width must be a positive integer, got nothing']);
  d = mk();
  d.images[0].height = 8.5;
  throwsWith(() => parse(d), [SRC, 'image 1:', 'height must be a positive integer, got 8.5']);
  d = mk();
  d.images[2].file_name = 3;
  throwsWith(() => parse(d), [SRC, 'image 3:', 'file_name must be a non-empty string, got 3']);
  d = mk();
  d.images[1].id = '2';
  throwsWith(() => parse(d), [SRC, 'image at index 1:', 'id must be an integer, got "2"']);
  d = mk();
  d.images[0] = 'a.jpg';
  throwsWith(() => parse(d), [SRC, 'image at index 0:', 'must be an object']);
});

test('error: annotation required fields and types', () => {
  let d = mk();
  delete d.annotations[0].category_id;
  throwsWith(() => parse(d), [SRC, 'annotation 11:', 'category_id must be an integer, got nothing']);
  d = mk();
  d.annotations[1].image_id = '2';
  throwsWith(() => parse(d), [SRC, 'annotation 12:', 'image_id must be an integer, got "2"']);
  d = mk();
  d.annotations[2].id = null;
  throwsWith(() => parse(d), [SRC, 'annotation at index 2:', 'id must be an integer, got null']);
  d = mk();
  delete d.annotations[2].segmentation;
  throwsWith(() => parse(d), [SRC, 'annotation 13:', 'segmentation is missing']);
  d = mk();
  d.annotations[0].area = '12';
  throwsWith(() => parse(d), [SRC, 'annotation 11:', 'area must be a non-negative number, got "12"']);
  // A captions file is named as such.
  d = mk();
  d.annotations = [{ id: 5, image_id: 1, caption: 'a cat' }];
  throwsWith(() => parse(d), [SRC, 'annotation 5:', /category_id/]);
  d.annotations[0].category_id = 1;
  throwsWith(() => parse(d), [SRC, 'annotation 5:', 'segmentation is missing', 'captions file']);
});

test('error: duplicate image id', () => {
  const d = mk();
  d.images[2].id = 1;
  throwsWith(() => parse(d), [SRC, 'image 1:', 'duplicate image id']);
});

test('error: duplicate annotation id', () => {
  const d = mk();
  d.annotations[2].id = 11;
  throwsWith(() => parse(d), [SRC, 'annotation 11:', 'duplicate annotation id']);
});

test('error: annotation image_id refers to no image', () => {
  const d = mk();
  d.annotations[2].image_id = 99;
  throwsWith(() => parse(d), [SRC, 'annotation 13:', 'image_id 99 is not in images']);
});

test('error: bbox shape', () => {
  let d = mk();
  d.annotations[0].bbox = [1, 2, 3];
  const msg = throwsWith(() => parse(d), [SRC, 'annotation 11:', 'bbox must be [x, y, w, h] with w, h >= 0, got [1,2,3]']);
  assert.is(msg, `${SRC}: annotation 11: bbox must be [x, y, w, h] with w, h >= 0, got [1,2,3]`);
  d = mk();
  d.annotations[0].bbox = [1, 2, -3, 4];
  throwsWith(() => parse(d), [SRC, 'annotation 11:', 'got [1,2,-3,4]']);
  d = mk();
  d.annotations[0].bbox = [1, 2, '3', 4];
  throwsWith(() => parse(d), [SRC, 'annotation 11:', 'bbox must be']);
  d = mk();
  d.annotations[0].bbox = { x: 1, y: 2, w: 3, h: 4 };
  throwsWith(() => parse(d), [SRC, 'annotation 11:', 'bbox must be']);
});

test('iscrowd: 0/1/boolean normalised, anything else an error, missing taken as 0 with a warning', () => {
  let d = mk();
  d.annotations[0].iscrowd = false;
  d.annotations[1].iscrowd = true;
  let ds = parse(d);
  assert.equal(
    ds.annotations.map((a) => a.iscrowd),
    [0, 1, 0],
  );
  d = mk();
  d.annotations[1].iscrowd = 2;
  throwsWith(() => parse(d), [SRC, 'annotation 12:', 'iscrowd must be 0, 1, true or false, got 2']);
  d = mk();
  d.annotations[1].iscrowd = '1';
  throwsWith(() => parse(d), [SRC, 'annotation 12:', 'got "1"']);
  d = mk();
  delete d.annotations[2].iscrowd;
  ds = parse(d);
  assert.is(ds.annotations[2]!.iscrowd, 0);
  assert.equal(ds.warnings, [`${SRC}: iscrowd missing, taken as 0 (annotation 13)`]);
});

test('polygons: structure errors', () => {
  let d = mk();
  d.annotations[0].segmentation = [[1, 1, 5, 1, 5, 4, 1]];
  throwsWith(() => parse(d), [SRC, 'annotation 11:', 'polygon 0 has an odd number of coordinates (7)']);
  d = mk();
  d.annotations[0].segmentation = [[1, 1, 5, 1]];
  throwsWith(() => parse(d), [SRC, 'annotation 11:', 'no polygon with at least 3 points', 'with 4 coordinates']);
  d = mk();
  d.annotations[0].segmentation = [
    [1, 1, 5, 1, 5, 4, 1, 4],
    [1, 1, null, 2, 3, 3],
  ];
  throwsWith(() => parse(d), [SRC, 'annotation 11:', 'polygon 1: coordinate 2 must be a finite number, got null']);
  d = mk();
  d.annotations[0].segmentation = [[1, 1, 5, 1, 5, '4', 1, 4]];
  throwsWith(() => parse(d), [SRC, 'annotation 11:', 'coordinate 5 must be a finite number, got "4"']);
  d = mk();
  d.annotations[0].segmentation = [[1, 1, 5, 1, 5, 4, 1, 4], 7];
  throwsWith(() => parse(d), [SRC, 'annotation 11:', 'polygon 1 must be a list of coordinates']);
  d = mk();
  d.annotations[0].segmentation = [];
  throwsWith(() => parse(d), [SRC, 'annotation 11:', 'segmentation is an empty list']);
  d = mk();
  d.annotations[0].segmentation = 'polygon';
  throwsWith(() => parse(d), [SRC, 'annotation 11:', 'segmentation must be a list of polygons or an RLE object']);
  // Infinity cannot come from JSON text, but can from an object built in code.
  d = mk();
  d.annotations[0].segmentation = [[1, 1, 5, 1, 5, Infinity, 1, 4]];
  throwsWith(() => parse(d), [SRC, 'annotation 11:', 'coordinate 5 must be a finite number']);
});

test('polygons: a flat list is one polygon; outside coordinates are fine; degenerate parts dropped with a warning', () => {
  let d = mk();
  d.annotations[0].segmentation = [1, 1, 5, 1, 5, 4, 1, 4];
  let ds = parse(d);
  assert.equal(ds.annotations[0]!.segmentation, [[1, 1, 5, 1, 5, 4, 1, 4]]);
  assert.is(area(annotationMask(ds, ds.annotations[0]!)), 12);
  // COCO has polygon points outside the image: clipped by the rasteriser, not an error.
  d = mk();
  d.annotations[0].segmentation = [[-3, -2, 12, -2, 12, 4, -3, 4]];
  ds = parse(d);
  assert.equal(toBbox(annotationMask(ds, ds.annotations[0]!)), [0, 0, 10, 4]);
  // A 2-point part next to a real polygon: dropped (a leading one would otherwise be read as a box).
  d = mk();
  d.annotations[0].segmentation = [
    [1, 1, 5, 1],
    [1, 1, 5, 1, 5, 4, 1, 4],
  ];
  ds = parse(d);
  assert.equal(ds.annotations[0]!.segmentation, [[1, 1, 5, 1, 5, 4, 1, 4]]);
  assert.equal(ds.warnings, [`${SRC}: polygons with fewer than 3 points dropped (annotation 11)`]);
});

test('uncompressed RLE: counts must be non-negative integers summing to h*w', () => {
  let d = mk();
  d.annotations[1].segmentation.counts = [5, 10, 14];
  throwsWith(() => parse(d), [SRC, 'annotation 12:', 'RLE counts sum to 29, expected h*w = 5*6 = 30']);
  d = mk();
  d.annotations[1].segmentation.counts = [5, -10, 35];
  throwsWith(() => parse(d), [SRC, 'annotation 12:', 'RLE counts[1] must be a non-negative integer, got -10']);
  d = mk();
  d.annotations[1].segmentation.counts = { 0: 5 };
  throwsWith(() => parse(d), [SRC, 'annotation 12:', 'RLE counts must be a string (compressed) or a list']);
  d = mk();
  delete d.annotations[1].segmentation.size;
  throwsWith(() => parse(d), [SRC, 'annotation 12:', 'RLE size must be [h, w]', 'got nothing']);
});

test('RLE size must match the image (transposed size is named)', () => {
  let d = mk();
  d.annotations[1].segmentation.size = [6, 5];
  throwsWith(() => parse(d), [SRC, 'annotation 12:', 'RLE size [6, 5] does not match image 2', '[5, 6]', 'transposed']);
  d = mk();
  d.annotations[1].segmentation = { size: [8, 10], counts: [80] };
  throwsWith(() => parse(d), [SRC, 'annotation 12:', 'RLE size [8, 10] does not match image 2']);
});

test('compressed RLE: decoded and checked against the image size', () => {
  const counts = countsToString([5, 10, 15]);
  let d = mk();
  d.annotations[1].segmentation.counts = counts;
  const ds = parse(d);
  assert.equal(annotationMask(ds, ds.annotations[1]!), { h: 5, w: 6, counts: [5, 10, 15] });
  d = mk();
  d.annotations[1].segmentation.counts = countsToString([5, 10, 16]);
  throwsWith(() => parse(d), [SRC, 'annotation 12:', 'RLE counts sum to 31, expected h*w = 5*6 = 30']);
  d = mk();
  d.annotations[1].segmentation.counts = counts + '~';
  throwsWith(() => parse(d), [SRC, 'annotation 12:', 'compressed RLE counts:', "outside '0'..'o'"]);
  d = mk();
  d.annotations[1].segmentation = { size: [6, 5], counts };
  throwsWith(() => parse(d), [SRC, 'annotation 12:', 'does not match image 2']);
});

test('missing area (and bbox) computed from the mask, with a warning', () => {
  const d = mk();
  delete d.annotations[0].area;
  delete d.annotations[1].area;
  delete d.annotations[2].bbox;
  const ds = parse(d);
  assert.is(ds.annotations[0]!.area, area(annotationMask(ds, ds.annotations[0]!)));
  assert.is(ds.annotations[0]!.area, 12);
  assert.is(ds.annotations[1]!.area, 10);
  assert.equal(ds.annotations[2]!.bbox, [6, 4, 2, 2]);
  assert.equal(ds.warnings, [
    `${SRC}: area missing, computed from the mask (annotation 11, annotation 12)`,
    `${SRC}: bbox missing, computed from the mask (annotation 13)`,
  ]);
});

test('warnings name the first few and count the rest', () => {
  const d = mk();
  d.annotations = Array.from({ length: 8 }, (_, i) => ({
    id: 100 + i,
    image_id: 3,
    category_id: 1,
    iscrowd: 0,
    bbox: [0, 0, 2, 2],
    segmentation: [[0, 0, 2, 0, 2, 2, 0, 2]],
  }));
  const ds = parse(d);
  assert.equal(ds.warnings, [
    `${SRC}: area missing, computed from the mask (annotation 100, annotation 101, annotation 102, annotation 103, annotation 104, and 3 more)`,
  ]);
});

test('error: duplicated category ids', () => {
  const d = mk();
  d.categories.push({ id: 2, name: 'other again' });
  throwsWith(() => parse(d), [SRC, 'category 2:', 'duplicate category id', 'listed 2 times']);
  const e = mk();
  e.categories[0].name = undefined;
  throwsWith(() => parse(e), [SRC, 'category 1:', 'name must be a string, got nothing']);
  const f = mk();
  f.categories[1] = { name: 'other' };
  throwsWith(() => parse(f), [SRC, 'category at index 1:', 'id must be an integer, got nothing']);
});

test('warning: annotation category not in categories; shared names and file names', () => {
  const d = mk();
  d.annotations[2].category_id = 7;
  d.categories[1].name = 'thing';
  d.images[2].file_name = 'a.jpg';
  const ds = parse(d);
  assert.equal(ds.warnings, [
    `${SRC}: images share a file_name (image 3 and 1: a.jpg)`,
    `${SRC}: categories share a name ("thing": 1 and 2)`,
    `${SRC}: category_id 7 is not in categories (annotation 13)`,
  ]);
  assert.equal(
    ds.annotationsByCategory.get(7)!.map((a) => a.id),
    [13],
  );
  assert.equal(
    ds.annotationsByCategory.get(2)!.map((a) => a.id),
    [12],
  );
  assert.is(summary(ds), '3 images, 3 objects (1 crowd) in 2 categories (+1 not listed)');
});

test('annotationMask: errors name the source and the annotation', () => {
  const ds = parse(mk());
  const ann = { ...ds.annotations[0]!, segmentation: [[1, 1, 5]] };
  throwsWith(() => annotationMask(ds, ann), [SRC, 'annotation 11:', 'polygon 0 has 3 coordinates']);
  const orphan = { ...ds.annotations[0]!, id: 77, image_id: 42 };
  throwsWith(() => annotationMask(ds, orphan), [SRC, 'annotation 77:', 'image_id 42 is not in images']);
  const rle = { ...ds.annotations[1]!, segmentation: { size: [6, 5] as [number, number], counts: [30] } };
  throwsWith(() => annotationMask(ds, rle), [SRC, 'annotation 12:', 'does not match the image size']);
});

test('subset: restricted and re-indexed', () => {
  const ds = parse(mk());
  const s = subset(ds, [3, 1, 1]);
  assert.is(s.source, SRC);
  assert.equal(
    s.images.map((i) => i.id),
    [1, 3],
  ); // the dataset's order, duplicates ignored
  assert.equal(
    s.annotations.map((a) => a.id),
    [11, 13],
  );
  assert.equal([...s.imageById.keys()], [1, 3]);
  assert.equal(s.annotationsByImage.get(3), []);
  assert.ok(!s.annotationsByImage.has(2));
  assert.equal(
    s.annotationsByCategory.get(1)!.map((a) => a.id),
    [11],
  );
  assert.equal(
    s.annotationsByCategory.get(2)!.map((a) => a.id),
    [13],
  );
  assert.equal(s.categories, ds.categories);
  assert.is(summary(s), '2 images, 2 objects (0 crowd) in 2 categories');
  // The parent is untouched and masks still come out right.
  assert.is(ds.annotations.length, 3);
  assert.equal(annotationMask(s, s.annotations[0]!), annotationMask(ds, ds.annotations[0]!));
  // Train/validation split: disjoint, covering.
  const val = subset(ds, new Set([2]));
  assert.equal(
    val.annotations.map((a) => a.id),
    [12],
  );
  assert.is(summary(val), '1 image, 1 object (1 crowd) in 1 of 2 categories');
  assert.is(summary(subset(ds, [])), '0 images, 0 objects (0 crowd) in 0 of 2 categories');
  throwsWith(() => subset(ds, [1, 9]), [SRC, 'subset', 'image 9 is not in the dataset']);
});

test('subset of the real data: a split covers everything once', () => {
  if (skip()) return;
  const ds = tiny!;
  const ids = ds.images.map((i) => i.id);
  const train = subset(ds, ids.slice(0, 64)),
    val = subset(ds, ids.slice(64));
  assert.is(train.images.length + val.images.length, 80);
  assert.is(train.annotations.length + val.annotations.length, 705);
  for (const a of val.annotations) assert.ok(!train.imageById.has(a.image_id));
  console.log(`  train ${summary(train)}; val ${summary(val)}`);
});

test('parsing stays lazy: complete annotations are not rasterised until a mask is asked for', () => {
  // Stated area and box are kept as given (the mask would give another area), nothing is noted;
  // annotationMask rasterises on demand. (The parse rate of 100k annotations is a loader bench row.)
  const d = mk();
  const n = 1000;
  const poly = Array.from({ length: 40 }, (_, i) => (i % 2 ? 4 + 3 * Math.sin(i) : 5 + 4 * Math.cos(i)));
  d.annotations = Array.from({ length: n }, (_, i) => ({
    id: i + 1,
    image_id: 1 + (i % 3),
    category_id: 1 + (i % 2),
    iscrowd: 0,
    area: 1,
    bbox: [0, 0, 1, 1],
    segmentation: [poly],
  }));
  const ds = parse(d);
  assert.is(ds.annotations.length, n);
  assert.ok(
    ds.annotations.every((a) => a.area === 1 && a.bbox.join() === '0,0,1,1'),
    'stated area and box kept',
  );
  assert.equal(ds.warnings, []);
  assert.ok(area(annotationMask(ds, ds.annotations[0]!)) > 1, 'the mask, rasterised on demand, has its real area');
});

test.run();
