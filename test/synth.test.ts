import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { inflateSync } from 'node:zlib';
import { Rng } from '../src/graph/random.js';
import { area, countsFromString, decodeMask, toBbox } from '../src/data/rle.js';
import { decodePng, encodePng } from '../src/data/png.js';
import { drawOverlay, overlayColor } from '../src/data/draw.js';
import {
  edgeCrossing,
  generateScenes,
  insideEllipse,
  MIN_VISIBLE_AREA,
  MIN_VISIBLE_FRACTION,
  renderScene,
  SHAPE_KINDS,
  type SynthDataset,
  type SynthShape,
} from '../src/data/synth.js';

const bytesEqual = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && a.every((v, i) => v === b[i]);

const popcount = (m: Uint8Array): number => m.reduce((s, v) => s + (v ? 1 : 0), 0);

const tightBox = (m: Uint8Array, w: number, h: number): number[] => {
  let x0 = Infinity,
    y0 = Infinity,
    x1 = -1,
    y1 = -1;
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      if (m[y * w + x]) {
        x0 = Math.min(x0, x);
        y0 = Math.min(y0, y);
        x1 = Math.max(x1, x);
        y1 = Math.max(y1, y);
      }
  return x1 < 0 ? [0, 0, 0, 0] : [x0, y0, x1 - x0 + 1, y1 - y0 + 1];
};

/**
 * Coverage by per-pixel ray casting (crossings right of each pixel centre, half-open in y): an
 * independent route to the same pixel-centre rule the scanline rasteriser uses. Crossings go
 * through the exported edgeCrossing so ties are decided by identical arithmetic.
 */
const rayCastCoverage = (shape: SynthShape, w: number, h: number): Uint8Array => {
  const out = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const px = x + 0.5,
        py = y + 0.5;
      let inside = false;
      if (shape.kind === 'ellipse') {
        inside = insideEllipse(px - shape.cx, py - shape.cy, shape.rx, shape.ry, Math.cos(shape.angle), Math.sin(shape.angle));
      } else {
        const p = shape.points,
          n = p.length / 2;
        for (let i = 0; i < n; i++) {
          const j = (i + 1) % n;
          const xa = p[2 * i]!,
            ya = p[2 * i + 1]!,
            xb = p[2 * j]!,
            yb = p[2 * j + 1]!;
          if (ya > py !== yb > py && px < edgeCrossing(xa, ya, xb, yb, py)) inside = !inside;
        }
      }
      if (inside) out[y * w + x] = 1;
    }
  }
  return out;
};

const annMasks = (ds: SynthDataset, imageId: number): Uint8Array[] => {
  const im = ds.images.find((i) => i.id === imageId)!;
  return ds.coco.annotations
    .filter((a) => a.image_id === imageId)
    .map((a) => decodeMask({ h: im.height, w: im.width, counts: countsFromString(a.segmentation.counts) }));
};

test('same seed gives identical bytes; another seed or other ids give other scenes', () => {
  const a = generateScenes({ images: 3, seed: 7 }),
    b = generateScenes({ images: 3, seed: 7 });
  assert.is(JSON.stringify(a.coco), JSON.stringify(b.coco));
  a.images.forEach((im, i) => {
    assert.ok(bytesEqual(im.png, b.images[i]!.png), `png ${i}`);
    assert.ok(bytesEqual(im.rgba, b.images[i]!.rgba), `rgba ${i}`);
  });
  const c = generateScenes({ images: 3, seed: 8 });
  a.images.forEach((im, i) => assert.not.ok(bytesEqual(im.rgba, c.images[i]!.rgba), `seed 8 image ${i} equals seed 7's`));
  // Scenes are seeded by (seed, id): a validation set with other ids is not a copy of train.
  const d = generateScenes({ images: 3, seed: 7, firstId: 101 });
  a.images.forEach((im, i) => assert.not.ok(bytesEqual(im.rgba, d.images[i]!.rgba), `id ${101 + i} equals id ${1 + i}`));
  // ...and a scene does not depend on which batch it was generated in.
  const e = generateScenes({ images: 2, seed: 7, firstId: 2 });
  assert.ok(bytesEqual(e.images[0]!.rgba, a.images[1]!.rgba));
  assert.ok(bytesEqual(renderScene({ seed: 7 }, 3).rgba, a.images[2]!.rgba));
});

test('counts, ids, file names, categories', () => {
  const ds = generateScenes({ images: 12, seed: 3, firstId: 40, width: 160, height: 120, maxSize: 80 });
  assert.is(ds.images.length, 12);
  assert.equal(
    ds.images.map((i) => i.id),
    Array.from({ length: 12 }, (_, i) => 40 + i),
  );
  assert.is(ds.images[0]!.file_name, 'synth_000040.png');
  assert.equal(
    ds.coco.images,
    ds.images.map(({ id, file_name, width, height }) => ({ id, file_name, width, height })),
  );
  for (const im of ds.images) {
    assert.is(im.width, 160);
    assert.is(im.height, 120);
    assert.is(im.rgba.length, 160 * 120 * 4);
  }
  assert.equal(
    ds.coco.categories,
    SHAPE_KINDS.map((name, i) => ({ id: i + 1, name })),
  );
  assert.equal(
    ds.coco.categories.map((c) => c.name),
    ['ellipse', 'rectangle', 'triangle', 'star', 'polygon'],
  );
  const anns = ds.coco.annotations;
  assert.ok(anns.length >= 12, `${anns.length} annotations`);
  assert.equal(
    anns.map((a) => a.id),
    Array.from({ length: anns.length }, (_, i) => i + 1),
  );
  const ids = new Set(ds.images.map((i) => i.id));
  for (const a of anns) {
    assert.ok(ids.has(a.image_id));
    assert.ok(a.category_id >= 1 && a.category_id <= SHAPE_KINDS.length);
    assert.is(a.iscrowd, 0);
    assert.equal(a.segmentation.size, [120, 160]);
    assert.type(a.segmentation.counts, 'string');
  }
  for (const id of ids) {
    const n = anns.filter((a) => a.image_id === id).length;
    assert.ok(n <= 6, `image ${id} has ${n} annotations`);
  }
  // JSON round trip is lossless (what the CLI writes).
  assert.equal(JSON.parse(JSON.stringify(ds.coco)), ds.coco);

  const empty = generateScenes({ images: 0 });
  assert.equal(empty.coco.images, []);
  assert.equal(empty.coco.annotations, []);
  const bare = generateScenes({ images: 2, minObjects: 0, maxObjects: 0 });
  assert.is(bare.coco.annotations.length, 0);
  assert.is(bare.images.length, 2);
});

/**
 * Checks one generated set against a re-render: coverage (scanline) = ray casting, masks =
 * coverage minus later coverage, kept = the visibility rule, area/bbox from the RLE, masks of an
 * image disjoint, PNG = rgba. Returns counts for the callers' own expectations.
 */
const checkExact = (opts: { seed: number; minObjects?: number; maxObjects?: number; minSize?: number; maxSize?: number }, images: number) => {
  const W = 256,
    H = 192;
  const ds = generateScenes({ images, ...opts });
  let checked = 0,
    occluded = 0,
    dropped = 0;
  const kinds = new Set<number>();
  for (const im of ds.images) {
    const dec = decodePng(im.png);
    assert.is(dec.width, W);
    assert.is(dec.height, H);
    assert.ok(bytesEqual(dec.rgba, im.rgba), `png of image ${im.id} decodes to other pixels`);

    const scene = renderScene(opts, im.id);
    assert.ok(bytesEqual(scene.rgba, im.rgba));
    const covers = scene.objects.map((o) => rayCastCoverage(o.shape, W, H));
    const anns = ds.coco.annotations.filter((a) => a.image_id === im.id);
    const masks = annMasks(ds, im.id);
    let k = 0;
    scene.objects.forEach((o, i) => {
      assert.ok(bytesEqual(o.coverage, covers[i]!), `image ${im.id} object ${i}: scanline coverage differs from ray casting`);
      assert.is(o.fullArea, popcount(covers[i]!));
      assert.is(o.category, SHAPE_KINDS.indexOf(o.shape.kind) + 1);
      // Visible = own coverage minus the coverage of everything painted later.
      const vis = covers[i]!.map((v, p) => (v && !covers.some((c, j) => j > i && c[p]) ? 1 : 0));
      assert.ok(bytesEqual(o.visible, vis));
      const va = popcount(vis);
      const kept = va >= MIN_VISIBLE_AREA && va >= MIN_VISIBLE_FRACTION * o.fullArea;
      assert.is(o.kept, kept);
      if (!kept) {
        dropped++;
        return;
      }
      const a = anns[k]!,
        m = masks[k]!;
      k++;
      assert.ok(bytesEqual(m, vis), `image ${im.id} object ${i}: annotation mask is not the visible region`);
      assert.is(a.category_id, o.category);
      assert.is(a.area, va);
      assert.is(a.area, area({ h: H, w: W, counts: countsFromString(a.segmentation.counts) }));
      // Objects are smaller than the frame height, so cocoapi's toBbox quirk never widens a box.
      assert.equal(a.bbox, tightBox(m, W, H));
      assert.equal(a.bbox, toBbox({ h: H, w: W, counts: countsFromString(a.segmentation.counts) }));
      if (va < o.fullArea) occluded++;
      kinds.add(a.category_id);
      checked++;
    });
    assert.is(k, anns.length, `image ${im.id}: annotations for objects that are not kept`);
    // Masks of one image are disjoint.
    const union = new Uint8Array(W * H);
    for (const m of masks)
      m.forEach((v, p) => {
        if (!v) return;
        assert.is(union[p], 0, `image ${im.id}: masks overlap at pixel ${p}`);
        union[p] = 1;
      });
  }
  return { checked, occluded, dropped, kinds };
};

test('every annotation is exactly the visible part of its shape, and the PNG holds the rgba', () => {
  const r = checkExact({ seed: 11 }, 10);
  assert.ok(r.checked >= 20, `only ${r.checked} annotations checked`);
  assert.ok(r.occluded >= 3, `only ${r.occluded} occluded annotations: scenes lack overlap`);
  assert.is(r.kinds.size, SHAPE_KINDS.length, 'every shape kind appears');
});

test('crowded scenes: heavily occluded objects are painted but not annotated', () => {
  const r = checkExact({ seed: 3, minObjects: 12, maxObjects: 12, minSize: 70, maxSize: 128 }, 3);
  assert.ok(r.dropped >= 1, 'no object was dropped');
  assert.ok(r.checked >= 6, `only ${r.checked} annotations`);
});

test('object sizes stay within [minSize, maxSize] and annotations are meaningful', () => {
  for (const o of [{}, { width: 128, height: 96, minSize: 40, maxSize: 60, seed: 5 }, { minSize: 30, maxSize: 30, seed: 9 }, { maxSize: 1000, seed: 2 }]) {
    const minSize = o.minSize ?? 24,
      maxSize = Math.min(o.maxSize ?? 128, o.width ?? 256, o.height ?? 192);
    let n = 0;
    for (let id = 1; id <= 15; id++) {
      const scene = renderScene(o, id);
      for (const obj of scene.objects) {
        const longest = Math.max(obj.bbox[2], obj.bbox[3]);
        assert.ok(longest >= minSize && longest <= maxSize, `${JSON.stringify(o)} scene ${id}: longest side ${longest}`);
        assert.equal(obj.bbox, tightBox(obj.coverage, scene.width, scene.height));
        if (obj.kept) {
          assert.ok(obj.visibleArea >= MIN_VISIBLE_AREA && obj.visibleArea >= MIN_VISIBLE_FRACTION * obj.fullArea);
          n++;
        }
      }
      assert.ok(scene.objects.length <= 6);
    }
    assert.ok(n >= 15, `${JSON.stringify(o)}: only ${n} kept objects in 15 scenes`);
  }
  // Exact tiny sizes are met too; such objects (< 80 px) are painted but never annotated.
  const tiny = generateScenes({ images: 10, minSize: 6, maxSize: 6, minObjects: 4, maxObjects: 4 });
  assert.is(tiny.coco.annotations.length, 0);
  for (let id = 1; id <= 10; id++) {
    const scene = renderScene({ minSize: 6, maxSize: 6, minObjects: 4, maxObjects: 4 }, id);
    assert.is(scene.objects.length, 4);
    for (const obj of scene.objects) assert.is(Math.max(obj.bbox[2], obj.bbox[3]), 6);
  }
});

test('objects are separable: colour contrast across every visible boundary', () => {
  const W = 256,
    H = 192;
  const contrast: number[] = [];
  for (let id = 1; id <= 20; id++) {
    const s = renderScene({ seed: 4 }, id);
    for (const o of s.objects) {
      if (!o.kept) continue;
      let sum = 0,
        n = 0;
      for (let y = 0; y < H; y++)
        for (let x = 0; x < W; x++) {
          const i = y * W + x;
          if (!o.visible[i]) continue;
          for (const [dx, dy] of [
            [1, 0],
            [-1, 0],
            [0, 1],
            [0, -1],
          ] as const) {
            const xx = x + dx,
              yy = y + dy,
              j = yy * W + xx;
            if (xx < 0 || yy < 0 || xx >= W || yy >= H || o.visible[j]) continue;
            sum += Math.hypot(s.rgba[4 * i]! - s.rgba[4 * j]!, s.rgba[4 * i + 1]! - s.rgba[4 * j + 1]!, s.rgba[4 * i + 2]! - s.rgba[4 * j + 2]!);
            n++;
          }
        }
      contrast.push(sum / n);
    }
  }
  contrast.sort((a, b) => a - b);
  assert.ok(contrast[0]! >= 15, `weakest boundary: mean RGB distance ${contrast[0]}`);
  assert.ok(contrast[Math.floor(contrast.length * 0.05)]! >= 40, `5th percentile boundary contrast ${contrast[Math.floor(contrast.length * 0.05)]}`);
});

test('bad options are rejected', () => {
  assert.throws(() => generateScenes({ images: 1, minSize: 50, maxSize: 40 }), /maxSize/);
  assert.throws(() => generateScenes({ images: 1, minSize: 100, width: 64, height: 64 }), /maxSize/);
  assert.throws(() => generateScenes({ images: 1, minObjects: 3, maxObjects: 2 }), /maxObjects/);
  assert.throws(() => generateScenes({ images: 1.5 }), /images/);
  assert.throws(() => generateScenes({ images: 1, seed: 0.5 }), /seed/);
  assert.throws(() => generateScenes({ images: 1, firstId: -1 }), /firstId/);
});

test('encodePng round-trips through decodePng (RGB, RGBA, stored and Huffman blocks)', () => {
  const rng = new Rng(1);
  const cases: [number, number, (i: number) => number][] = [
    [1, 1, () => rng.int(256)],
    [3, 5, () => rng.int(256)],
    [300, 2, (i) => (i % 4 === 3 ? 255 : rng.int(256))], // opaque noise: incompressible, stored blocks
    [200, 150, (i) => (i % 4 === 3 ? 255 : rng.int(256))], // > 64 KiB of stored data: several blocks
    [40, 30, (i) => (i % 4 === 3 ? 255 : (i >> 6) & 255)], // smooth: Huffman
    [33, 17, (i) => (i % 4 === 3 ? rng.int(256) : (i * 7) & 255)], // with alpha: RGBA
    [64, 64, () => 0], // one symbol: the tree needs a second
  ];
  for (const [w, h, f] of cases) {
    const rgba = Uint8Array.from({ length: w * h * 4 }, (_, i) => f(i));
    const png = encodePng(rgba, w, h);
    const dec = decodePng(png);
    // zlib itself (stricter than upng's pako) accepts the IDAT stream too.
    const idatLen = new DataView(png.buffer, png.byteOffset).getUint32(33);
    assert.is(String.fromCharCode(...png.subarray(37, 41)), 'IDAT');
    const bpp = png[25] === 2 ? 3 : 4;
    assert.is(inflateSync(png.subarray(41, 41 + idatLen)).length, h * (w * bpp + 1));
    assert.is(dec.width, w);
    assert.is(dec.height, h);
    assert.ok(bytesEqual(dec.rgba, rgba), `${w}x${h} differs after decoding`);
  }
  assert.throws(() => encodePng(new Uint8Array(4), 2, 1), /bytes/);
});

test('drawOverlay: translucent fill, solid 1-px outline, distinct colours, input untouched', () => {
  const W = 8,
    H = 6;
  const rgba = new Uint8Array(W * H * 4).fill(100);
  const a = new Uint8Array(W * H),
    b = new Uint8Array(W * H);
  for (let y = 1; y <= 4; y++) for (let x = 1; x <= 4; x++) a[y * W + x] = 1; // 4x4 square
  b[2 * W + 6] = 1; // a single pixel
  const out = drawOverlay(rgba, W, H, [a, b]);
  assert.ok(
    rgba.every((v) => v === 100),
    'input modified',
  );
  const ca = overlayColor(0),
    cb = overlayColor(1);
  assert.not.equal(ca, cb);
  const px = (x: number, y: number): number[] => Array.from(out.subarray(4 * (y * W + x), 4 * (y * W + x) + 4));
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) {
      const inA = x >= 1 && x <= 4 && y >= 1 && y <= 4;
      const edgeA = inA && (x === 1 || x === 4 || y === 1 || y === 4);
      if (edgeA) assert.equal(px(x, y), [...ca, 100], `outline at ${x},${y}`);
      else if (inA) assert.equal(px(x, y), [...ca.map((c) => Math.round(100 * 0.6 + c * 0.4)), 100], `fill at ${x},${y}`);
      else if (x === 6 && y === 2) assert.equal(px(x, y), [...cb, 100]);
      else assert.equal(px(x, y), [100, 100, 100, 100], `untouched at ${x},${y}`);
    }
  const noOutline = drawOverlay(rgba, W, H, [a], { alpha: 0.5, colors: [[200, 0, 0]], outline: false });
  assert.equal(Array.from(noOutline.subarray(4 * (W + 1), 4 * (W + 1) + 4)), [150, 50, 50, 100]);
  assert.throws(() => drawOverlay(rgba, W, H, [new Uint8Array(3)]), /mask 0/);
});

test.run();
