// Node only: a bank of trunk feature maps kept on disk, one file per image (and mirror image), so an
// interrupted extraction resumes where it stopped and later trainings of the heads reuse it.
// A file is a little-endian u32 header length, a JSON header, then the maps' halves in order.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { decodeImage } from '../data/image.js';
import type { DeepMask } from '../model/deepmask.js';
import { writeFileAtomic } from '../model/files.js';
import { extractFeatureMaps, type BankImage, type FeatureMap } from './feature-bank.js';

interface Header {
  format: 'deepmask-feature-maps';
  id: number;
  width: number;
  height: number;
  flip: boolean;
  /** What made the maps: a cache from another trunk or pyramid is never reused. */
  key: string;
  maps: { scale: number; rows: number; cols: number }[];
}

export interface BankSource {
  id: number;
  file: string;
  /** The size the annotation file gives the image: an image of another size is skipped (its annotations would not fit it). */
  width?: number;
  height?: number;
}

/** What identifies a cache's contents: the model's trunk and input geometry, and the scales. */
export function cacheKey(model: DeepMask, scales: readonly number[], trunkFile: string): string {
  const c = model.config;
  return JSON.stringify({
    trunk: c.trunk,
    trunkFile: basename(trunkFile),
    norm: c.normalization,
    inputSize: c.inputSize,
    scales: scales.map((s) => +s.toFixed(6)),
  });
}

function encode(im: BankImage, key: string): Uint8Array {
  const h: Header = {
    format: 'deepmask-feature-maps',
    id: im.id,
    width: im.width,
    height: im.height,
    flip: im.flip,
    key,
    maps: im.maps.map(({ scale, rows, cols }) => ({ scale, rows, cols })),
  };
  const json = new TextEncoder().encode(JSON.stringify(h));
  const bytes = im.maps.reduce((n, m) => n + m.data.byteLength, 0);
  const out = new Uint8Array(4 + json.length + bytes);
  new DataView(out.buffer).setUint32(0, json.length, true);
  out.set(json, 4);
  let p = 4 + json.length;
  for (const m of im.maps) {
    out.set(new Uint8Array(m.data.buffer, m.data.byteOffset, m.data.byteLength), p);
    p += m.data.byteLength;
  }
  return out;
}

function decode(buf: Uint8Array, path: string, key: string): BankImage | null {
  try {
    const n = new DataView(buf.buffer, buf.byteOffset).getUint32(0, true);
    const h = JSON.parse(new TextDecoder().decode(buf.subarray(4, 4 + n))) as Header;
    if (h.format !== 'deepmask-feature-maps' || h.key !== key) return null;
    // An aligned copy of the halves, split by the maps' cell counts (channels are equal across maps).
    const rest = new Uint8Array(buf.subarray(4 + n));
    const all = new Uint16Array(rest.buffer, 0, rest.length >> 1);
    const cells = h.maps.reduce((sum, m) => sum + m.rows * m.cols, 0);
    if (rest.length % 2 !== 0 || cells === 0 || all.length % cells !== 0) throw new Error('its size does not match its header');
    const C = all.length / cells;
    let off = 0;
    const maps: FeatureMap[] = h.maps.map((m) => {
      const data = all.subarray(off, off + m.rows * m.cols * C);
      off += m.rows * m.cols * C;
      return { ...m, data };
    });
    return { id: h.id, width: h.width, height: h.height, flip: h.flip, maps };
  } catch (e) {
    throw new Error(`${path}: unreadable feature cache (${(e as Error).message}); delete it to recompute`);
  }
}

/**
 * The bank for `sources`: each image's maps from the cache directory when present and made the
 * same way, otherwise computed (and cached). Images that cannot be decoded, or whose size differs
 * from the annotation file's, are skipped and listed (file: reason).
 */
export async function loadBank(
  model: DeepMask,
  sources: readonly BankSource[],
  o: {
    scales: readonly number[];
    dir: string;
    key: string;
    flips?: boolean;
    onProgress?: (done: number, total: number, computed: number) => void;
    signal?: AbortSignal;
  },
): Promise<{ bank: BankImage[]; skipped: string[] }> {
  mkdirSync(o.dir, { recursive: true });
  const bank: BankImage[] = [];
  const skipped: string[] = [];
  let computed = 0;
  for (let i = 0; i < sources.length; i++) {
    if (o.signal?.aborted) throw new Error('cancelled');
    const s = sources[i]!;
    for (const flip of o.flips ? [false, true] : [false]) {
      const path = join(o.dir, `${s.id}${flip ? '-flip' : ''}.f16`);
      let im = existsSync(path) ? decode(readFileSync(path), path, o.key) : null;
      // Maps cached from an image of another size are no better than the image itself.
      if (im && sizeMismatch(s, im)) {
        skipped.push(`${s.file}: ${sizeMismatch(s, im)}`);
        break;
      }
      if (!im) {
        let img;
        try {
          img = decodeImage(readFileSync(s.file), s.file);
        } catch (e) {
          skipped.push(`${s.file}: ${(e as Error).message}`);
          break;
        }
        const wrong = sizeMismatch(s, img);
        if (wrong) {
          skipped.push(`${s.file}: ${wrong}`);
          break;
        }
        im = { id: s.id, width: img.width, height: img.height, flip, maps: await extractFeatureMaps(model, img, o.scales, flip) };
        writeFileAtomic(path, encode(im, o.key));
        computed++;
      }
      bank.push(im);
    }
    o.onProgress?.(i + 1, sources.length, computed);
  }
  return { bank, skipped };
}

/** Why an image of this size does not fit its annotations (as `deepmask train`'s loader says it), or null. */
function sizeMismatch(s: BankSource, img: { width: number; height: number }): string | null {
  if (s.width === undefined || s.height === undefined || (img.width === s.width && img.height === s.height)) return null;
  return `the image is ${img.width}x${img.height} on disk but ${s.width}x${s.height} in the annotation file`;
}
