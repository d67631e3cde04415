// Proposals as COCO results and as pictures (universal).
import { drawOverlay } from '../data/draw.js';
import { decodeMask, iou, toCocoRle } from '../data/rle.js';
import type { RgbImage } from '../data/image.js';
import type { Proposal } from './proposals.js';

export interface CocoResult {
  image_id: number;
  category_id: number;
  score: number;
  segmentation: { size: [number, number]; counts: string };
  bbox: [number, number, number, number];
}

/** Class-agnostic COCO results: every proposal has category 1 (evaluate with useCats = 0). */
export function toCocoResults(imageId: number, proposals: Proposal[]): CocoResult[] {
  return proposals.map((p) => ({
    image_id: imageId,
    category_id: 1,
    score: +p.score.toFixed(6),
    segmentation: toCocoRle(p.rle),
    bbox: p.bbox.map((v) => +v.toFixed(2)) as [number, number, number, number],
  }));
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
    if (kept.length === 0 || Math.max(...iou([p.rle], kept.map((k) => k.rle), kept.map(() => false))[0]!) <= threshold) kept.push(p);
  }
  return kept;
}

/**
 * The image with its top proposals as coloured translucent fills with outlines (best drawn last,
 * on top). Near-duplicates (mask IoU > `nmsThreshold`, default 0.5) are skipped so that the picture
 * shows distinct objects; pass 1 to draw the raw ranking.
 */
export function drawProposals(img: RgbImage, proposals: Proposal[], top = 10, nmsThreshold = 0.5): Uint8Array {
  const chosen = (nmsThreshold < 1 ? nms(proposals, nmsThreshold, top) : proposals.slice(0, top)).reverse();
  return drawOverlay(toRgba(img), img.width, img.height, chosen.map((p) => decodeMask(p.rle)));
}
