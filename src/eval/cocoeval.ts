// Class-agnostic proposal evaluation (average recall) with the semantics of pycocotools' COCOeval
// run as DeepMask's protocol does (the paper §4; cocoapi's PythonAPI/pycocotools/cocoeval.py): useCats = 0, IoU 0.50:0.05:0.95,
// maxDets [10, 100, 1000], COCO's area ranges, then evaluate → accumulate → summarize, of which
// only recall is computed here.
import { annToRle, bboxIou, frBbox, iou as rleIou, toBbox, type RLE, type Segmentation } from '../data/rle.js';

export interface GtAnnotation {
  id: number;
  image_id: number;
  iscrowd: 0 | 1 | boolean;
  /** The annotation's area field; size buckets use it in both segm and bbox mode. */
  area: number;
  bbox: number[];
  segmentation: Segmentation;
  /** Only orders the pooled ground truth (by category, then input order) as COCOeval does. */
  category_id?: number;
}

export interface ImageInfo {
  id: number;
  height: number;
  width: number;
}

export interface Detection {
  image_id: number;
  score: number;
  segmentation?: { size: [number, number]; counts: string | number[] };
  bbox?: number[];
  category_id?: number;
}

export interface EvalOptions {
  iouType: 'segm' | 'bbox';
  maxDets?: number[];
  imgIds?: number[];
}

export interface EvalResult {
  iouType: 'segm' | 'bbox';
  maxDets: number[];
  iouThresholds: number[];
  /** recall[t][a][m]: threshold t, area range a (all, small, medium, large), maxDets index m; -1 where no GT */
  recall: number[][][];
  AR: Record<string, number>;
}

/**
 * np.linspace(.5, .95, 10) as numpy computes it (start + i·step, last = stop), so a threshold
 * compares equal to the same IoU values as in COCOeval (the 9th is 0.8999999999999999).
 */
export const IOU_THRESHOLDS: readonly number[] = Array.from({ length: 10 }, (_, i) => (i === 9 ? 0.95 : i * ((0.95 - 0.5) / 9) + 0.5));

/** COCOeval's area ranges on the GT `area` field, inclusive at both ends. */
export const AREA_RANGES: readonly { label: 'all' | 'small' | 'medium' | 'large'; lo: number; hi: number }[] = [
  { label: 'all', lo: 0, hi: 1e10 },
  { label: 'small', lo: 0, hi: 32 ** 2 },
  { label: 'medium', lo: 32 ** 2, hi: 96 ** 2 },
  { label: 'large', lo: 96 ** 2, hi: 1e10 },
];

const DEFAULT_MAX_DETS = [10, 100, 1000];

/**
 * np.mean's float64 sum (pairwise summation with 8 accumulators) divided by n, so that AR is
 * bit-identical to COCOeval.summarize's np.mean(s[s > -1]).
 */
function numpyMean(a: number[]): number {
  const sum = (lo: number, n: number): number => {
    if (n < 8) {
      let s = 0;
      for (let i = lo; i < lo + n; i++) s += a[i]!;
      return s;
    }
    if (n <= 128) {
      const r = a.slice(lo, lo + 8);
      let i = 8;
      for (; i < n - (n % 8); i += 8) for (let j = 0; j < 8; j++) r[j] += a[lo + i + j]!;
      let s = r[0]! + r[1]! + (r[2]! + r[3]!) + (r[4]! + r[5]! + (r[6]! + r[7]!));
      for (; i < n; i++) s += a[lo + i]!;
      return s;
    }
    let n2 = Math.floor(n / 2);
    n2 -= n2 % 8;
    return sum(lo, n2) + sum(lo + n2, n - n2);
  };
  return sum(0, a.length) / a.length;
}

/** summarize's AR for one area range and maxDets index: the mean over thresholds with recall > -1, else -1. */
function meanRecall(recall: number[][][], a: number, mi: number): number {
  const vals = recall.map((r) => r[a]![mi]!).filter((v) => v > -1);
  return vals.length === 0 ? -1 : numpyMean(vals);
}

/** Stable argsort by key ascending (COCOeval's np.argsort(..., kind='mergesort')). */
function stableOrder(n: number, key: (i: number) => number): number[] {
  const idx = Array.from({ length: n }, (_, i) => i);
  return idx.sort((a, b) => key(a) - key(b) || a - b);
}

function where(kind: string, i: number, id: number | undefined, msg: string): Error {
  return new Error(`${kind} ${i}${id !== undefined ? ` (id ${id})` : ''}: ${msg}`);
}

function detectionRle(d: Detection, di: number, img: ImageInfo): RLE {
  if (d.segmentation) {
    const s = d.segmentation;
    if (!Array.isArray(s.size) || s.size[0] !== img.height || s.size[1] !== img.width) {
      throw where(
        'detection',
        di,
        undefined,
        `segmentation size ${JSON.stringify(s.size)} does not match image ${img.id} [${img.height}, ${img.width}] (size is [h, w])`,
      );
    }
    try {
      return annToRle(s, img.height, img.width);
    } catch (e) {
      throw where('detection', di, undefined, (e as Error).message);
    }
  }
  // loadRes gives a box-only result the polygon of its box, which rasterises as frBbox does.
  if (d.bbox && d.bbox.length === 4) return frBbox(checkBox(d.bbox, di), img.height, img.width);
  throw where('detection', di, undefined, 'has neither a segmentation nor a 4-number bbox');
}

/** A detection's box: finite numbers, width and height not negative (COCOeval would score such a box 0 without a word). */
function checkBox(b: number[], di: number): number[] {
  if (!b.every((v) => typeof v === 'number' && Number.isFinite(v)) || b[2]! < 0 || b[3]! < 0)
    throw where('detection', di, undefined, `bbox [x, y, w, h] needs finite numbers and w, h >= 0, got [${b.join(', ')}]`);
  return b;
}

function detectionBox(d: Detection, di: number, img: ImageInfo): number[] {
  if (d.bbox && d.bbox.length > 0) {
    if (d.bbox.length !== 4) throw where('detection', di, undefined, `bbox must have 4 numbers [x, y, w, h], got ${d.bbox.length}`);
    return checkBox(d.bbox, di);
  }
  // loadRes derives the box of a mask-only result with toBbox.
  if (d.segmentation) return toBbox(detectionRle(d, di, img));
  throw where('detection', di, undefined, 'has neither a bbox nor a segmentation');
}

interface PreparedGt {
  ann: GtAnnotation;
  index: number;
  crowd: boolean;
}

/**
 * COCOeval.evaluate + accumulate + the AR part of summarize, class-agnostic. Per image, GT and
 * detections of all categories are pooled; detections are stably sorted by descending score and
 * cut to the largest maxDet; matching is greedy per threshold, and the smaller maxDets use the
 * prefix of those matches (exactly what accumulate's slicing does).
 * One deliberate difference: COCOeval with useCats = 0 still silently drops detections whose
 * category_id no GT has; here every detection counts, category_id only orders the pooling.
 */
export function evaluate(images: ImageInfo[], gts: GtAnnotation[], dts: Detection[], opts: EvalOptions): EvalResult {
  const iouType = opts.iouType;
  if (iouType !== 'segm' && iouType !== 'bbox') throw new Error(`iouType must be 'segm' or 'bbox', got ${String(iouType)}`);
  // COCOeval sorts maxDets and matches with the largest.
  const maxDets = (opts.maxDets ?? DEFAULT_MAX_DETS).slice().sort((a, b) => a - b);
  if (maxDets.length === 0) throw new Error('maxDets is empty');
  for (const m of maxDets) if (!Number.isInteger(m) || m < 1) throw new Error(`maxDets entries must be positive integers, got ${m}`);
  const maxDet = maxDets[maxDets.length - 1]!;

  const imageById = new Map<number, ImageInfo>();
  for (const img of images) imageById.set(img.id, img);
  const imgIds = [...new Set(opts.imgIds ?? images.map((i) => i.id))].sort((a, b) => a - b);
  const evalSet = new Set(imgIds);

  const gtByImage = new Map<number, PreparedGt[]>();
  gts.forEach((ann, index) => {
    if (!evalSet.has(ann.image_id)) return;
    let list = gtByImage.get(ann.image_id);
    if (!list) gtByImage.set(ann.image_id, (list = []));
    list.push({ ann, index, crowd: ann.iscrowd === 1 || ann.iscrowd === true });
  });
  const dtByImage = new Map<number, { d: Detection; index: number }[]>();
  dts.forEach((d, index) => {
    // loadRes refuses results for images that are not in the ground-truth set.
    if (!imageById.has(d.image_id)) throw where('detection', index, undefined, `image_id ${d.image_id} is not among the ground-truth images`);
    if (!evalSet.has(d.image_id)) return;
    if (typeof d.score !== 'number' || Number.isNaN(d.score)) throw where('detection', index, undefined, `score is ${d.score}, not a number`);
    let list = dtByImage.get(d.image_id);
    if (!list) dtByImage.set(d.image_id, (list = []));
    list.push({ d, index });
  });

  const T = IOU_THRESHOLDS.length,
    A = AREA_RANGES.length,
    M = maxDets.length;
  const tp = new Float64Array(T * A * M);
  const npig = new Float64Array(A);
  let anyImage = false;

  for (const imgId of imgIds) {
    // Pooled as COCOeval does with useCats = 0: category by category (ascending id), input order within.
    const gtList = (gtByImage.get(imgId) ?? []).slice().sort((a, b) => (a.ann.category_id ?? 0) - (b.ann.category_id ?? 0) || a.index - b.index);
    const dtPooled = (dtByImage.get(imgId) ?? []).slice().sort((a, b) => (a.d.category_id ?? 0) - (b.d.category_id ?? 0) || a.index - b.index);
    if (gtList.length === 0 && dtPooled.length === 0) continue; // evaluateImg returns None
    anyImage = true;
    const dtOrder = stableOrder(dtPooled.length, (i) => -dtPooled[i]!.d.score).slice(0, maxDet);
    const dtList = dtOrder.map((i) => dtPooled[i]!);
    const G = gtList.length,
      D = dtList.length;
    const crowd = gtList.map((g) => g.crowd);

    let ious: number[][] = [];
    if (G > 0 && D > 0) {
      const img = imageById.get(imgId);
      if (!img) throw new Error(`image ${imgId} has annotations but is not in the image list`);
      if (iouType === 'segm') {
        const g = gtList.map(({ ann, index }) => {
          try {
            return annToRle(ann.segmentation, img.height, img.width);
          } catch (e) {
            throw where('ground-truth annotation', index, ann.id, (e as Error).message);
          }
        });
        ious = rleIou(
          dtList.map(({ d, index }) => detectionRle(d, index, img)),
          g,
          crowd,
        );
      } else {
        const g = gtList.map(({ ann, index }) => {
          if (!Array.isArray(ann.bbox) || ann.bbox.length !== 4) throw where('ground-truth annotation', index, ann.id, 'bbox must have 4 numbers [x, y, w, h]');
          return ann.bbox;
        });
        ious = bboxIou(
          dtList.map(({ d, index }) => detectionBox(d, index, img)),
          g,
          crowd,
        );
      }
    }
    // The best IoU of each detection lets hopeless detections skip the GT loop (no change in result).
    const bestIou = ious.map((row) => row.reduce((a, b) => Math.max(a, b), -Infinity));

    for (let a = 0; a < A; a++) {
      const { lo, hi } = AREA_RANGES[a]!;
      const ignore = gtList.map((g) => g.crowd || g.ann.area < lo || g.ann.area > hi);
      for (const ig of ignore) if (!ig) npig[a]!++;
      if (D === 0 || G === 0) continue;
      // GTs sorted with ignored ones last, so a detection prefers a regular GT.
      const order = stableOrder(G, (i) => (ignore[i] ? 1 : 0));
      const gIg = order.map((i) => ignore[i]!);
      const gCrowd = order.map((i) => crowd[i]!);
      const gId = order.map((i) => gtList[i]!.ann.id);
      const cum = new Int32Array(D + 1);
      for (let t = 0; t < T; t++) {
        const thr = IOU_THRESHOLDS[t]!;
        const gtMatched = new Uint8Array(G);
        for (let d = 0; d < D; d++) {
          let best = Math.min(thr, 1 - 1e-10);
          let m = -1;
          if (bestIou[d]! >= best) {
            const row = ious[d]!;
            for (let gi = 0; gi < G; gi++) {
              if (gtMatched[gi] && !gCrowd[gi]) continue;
              if (m > -1 && !gIg[m] && gIg[gi]) break;
              const v = row[order[gi]!]!;
              if (v < best) continue;
              best = v;
              m = gi;
            }
          }
          // A true positive is matched to a non-ignored GT. COCOeval stores the GT id as the match,
          // so a GT whose id is 0 never counts as matched: kept for identical numbers.
          const isTp = m > -1 && !gIg[m] && gId[m] !== 0;
          if (m > -1) gtMatched[m] = 1;
          cum[d + 1] = cum[d]! + (isTp ? 1 : 0);
        }
        for (let mi = 0; mi < M; mi++) tp[(t * A + a) * M + mi] += cum[Math.min(maxDets[mi]!, D)]!;
      }
    }
  }

  // accumulate: recall = (true positives among each image's top maxDet) / npig, -1 where no
  // image took part or no GT is regular. (Unmatched detections outside the area range are
  // ignored by COCOeval too, which only changes precision, not recall.)
  const recall: number[][][] = [];
  for (let t = 0; t < T; t++) {
    const rt: number[][] = [];
    for (let a = 0; a < A; a++) {
      const ra: number[] = [];
      for (let mi = 0; mi < M; mi++) ra.push(!anyImage || npig[a] === 0 ? -1 : tp[(t * A + a) * M + mi]! / npig[a]!);
      rt.push(ra);
    }
    recall.push(rt);
  }

  const AR: Record<string, number> = {};
  maxDets.forEach((m, mi) => (AR[`AR@${m}`] = meanRecall(recall, 0, mi)));
  const last = M - 1;
  for (let a = 1; a < A; a++) AR[`AR_${AREA_RANGES[a]!.label}@${maxDets[last]}`] = meanRecall(recall, a, last);
  return { iouType, maxDets, iouThresholds: IOU_THRESHOLDS.slice(), recall, AR };
}

/**
 * Area under the AR-vs-proposals curve. The official code has no rule for it, so we
 * take the reading the papers' numbers agree with: x = log10(N) over 1..1000 proposals, area
 * normalised to [0, 1]. AR(N) is a step function of the integer N, so we sample it at
 * N_i = round(10^(3i/K)), i = 0..K (K = 60, 20 samples a decade) and return the mean over all
 * K+1 samples; repeated N at the low end are kept in the mean so that each sample stands for the
 * same width of log N, and each distinct N is evaluated once, in a single matching pass. `counts`
 * replaces the grid (mean over the given N). `area` picks AUC_S / AUC_M / AUC_L. Returns -1
 * where there is no regular GT.
 */
export function arAuc(
  images: ImageInfo[],
  gts: GtAnnotation[],
  dts: Detection[],
  opts: { iouType: 'segm' | 'bbox'; counts?: number[]; imgIds?: number[]; area?: 'all' | 'small' | 'medium' | 'large' },
): number {
  const K = 60;
  const grid = opts.counts ?? Array.from({ length: K + 1 }, (_, i) => Math.round(10 ** ((3 * i) / K)));
  if (grid.length === 0) throw new Error('arAuc: counts is empty');
  const distinct = [...new Set(grid)].sort((a, b) => a - b);
  const res = evaluate(images, gts, dts, { iouType: opts.iouType, maxDets: distinct, ...(opts.imgIds ? { imgIds: opts.imgIds } : {}) });
  const a = AREA_RANGES.findIndex((r) => r.label === (opts.area ?? 'all'));
  if (a < 0) throw new Error(`arAuc: unknown area ${String(opts.area)}`);
  const arAt = new Map<number, number>();
  distinct.forEach((n, mi) => arAt.set(n, meanRecall(res.recall, a, mi)));
  if (arAt.get(distinct[0]!) === -1) return -1;
  return grid.reduce((s, n) => s + arAt.get(n)!, 0) / grid.length;
}

/** A text table of the AR figures, one row per result; '-' where there is no GT. */
export function formatTable(results: EvalResult[]): string {
  const keys: string[] = [];
  for (const r of results) for (const k of Object.keys(r.AR)) if (!keys.includes(k)) keys.push(k);
  const header = ['iouType', ...keys];
  const rows = results.map((r) => [r.iouType, ...keys.map((k) => (k in r.AR ? (r.AR[k]! < 0 ? '-' : r.AR[k]!.toFixed(3)) : ''))]);
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((row) => row[c]!.length)));
  const line = (cells: string[]) => cells.map((s, c) => (c === 0 ? s.padEnd(widths[c]!) : s.padStart(widths[c]!))).join('  ');
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}
