import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ops, Rng, Tensor } from '../src/index.js';
import { assertClose, checkOp, randomData } from './lib/check.js';
import { matmulRef, sigmoidRef, softplusRef } from './lib/ref.js';
import './lib/gpu.js';

const rng = new Rng(1);
const input = (shape: number[], grad = true, lo = -1, hi = 1) => ({
  shape,
  data: randomData(
    shape.reduce((a, b) => a * b, 1),
    rng,
    lo,
    hi,
  ),
  grad,
});

test('assertClose can fail', () => {
  let failed = false;
  try {
    assertClose([1, 2, 3.01], [1, 2, 3], 'perturbed');
  } catch {
    failed = true;
  }
  assert.ok(failed, 'a 0.3% error exceeds the 1e-4 tolerance');
  assertClose([1, 2, 3.0000001], [1, 2, 3], 'equal within tolerance');
});

for (const [M, N, K] of [
  [13, 5, 17],
  [7, 12, 3],
  [1, 9, 31],
  [9, 1, 600],
] as const) {
  for (const tA of [false, true]) {
    for (const tB of [false, true]) {
      test(`matmul ${M}x${K}·${K}x${N} transA=${tA} transB=${tB}`, async () => {
        await checkOp(
          'matmul',
          [input(tA ? [K, M] : [M, K]), input(tB ? [N, K] : [K, N])],
          ([a, b]) => ops.matmul(a!, b!, { transA: tA, transB: tB }),
          ([a, b]) => matmulRef(a!, b!, M, N, K, tA, tB),
        );
      });
    }
  }
}

test('matmul split over a long K (few output tiles) equals the reference', async () => {
  const M = 3,
    N = 6,
    K = 2051;
  await checkOp(
    'matmul split-K',
    [input([M, K]), input([K, N])],
    ([a, b]) => ops.matmul(a!, b!),
    ([a, b]) => matmulRef(a!, b!, M, N, K),
    { eps: 1e-4 },
  );
});

for (const relu of [false, true]) {
  test(`linear with bias, relu=${relu}`, async () => {
    const B = 11,
      I = 19,
      O = 6;
    await checkOp(
      'linear',
      [input([B, I]), input([I, O]), input([O])],
      ([x, w, b]) => ops.linear(x!, w!, b!, { relu }),
      ([x, w, b]) => matmulRef(x!, w!, B, O, I).map((v, i) => (relu ? Math.max(0, v + b![i % O]!) : v + b![i % O]!)),
    );
  });
}

test('add, sub, mul with a broadcast trailing operand', async () => {
  const shape = [3, 5, 7];
  for (const [name, f, r] of [
    ['add', ops.add, (x: number, y: number) => x + y],
    ['sub', ops.sub, (x: number, y: number) => x - y],
    ['mul', ops.mul, (x: number, y: number) => x * y],
  ] as const) {
    for (const bShape of [shape, [5, 7], [7], [1]]) {
      await checkOp(
        `${name} ${JSON.stringify(bShape)}`,
        [input(shape), input(bShape)],
        ([a, b]) => f(a!, b!),
        ([a, b]) => a!.map((v, i) => r(v, b![i % b!.length]!)),
      );
    }
  }
});

test('broadcasting rejects mismatched shapes', () => {
  const a = Tensor.from(new Float32Array(6), [2, 3]);
  const b = Tensor.from(new Float32Array(2), [2]);
  assert.throws(() => ops.add(a, b), /cannot broadcast \[2\] over \[2, 3\]/);
  a.dispose();
  b.dispose();
});

test('scale, relu, addRelu, sigmoid', async () => {
  await checkOp(
    'scale',
    [input([4, 9])],
    ([a]) => ops.scale(a!, -2.5),
    ([a]) => a!.map((v) => -2.5 * v),
  );
  // Keep relu inputs away from the kink so finite differences are exact.
  const r = input([5, 13]);
  r.data = r.data.map((v) => (Math.abs(v) < 0.01 ? v + 0.05 : v));
  await checkOp(
    'relu',
    [r],
    ([a]) => ops.relu(a!),
    ([a]) => a!.map((v) => Math.max(0, v)),
  );
  await checkOp(
    'sigmoid',
    [input([3, 17], true, -6, 6)],
    ([a]) => ops.sigmoid(a!),
    ([a]) => a!.map(sigmoidRef),
  );
  // addRelu = relu(a + b), b broadcast or of a's shape; sums kept off the kink.
  for (const bShape of [[13], [5, 13]]) {
    const ar = input([5, 13]),
      br = input(bShape);
    const nb = br.data.length;
    ar.data = ar.data.map((v, i) => (Math.abs(v + br.data[i % nb]!) < 0.02 ? v + 0.1 : v));
    await checkOp(
      `addRelu ${JSON.stringify(bShape)}`,
      [ar, br],
      ([a, b]) => ops.addRelu(a!, b!),
      ([a, b]) => a!.map((v, i) => Math.max(0, v + b![i % nb]!)),
    );
  }
  // NaN passes through ReLU, as in PyTorch: a diverged value shows instead of turning into 0.
  const nan = ops.relu(Tensor.from([NaN, -1, 2, Infinity, -Infinity], [5]));
  const got = Array.from(await nan.read());
  assert.ok(Number.isNaN(got[0]), `relu(NaN) = ${got[0]}`);
  assert.equal(got.slice(1), [0, 2, Infinity, 0]);
  nan.dispose();
});

test('reshape, flatten, sum, mean', async () => {
  await checkOp(
    'reshape',
    [input([2, 3, 5])],
    ([a]) => ops.scale(ops.reshape(a!, [6, -1]), 3),
    ([a]) => a!.map((v) => 3 * v),
  );
  await checkOp(
    'flatten',
    [input([2, 3, 5])],
    ([a]) => ops.flatten(a!),
    ([a]) => a!,
  );
  await checkOp(
    'sum',
    [input([37, 29])],
    ([a]) => ops.sum(a!),
    ([a]) => Float64Array.of(a!.reduce((s, v) => s + v, 0)),
  );
  await checkOp(
    'mean',
    [input([300, 7])],
    ([a]) => ops.mean(a!),
    ([a]) => Float64Array.of(a!.reduce((s, v) => s + v, 0) / a!.length),
  );
});

test('soft-margin loss with per-element weights', async () => {
  const n = 301;
  const y = Float64Array.from({ length: n }, () => (rng.next() < 0.5 ? -1 : 1));
  const w = randomData(n, rng, 0, 2);
  await checkOp(
    'softMarginLoss',
    [input([n], true, -8, 8)],
    ([x]) => ops.softMarginLoss(x!, Tensor.from(y, [n]), Tensor.from(w, [n])),
    ([x]) => Float64Array.of(x!.reduce((s, v, i) => s + w[i]! * softplusRef(-y[i]! * v), 0)),
  );
});

test('gradients accumulate over a diamond-shaped graph', async () => {
  // f = sum(relu(x) * x + x): x reaches the output along three paths.
  const x = input([4, 6]);
  x.data = x.data.map((v) => (Math.abs(v) < 0.01 ? 0.3 : v));
  await checkOp(
    'diamond',
    [x],
    ([a]) => ops.add(ops.mul(ops.relu(a!), a!), a!),
    ([a]) => a!.map((v) => Math.max(0, v) * v + v),
  );
});

test.run();
