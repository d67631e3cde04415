// Proposals as COCO results and as pictures (universal).
import { drawMasks, overlayColor } from '../data/draw.js';
import { decodeMask, iou, toCocoRle } from '../data/rle.js';
import { rleToPolygons, type PolygonOptions } from '../data/polygon.js';
import type { RgbImage } from '../data/image.js';
import type { Proposal } from './proposals.js';

export interface CocoResult {
  image_id: number;
  category_id: number;
  score: number;
  segmentation: { size: [number, number]; counts: string };
  bbox: [number, number, number, number];
  /** The mask as COCO polygons [[x1, y1, x2, y2, ...], ...] beside the RLE, when asked for (holes filled). */
  polygons?: number[][];
}

/** Class-agnostic COCO results: every proposal has category 1 (evaluate with useCats = 0). */
export function toCocoResults(imageId: number, proposals: Proposal[]): CocoResult[] {
  return proposals.map((p) => ({
    image_id: imageId,
    category_id: 1,
    score: +p.score.toFixed(6),
    segmentation: toCocoRle(p.rle),
    bbox: p.bbox.map((v) => +v.toFixed(2)) as [number, number, number, number],
    ...(p.polygons ? { polygons: p.polygons } : {}),
  }));
}

/**
 * Sets each proposal's `polygons` (COCO polygon format, simplified to `maxVertices` in all, default
 * 64; see rleToPolygons) and returns the same array.
 */
export function withPolygons<P extends Proposal>(proposals: P[], o: PolygonOptions = {}): P[] {
  for (const p of proposals) p.polygons = rleToPolygons(p.rle, o);
  return proposals;
}

/** RGBA bytes of an RGB float image. */
export function toRgba(img: RgbImage): Uint8Array {
  const out = new Uint8Array(img.width * img.height * 4);
  for (let i = 0; i < img.width * img.height; i++) {
    for (let c = 0; c < 3; c++) out[i * 4 + c] = Math.round(Math.min(1, Math.max(0, img.data[i * 3 + c]!)) * 255);
    out[i * 4 + 3] = 255;
  }
  return out;
}

/**
 * Greedy non-maximum suppression by mask IoU over score-ordered proposals: a proposal overlapping a
 * kept one by more than `threshold` is dropped; stops after `limit` kept. (DeepMask itself ranks
 * without NMS; this is an optional post-step.)
 */
export function nms(proposals: Proposal[], threshold: number, limit = Infinity): Proposal[] {
  const kept: Proposal[] = [];
  for (const p of proposals) {
    if (kept.length >= limit) break;
    if (survivesNms(p, kept, threshold)) kept.push(p);
  }
  return kept;
}

/** Whether `p` overlaps none of the better proposals `kept` by a mask IoU over `threshold` (one step of nms()). */
export function survivesNms(p: Proposal, kept: Proposal[], threshold: number): boolean {
  return (
    kept.length === 0 ||
    Math.max(
      ...iou(
        [p.rle],
        kept.map((k) => k.rle),
        kept.map(() => false),
      )[0]!,
    ) <= threshold
  );
}

/**
 * The image with its top proposals drawn by drawMasks: light fills (largest first, big ones
 * fainter), a 2-px outline in each one's colour, and each labelled with its rank in `proposals`
 * (1 = best) and its score where the label covers no better one's (`labels: false` leaves them out).
 * Near-duplicates (mask IoU > `nmsThreshold`, default 0.5) are skipped so that the picture shows
 * distinct objects; pass 1 to draw the raw ranking.
 */
export function drawProposals(img: RgbImage, proposals: Proposal[], top = 10, nmsThreshold = 0.5, o: { labels?: boolean } = {}): Uint8Array {
  const chosen = nmsThreshold < 1 ? nms(proposals, nmsThreshold, top) : proposals.slice(0, top);
  return drawMasks(
    toRgba(img),
    img.width,
    img.height,
    chosen.map((p, k) => ({
      mask: decodeMask(p.rle),
      color: overlayColor(k),
      ...((o.labels ?? true) ? { label: `${proposals.indexOf(p) + 1} ${p.score.toFixed(2)}` } : {}),
    })),
  );
}

/**
 * The --viz picture name of each input (`keys`: the whole run's input names, so that every shard
 * names alike): its name without the extension, folders joined by `__`, plus `.png` (photo.jpg ->
 * photo.png). Inputs that would share a name, like x.jpg and x.png, keep their extension instead
 * (x.jpg.png, x.png.png) so that neither picture overwrites the other; names are compared ignoring
 * case, as on macOS and Windows file systems. Anything still shared gets ~N, its position + 1.
 */
export function vizNames(keys: readonly string[]): string[] {
  const flat = keys.map((k) => k.replaceAll('/', '__'));
  const clashes = (names: string[]) => {
    const count = new Map<string, number>();
    for (const n of names) count.set(n.toLowerCase(), (count.get(n.toLowerCase()) ?? 0) + 1);
    return (n: string) => count.get(n.toLowerCase())! > 1;
  };
  let names = keys.map((k) => `${k.replace(/\.[^./]*$/, '').replaceAll('/', '__')}.png`);
  const shared = clashes(names);
  names = names.map((n, i) => (shared(n) ? `${flat[i]}.png` : n));
  const still = clashes(names);
  return names.map((n, i) => (still(n) ? `${n.slice(0, -4)}~${i + 1}.png` : n));
}
