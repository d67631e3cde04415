// The images people have, as the RgbImage the model reads: pixels (RGBA or RGB bytes, ImageData),
// encoded bytes (PNG, JPEG with its EXIF orientation applied; WebP and others where the platform
// decodes them), a file path in Node, a URL or Blob, and in the browser ImageBitmap, <img>, <canvas>,
// <video> and OffscreenCanvas. Universal: DOM types are only touched after a typeof check, and Node's
// file system only through process.getBuiltinModule, so the browser bundle reaches no Node module.
import { decodeImage, rgbFromBytes, type RgbImage } from './image.js';
import type { GlobalClass } from '../gpu/global-types.js';

/** Pixels in memory: `data` row-major, RGBA or RGB bytes (told apart by length), or RGB floats in [0, 1]. */
export interface PixelsLike {
  width: number;
  height: number;
  data: Uint8Array | Uint8ClampedArray | Float32Array;
}

/**
 * Everything imageFromInput() accepts. The DOM classes are taken from the program (GlobalClass), so
 * that the declaration checks without lib "dom"; there they drop out (an ImageData is PixelsLike).
 */
export type ImageInput =
  | RgbImage
  | PixelsLike
  | GlobalClass<'ImageData', never>
  | Uint8Array // encoded bytes (a Node Buffer too)
  | ArrayBuffer
  | GlobalClass<'Blob', never> // lib "dom", or @types/node's
  | string // a file path in Node, a URL elsewhere
  | GlobalClass<'URL', never> // lib "dom", or @types/node's
  | GlobalClass<'ImageBitmap', never>
  | GlobalClass<'HTMLImageElement', never>
  | GlobalClass<'HTMLCanvasElement', never>
  | GlobalClass<'HTMLVideoElement', never>
  | GlobalClass<'OffscreenCanvas', never>;

export interface ImageInputOptions {
  /** Apply a JPEG's EXIF orientation (default true: phone photos come out upright). */
  exif?: boolean;
  /** The name used in errors (default: the path, or a description of the input). */
  source?: string;
}

const isPng = (b: Uint8Array) => b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47;
const isJpeg = (b: Uint8Array) => b[0] === 0xff && b[1] === 0xd8;
const isWebp = (b: Uint8Array) => b.length >= 12 && ascii(b, 0, 4) === 'RIFF' && ascii(b, 8, 4) === 'WEBP';
const ascii = (b: Uint8Array, at: number, n: number) => String.fromCharCode(...b.subarray(at, at + n));

/** Node's file system when running in Node (none in a browser or a worker there). */
function nodeFs(): typeof import('node:fs') | undefined {
  const p = (globalThis as { process?: { versions?: { node?: string }; getBuiltinModule?: (id: string) => unknown } }).process;
  if (!p?.versions?.node) return undefined;
  const fs = p.getBuiltinModule?.('node:fs') as typeof import('node:fs') | undefined;
  if (!fs) throw new Error(`reading image files needs Node 20.16 or later (process.getBuiltinModule); this is Node ${p.versions.node}`);
  return fs;
}

const hasDom = (name: string): boolean => typeof (globalThis as Record<string, unknown>)[name] === 'function';
const isA = (x: unknown, name: string): boolean => hasDom(name) && x instanceof ((globalThis as Record<string, unknown>)[name] as new () => unknown);

/**
 * Converts any supported input to the RgbImage the model reads (an RgbImage is returned as is).
 * Errors name the input (the file for a path) and what was wrong.
 */
export async function imageFromInput(input: ImageInput, o: ImageInputOptions = {}): Promise<RgbImage> {
  if (typeof input === 'string' || input instanceof URL) {
    const where = String(input);
    const fs = typeof input === 'string' || input.protocol === 'file:' ? nodeFs() : undefined;
    if (fs) {
      let bytes: Uint8Array;
      try {
        bytes = await fs.promises.readFile(input);
      } catch (e) {
        throw new Error(`${o.source ?? where}: cannot read image file (${(e as Error).message})`);
      }
      return decodeImageBytes(bytes, o.source ?? where, o);
    }
    const res = await fetch(input);
    if (!res.ok) throw new Error(`${o.source ?? where}: cannot fetch image (HTTP ${res.status})`);
    return decodeImageBytes(new Uint8Array(await res.arrayBuffer()), o.source ?? where, o);
  }
  if (input instanceof ArrayBuffer) return decodeImageBytes(new Uint8Array(input), o.source ?? 'image bytes', o);
  if (ArrayBuffer.isView(input)) {
    if (!(input instanceof Uint8Array)) throw new Error(`${o.source ?? 'image'}: encoded image bytes must be a Uint8Array or Buffer, got ${describe(input)}`);
    return decodeImageBytes(input, o.source ?? 'image bytes', o);
  }
  if (typeof Blob !== 'undefined' && input instanceof Blob)
    return decodeImageBytes(new Uint8Array(await input.arrayBuffer()), o.source ?? `${input.type || 'image'} blob`, o);
  if (isDomImage(input)) return drawDomImage(input, o.source);
  if (input && typeof input === 'object' && 'data' in input && 'width' in input && 'height' in input) return imageFromPixels(input as PixelsLike, o.source);
  throw new Error(
    `${o.source ?? 'image'}: unsupported image input (${describe(input)}); give pixels {width, height, data}, ImageData, encoded bytes, a path, a Blob, an ImageBitmap, an image or canvas element or an OffscreenCanvas`,
  );
}

function describe(x: unknown): string {
  if (x === null || typeof x !== 'object') return String(x === null ? 'null' : typeof x);
  return x.constructor?.name ?? 'object';
}

/**
 * Pixels in memory as an RgbImage: RGB floats are returned as they are; RGBA bytes (an ImageData's
 * included) and RGB bytes are told apart by their length and converted (alpha over mid-grey).
 */
export function imageFromPixels(p: PixelsLike, source = 'pixels'): RgbImage {
  const { width, height, data } = p;
  if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0))
    throw new Error(`${source}: width and height must be positive integers, got ${width}x${height}`);
  const n = width * height;
  if (data instanceof Float32Array) {
    if (data.length !== n * 3) throw new Error(`${source}: float pixels must be RGB in [0, 1], ${n * 3} values for ${width}x${height}, got ${data.length}`);
    return p as RgbImage;
  }
  if (!(data instanceof Uint8Array || data instanceof Uint8ClampedArray))
    throw new Error(`${source}: pixel data must be a Uint8Array, Uint8ClampedArray or Float32Array, got ${describe(data)}`);
  if (data.length === n * 4) return rgbFromBytes(data, width, height, 4);
  if (data.length === n * 3) return rgbFromBytes(data, width, height, 3);
  throw new Error(`${source}: ${data.length} bytes are neither RGBA (${n * 4}) nor RGB (${n * 3}) for ${width}x${height}`);
}

/**
 * Decodes encoded image bytes: PNG and JPEG everywhere (pure JS; a JPEG's EXIF orientation applied
 * unless `exif: false`), anything else the platform's createImageBitmap decodes (WebP, GIF, AVIF in
 * browsers). In Node, WebP is refused with an error naming the source.
 */
export async function decodeImageBytes(bytes: Uint8Array, source = 'image', o: Pick<ImageInputOptions, 'exif'> = {}): Promise<RgbImage> {
  if (isPng(bytes)) return decodeImage(bytes, source);
  if (isJpeg(bytes)) {
    const img = decodeImage(bytes, source);
    return o.exif === false ? img : orient(img, jpegOrientation(bytes));
  }
  if (hasDom('createImageBitmap') && typeof Blob !== 'undefined' && !nodeFsPresent()) {
    let bitmap: ImageBitmap;
    try {
      bitmap = await createImageBitmap(new Blob([bytes as Uint8Array<ArrayBuffer>]));
    } catch (e) {
      throw new Error(`${source}: this browser cannot decode the image (${(e as Error).message})`);
    }
    try {
      return drawDomImage(bitmap, source);
    } finally {
      bitmap.close();
    }
  }
  if (isWebp(bytes))
    throw new Error(`${source}: WebP images cannot be decoded in Node (no WebP decoder is available here; browsers decode WebP); convert it to PNG or JPEG`);
  throw new Error(`${source}: cannot decode image (not a PNG or JPEG file)`);
}

function nodeFsPresent(): boolean {
  return !!(globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node;
}

type DomImage = ImageBitmap | HTMLImageElement | HTMLCanvasElement | HTMLVideoElement | OffscreenCanvas;

function isDomImage(x: unknown): x is DomImage {
  return ['ImageBitmap', 'HTMLImageElement', 'HTMLCanvasElement', 'HTMLVideoElement', 'OffscreenCanvas', 'VideoFrame'].some((n) => isA(x, n));
}

/** Draws a browser image onto an OffscreenCanvas (or a DOM canvas) and reads its pixels back. */
async function drawDomImage(img: DomImage, source = 'image'): Promise<RgbImage> {
  if (isA(img, 'HTMLImageElement')) {
    const el = img as HTMLImageElement;
    if (!el.complete || !el.naturalWidth)
      await el.decode().catch((e: Error) => {
        throw new Error(`${source}: the image element did not load (${el.src}: ${e.message})`);
      });
  }
  const width = isA(img, 'HTMLImageElement')
    ? (img as HTMLImageElement).naturalWidth
    : isA(img, 'HTMLVideoElement')
      ? (img as HTMLVideoElement).videoWidth
      : (img as { width: number }).width;
  const height = isA(img, 'HTMLImageElement')
    ? (img as HTMLImageElement).naturalHeight
    : isA(img, 'HTMLVideoElement')
      ? (img as HTMLVideoElement).videoHeight
      : (img as { height: number }).height;
  if (!(width > 0 && height > 0)) throw new Error(`${source}: the image has no pixels (${width}x${height}); has it loaded?`);
  let ctx: OffscreenCanvasRenderingContext2D | CanvasRenderingContext2D | null;
  if (hasDom('OffscreenCanvas')) ctx = new OffscreenCanvas(width, height).getContext('2d', { willReadFrequently: true });
  else {
    const c = document.createElement('canvas');
    [c.width, c.height] = [width, height];
    ctx = c.getContext('2d', { willReadFrequently: true });
  }
  if (!ctx) throw new Error(`${source}: no 2D canvas context to read the image's pixels`);
  ctx.drawImage(img as CanvasImageSource, 0, 0);
  const data = ctx.getImageData(0, 0, width, height).data;
  return rgbFromBytes(data, width, height, 4);
}

/**
 * A JPEG's EXIF orientation (1 to 8; 1 when it has none): the Orientation tag (0x0112) of IFD0 in
 * the APP1 "Exif" segment. Anything malformed reads as 1 (the image as stored).
 */
export function jpegOrientation(b: Uint8Array): number {
  if (!isJpeg(b)) return 1;
  const u16 = (at: number, le: boolean) => (le ? b[at]! | (b[at + 1]! << 8) : (b[at]! << 8) | b[at + 1]!);
  const u32 = (at: number, le: boolean) => (le ? (u16(at + 2, le) << 16) | u16(at, le) : (u16(at, le) << 16) | u16(at + 2, le)) >>> 0;
  let p = 2;
  while (p + 4 <= b.length) {
    if (b[p] !== 0xff) return 1;
    const marker = b[p + 1]!;
    if (marker === 0xff) {
      p++; // fill byte
      continue;
    }
    if (marker === 0xda || marker === 0xd9) return 1; // image data: no metadata after this
    const len = u16(p + 2, false);
    if (len < 2 || p + 2 + len > b.length) return 1;
    if (marker === 0xe1 && len >= 16 && ascii(b, p + 4, 6) === 'Exif\0\0') {
      const t = p + 10,
        end = p + 2 + len; // TIFF header
      const bo = ascii(b, t, 2);
      if (bo !== 'II' && bo !== 'MM') return 1;
      const le = bo === 'II';
      if (u16(t + 2, le) !== 42) return 1;
      const ifd = t + u32(t + 4, le);
      if (ifd + 2 > end) return 1;
      const n = u16(ifd, le);
      for (let i = 0; i < n; i++) {
        const e = ifd + 2 + 12 * i;
        if (e + 12 > end) return 1;
        if (u16(e, le) !== 0x0112) continue;
        const v = u16(e + 2, le) === 3 ? u16(e + 8, le) : 1; // SHORT
        return v >= 1 && v <= 8 ? v : 1;
      }
      return 1;
    }
    p += 2 + len;
  }
  return 1;
}

/**
 * The image as displayed under EXIF orientation `o`: 2 mirrored, 3 rotated 180°, 4 flipped, 5
 * transposed, 6 rotated 90° clockwise, 7 transversed, 8 rotated 90° anticlockwise (5 to 8 swap
 * width and height).
 */
export function orient(img: RgbImage, o: number): RgbImage {
  if (o < 2 || o > 8) return img;
  const { width: W, height: H } = img;
  const swap = o >= 5;
  const w = swap ? H : W,
    h = swap ? W : H;
  const out = new Float32Array(W * H * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let ix: number, iy: number;
      switch (o) {
        case 2:
          [ix, iy] = [W - 1 - x, y];
          break;
        case 3:
          [ix, iy] = [W - 1 - x, H - 1 - y];
          break;
        case 4:
          [ix, iy] = [x, H - 1 - y];
          break;
        case 5:
          [ix, iy] = [y, x];
          break;
        case 6:
          [ix, iy] = [y, H - 1 - x];
          break;
        case 7:
          [ix, iy] = [W - 1 - y, H - 1 - x];
          break;
        default:
          [ix, iy] = [W - 1 - y, x];
          break; // 8
      }
      const s = (iy * W + ix) * 3,
        d = (y * w + x) * 3;
      out[d] = img.data[s]!;
      out[d + 1] = img.data[s + 1]!;
      out[d + 2] = img.data[s + 2]!;
    }
  }
  return { width: w, height: h, data: out };
}
