// Differentiable core ops (elementwise, shapes, reductions, GEMM, losses). Each runs its kernels
// forward and records one backward closure. `ops` re-exports these with the vision and row ops.
import { map, MapOp } from '../kernels/elementwise.js';
import { matmul as matmulKernel } from '../kernels/matmul.js';
import { sumRows } from '../kernels/reduce.js';
import { softMargin, softMarginGrad } from '../kernels/loss.js';
import { toHalf, transpose } from '../kernels/layout.js';
import { record } from './autograd.js';
import { numel, shapeStr, Tensor } from './tensor.js';

function like(t: Tensor, shape: readonly number[] = t.shape): Tensor {
  return Tensor.empty(shape, { rt: t.rt });
}

function mapOf(op: MapOp, a: Tensor, b?: Tensor, alpha = 1, beta = 0, shape: readonly number[] = a.shape): Tensor {
  const out = like(a, shape);
  map(a.rt, { op, out: out.view(), n: out.size, a: a.view(), na: a.size, ...(b ? { b: b.view(), nb: b.size } : {}), alpha, beta });
  return out;
}

/** Checks that b broadcasts over a: b's shape equals a trailing part of a's shape (or b is a scalar). */
function broadcastable(op: string, a: Tensor, b: Tensor): void {
  const tail = a.shape.slice(a.shape.length - b.shape.length);
  if (b.size === 1 || (b.shape.length <= a.shape.length && tail.join() === b.shape.join())) return;
  throw new Error(`${op}: cannot broadcast ${shapeStr(b.shape)} over ${shapeStr(a.shape)}`);
}

/** Sums a gradient of a's shape down to b's broadcast shape. */
function reduceTo(g: Tensor, b: Tensor): Tensor {
  if (g.size === b.size) return g;
  const out = like(b);
  sumRows(g.rt, g.view(), out.view(), g.size / b.size, b.size);
  return out;
}

// ---- elementwise -------------------------------------------------------------------------------

/** a + b, with b broadcast over a's trailing dimensions. */
export function add(a: Tensor, b: Tensor): Tensor {
  broadcastable('add', a, b);
  const out = mapOf(MapOp.ADD, a, b, 1, 1);
  return record(out, 'add', [a, b], (g) => [g, reduceTo(g, b)]);
}

/** a - b, with b broadcast over a's trailing dimensions. */
export function sub(a: Tensor, b: Tensor): Tensor {
  broadcastable('sub', a, b);
  const out = mapOf(MapOp.ADD, a, b, 1, -1);
  return record(out, 'sub', [a, b], (g) => [g, reduceTo(mapOf(MapOp.AFFINE, g, undefined, -1, 0), b)]);
}

/** a * b elementwise, with b broadcast over a's trailing dimensions. */
export function mul(a: Tensor, b: Tensor): Tensor {
  broadcastable('mul', a, b);
  const out = mapOf(MapOp.MUL, a, b);
  return record(out, 'mul', [a, b], (g) => {
    const ga = a.requiresGrad ? mapOf(MapOp.MUL, g, b) : null;
    const gb = b.requiresGrad ? reduceTo(mapOf(MapOp.MUL, g, a), b) : null;
    return [ga, gb];
  });
}

/** s * a. */
export function scale(a: Tensor, s: number): Tensor {
  const out = mapOf(MapOp.AFFINE, a, undefined, s, 0);
  return record(out, 'scale', [a], (g) => [mapOf(MapOp.AFFINE, g, undefined, s, 0)]);
}

/** relu(a + b) in one pass (b broadcast as in add): the sum is never written. */
export function addRelu(a: Tensor, b: Tensor): Tensor {
  broadcastable('addRelu', a, b);
  const out = mapOf(MapOp.ADD_RELU, a, b, 1, 1);
  return record(out, 'add_relu', [a, b], (g) => {
    const gz = mapOf(MapOp.RELU_GRAD, out, g);
    // An input's gradient is its own tensor (the engine disposes each): b's, when not reduced, an alias.
    return [gz, gz.size === b.size ? gz.alias(b.shape) : reduceTo(gz, b)];
  });
}

export function relu(a: Tensor): Tensor {
  const out = mapOf(MapOp.RELU, a);
  return record(out, 'relu', [a], (g) => [mapOf(MapOp.RELU_GRAD, out, g)]);
}

export function sigmoid(a: Tensor): Tensor {
  const out = mapOf(MapOp.SIGMOID, a);
  return record(out, 'sigmoid', [a], (g) => [mapOf(MapOp.SIGMOID_GRAD, out, g)]);
}

// ---- shapes ------------------------------------------------------------------------------------

/** The same data in another shape (no copy); one dimension may be -1. */
export function reshape(a: Tensor, shape: readonly number[]): Tensor {
  const known = shape.filter((d) => d !== -1);
  const resolved = shape.map((d) => (d === -1 ? a.size / numel(known) : d));
  if (numel(resolved) !== a.size || !resolved.every(Number.isInteger)) throw new Error(`reshape: cannot view ${shapeStr(a.shape)} as ${shapeStr(shape)}`);
  const out = a.alias(resolved);
  return record(out, 'reshape', [a], (g) => [g.alias(a.shape)]);
}

/** [N, ...] -> [N, rest]. */
export function flatten(a: Tensor): Tensor {
  return reshape(a, [a.shape[0] ?? 1, -1]);
}

// ---- reductions --------------------------------------------------------------------------------

/** Sum of all elements, as a one-element tensor. */
export function sum(a: Tensor): Tensor {
  const out = like(a, [1]);
  sumRows(a.rt, a.view(), out.view(), a.size, 1);
  return record(out, 'sum', [a], (g) => [mapOf(MapOp.AFFINE, g, undefined, 1, 0, a.shape)]);
}

export function mean(a: Tensor): Tensor {
  const out = like(a, [1]);
  sumRows(a.rt, a.view(), out.view(), a.size, 1, 1 / a.size);
  return record(out, 'mean', [a], (g) => [mapOf(MapOp.AFFINE, g, undefined, 1 / a.size, 0, a.shape)]);
}

// ---- linear algebra ----------------------------------------------------------------------------

export interface MatmulOptions {
  transA?: boolean;
  transB?: boolean;
}

/** op(a)·op(b) for 2-D a and b, where op transposes when asked (the operand is stored transposed). */
export function matmul(a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor {
  const tA = !!opts.transA,
    tB = !!opts.transB;
  if (a.shape.length !== 2 || b.shape.length !== 2) throw new Error(`matmul: needs 2-D operands, got ${shapeStr(a.shape)} and ${shapeStr(b.shape)}`);
  const [M, K] = tA ? [a.shape[1]!, a.shape[0]!] : [a.shape[0]!, a.shape[1]!];
  const [K2, N] = tB ? [b.shape[1]!, b.shape[0]!] : [b.shape[0]!, b.shape[1]!];
  if (K !== K2) throw new Error(`matmul: inner dimensions differ (${shapeStr(a.shape)}${tA ? 'ᵀ' : ''} · ${shapeStr(b.shape)}${tB ? 'ᵀ' : ''})`);
  const out = like(a, [M, N]);
  matmulKernel(a.rt, { a: a.view(), b: b.view(), c: out.view(), M, N, K, transA: tA, transB: tB });
  return record(out, 'matmul', [a, b], (g) => [
    a.requiresGrad ? (tA ? matmul(b, g, { transA: tB, transB: true }) : matmul(g, b, { transB: !tB })) : null,
    b.requiresGrad ? (tB ? matmul(g, a, { transA: true, transB: tA }) : matmul(a, g, { transA: !tA })) : null,
  ]);
}

/**
 * x·w (+ b) (ReLU) in one kernel: x [batch, in], w [in, out] (our layout: inputs by rows), b [out].
 * w may be f16 (see half()): read as halves, computed in f32; no gradients flow through it then.
 */
export function linear(x: Tensor, w: Tensor, b?: Tensor | null, opts: { relu?: boolean; relu6?: boolean } = {}): Tensor {
  if (x.shape.length !== 2 || w.shape.length !== 2 || x.shape[1] !== w.shape[0]) {
    throw new Error(`linear: input ${shapeStr(x.shape)} does not match weight ${shapeStr(w.shape)} ([in, out])`);
  }
  const [M, K] = x.shape as [number, number];
  const N = w.shape[1]!;
  if (b && b.size !== N) throw new Error(`linear: bias has ${b.size} elements, expected ${N}`);
  const out = like(x, [M, N]);
  const weights = w.dtype === 'f16' ? { b: w.halfView(), halfB: true } : { b: w.view() };
  const relu = !!opts.relu || !!opts.relu6;
  matmulKernel(x.rt, { a: x.view(), ...weights, c: out.view(), ...(b ? { bias: b.view() } : {}), M, N, K, relu, ...(opts.relu6 ? { reluMax: 6 } : {}) });
  const inputs = b ? [x, w, b] : [x, w];
  return record(out, opts.relu6 ? 'linear_relu6' : relu ? 'linear_relu' : 'linear', inputs, (g) => {
    const gz = opts.relu6 ? mapOf(MapOp.RELU_CAP_GRAD, out, g, 6) : relu ? mapOf(MapOp.RELU_GRAD, out, g) : g;
    const gx = x.requiresGrad ? matmul(gz, w, { transB: true }) : null;
    const gw = w.requiresGrad ? matmul(x, gz, { transA: true }) : null;
    return b ? [gx, gw, b.requiresGrad ? reduceTo(gz, b) : null] : [gx, gw];
  });
}

// ---- precision ---------------------------------------------------------------------------------

/**
 * An f16 copy of an f32 tensor (IEEE halves, round to nearest even), for inference weights: half
 * the memory and the weight traffic, while conv2d and linear keep computing in f32. Not differentiable.
 */
export function half(t: Tensor): Tensor {
  if (t.dtype !== 'f32') throw new Error(`half: expected an f32 tensor, got ${t.dtype}`);
  const out = Tensor.empty(t.shape, { rt: t.rt, dtype: 'f16' });
  toHalf(t.rt, t.view(), out.halfView(), t.size);
  return out;
}

// ---- losses ------------------------------------------------------------------------------------

/**
 * Sum over elements of w * log(1 + exp(-y * x)), labels y in {-1, +1} and weights w (weights carry
 * any normalisation or masking, e.g. a mask loss over positives only): per element (w the size of
 * x), or per row, w [n] or [n, 1, ...] for x [n, ...], spread over each row on the GPU.
 */
export function softMarginLoss(x: Tensor, y: Tensor, w: Tensor): Tensor {
  const n = x.shape[0] ?? 1;
  const perRow = w.size !== x.size && w.size === n && w.shape.slice(1).every((d) => d === 1);
  if (y.size !== x.size || (w.size !== x.size && !perRow)) {
    throw new Error(
      `softMarginLoss: logits ${shapeStr(x.shape)} and labels ${shapeStr(y.shape)} must have the same size, weights ${shapeStr(w.shape)} that size or [${n}, 1, ...]`,
    );
  }
  const wx = perRow ? expandRows(w, n, x.size / n) : w;
  const per = like(x);
  softMargin(x.rt, x.view(), y.view(), wx.view(), per.view(), x.size);
  const out = like(x, [1]);
  sumRows(x.rt, per.view(), out.view(), x.size, 1);
  per.dispose();
  const backward = (g: Tensor) => {
    const gx = like(x);
    softMarginGrad(x.rt, x.view(), y.view(), wx.view(), g.view(), gx.view(), x.size);
    return [gx];
  };
  return record(out, 'soft_margin_loss', [x], backward, perRow ? [wx] : undefined);
}

/** w [n] spread over rows of `cols`: [n, cols] with row i all w[i] (a tiled copy, transposed; exact). */
function expandRows(w: Tensor, n: number, cols: number): Tensor {
  const tiled = like(w, [cols, n]);
  map(w.rt, { op: MapOp.AFFINE, out: tiled.view(), n: n * cols, a: w.view(), na: n, alpha: 1, beta: 0 });
  const out = like(w, [n, cols]);
  transpose(w.rt, tiled.view(), out.view(), 1, cols, n);
  tiled.dispose();
  return out;
}
