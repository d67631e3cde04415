// COCO run-length encoded masks with the exact semantics of cocoapi's common/maskApi.c and the
// Python wrapper's conversions (cocoapi's common/maskApi.c and PythonAPI/pycocotools/_mask.pyx). GT masks and COCO AR depend on
// these bit-for-bit, so the algorithms (quirks included) follow the C code step by step.
//
// An RLE is column-major: pixel (x, y) of an h×w mask sits at x·h + y, and `counts` alternate
// runs of 0s and 1s, starting with a (possibly empty) run of 0s.

export interface RLE {
  h: number;
  w: number;
  counts: number[];
}

/** A COCO annotation's `segmentation`: polygons, or an RLE whose counts are uncompressed (array) or compressed (string). */
export type Segmentation = number[][] | { size: [number, number]; counts: number[] | string };

function checkSize(h: number, w: number): void {
  if (!Number.isInteger(h) || !Number.isInteger(w) || h < 0 || w < 0) throw new Error(`mask size must be non-negative integers, got h=${h}, w=${w}`);
}

/** Throws unless counts are non-negative integers summing to h·w. */
export function checkRle(rle: RLE): void {
  checkSize(rle.h, rle.w);
  if (!Array.isArray(rle.counts)) throw new Error('RLE counts must be an array of run lengths');
  let sum = 0;
  for (let i = 0; i < rle.counts.length; i++) {
    const c = rle.counts[i]!;
    if (!Number.isInteger(c) || c < 0) throw new Error(`RLE count ${i} is ${c}, not a non-negative integer`);
    sum += c;
  }
  if (sum !== rle.h * rle.w) throw new Error(`RLE counts sum to ${sum}, expected h*w = ${rle.h}*${rle.w} = ${rle.h * rle.w}`);
}

/** rleEncode over a ROW-MAJOR mask (index y·w + x; nonzero = on), read in column-major order. */
export function encodeMask(mask: Uint8Array, h: number, w: number): RLE {
  checkSize(h, w);
  if (mask.length !== h * w) throw new Error(`mask has ${mask.length} pixels, expected h*w = ${h}*${w} = ${h * w}`);
  const counts: number[] = [];
  let prev = 0,
    run = 0;
  for (let x = 0; x < w; x++) {
    for (let y = 0; y < h; y++) {
      const v = mask[y * w + x]! !== 0 ? 1 : 0;
      if (v !== prev) {
        counts.push(run);
        run = 0;
        prev = v;
      }
      run++;
    }
  }
  counts.push(run);
  return { h, w, counts };
}

/** rleDecode, returned ROW-MAJOR (index y·w + x) as 0/1. */
export function decodeMask(rle: RLE): Uint8Array {
  checkRle(rle);
  const { h, w, counts } = rle;
  const out = new Uint8Array(h * w);
  let p = 0,
    v = 0;
  for (const c of counts) {
    if (v) {
      for (let k = p; k < p + c; k++) out[(k % h) * w + Math.floor(k / h)] = 1;
    }
    p += c;
    v ^= 1;
  }
  return out;
}

/**
 * rleToString: counts from the 4th on are stored as deltas against the count two back (same
 * parity), then each value goes out as 5-bit groups, least significant first, with 0x20 = "more"
 * and sign taken from bit 0x10 of the last group; chars are 48 + group.
 */
export function countsToString(counts: number[]): string {
  let s = '';
  for (let i = 0; i < counts.length; i++) {
    let x = counts[i]!;
    if (!Number.isInteger(x) || x < 0) throw new Error(`RLE count ${i} is ${x}, not a non-negative integer`);
    if (i > 2) x -= counts[i - 2]!;
    let more = true;
    while (more) {
      // x & 0x1f and x >> 5 as two's complement, without 32-bit truncation.
      let c = x - Math.floor(x / 32) * 32;
      x = Math.floor(x / 32);
      more = c & 0x10 ? x !== -1 : x !== 0;
      if (more) c |= 0x20;
      s += String.fromCharCode(c + 48);
    }
  }
  return s;
}

/** rleFrString: the inverse of countsToString. */
export function countsFromString(s: string): number[] {
  if (typeof s !== 'string') throw new Error('compressed RLE counts must be a string');
  const counts: number[] = [];
  const n = s.length;
  let p = 0;
  while (p < n) {
    const start = p;
    let x = 0,
      mul = 1,
      c: number;
    do {
      if (p >= n) throw new Error(`compressed RLE string ends inside a value (from character ${start})`);
      c = s.charCodeAt(p) - 48;
      if (c < 0 || c > 63) throw new Error(`compressed RLE string has character ${JSON.stringify(s[p])} at ${p}, outside '0'..'o'`);
      p++;
      x += (c & 0x1f) * mul; // x |= (c & 0x1f) << 5k, without 32-bit truncation
      mul *= 32;
    } while (c & 0x20);
    if (c & 0x10) x -= mul; // sign-extend from the last group
    const m = counts.length;
    if (m > 2) x += counts[m - 2]!;
    if (x < 0) throw new Error(`compressed RLE string decodes to a negative count (${x}) at value ${m}`);
    counts.push(x);
  }
  return counts;
}

/**
 * rleFrPoly: rasterises one polygon [x0,y0,x1,y1,...] exactly as cocoapi does: trace the closed
 * outline on a 5× upsampled grid, keep the crossings of pixel-column centres, and turn the sorted
 * column-major boundary positions into run lengths. (int) casts in C truncate toward zero, hence
 * Math.trunc.
 */
export function frPoly(xy: number[], h: number, w: number): RLE {
  checkSize(h, w);
  if (xy.length % 2 !== 0) throw new Error(`polygon has an odd number of coordinates (${xy.length})`);
  const k = xy.length / 2;
  if (k === 0) throw new Error('polygon has no points');
  for (let i = 0; i < xy.length; i++) if (!Number.isFinite(xy[i])) throw new Error(`polygon coordinate ${i} is ${xy[i]}, not a finite number`);
  const scale = 5;
  const x = new Array<number>(k + 1),
    y = new Array<number>(k + 1);
  for (let j = 0; j < k; j++) {
    x[j] = Math.trunc(scale * xy[2 * j]! + 0.5);
    y[j] = Math.trunc(scale * xy[2 * j + 1]! + 0.5);
  }
  x[k] = x[0]!;
  y[k] = y[0]!;
  // Dense boundary points (u, v) on the upsampled grid.
  const u: number[] = [],
    v: number[] = [];
  for (let j = 0; j < k; j++) {
    let xs = x[j]!,
      xe = x[j + 1]!,
      ys = y[j]!,
      ye = y[j + 1]!;
    const dx = Math.abs(xe - xs),
      dy = Math.abs(ys - ye);
    const flip = (dx >= dy && xs > xe) || (dx < dy && ys > ye);
    if (flip) {
      [xs, xe] = [xe, xs];
      [ys, ye] = [ye, ys];
    }
    // A repeated vertex gives 0/0 = NaN here, as in C; its point never sits at a column change.
    const s = dx >= dy ? (ye - ys) / dx : (xe - xs) / dy;
    if (dx >= dy) {
      for (let d = 0; d <= dx; d++) {
        const t = flip ? dx - d : d;
        u.push(t + xs);
        v.push(Math.trunc(ys + s * t + 0.5));
      }
    } else {
      for (let d = 0; d <= dy; d++) {
        const t = flip ? dy - d : d;
        v.push(t + ys);
        u.push(Math.trunc(xs + s * t + 0.5));
      }
    }
  }
  // Where x changes, map back to pixel columns; keep only exact column centres inside the image.
  const pos: number[] = [];
  for (let j = 1; j < u.length; j++) {
    if (u[j] === u[j - 1]) continue;
    let xd = u[j]! < u[j - 1]! ? u[j]! : u[j]! - 1;
    xd = (xd + 0.5) / scale - 0.5;
    if (Math.floor(xd) !== xd || xd < 0 || xd > w - 1) continue;
    let yd = v[j]! < v[j - 1]! ? v[j]! : v[j - 1]!;
    yd = (yd + 0.5) / scale - 0.5;
    if (yd < 0) yd = 0;
    else if (yd > h) yd = h;
    yd = Math.ceil(yd);
    pos.push(xd * h + yd);
  }
  pos.push(h * w);
  const a = Float64Array.from(pos).sort();
  let prev = 0;
  for (let j = 0; j < a.length; j++) {
    const t = a[j]!;
    a[j] = t - prev;
    prev = t;
  }
  // Two boundary points at one position cancel: fold a zero-length run into its neighbours.
  const counts: number[] = [a[0]!];
  let j = 1;
  while (j < a.length) {
    if (a[j]! > 0) counts.push(a[j++]!);
    else {
      j++;
      if (j < a.length) counts[counts.length - 1] += a[j++]!;
    }
  }
  return { h, w, counts };
}

/** rleFrBbox: the box [x, y, w, h] rasterised as the polygon of its four corners. */
export function frBbox(bbox: [number, number, number, number] | number[], h: number, w: number): RLE {
  if (bbox.length !== 4) throw new Error(`bbox must have 4 numbers [x, y, w, h], got ${bbox.length}`);
  const xs = bbox[0]!,
    ys = bbox[1]!,
    xe = xs + bbox[2]!,
    ye = ys + bbox[3]!;
  return frPoly([xs, ys, xs, ye, xe, ye, xe, ys], h, w);
}

/**
 * Walks the run lists of two masks of one size together: visit(length, a, b) for each stretch in
 * which neither mask changes value (a and b are 0 or 1), in order.
 */
function walkRuns(A: readonly number[], B: readonly number[], visit: (c: number, a: number, b: number) => void): void {
  let ca = A[0] ?? 0,
    cb = B[0] ?? 0,
    va = 0,
    vb = 0,
    a = 1,
    b = 1,
    ct = 1;
  while (ct > 0) {
    const c = Math.min(ca, cb);
    visit(c, va, vb);
    ca -= c;
    if (!ca && a < A.length) {
      ca = A[a++]!;
      va ^= 1;
    }
    cb -= c;
    if (!cb && b < B.length) {
      cb = B[b++]!;
      vb ^= 1;
    }
    ct = ca + cb;
  }
}

/** rleMerge: union (default) or intersection of same-size masks, walking the run lists together. */
export function merge(rles: RLE[], intersect = false): RLE {
  if (rles.length === 0) return { h: 0, w: 0, counts: [] };
  const { h, w } = rles[0]!;
  if (rles.length === 1) return { h, w, counts: rles[0]!.counts.slice() };
  let cnts = rles[0]!.counts;
  for (let i = 1; i < rles.length; i++) {
    const B = rles[i]!;
    if (B.h !== h || B.w !== w) throw new Error(`cannot merge masks of different sizes: ${h}x${w} and ${B.h}x${B.w} (h x w)`);
    const out: number[] = [];
    let v = 0,
      cc = 0;
    walkRuns(cnts, B.counts, (c, va, vb) => {
      const u = intersect ? va & vb : va | vb;
      if (u !== v) {
        out.push(cc);
        cc = 0;
        v = u;
      }
      cc += c;
    });
    out.push(cc);
    cnts = out;
  }
  return { h, w, counts: cnts };
}

/** Whether pixel (x, y) is set (runs go down columns); false outside the mask. */
export function contains(rle: Pick<RLE, 'counts' | 'h' | 'w'>, x: number, y: number): boolean {
  if (x < 0 || y < 0 || x >= rle.w || y >= rle.h) return false;
  const target = x * rle.h + y;
  let p = 0;
  for (let i = 0; i < rle.counts.length; i++) {
    p += rle.counts[i]!;
    if (target < p) return i % 2 === 1;
  }
  return false;
}

/** The number of on pixels (maskApi's rleArea). */
export function area(rle: RLE): number {
  let a = 0;
  for (let j = 1; j < rle.counts.length; j += 2) a += rle.counts[j]!;
  return a;
}

/**
 * rleToBbox: [x, y, w, h] over the on pixels; [0, 0, 0, 0] when empty. cocoapi quirk kept: a run
 * of 1s that continues into the next column makes the box span the full height.
 */
export function toBbox(rle: RLE): [number, number, number, number] {
  const { h, w, counts } = rle;
  const m = Math.floor(counts.length / 2) * 2;
  if (m === 0) return [0, 0, 0, 0];
  let xs = w,
    ys = h,
    xe = 0,
    ye = 0,
    cc = 0,
    xp = 0;
  for (let j = 0; j < m; j++) {
    cc += counts[j]!;
    const t = cc - (j % 2); // first pixel of a 1-run, or last pixel of it
    const y = t % h,
      x = (t - y) / h;
    if (j % 2 === 0) xp = x;
    else if (xp < x) {
      ys = 0;
      ye = h - 1;
    }
    xs = Math.min(xs, x);
    xe = Math.max(xe, x);
    ys = Math.min(ys, y);
    ye = Math.max(ye, y);
  }
  return [xs, ys, xe - xs + 1, ye - ys + 1];
}

/** bbIou over [x, y, w, h] boxes: [dt.length][gt.length]; for a crowd GT the union is the detection's area. */
export function bboxIou(dt: number[][], gt: number[][], iscrowd: boolean[]): number[][] {
  if (iscrowd.length !== gt.length) throw new Error(`iscrowd has ${iscrowd.length} entries for ${gt.length} ground-truth boxes`);
  for (const [name, list] of [
    ['dt', dt],
    ['gt', gt],
  ] as const) {
    list.forEach((b, i) => {
      if (b.length !== 4) throw new Error(`${name} box ${i} must have 4 numbers [x, y, w, h], got ${b.length}`);
    });
  }
  const o: number[][] = dt.map(() => new Array<number>(gt.length).fill(0));
  for (let g = 0; g < gt.length; g++) {
    const G = gt[g]!;
    const ga = G[2]! * G[3]!;
    for (let d = 0; d < dt.length; d++) {
      const D = dt[d]!;
      const da = D[2]! * D[3]!;
      const iw = Math.min(D[2]! + D[0]!, G[2]! + G[0]!) - Math.max(D[0]!, G[0]!);
      if (iw <= 0) continue;
      const ih = Math.min(D[3]! + D[1]!, G[3]! + G[1]!) - Math.max(D[1]!, G[1]!);
      if (ih <= 0) continue;
      const i = iw * ih;
      o[d]![g] = i / (iscrowd[g] ? da : da + ga - i);
    }
  }
  return o;
}

/**
 * rleIou: [dt.length][gt.length]. Pairs whose toBbox boxes do not overlap are 0 without walking
 * the runs (the box quirk of toBbox therefore matters); masks of different sizes give -1; a crowd
 * GT's union is the detection's area.
 */
export function iou(dt: RLE[], gt: RLE[], iscrowd: boolean[]): number[][] {
  if (iscrowd.length !== gt.length) throw new Error(`iscrowd has ${iscrowd.length} entries for ${gt.length} ground-truth masks`);
  const o = bboxIou(dt.map(toBbox), gt.map(toBbox), iscrowd);
  for (let g = 0; g < gt.length; g++) {
    const G = gt[g]!;
    for (let d = 0; d < dt.length; d++) {
      if (!(o[d]![g]! > 0)) continue;
      const D = dt[d]!;
      if (D.h !== G.h || D.w !== G.w) {
        o[d]![g] = -1;
        continue;
      }
      let inter = 0,
        uni = 0;
      walkRuns(D.counts, G.counts, (c, va, vb) => {
        if (va | vb) uni += c;
        if (va & vb) inter += c;
      });
      if (inter === 0) uni = 1;
      else if (iscrowd[g]) uni = area(D);
      o[d]![g] = inter / uni;
    }
  }
  return o;
}

/**
 * COCO.annToRLE: polygons are rasterised one by one and unioned; an uncompressed RLE (counts
 * array, used for crowds) or a compressed one (counts string) is taken as is. Unlike cocoapi, an
 * RLE whose size differs from the image's is an error rather than a silent IoU of -1.
 */
export function annToRle(seg: Segmentation, h: number, w: number): RLE {
  checkSize(h, w);
  if (Array.isArray(seg)) {
    if (seg.length === 0) throw new Error('segmentation is an empty polygon list');
    seg.forEach((p, i) => {
      if (!Array.isArray(p)) throw new Error(`segmentation polygon ${i} is not an array of coordinates`);
    });
    const first = seg[0]!.length;
    // pycocotools' frPyObjects decides by the first entry: exactly 4 numbers means the list holds
    // [x, y, w, h] boxes, not polygons. Kept because GT areas and IoUs depend on it.
    if (first === 4) {
      seg.forEach((p, i) => {
        if (p.length !== 4)
          throw new Error(`segmentation list starts with a 4-number entry (read as a box, as pycocotools does) but entry ${i} has ${p.length} numbers`);
      });
      return merge(seg.map((b) => frBbox(b, h, w)));
    }
    if (first < 4) throw new Error(`segmentation polygon 0 has ${first} coordinates; a polygon needs at least 3 points`);
    return merge(
      seg.map((p, i) => {
        try {
          return frPoly(p, h, w);
        } catch (e) {
          throw new Error(`segmentation polygon ${i}: ${(e as Error).message}`);
        }
      }),
    );
  }
  if (seg === null || typeof seg !== 'object' || !('counts' in seg) || !('size' in seg)) {
    throw new Error('segmentation must be a polygon list or an RLE object {size, counts}');
  }
  const size = seg.size;
  if (!Array.isArray(size) || size.length !== 2) throw new Error('RLE size must be [h, w]');
  if (size[0] !== h || size[1] !== w) throw new Error(`RLE size [${size[0]}, ${size[1]}] does not match the image size [${h}, ${w}] (size is [h, w])`);
  const counts = typeof seg.counts === 'string' ? countsFromString(seg.counts) : Array.isArray(seg.counts) ? seg.counts.slice() : null;
  if (counts === null) throw new Error('RLE counts must be a string (compressed) or an array (uncompressed)');
  const rle = { h, w, counts };
  checkRle(rle);
  return rle;
}

/** The JSON form COCO uses: size is [h, w] and counts are compressed. */
export function toCocoRle(rle: RLE): { size: [number, number]; counts: string } {
  return { size: [rle.h, rle.w], counts: countsToString(rle.counts) };
}
