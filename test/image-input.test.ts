// The inputs people have: pixels in RGBA or RGB, encoded bytes, paths, and EXIF-rotated phone JPEGs.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encode as encodeJpeg } from 'jpeg-js';
import { encode, imageFromInput, jpegOrientation, type RgbImage } from '../src/index.js';
import { encodePng } from '../src/data/png.js';
import { toCocoRle } from '../src/data/rle.js';
import { loadModel } from '../src/model/files.js';
import './lib/gpu.js';
import { repoPath } from './lib/shared.js';

/** A 48x32 RGBA picture of four flat quadrants (red, green, blue, white): every orientation tells. */
const W = 48,
  H = 32;
const QUAD: [number, number, number][] = [
  [255, 0, 0],
  [0, 255, 0],
  [0, 0, 255],
  [255, 255, 255],
];
const quadOf = (x: number, y: number, w: number, h: number) => (y < h / 2 ? 0 : 2) + (x < w / 2 ? 0 : 1);
function quadrants(): Uint8Array {
  const rgba = new Uint8Array(W * H * 4);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) rgba.set([...QUAD[quadOf(x, y, W, H)]!, 255], (y * W + x) * 4);
  return rgba;
}

/** A JPEG with an APP1 Exif segment (IFD0 holding only Orientation) inserted after SOI. */
function exifJpeg(orientation: number, littleEndian: boolean): Uint8Array {
  const jpeg = new Uint8Array(encodeJpeg({ data: quadrants(), width: W, height: H }, 100).data);
  const tiff = new Uint8Array(8 + 2 + 12 + 4);
  const dv = new DataView(tiff.buffer);
  tiff.set(littleEndian ? [0x49, 0x49] : [0x4d, 0x4d], 0);
  dv.setUint16(2, 42, littleEndian);
  dv.setUint32(4, 8, littleEndian); // IFD0 right after the header
  dv.setUint16(8, 1, littleEndian); // one entry
  dv.setUint16(10, 0x0112, littleEndian); // Orientation
  dv.setUint16(12, 3, littleEndian); // SHORT
  dv.setUint32(14, 1, littleEndian); // count
  dv.setUint16(18, orientation, littleEndian);
  dv.setUint32(22, 0, littleEndian); // no next IFD
  const body = new Uint8Array([...new TextEncoder().encode('Exif'), 0, 0, ...tiff]);
  const app1 = new Uint8Array([0xff, 0xe1, (body.length + 2) >> 8, (body.length + 2) & 255, ...body]);
  return new Uint8Array([...jpeg.subarray(0, 2), ...app1, ...jpeg.subarray(2)]);
}

/** Which quadrant colour pixel (x, y) shows (nearest of the four). */
function colourAt(img: RgbImage, x: number, y: number): number {
  const p = img.data.subarray((y * img.width + x) * 3, (y * img.width + x) * 3 + 3);
  let best = -1,
    d = Infinity;
  QUAD.forEach((q, k) => {
    const e = q.reduce((s, v, c) => s + (v / 255 - p[c]!) ** 2, 0);
    if (e < d) [d, best] = [e, k];
  });
  return best;
}

// Where stored quadrant k appears once displayed: the displayed pixel (x, y) reads stored (ix, iy).
const STORED: Record<number, (x: number, y: number) => [number, number]> = {
  1: (x, y) => [x, y],
  2: (x, y) => [W - 1 - x, y],
  3: (x, y) => [W - 1 - x, H - 1 - y],
  4: (x, y) => [x, H - 1 - y],
  5: (x, y) => [y, x],
  6: (x, y) => [y, H - 1 - x],
  7: (x, y) => [W - 1 - y, H - 1 - x],
  8: (x, y) => [W - 1 - y, x],
};

test('an EXIF-rotated JPEG comes out upright: the rotated size and the right pixels for orientations 1 to 8', async () => {
  for (const le of [true, false]) {
    for (let o = 1; o <= 8; o++) {
      const bytes = exifJpeg(o, le);
      assert.is(jpegOrientation(bytes), o, `orientation ${o} read back (${le ? 'II' : 'MM'})`);
      const img = await imageFromInput(bytes);
      const [w, h] = o >= 5 ? [H, W] : [W, H];
      assert.equal([img.width, img.height], [w, h], `orientation ${o}: displayed size`);
      // Sample away from the quadrant edges (JPEG ringing) and check the stored quadrant shows there.
      for (const [fx, fy] of [
        [0.2, 0.2],
        [0.8, 0.2],
        [0.2, 0.8],
        [0.8, 0.8],
      ] as const) {
        const x = Math.floor(fx * w),
          y = Math.floor(fy * h);
        const [ix, iy] = STORED[o]!(x, y);
        assert.is(colourAt(img, x, y), quadOf(ix, iy, W, H), `orientation ${o}: displayed pixel (${x}, ${y}) shows stored (${ix}, ${iy})`);
      }
    }
  }
  // A rotated photo upright in a path too, and left as stored on request.
  const dir = mkdtempSync(join(tmpdir(), 'dm-input-'));
  writeFileSync(join(dir, 'phone.jpg'), exifJpeg(6, true));
  const fromPath = await imageFromInput(join(dir, 'phone.jpg'));
  assert.equal([fromPath.width, fromPath.height], [H, W]);
  const stored = await imageFromInput(join(dir, 'phone.jpg'), { exif: false });
  assert.equal([stored.width, stored.height], [W, H]);
});

test('RGBA bytes, RGB bytes, ImageData-like objects, PNG bytes, a Buffer and a path are the same image', async () => {
  const rgba = quadrants();
  const rgb = new Uint8Array(W * H * 3);
  for (let i = 0; i < W * H; i++) rgb.set(rgba.subarray(i * 4, i * 4 + 3), i * 3);
  const png = encodePng(rgba, W, H);
  const dir = mkdtempSync(join(tmpdir(), 'dm-input-'));
  writeFileSync(join(dir, 'q.png'), png);
  const ref = await imageFromInput({ width: W, height: H, data: rgba });
  for (const input of [
    { width: W, height: H, data: rgb },
    { width: W, height: H, data: new Uint8ClampedArray(rgba) },
    png,
    Buffer.from(png),
    png.buffer.slice(png.byteOffset, png.byteOffset + png.byteLength),
    join(dir, 'q.png'),
    new Blob([png as Uint8Array<ArrayBuffer>]),
  ]) {
    const img = await imageFromInput(input as Parameters<typeof imageFromInput>[0]);
    assert.equal([img.width, img.height], [W, H]);
    assert.ok(
      img.data.every((v, i) => v === ref.data[i]),
      `${input.constructor.name}: the same floats as the RGBA pixels`,
    );
  }
  // An RgbImage is taken as it is.
  assert.is(await imageFromInput(ref), ref);
});

test('RGBA and RGB inputs give the same encoding (identical everything() results)', async () => {
  const model = loadModel(repoPath('models/tiny-synth'));
  const w = 96,
    h = 72;
  const rgba = new Uint8Array(w * h * 4),
    rgb = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const inside = (x - 40) ** 2 + (y - 36) ** 2 < 400;
      const px = inside ? [220, 60, 40] : [(x * 2) & 255, (y * 3) & 255, 128];
      rgba.set([...px, 255], (y * w + x) * 4);
      rgb.set(px, (y * w + x) * 3);
    }
  }
  const a = await encode(model, { width: w, height: h, data: rgba });
  const b = await encode(model, { width: w, height: h, data: rgb });
  const [ra, rb] = [(await a.everything({ proposals: 20 })).proposals, (await b.everything({ proposals: 20 })).proposals];
  assert.ok(ra.length > 0);
  assert.equal(
    rb.map((p) => p.score),
    ra.map((p) => p.score),
  );
  assert.equal(
    rb.map((p) => toCocoRle(p.rle).counts),
    ra.map((p) => toCocoRle(p.rle).counts),
  );
  a.dispose();
  b.dispose();
  for (const p of model.parameters()) p.dispose();
});

test('unusable inputs are refused with errors that name them', async () => {
  const webp = new Uint8Array([...new TextEncoder().encode('RIFF'), 0, 0, 0, 0, ...new TextEncoder().encode('WEBPVP8 '), 0, 0, 0, 0]);
  const dir = mkdtempSync(join(tmpdir(), 'dm-input-'));
  writeFileSync(join(dir, 'photo.webp'), webp);
  const refused = async (input: unknown, re: RegExp) => {
    await imageFromInput(input as never).then(
      () => assert.unreachable(`accepted ${String(input)}`),
      (e: Error) => assert.match(e.message, re),
    );
  };
  await refused(join(dir, 'photo.webp'), /photo\.webp: WebP images cannot be decoded in Node/);
  await refused(join(dir, 'missing.jpg'), /missing\.jpg: cannot read image file/);
  await refused(new Uint8Array([1, 2, 3, 4]), /cannot decode image \(not a PNG or JPEG/);
  await refused({ width: 4, height: 4, data: new Uint8Array(10) }, /10 bytes are neither RGBA \(64\) nor RGB \(48\) for 4x4/);
  await refused({ width: 0, height: 4, data: new Uint8Array(0) }, /positive integers, got 0x4/);
  await refused(42, /unsupported image input \(number\)/);
});

test.run();
