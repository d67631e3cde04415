// Proposals as COCO results and as pictures (universal).
import { drawOverlay } from '../data/draw.js';
import { decodeMask, toCocoRle } from '../data/rle.js';
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

/** The image with the first `top` proposals as coloured translucent fills with outlines (best drawn last, on top). */
export function drawProposals(img: RgbImage, proposals: Proposal[], top = 10): Uint8Array {
  const chosen = proposals.slice(0, top).reverse();
  return drawOverlay(toRgba(img), img.width, img.height, chosen.map((p) => decodeMask(p.rle)));
}
