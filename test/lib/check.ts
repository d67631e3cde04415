// Test helpers: seeded data, closeness with a useful failure message, central finite differences,
// and a generic forward/backward check of a GPU op against a float64 CPU reference.
import * as assert from 'uvu/assert';
import { Rng, Tensor, scope } from '../../src/index.js';
import { rt } from './gpu.js';

export function randomData(n: number, rng: Rng, lo = -1, hi = 1): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.fround(rng.uniform(lo, hi)); // representable in f32
  return out;
}

/**
 * Asserts max |actual - expected| <= rtol * max(1e-3, max |expected|) + atol: errors are measured
 * against the largest expected magnitude, which suits f32 sums compared with float64 ones.
 */
export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string, rtol = 1e-4, atol = 0): void {
  assert.is(actual.length, expected.length, `${what}: length`);
  let scale = 1e-3;
  for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i]!));
  let worst = -1,
    worstErr = -1;
  for (let i = 0; i < expected.length; i++) {
    const e = Number.isNaN(actual[i]!) ? Infinity : Math.abs(actual[i]! - expected[i]!);
    if (e > worstErr) {
      worstErr = e;
      worst = i;
    }
  }
  const bound = rtol * scale + atol;
  if (worst >= 0 && !(worstErr <= bound)) {
    assert.unreachable(
      `${what}: |error| ${worstErr.toExponential(3)} > ${bound.toExponential(3)} at index ${worst} (got ${actual[worst]}, expected ${expected[worst]}; scale ${scale.toExponential(2)})`,
    );
  }
}

/**
 * Central differences of a scalar function of x in float64, at every element or at the listed ones
 * (the others are NaN).
 */
export function numericGrad(f: (x: Float64Array) => number, x: Float64Array, eps = 1e-6, at?: number[]): Float64Array {
  const g = new Float64Array(x.length).fill(NaN);
  const xp = Float64Array.from(x);
  for (const i of at ?? x.keys()) {
    const h = eps * Math.max(1, Math.abs(x[i]!));
    xp[i] = x[i]! + h;
    const up = f(xp);
    xp[i] = x[i]! - h;
    const down = f(xp);
    xp[i] = x[i]!;
    g[i] = (up - down) / (2 * h);
  }
  return g;
}

export const dot = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
};

export interface OpInput {
  shape: number[];
  data: Float64Array;
  /** Gradient checked against finite differences (default true). */
  grad?: boolean;
}

/**
 * Checks a GPU op: forward against `ref` (float64), and the gradient of sum(G * op(x)) for a random
 * G against central finite differences of `ref`. Also checks that the op leaves no GPU memory behind.
 */
export async function checkOp(
  what: string,
  inputs: OpInput[],
  gpu: (xs: Tensor[]) => Tensor,
  ref: (xs: Float64Array[]) => Float64Array,
  opts: { rtol?: number; gradRtol?: number; seed?: number; eps?: number; /** check this many sampled elements per gradient */ samples?: number } = {},
): Promise<void> {
  const rng = new Rng(opts.seed ?? 7);
  rt.flush(); // an open batch holds its uniform buffer until submitted
  const before = rt.memory().inUseBytes;
  const xs = inputs.map((i) => i.data);
  const expected = ref(xs);
  const G = randomData(expected.length, rng);
  const tensors = inputs.map((i) => {
    const t = Tensor.from(i.data, i.shape);
    t.requiresGrad = i.grad !== false;
    return t;
  });
  const out = scope(() => {
    const y = gpu(tensors);
    y.backward(Tensor.from(G, y.shape));
    return y;
  });
  assertClose(await out.read(), expected, `${what} forward`, opts.rtol ?? 1e-4);
  for (let j = 0; j < inputs.length; j++) {
    if (inputs[j]!.grad === false) continue;
    const t = tensors[j]!;
    assert.ok(t.grad, `${what}: input ${j} received no gradient`);
    const n = xs[j]!.length;
    const at = opts.samples && opts.samples < n ? Array.from({ length: opts.samples }, () => rng.int(n)) : undefined;
    const numeric = numericGrad((x) => dot(G, ref(xs.map((v, k) => (k === j ? x : v)))), xs[j]!, opts.eps, at);
    const got = await t.grad!.read();
    const idx = at ?? [...numeric.keys()];
    assertClose(
      idx.map((i) => got[i]!),
      idx.map((i) => numeric[i]!),
      `${what} d/dinput${j}`,
      opts.gradRtol ?? 1e-3,
    );
  }
  out.dispose();
  for (const t of tensors) {
    t.grad?.dispose();
    t.dispose();
  }
  assert.is(rt.memory().inUseBytes, before, `${what}: GPU memory in use returns to its baseline`);
}

/** Asserts that `p` rejects with a message matching `re`; returns the error. */
export async function rejects(p: Promise<unknown>, re: RegExp, what = 'the call'): Promise<Error> {
  let error: Error | null = null;
  try {
    await p;
  } catch (e) {
    error = e as Error;
  }
  if (!error) assert.unreachable(`${what}: expected a rejection matching ${re}`);
  assert.match(error!.message, re, `${what}: ${error!.message}`);
  return error!;
}
