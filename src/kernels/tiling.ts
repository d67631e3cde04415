// Register-blocking geometry shared by the GEMM-shaped kernels (matmul.wgsl, conv2d.wgsl): a lane
// computes ROWS rows x COLS columns; lanes go along the columns first, and when the columns are
// too few for a full workgroup the remaining lanes take further row groups instead of idling.
import { ceilDiv } from '../gpu/kernel.js';

export const ROWS = 16; // R in the shaders
export const COLS = 8; // 4 * C in the shaders

export interface Lanes {
  /** Lanes per workgroup (the WG override). */
  WG: number;
  /** Lanes along the columns (COL_LANES); WG / COL_LANES lanes go along the rows. */
  COL_LANES: number;
}

/** Enough column lanes for `cols` (a power of two up to 64), at least 8 lanes in all. */
export function lanesFor(cols: number): Lanes {
  const colLanes = Math.min(64, 2 ** Math.ceil(Math.log2(Math.max(1, Math.ceil(cols / COLS)))));
  return { WG: Math.max(colLanes, 8), COL_LANES: colLanes };
}

/** Workgroups covering a rows x cols output. */
export function tiles(rows: number, cols: number, l: Lanes): number {
  return ceilDiv(rows, ROWS * (l.WG / l.COL_LANES)) * ceilDiv(cols, COLS * l.COL_LANES);
}

/** The lane layout from a dispatch's override constants. */
export const lanesOf = (c: Record<string, number | boolean>): Lanes => ({ WG: Number(c.WG), COL_LANES: Number(c.COL_LANES) });
