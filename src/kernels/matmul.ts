// Launcher for shaders/matmul.wgsl. Dense row-major operands; a problem whose operands exceed the
// storage binding limit runs as sub-problems over binding windows (rows of C, columns of a
// transposed B, or K ranges summed through partials), so a 205 MB fully connected weight works.
import { kernel, ceilDiv, type Constants } from '../gpu/kernel.js';
import type { BufferView, Runtime } from '../gpu/runtime.js';
import { laneArgs, lanesOf, lanesOn, tiles } from './tiling.js';

/** Below this many workgroups a long K is split, so that every core or SM has work. */
const TARGET_WORKGROUPS = 64;
const MIN_K_PER_SPLIT = 256;

type MatmulParams = {
  M: number;
  N: number;
  K: number;
  kChunk: number;
  splits: number;
  lda: number;
  ldb: number;
  ldc: number;
  aOff: number;
  bOff: number;
  cOff: number;
  biasOff: number;
  colLanes: number;
} & Epilogue;
type ReduceParams = { n: number; cols: number; splits: number; ldo: number; outOff: number; biasOff: number } & Epilogue;

/** What a GEMM store adds (uniforms of gemm.wgsl's epilogue): the bias, a ReLU and its upper clamp. */
export type Epilogue = { hasBias: number; relu: number; reluMax: number };
const F32_MAX = 3.40282e38;

/** The epilogue uniforms: a bias where given, a ReLU where asked, clamped at reluMax (6 for ReLU6; none by default). */
export const epilogue = (bias: boolean, relu: boolean | undefined, max?: number): Epilogue => ({
  hasBias: bias ? 1 : 0,
  relu: relu ? 1 : 0,
  reluMax: max ?? F32_MAX,
});

const on = (c: Constants, k: string): boolean => c[k] === true;

// Extents in elements of each operand as addressed by the kernel (offset + last element + 1).
const extentA = (p: MatmulParams, c: Constants) => p.aOff + (on(c, 'TRANS_A') ? (p.K - 1) * p.lda + p.M : (p.M - 1) * p.lda + p.K);
const extentB = (p: MatmulParams, c: Constants) => p.bOff + (on(c, 'TRANS_B') ? (p.N - 1) * p.ldb + p.K : (p.K - 1) * p.ldb + p.N);
const extentC = (p: MatmulParams) => (p.splits > 1 ? p.splits * p.M * p.N : p.cOff + (p.M - 1) * p.ldc + p.N);

const matmulKernel = kernel<MatmulParams>({
  shader: 'matmul',
  entry: 'matmul',
  workgroups: (p, c) => tiles(p.M, p.N, lanesOf(c, p)) * p.splits,
  sizes: (p, c) => ({
    a: extentA(p, c),
    b: on(c, 'HALF_B') ? 0 : ceilDiv(extentB(p, c), 4),
    bh: on(c, 'HALF_B') ? ceilDiv(extentB(p, c), 2) : 0,
    bias: p.hasBias ? p.biasOff + p.N : 0,
    c: extentC(p),
  }),
});

const reduceKernel = kernel<ReduceParams>({
  shader: 'matmul',
  entry: 'reduce_splits',
  workgroups: (p) => ceilDiv(p.n, 64),
  sizes: (p) => ({
    partial: p.splits * p.n,
    rbias: p.hasBias ? p.biasOff + p.cols : 0,
    out: p.outOff + (p.n / p.cols - 1) * p.ldo + p.cols,
  }),
});

export interface MatmulArgs {
  /** [M, K], or [K, M] with transA. */
  a: BufferView;
  /** [K, N], or [N, K] with transB. */
  b: BufferView;
  /** B holds IEEE halves packed two per word (inference weights); arithmetic stays f32. */
  halfB?: boolean;
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
  /** Upper clamp of the fused ReLU (6 for ReLU6). */
  reluMax?: number;
}

/** A window of a view from element `first` and its element offset inside; elements are 4 bytes, or 2 for packed halves. */
function window(rt: Runtime, v: BufferView, first: number, count: number, bytes = 4): { view: BufferView; off: number } {
  const { view, skip } = rt.subView(v, first * bytes, count * bytes);
  return { view, off: skip / bytes };
}

/** C = op(A)·op(B) (+ bias) (ReLU). */
export function matmul(rt: Runtime, x: MatmulArgs): void {
  const { M, N, K } = x;
  const tA = !!x.transA,
    tB = !!x.transB;
  const lda = tA ? M : K,
    ldb = tB ? K : N;
  const lim = Math.floor(rt.limits.maxBindingBytes / 4);
  // Piece sizes: halve M (rows of C and of a plain A), N (rows of a transposed B), K (rows of a plain
  // B or of a transposed A) until every window fits the binding limit, and with several K pieces,
  // until their partial sums do too.
  let mP = M,
    nP = N,
    kP = K;
  for (;;) {
    const kPieces = ceilDiv(K, kP);
    if (mP > 1 && (mP * N > lim || (!tA && mP * lda > lim) || (kPieces > 1 && kPieces * mP * nP > lim && mP >= nP))) mP = ceilDiv(mP, 2);
    else if (nP > 1 && ((tB && nP * ldb > lim) || (kPieces > 1 && kPieces * mP * nP > lim))) nP = ceilDiv(nP, 2);
    else if (kP > 1 && ((!tB && kP * ldb > lim) || (tA && kP * lda > lim))) kP = ceilDiv(kP, 2);
    else break;
  }
  const kPieces = ceilDiv(K, kP);
  if (kPieces * mP * nP > lim && kPieces > 1) throw new Error(`matmul ${M}x${K}·${K}x${N}: too large to split under the storage binding limit`);
  // Several K pieces write partial sums (scratch) that one more pass adds up per output block.
  const run = (partial: GPUBuffer | null) => {
    for (let m0 = 0; m0 < M; m0 += mP) {
      for (let n0 = 0; n0 < N; n0 += nP) {
        const m = Math.min(mP, M - m0),
          n = Math.min(nP, N - n0);
        for (let k0 = 0, s = 0; k0 < K; k0 += kP, s++) {
          const k = Math.min(kP, K - k0);
          const A = window(rt, x.a, tA ? k0 * lda + m0 : m0 * lda + k0, tA ? (k - 1) * lda + m : (m - 1) * lda + k);
          const B = window(rt, x.b, tB ? n0 * ldb + k0 : k0 * ldb + n0, tB ? (n - 1) * ldb + k : (k - 1) * ldb + n, x.halfB ? 2 : 4);
          const C = partial
            ? { view: { buffer: partial, offset: 0, size: kPieces * mP * nP * 4 }, off: s * m * n, ld: n }
            : { ...window(rt, x.c, m0 * N + n0, (m - 1) * N + n), ld: N };
          dispatch(rt, {
            M: m,
            N: n,
            K: k,
            A,
            B,
            C,
            lda,
            ldb,
            transA: tA,
            transB: tB,
            halfB: !!x.halfB,
            bias: partial ? undefined : x.bias && { ...window(rt, x.bias, n0, n) },
            relu: !partial && !!x.relu,
            reluMax: x.reluMax,
            allowSplitK: !partial,
          });
        }
        if (partial) {
          const out = window(rt, x.c, m0 * N + n0, (m - 1) * N + n);
          const bias = x.bias && window(rt, x.bias, n0, n);
          reduceSplits(rt, {
            partial: { buffer: partial, offset: 0, size: kPieces * m * n * 4 },
            out: out.view,
            n: m * n,
            cols: n,
            splits: kPieces,
            ldo: N,
            outOff: out.off,
            ...(bias ? { bias: bias.view, biasOff: bias.off } : {}),
            relu: x.relu,
            reluMax: x.reluMax,
          });
        }
      }
    }
  };
  if (kPieces === 1) run(null);
  else rt.scratch(kPieces * mP * nP * 4, 'matmul.kpieces', (v) => run(v.buffer));
}

interface Piece {
  M: number;
  N: number;
  K: number;
  A: { view: BufferView; off: number };
  B: { view: BufferView; off: number };
  C: { view: BufferView; off: number; ld: number };
  lda: number;
  ldb: number;
  transA: boolean;
  transB: boolean;
  halfB: boolean;
  bias: { view: BufferView; off: number } | undefined;
  relu: boolean;
  reluMax: number | undefined;
  allowSplitK: boolean;
}

/** One dispatch; a long K with few output tiles is split within it and reduced in a fixed order. */
function dispatch(rt: Runtime, q: Piece): void {
  const layout = lanesOn(rt, q.N),
    lanes = laneArgs(layout);
  const t = tiles(q.M, q.N, layout);
  let splits = 1;
  if (q.allowSplitK && t < TARGET_WORKGROUPS && q.K >= 2 * MIN_K_PER_SPLIT) {
    const byBinding = Math.floor(rt.limits.maxBindingBytes / (4 * q.M * q.N));
    splits = Math.max(1, Math.min(Math.ceil(TARGET_WORKGROUPS / t), Math.floor(q.K / MIN_K_PER_SPLIT), byBinding));
  }
  const kChunk = ceilDiv(q.K, splits);
  splits = ceilDiv(q.K, kChunk);
  const shape = {
    TRANS_A: q.transA,
    TRANS_B: q.transB,
    VEC_B: !q.transB && q.N % 4 === 0 && q.ldb % 4 === 0 && q.B.off % 4 === 0,
    HALF_B: q.halfB,
    ...lanes.constants,
  };
  const b = q.halfB ? { b: rt.empty, bh: q.B.view } : { b: q.B.view, bh: rt.empty };
  const params: MatmulParams = {
    M: q.M,
    N: q.N,
    K: q.K,
    kChunk,
    splits,
    lda: q.lda,
    ldb: q.ldb,
    ldc: q.C.ld,
    aOff: q.A.off,
    bOff: q.B.off,
    cOff: q.C.off,
    biasOff: q.bias?.off ?? 0,
    colLanes: lanes.colLanes,
    ...epilogue(!!q.bias, q.relu, q.reluMax),
  };
  if (splits === 1) {
    rt.run(matmulKernel, {
      params,
      bind: { a: q.A.view, ...b, bias: q.bias?.view ?? rt.empty, c: q.C.view },
      constants: shape,
    });
    return;
  }
  rt.scratch(splits * q.M * q.N * 4, 'matmul.partial', (partial) => {
    rt.run(matmulKernel, {
      params: { ...params, cOff: 0, ...epilogue(false, false) },
      bind: { a: q.A.view, ...b, bias: rt.empty, c: partial },
      constants: shape,
    });
    reduceSplits(rt, {
      partial,
      out: q.C.view,
      n: q.M * q.N,
      cols: q.N,
      splits,
      ldo: q.C.ld,
      outOff: q.C.off,
      ...(q.bias ? { bias: q.bias.view, biasOff: q.bias.off } : {}),
      relu: q.relu,
      reluMax: q.reluMax,
    });
  });
}

export interface ReduceArgs {
  partial: BufferView;
  out: BufferView;
  /** Elements per split (rows x cols). */
  n: number;
  cols: number;
  splits: number;
  /** Row stride and element offset of the output (default dense). */
  ldo?: number;
  outOff?: number;
  bias?: BufferView;
  biasOff?: number;
  relu?: boolean;
  reluMax?: number;
}

/** out[row, col] = sum over s of partial[s, row*cols + col] (+ bias[col]) (ReLU), summed in split order. */
export function reduceSplits(rt: Runtime, a: ReduceArgs): void {
  rt.run(reduceKernel, {
    params: {
      n: a.n,
      cols: a.cols,
      splits: a.splits,
      ldo: a.ldo ?? a.cols,
      outOff: a.outOff ?? 0,
      biasOff: a.biasOff ?? 0,
      ...epilogue(!!a.bias, a.relu, a.reluMax),
    },
    bind: { partial: a.partial, rbias: a.bias ?? rt.empty, out: a.out },
  });
}

/** The RELU_MAX override (depthwise.wgsl) when a fused ReLU is clamped (ReLU6); otherwise the shader's default (no clamp). */
export const reluMax = (max: number | undefined): { RELU_MAX?: number } => (max === undefined ? {} : { RELU_MAX: max });
