// Shared by the mask-quality diagnostics (rerank-quality.mjs, ensemble-quality.mjs): the data, the
// photos to score, the model, and masks pasted on the CPU with the paste kernel's sampling.
import { readFileSync } from 'node:fs';
const m = await import(`${process.cwd()}/dist/src/node.js`);
const { parseCoco } = await import(`${process.cwd()}/dist/src/data/coco.js`);
const { encodeMask, toBbox } = await import(`${process.cwd()}/dist/src/data/rle.js`);
export const { encode } = await import(`${process.cwd()}/dist/src/infer/proposals.js`);
const { evaluate } = await import(`${process.cwd()}/dist/src/eval/cocoeval.js`);
export const { toCocoResults } = await import(`${process.cwd()}/dist/src/infer/results.js`);
export { toBbox };

export const logit = (p) => Math.log(p / (1 - p));
export const sig = (x) => 1 / (1 + Math.exp(-x));

/**
 * 'train': every 8th training photo from `offset`; 'val': the held-out photos; at most `count`.
 * Returns the runtime-bound model, the photos, a loader and mask AR@10/100 of a set of detections.
 */
export async function setup(which, count, offset, modelDir = 'models/mobile-coco') {
  const rt = await m.init(); m.setRuntime(rt);
  const dir = '../shared/data/coco-subset-2017';
  const gt = parseCoco(readFileSync(`${dir}/instances.json`, 'utf8'), 'instances.json');
  const val = new Set(JSON.parse(readFileSync(`${dir}/val-ids.json`, 'utf8')));
  const photos = gt.images.filter((im) => (which === 'val') === val.has(im.id)).sort((a, b) => a.id - b.id).filter((_, i) => which === 'val' || i % 8 === offset).slice(0, count);
  const model = m.loadModel(modelDir);
  const load = (im) => m.decodeImage(readFileSync(`${dir}/images/${im.file_name}`), im.file_name);
  const ar = (dts, iouType = 'segm') => evaluate(gt.images, gt.annotations, dts, { iouType, maxDets: [10, 100], imgIds: photos.map((p) => p.id) }).AR;
  return { model, photos, load, ar };
}

/** Every window of an encoding, best objectness first (everything()'s order). */
export function rankedWindows(enc) {
  const all = [];
  enc['maps'].forEach((mp, k) => { for (let r = 0; r < mp.rows; r++) for (let c = 0; c < mp.cols; c++) all.push({ score: mp.scores[r * mp.cols + c], scale: k, r, c }); });
  return all.sort((a, b) => b.score - a.score || a.scale - b.scale || a.r - b.r || a.c - b.c);
}

/** Window of a candidate in the caller's pixels. */
export function windowOf(model, enc, c) {
  const { inputSize: S, stride } = model.config, s = enc.scales[c.scale] / enc['f'];
  return { wx: (stride * c.c - S / 2) / s, wy: (stride * c.r - S / 2) / s, side: S / s };
}

/** Bilinear sample of the M x M mask at L[off..] at mask coords (u, v), clamped like the paste kernel. */
export function sample(L, off, M, u, v) {
  u = Math.min(Math.max(u, 0), M - 1); v = Math.min(Math.max(v, 0), M - 1);
  const u0 = Math.floor(u), v0 = Math.floor(v), u1 = Math.min(u0 + 1, M - 1), v1 = Math.min(v0 + 1, M - 1), tu = u - u0, tv = v - v0;
  const a = L[off + v0 * M + u0], b = L[off + v0 * M + u1], c = L[off + v1 * M + u0], d = L[off + v1 * M + u1];
  return (a + (b - a) * tu) * (1 - tv) + (c + (d - c) * tu) * tv;
}

/** The M x M mask of logits at L[off..] resampled into its window, thresholded at logit T, as an RLE over the W x H image. */
export function paste(L, off, M, win, W, H, T) {
  const bits = new Uint8Array(W * H), sc = M / win.side;
  const x0 = Math.max(0, Math.floor(win.wx)), x1 = Math.min(W, Math.ceil(win.wx + win.side));
  const y0 = Math.max(0, Math.floor(win.wy)), y1 = Math.min(H, Math.ceil(win.wy + win.side));
  for (let x = x0; x < x1; x++) { const u = (x + 0.5 - win.wx) * sc - 0.5; for (let y = y0; y < y1; y++) if (sample(L, off, M, u, (y + 0.5 - win.wy) * sc - 0.5) >= T) bits[y * W + x] = 1; }
  return encodeMask(bits, H, W);
}
