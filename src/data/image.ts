// Images as RGB floats in [0, 1]: decoding (PNG with upng-js, JPEG with jpeg-js; both pure JS, so
// this runs in Node, workers and browsers), resampling, and the network's input normalisation.
import { decode as decodeJpeg } from 'jpeg-js';
import { decodePng } from './png.js';
import type { InputNormalization } from '../model/presets.js';

/** A decoded image: row-major RGB in [0, 1], 3 floats per pixel. */
export interface RgbImage {
  width: number;
  height: number;
  data: Float32Array;
}

const isPng = (b: Uint8Array) => b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47;
const isJpeg = (b: Uint8Array) => b[0] === 0xff && b[1] === 0xd8;

/**
 * Decodes a PNG or JPEG (grey, palette, CMYK and alpha included; alpha is composited over mid-grey,
 * the value DeepMask uses for "no image"). Throws an error naming `source` for corrupt or truncated files.
 */
export function decodeImage(bytes: Uint8Array, source = 'image'): RgbImage {
  let width: number, height: number, rgba: Uint8Array;
  try {
    if (isPng(bytes)) ({ width, height, rgba } = decodePng(bytes));
    else if (isJpeg(bytes)) {
      const j = decodeJpeg(bytes, { useTArray: true, formatAsRGBA: true, maxResolutionInMP: 250, maxMemoryUsageInMB: 2048 });
      ({ width, height } = j);
      rgba = j.data;
    } else throw new Error('not a PNG or JPEG file');
  } catch (e) {
    throw new Error(`${source}: cannot decode image (${(e as Error).message})`);
  }
  if (!(width > 0 && height > 0) || rgba.length < width * height * 4) throw new Error(`${source}: truncated image data`);
  return rgbFromBytes(rgba, width, height, 4);
}

/**
 * 8-bit pixels (RGBA or RGB, row-major) as an RgbImage; alpha is composited over mid-grey as in
 * decodeImage, so that an opaque RGBA image and its RGB equal give the very same floats.
 */
export function rgbFromBytes(bytes: ArrayLike<number>, width: number, height: number, channels: 3 | 4): RgbImage {
  const data = new Float32Array(width * height * 3);
  if (channels === 3) {
    for (let i = 0; i < data.length; i++) data[i] = bytes[i]! / 255;
    return { width, height, data };
  }
  for (let i = 0, j = 0; i < width * height; i++, j += 4) {
    const a = bytes[j + 3]! / 255;
    for (let c = 0; c < 3; c++) data[i * 3 + c] = (bytes[j + c]! / 255) * a + 0.5 * (1 - a);
  }
  return { width, height, data };
}

/**
 * Resamples RGB to `dw` x `dh`, separably: linear interpolation (align-corners) when enlarging an
 * axis and area averaging when shrinking it, as Torch's image.scale does.
 */
export function resizeRgb(img: RgbImage, dw: number, dh: number): RgbImage {
  const tmp = new Float32Array(dw * img.height * 3);
  const wx = axisWeights(img.width, dw);
  for (let y = 0; y < img.height; y++) applyAxis(img.data, tmp, wx, y * img.width * 3, 3, y * dw * 3, 3);
  const out = new Float32Array(dw * dh * 3);
  const wy = axisWeights(img.height, dh);
  for (let x = 0; x < dw; x++) applyAxis(tmp, out, wy, x * 3, dw * 3, x * 3, dw * 3);
  return { width: dw, height: dh, data: out };
}

type AxisWeights = { start: Int32Array; weights: Float32Array[] };

/**
 * resizeRgb's weights along one axis of `src` pixels resampled to `dst`: output o is the sum of
 * weights[o][k] * input[start[o] + k] (the GPU pyramid uses the same tables).
 */
export function axisWeights(src: number, dst: number): AxisWeights {
  const start = new Int32Array(dst);
  const weights: Float32Array[] = [];
  for (let o = 0; o < dst; o++) {
    if (dst >= src) {
      const s = dst > 1 ? (o * (src - 1)) / (dst - 1) : 0;
      const i0 = Math.min(Math.floor(s), src - 1),
        t = s - i0;
      start[o] = i0;
      weights.push(i0 + 1 < src ? Float32Array.of(1 - t, t) : Float32Array.of(1));
    } else {
      // The output pixel covers source interval [o*r, (o+1)*r): weight by overlap.
      const r = src / dst,
        a = o * r,
        b = (o + 1) * r;
      const i0 = Math.floor(a),
        i1 = Math.min(src, Math.ceil(b));
      const w = new Float32Array(i1 - i0);
      for (let i = i0; i < i1; i++) w[i - i0] = (Math.min(b, i + 1) - Math.max(a, i)) / r;
      start[o] = i0;
      weights.push(w);
    }
  }
  return { start, weights };
}

function applyAxis(src: Float32Array, dst: Float32Array, w: AxisWeights, s0: number, sStep: number, d0: number, dStep: number): void {
  for (let o = 0; o < w.start.length; o++) {
    const ws = w.weights[o]!;
    let r = 0,
      g = 0,
      b = 0;
    for (let k = 0; k < ws.length; k++) {
      const p = s0 + (w.start[o]! + k) * sStep;
      r += ws[k]! * src[p]!;
      g += ws[k]! * src[p + 1]!;
      b += ws[k]! * src[p + 2]!;
    }
    const q = d0 + o * dStep;
    dst[q] = r;
    dst[q + 1] = g;
    dst[q + 2] = b;
  }
}

/** RGB in [0, 1] to the trunk's input (in place on a copy): ImageNet mean/std, or Caffe BGR minus mean. */
export function normalizeRgb(rgb: Float32Array, n: InputNormalization, out = new Float32Array(rgb.length)): Float32Array {
  const bgr = n.space === 'bgr255';
  const k = bgr ? 255 : 1;
  for (let i = 0; i < rgb.length; i += 3) {
    for (let c = 0; c < 3; c++) {
      const src = bgr ? 2 - c : c; // output channel c reads B, G, R for Caffe weights
      out[i + c] = (rgb[i + src]! * k - n.mean[c]!) / n.std[c]!;
    }
  }
  return out;
}

/** The image with `pad` grey (0.5) pixels on every side, normalised for a model: [H + 2 pad, W + 2 pad, 3]. */
export function paddedInput(img: RgbImage, pad: number, norm: InputNormalization): Float32Array {
  const W = img.width + 2 * pad,
    H = img.height + 2 * pad;
  const rgb = new Float32Array(W * H * 3).fill(0.5);
  for (let y = 0; y < img.height; y++) rgb.set(img.data.subarray(y * img.width * 3, (y + 1) * img.width * 3), ((y + pad) * W + pad) * 3);
  return normalizeRgb(rgb, norm);
}

/** The image mirrored left-right. */
export function flipRgb(img: RgbImage): RgbImage {
  const out = new Float32Array(img.data.length),
    W = img.width;
  for (let y = 0; y < img.height; y++) for (let x = 0; x < W; x++) out.set(img.data.subarray((y * W + x) * 3, (y * W + x) * 3 + 3), (y * W + (W - 1 - x)) * 3);
  return { width: W, height: img.height, data: out };
}
