import { kernel, ceilDiv } from '../gpu/kernel.js';
import type { BufferView, Runtime } from '../gpu/runtime.js';

const CHUNK = 256;

const sumRowsKernel = kernel<{ rows: number; cols: number; chunk: number; chunks: number; scale: number }>({
  shader: 'reduce',
  entry: 'sum_rows',
  workgroups: (p) => ceilDiv(p.cols * p.chunks, 64),
  sizes: (p, c) => ({ x: p.rows * p.cols, out: p.cols * p.chunks, mask: c.MASK === true ? p.rows * p.cols : 0 }),
});

/**
 * out[c] = scale * sum over r of x[r, c] for a row-major [rows, cols] x, in a fixed order; with
 * `mask` (same shape), only the elements where mask > 0 count.
 */
export function sumRows(rt: Runtime, x: BufferView, out: BufferView, rows: number, cols: number, scale = 1, mask?: BufferView): void {
  const chunks = ceilDiv(rows, CHUNK);
  const masked = { bind: { mask: mask ?? rt.empty }, constants: { MASK: !!mask } };
  const split = {
    items: chunks,
    per: { x: CHUNK * cols * 4, out: cols * 4, ...(mask ? { mask: CHUNK * cols * 4 } : {}) },
    chunk: (s0: number, n: number) => ({ chunks: n, rows: Math.min(rows - s0 * CHUNK, n * CHUNK) }),
  };
  if (chunks <= 1) {
    rt.run(sumRowsKernel, { params: { rows, cols, chunk: CHUNK, chunks: 1, scale }, bind: { x, out, ...masked.bind }, constants: masked.constants });
    return;
  }
  rt.scratch(chunks * cols * 4, 'sumRows.partial', (partial) => {
    rt.run(sumRowsKernel, {
      params: { rows, cols, chunk: CHUNK, chunks, scale: 1 },
      bind: { x, out: partial, ...masked.bind },
      constants: masked.constants,
      split,
    });
    sumRows(rt, partial, out, chunks, cols, scale);
  });
}

const confidenceKernel = kernel<{ rows: number; cols: number; threshold: number }>({
  shader: 'reduce',
  entry: 'mean_sigmoid_above',
  workgroups: (p) => p.rows,
  sizes: (p) => ({ logits: p.rows * p.cols, confidence: p.rows }),
});

/** out[r] = the mean of sigmoid(x[r, c]) over the c where x[r, c] >= threshold (0 where none), for a row-major [rows, cols] x. */
export function meanSigmoidAbove(rt: Runtime, x: BufferView, out: BufferView, rows: number, cols: number, threshold: number): void {
  if (rows === 0) return;
  rt.run(confidenceKernel, {
    params: { rows, cols, threshold },
    bind: { logits: x, confidence: out },
    split: { items: rows, per: { logits: cols * 4, confidence: 4 }, chunk: (_r0: number, n: number) => ({ rows: n }) },
  });
}
