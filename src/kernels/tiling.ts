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

/**
 * The lane layout for `cols` columns on a runtime. Where lanes share loads across a subgroup
 * (lavapipe), a workgroup runs as one SIMD row of the subgroup's width after another, so a wider one
 * adds nothing but a pipeline to compile (LLVM takes seconds for each): at most one subgroup there.
 */
export function lanesOn(rt: { shareLanes: number }, cols: number): Lanes {
  const lanes = lanesFor(cols),
    cap = rt.shareLanes;
  return cap > 0 && lanes.COL_LANES > cap ? { WG: cap, COL_LANES: cap } : lanes;
}

/**
 * A lane layout as a dispatch passes it: a wide layout (every lane on columns) is a pipeline of its
 * own (WG = COL_LANES: it may share loads, gemm.wgsl), while the narrow ones (1, 2 or 4 column lanes
 * of 8) share one pipeline (COL_LANES = 0) that reads the count from the uniform `colLanes`: each
 * pipeline is seconds of LLVM on lavapipe.
 */
export function laneArgs(l: Lanes): { constants: { WG: number; COL_LANES: number }; colLanes: number } {
  return { constants: { WG: l.WG, COL_LANES: l.COL_LANES === l.WG ? l.WG : 0 }, colLanes: l.COL_LANES };
}

/** The lane layout of a dispatch, from its WG constant and colLanes uniform. */
export const lanesOf = (c: Record<string, number | boolean>, p: { colLanes: number }): Lanes => ({ WG: Number(c.WG), COL_LANES: p.colLanes });
