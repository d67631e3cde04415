// Masks as polygons in COCO's format ([[x1, y1, x2, y2, ...], ...], pixel corners on integers, as
// frPoly rasterises them): the boundary between set and unset pixels traced exactly along pixel
// edges, then simplified by Douglas–Peucker to a vertex budget. COCO unites a mask's polygons, so
// they cannot carve holes: each 4-connected component gives its outer boundary, holes are filled
// (the RLE beside the polygons keeps them).
import { decodeMask, type RLE } from './rle.js';

export interface PolygonOptions {
  /** Most vertices over all of a mask's polygons (default 64); at least 3. */
  maxVertices?: number;
  /** Douglas–Peucker tolerance in pixels before the budget is applied (default 1). */
  tolerance?: number;
  /** Components with fewer pixels inside their outline are dropped (default 4). */
  minArea?: number;
}

type Ring = number[]; // x0, y0, x1, y1, ... (closed implicitly)

/**
 * The outer boundaries of a row-major mask (nonzero = set), 4-connected, as closed rings of pixel
 * corners, clockwise on screen (y down), each with the area it encloses; largest first.
 */
export function traceOutlines(mask: ArrayLike<number>, width: number, height: number): { ring: Ring; area: number }[] {
  const W1 = width + 1;
  const on = (x: number, y: number) => x >= 0 && y >= 0 && x < width && y < height && mask[y * width + x] !== 0;
  // Out-edges at each corner, as bits by direction (0 east, 1 south, 2 west, 3 north), each set pixel
  // contributing its sides that face an unset pixel, walked clockwise (the set pixel on the right).
  const out = new Uint8Array(W1 * (height + 1));
  let edges = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (!mask[y * width + x]) continue;
      if (!on(x, y - 1)) {
        out[y * W1 + x] |= 1; // top: (x, y) -> (x+1, y)
        edges++;
      }
      if (!on(x + 1, y)) {
        out[y * W1 + x + 1] |= 2; // right: (x+1, y) -> (x+1, y+1)
        edges++;
      }
      if (!on(x, y + 1)) {
        out[(y + 1) * W1 + x + 1] |= 4; // bottom: (x+1, y+1) -> (x, y+1)
        edges++;
      }
      if (!on(x - 1, y)) {
        out[(y + 1) * W1 + x] |= 8; // left: (x, y+1) -> (x, y)
        edges++;
      }
    }
  }
  const DX = [1, 0, -1, 0],
    DY = [0, 1, 0, -1];
  const rings: { ring: Ring; area: number }[] = [];
  for (let v0 = 0; v0 < out.length && edges > 0; v0++) {
    while (out[v0]) {
      const d0 = 31 - Math.clz32(out[v0]! & -out[v0]!); // lowest set direction
      let d = d0,
        v = v0;
      const ring: Ring = [];
      let twiceArea = 0;
      for (;;) {
        out[v] &= ~(1 << d);
        edges--;
        const x = v % W1,
          y = (v - x) / W1;
        const nx = x + DX[d]!,
          ny = y + DY[d]!;
        twiceArea += x * ny - nx * y;
        v = ny * W1 + nx;
        // The next edge: at a corner where two set pixels touch diagonally, turn right (stay on the
        // same pixel: 4-connected components, rings that never touch themselves). This successor is
        // a permutation of the edges, so the walk closes exactly on its first edge.
        const bits = out[v]! | (v === v0 ? 1 << d0 : 0);
        const right = (d + 1) & 3,
          left = (d + 3) & 3;
        const next = bits & (1 << right) ? right : bits & (1 << d) ? d : left;
        if (next !== d) ring.push(nx, ny); // a corner of the outline
        if (v === v0 && next === d0) break;
        if (!(bits & (1 << next))) throw new Error('traceOutlines: open boundary (internal error)');
        d = next;
      }
      // Clockwise on screen (y down) encloses a positive area: outer boundaries. Holes run the other way.
      if (twiceArea > 0) rings.push({ ring: dedupe(ring), area: twiceArea / 2 });
    }
  }
  return rings.sort((a, b) => b.area - a.area);
}

/** Drops collinear middle points that the corner rule may leave (the start corner). */
function dedupe(r: Ring): Ring {
  const n = r.length / 2,
    out: Ring = [];
  for (let i = 0; i < n; i++) {
    const [px, py] = [r[((i + n - 1) % n) * 2]!, r[((i + n - 1) % n) * 2 + 1]!];
    const [x, y] = [r[i * 2]!, r[i * 2 + 1]!];
    const [qx, qy] = [r[((i + 1) % n) * 2]!, r[((i + 1) % n) * 2 + 1]!];
    if ((x - px) * (qy - y) - (y - py) * (qx - x) !== 0) out.push(x, y);
  }
  return out;
}

/** Douglas–Peucker on a closed ring: split at the vertex farthest from the first, simplify both halves. */
export function simplifyRing(r: Ring, tolerance: number): Ring {
  const n = r.length / 2;
  if (n <= 3) return r.slice();
  let far = 0,
    fd = -1;
  for (let i = 1; i < n; i++) {
    const d = (r[i * 2]! - r[0]!) ** 2 + (r[i * 2 + 1]! - r[1]!) ** 2;
    if (d > fd) [fd, far] = [d, i];
  }
  const keep = new Uint8Array(n);
  keep[0] = keep[far] = 1;
  const t2 = tolerance * tolerance;
  const stack: [number, number][] = [
    [0, far],
    [far, n],
  ];
  while (stack.length) {
    const [a, b] = stack.pop()!;
    const ax = r[a * 2]!,
      ay = r[a * 2 + 1]!,
      bx = r[(b % n) * 2]!,
      by = r[(b % n) * 2 + 1]!;
    const dx = bx - ax,
      dy = by - ay,
      len2 = dx * dx + dy * dy;
    let best = -1,
      bd = -1;
    for (let i = a + 1; i < b; i++) {
      const px = r[i * 2]! - ax,
        py = r[i * 2 + 1]! - ay;
      const d2 = len2 > 0 ? (px * dy - py * dx) ** 2 / len2 : px * px + py * py;
      if (d2 > bd) [bd, best] = [d2, i];
    }
    if (best >= 0 && bd > t2) {
      keep[best] = 1;
      stack.push([a, best], [best, b]);
    }
  }
  const out: Ring = [];
  for (let i = 0; i < n; i++) if (keep[i]) out.push(r[i * 2]!, r[i * 2 + 1]!);
  return out;
}

/**
 * A row-major mask's polygons in COCO's format, largest first: each 4-connected component's outline
 * simplified with `tolerance`, then with a larger one (found by bisection) until all fit in
 * `maxVertices`; the smallest components are dropped when even 3 vertices each would not fit.
 */
export function maskToPolygons(mask: ArrayLike<number>, width: number, height: number, o: PolygonOptions = {}): number[][] {
  const budget = o.maxVertices ?? 64,
    tol = o.tolerance ?? 1,
    minArea = o.minArea ?? 4;
  if (!(Number.isInteger(budget) && budget >= 3)) throw new Error(`polygons: maxVertices must be an integer of at least 3, got ${budget}`);
  if (!(tol >= 0)) throw new Error(`polygons: tolerance must be >= 0 pixels, got ${tol}`);
  const outlines = traceOutlines(mask, width, height).filter((r) => r.area >= minArea);
  let rings = outlines.slice(0, Math.floor(budget / 3)).map((r) => r.ring);
  const simplify = (t: number) => rings.map((r) => simplifyRing(r, t)).filter((r) => r.length >= 6);
  const count = (rs: Ring[]) => rs.reduce((s, r) => s + r.length / 2, 0);
  let best = simplify(tol);
  if (count(best) > budget) {
    // Over budget: specks under 1% of the largest part's area go first (each costs at least 3
    // vertices that the large outlines use better), then the tolerance grows.
    const big = outlines[0]!.area / 100;
    rings = outlines
      .filter((r, i) => i === 0 || r.area >= big)
      .slice(0, Math.floor(budget / 3))
      .map((r) => r.ring);
    let lo = tol,
      hi = Math.max(tol, 1) * 2;
    while (count(simplify(hi)) > budget && hi < width + height) hi *= 2;
    for (let k = 0; k < 20 && hi - lo > 0.01; k++) {
      const mid = (lo + hi) / 2;
      if (count(simplify(mid)) > budget) lo = mid;
      else hi = mid;
    }
    best = simplify(hi);
    while (count(best) > budget) best.pop(); // the smallest outlines go first
  }
  return best;
}

/** An RLE mask's polygons (see maskToPolygons); only the mask's bounding box is traced. */
export function rleToPolygons(rle: RLE, o: PolygonOptions = {}): number[][] {
  const m = decodeMask(rle); // row-major
  const { h, w } = rle;
  let x0 = w,
    x1 = -1,
    y0 = h,
    y1 = -1;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (!m[y * w + x]) continue;
      if (x < x0) x0 = x;
      if (x > x1) x1 = x;
      if (y < y0) y0 = y;
      if (y > y1) y1 = y;
    }
  }
  if (x1 < 0) return [];
  const bw = x1 - x0 + 1,
    bh = y1 - y0 + 1;
  const rows = new Uint8Array(bw * bh);
  for (let y = 0; y < bh; y++) rows.set(m.subarray((y + y0) * w + x0, (y + y0) * w + x0 + bw), y * bw);
  return maskToPolygons(rows, bw, bh, o).map((p) => p.map((v, i) => v + (i % 2 ? y0 : x0)));
}
