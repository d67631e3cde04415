// Row ops over the leading dimension of a tensor of any rank (a row is everything after it):
// slices, concatenation and gathers, differentiable. Models use them instead of byte offsets.
import { fill } from '../kernels/elementwise.js';
import { copyRows, gatherRows as gatherKernel } from '../kernels/layout.js';
import { record } from './autograd.js';
import { matmul } from './core.js';
import { bytesOf, numel, shapeStr, Tensor } from './tensor.js';

function rowsOf(op: string, x: Tensor): [number, number] {
  if (x.shape.length === 0) throw new Error(`${op}: needs a tensor with a leading dimension, got a scalar`);
  if (x.dtype !== 'f32') throw new Error(`${op}: ${x.name || 'the input'} is ${x.dtype}; row ops take f32 tensors`);
  const rows = x.shape[0]!;
  return [rows, rows === 0 ? 0 : x.size / rows];
}

function zeros(shape: readonly number[], like: Tensor): Tensor {
  const t = Tensor.empty(shape, { rt: like.rt });
  if (t.size > 0) fill(t.rt, t.view(), t.size, 0);
  return t;
}

/**
 * How many of `n` output rows a row-strip computation on x's device may take at once: n when the
 * largest tensor it makes for n rows, `largest(n)` (a shape), fits one storage binding, else the
 * largest size halving down from n that does (0: none). Models split work past the binding limit
 * with this and the row ops, never with byte arithmetic.
 */
export function stripRows(x: Tensor, n: number, largest: (rows: number) => readonly number[]): number {
  return x.rt.largestFitting(n, (rows) => bytesOf('f32', numel(largest(rows))));
}

/** Rows [start, end) of x (a copy): x [R, ...] -> [end - start, ...]. */
export function sliceRows(x: Tensor, start: number, end: number): Tensor {
  const [rows, cols] = rowsOf('sliceRows', x);
  if (!(Number.isInteger(start) && Number.isInteger(end) && 0 <= start && start <= end && end <= rows)) {
    throw new Error(`sliceRows: rows [${start}, ${end}) are not within [0, ${rows}) of ${shapeStr(x.shape)}`);
  }
  const out = Tensor.empty([end - start, ...x.shape.slice(1)], { rt: x.rt });
  if (out.size > 0) copyRows(x.rt, x.view(), start, out.view(), 0, end - start, cols * 4);
  return record(out, 'slice_rows', [x], (g) => {
    const dx = zeros(x.shape, x);
    if (out.size > 0) copyRows(x.rt, g.view(), 0, dx.view(), start, end - start, cols * 4);
    return [dx];
  });
}

/** The rows of every tensor, in order (a copy); all agree after the leading dimension. */
export function concatRows(xs: readonly Tensor[]): Tensor {
  if (xs.length === 0) throw new Error('concatRows: needs at least one tensor');
  const tail = xs[0]!.shape.slice(1);
  const counts = xs.map((x) => {
    rowsOf('concatRows', x);
    if (x.shape.slice(1).join() !== tail.join())
      throw new Error(`concatRows: ${shapeStr(x.shape)} and ${shapeStr(xs[0]!.shape)} differ after the leading dimension`);
    return x.shape[0]!;
  });
  const total = counts.reduce((a, b) => a + b, 0);
  const out = Tensor.empty([total, ...tail], { rt: xs[0]!.rt });
  const rowBytes = tail.reduce((a, b) => a * b, 1) * 4;
  const starts: number[] = [];
  let r = 0;
  xs.forEach((x, i) => {
    starts.push(r);
    if (x.size > 0) copyRows(x.rt, x.view(), 0, out.view(), r, counts[i]!, rowBytes);
    r += counts[i]!;
  });
  return record(out, 'concat_rows', xs, (g) =>
    xs.map((x, i) => {
      if (!x.requiresGrad) return null;
      const dx = Tensor.empty(x.shape, { rt: x.rt });
      if (x.size > 0) copyRows(x.rt, g.view(), starts[i]!, dx.view(), 0, counts[i]!, rowBytes);
      return dx;
    }),
  );
}

/**
 * Rows `index` of x, in that order (repeats allowed): x [R, ...] -> [index.length, ...]. The
 * gradient sums the rows of g back into the rows they came from (a one-hot product, exact).
 */
export function gatherRows(x: Tensor, index: readonly number[]): Tensor {
  const [rows, cols] = rowsOf('gatherRows', x);
  for (const i of index)
    if (!(Number.isInteger(i) && i >= 0 && i < rows)) throw new Error(`gatherRows: index ${i} out of range [0, ${rows}) of ${shapeStr(x.shape)}`);
  const n = index.length;
  const out = Tensor.empty([n, ...x.shape.slice(1)], { rt: x.rt });
  if (n > 0 && cols > 0) {
    const idx = Tensor.from(index, [n], { rt: x.rt, dtype: 'u32' });
    gatherKernel(x.rt, x.view(), idx.view(), out.view(), rows, n, cols);
    idx.dispose();
  }
  return record(out, 'gather_rows', [x], (g) => {
    if (n === 0 || cols === 0) return [zeros(x.shape, x)];
    const onehot = new Float32Array(n * rows);
    index.forEach((r, j) => (onehot[j * rows + r] = 1));
    const p = Tensor.from(onehot, [n, rows], { rt: x.rt });
    const dx = matmul(p, g.alias([n, cols]), { transA: true }); // [rows, cols] = Pᵀ·g
    return [dx];
  });
}
