import { kernel, ceilDiv, type Constants } from '../gpu/kernel.js';
import type { BufferView, Runtime } from '../gpu/runtime.js';

// Must match R and C in shaders/matmul.wgsl: rows per workgroup, columns per lane.
const ROWS = 16; // R in the shader
const COLS = 8;
/** Below this many workgroups a long K is split, so that every core or SM has work. */
const TARGET_WORKGROUPS = 64;
const MIN_K_PER_SPLIT = 256;

type MatmulParams = { M: number; N: number; K: number; kChunk: number; splits: number };

/** Lanes per workgroup along N: enough for N, a power of two in [8, 64]. */
const lanesFor = (N: number): number => Math.min(64, Math.max(8, 2 ** Math.ceil(Math.log2(Math.max(1, Math.ceil(N / COLS))))));
const tiles = (M: number, N: number, lanes: number): number => ceilDiv(M, ROWS) * ceilDiv(N, COLS * lanes);
const on = (c: Constants, k: string): boolean => c[k] === true;

const matmulKernel = kernel<MatmulParams>({
  shader: 'matmul',
  entry: 'matmul',
  workgroups: (p, c) => tiles(p.M, p.N, Number(c.WG)) * p.splits,
  sizes: (p, c) => ({ a: p.M * p.K, b: Math.ceil((p.K * p.N) / 4), bias: on(c, 'BIAS') ? p.N : 0, c: p.splits * p.M * p.N }),
});

const reduceKernel = kernel<{ n: number; cols: number; splits: number }>({
  shader: 'matmul',
  entry: 'reduce_splits',
  workgroups: (p) => ceilDiv(p.n, 64),
  sizes: (p, c) => ({ partial: p.splits * p.n, rbias: on(c, 'BIAS') ? p.cols : 0, out: p.n }),
});

export interface MatmulArgs {
  /** [M, K], or [K, M] with transA. */
  a: BufferView;
  /** [K, N], or [N, K] with transB. */
  b: BufferView;
  /** [M, N] output. */
  c: BufferView;
  /** Optional [N] bias added to every row. */
  bias?: BufferView;
  M: number;
  N: number;
  K: number;
  transA?: boolean;
  transB?: boolean;
  relu?: boolean;
}

/** C = op(A)·op(B) (+ bias) (ReLU). Long K with few output tiles is split and reduced deterministically. */
export function matmul(rt: Runtime, x: MatmulArgs): void {
  const { M, N, K } = x;
  const lanes = lanesFor(N);
  const t = tiles(M, N, lanes);
  let splits = 1;
  if (t < TARGET_WORKGROUPS && K >= 2 * MIN_K_PER_SPLIT) {
    const byBinding = Math.floor(rt.limits.maxBindingBytes / (4 * M * N));
    splits = Math.max(1, Math.min(Math.ceil(TARGET_WORKGROUPS / t), Math.floor(K / MIN_K_PER_SPLIT), byBinding));
  }
  const kChunk = ceilDiv(K, splits);
  splits = ceilDiv(K, kChunk);
  const shape = {
    TRANS_A: !!x.transA,
    TRANS_B: !!x.transB,
    VEC_B: !x.transB && N % 4 === 0,
    WG: lanes,
  };
  const params = { M, N, K, kChunk, splits };
  if (splits === 1) {
    const constants = { ...shape, BIAS: !!x.bias, RELU: !!x.relu };
    rt.run(matmulKernel, { params, bind: { a: x.a, b: x.b, bias: x.bias ?? rt.empty, c: x.c }, constants });
    return;
  }
  const bytes = splits * M * N * 4;
  const partial = { buffer: rt.alloc(bytes, 'matmul.partial'), offset: 0, size: bytes };
  rt.run(matmulKernel, { params, bind: { a: x.a, b: x.b, bias: rt.empty, c: partial }, constants: { ...shape, BIAS: false, RELU: false } });
  reduceSplits(rt, { partial, out: x.c, n: M * N, cols: N, splits, ...(x.bias ? { bias: x.bias } : {}), relu: x.relu });
  rt.free(partial.buffer);
}

/** out[i] = sum over s of partial[s, i] (+ bias[i % cols]) (ReLU), summed in split order. */
export function reduceSplits(rt: Runtime, a: { partial: BufferView; out: BufferView; n: number; cols: number; splits: number; bias?: BufferView; relu?: boolean }): void {
  rt.run(reduceKernel, {
    params: { n: a.n, cols: a.cols, splits: a.splits },
    bind: { partial: a.partial, rbias: a.bias ?? rt.empty, out: a.out },
    constants: { BIAS: !!a.bias, RELU: !!a.relu },
  });
}
