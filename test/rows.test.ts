// Row ops (sliceRows, concatRows, gatherRows) against float64 CPU references, forward and backward;
// per-row loss weights against per-element ones; the autograd and module contracts they rely on.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Module, ops, parameter, Rng, scope, SGD, Tensor } from '../src/index.js';
import { record } from '../src/graph/autograd.js';
import { checkOp, randomData } from './lib/check.js';
import { rt } from './lib/gpu.js';

const rng = new Rng(3);
const input = (shape: number[]) => ({
  shape,
  data: randomData(
    shape.reduce((a, b) => a * b, 1),
    rng,
  ),
  grad: true,
});
const rowsRef = (x: Float64Array, cols: number, index: number[]) => {
  const out = new Float64Array(index.length * cols);
  index.forEach((r, j) => out.set(x.subarray(r * cols, (r + 1) * cols), j * cols));
  return out;
};

test('sliceRows copies rows [a, b) of any rank; its gradient lands in those rows', async () => {
  await checkOp(
    'sliceRows',
    [input([5, 3, 2])],
    ([x]) => ops.sliceRows(x!, 1, 4),
    ([x]) => x!.slice(6, 24),
  );
  await checkOp(
    'sliceRows to the end',
    [input([4, 7])],
    ([x]) => ops.sliceRows(x!, 3, 4),
    ([x]) => x!.slice(21),
  );
});

test('concatRows stacks rows in order; each input gets its rows of the gradient', async () => {
  await checkOp(
    'concatRows',
    [input([2, 3]), input([4, 3]), input([1, 3])],
    (xs) => ops.concatRows(xs),
    (xs) => Float64Array.from(xs.flatMap((x) => [...x])),
  );
});

test('gatherRows picks rows with repeats; the gradient sums repeated rows', async () => {
  const index = [3, 0, 3, 1, 3];
  await checkOp(
    'gatherRows',
    [input([4, 5])],
    ([x]) => ops.gatherRows(x!, index),
    ([x]) => rowsRef(x!, 5, index),
  );
  await checkOp(
    'gatherRows rank 3',
    [input([6, 2, 3])],
    ([x]) => ops.gatherRows(x!, [5, 2]),
    ([x]) => rowsRef(x!, 6, [5, 2]),
  );
});

test('row ops refuse bad rows with the shapes in the message', () => {
  const x = Tensor.from(new Float32Array(12), [4, 3]);
  assert.throws(() => ops.sliceRows(x, 2, 5), /sliceRows: rows \[2, 5\) are not within \[0, 4\) of \[4, 3\]/);
  assert.throws(() => ops.gatherRows(x, [0, 4]), /gatherRows: index 4 out of range \[0, 4\)/);
  const y = Tensor.from(new Float32Array(8), [2, 4]);
  assert.throws(() => ops.concatRows([x, y]), /concatRows: \[2, 4\] and \[4, 3\] differ after the leading dimension/);
  x.dispose();
  y.dispose();
});

test('soft-margin weights per row ([n, 1, 1, 1]) give bit for bit the per-pixel loss and gradient', async () => {
  const n = 5,
    G = 6;
  const X = randomData(n * G * G, rng, -3, 3),
    Y = Float32Array.from({ length: n * G * G }, () => (rng.next() < 0.5 ? 1 : -1));
  const perRow = Float32Array.from({ length: n }, (_, i) => (i % 2 ? 1 / (G * G) : 0));
  const perPixel = new Float32Array(n * G * G);
  perRow.forEach((w, i) => perPixel.fill(w, i * G * G, (i + 1) * G * G));
  const run = async (w: Tensor) => {
    const x = Tensor.from(X, [n, G, G, 1]);
    x.requiresGrad = true;
    const loss = scope(() => {
      const l = ops.softMarginLoss(x, Tensor.from(Y, [n, G, G, 1]), w);
      l.backward();
      return l;
    });
    const out = [await loss.read(), await x.grad!.read()];
    loss.dispose();
    x.grad!.dispose();
    x.dispose();
    w.dispose();
    return out;
  };
  const [la, ga] = await run(Tensor.from(perRow, [n, 1, 1, 1]));
  const [lb, gb] = await run(Tensor.from(perPixel, [n, G, G, 1]));
  assert.equal([...la!], [...lb!]);
  assert.equal([...ga!], [...gb!]);
  assert.throws(
    () => ops.softMarginLoss(Tensor.from([1, 2, 3, 4], [2, 2]), Tensor.from([1, 1, 1, 1], [2, 2]), Tensor.from([1, 1, 1], [3])),
    /weights \[3\] that size or \[2, 1, \.\.\.\]/,
  );
});

test('a backward closure must return one gradient per input', () => {
  const a = Tensor.from([1, 2], [2]),
    b = Tensor.from([3, 4], [2]);
  a.requiresGrad = b.requiresGrad = true;
  assert.throws(() => {
    scope(() => {
      const out = record(ops.add(a, b).detach(), 'broken', [a, b], (g) => [ops.scale(g, 1)]);
      ops.sum(out).backward();
    });
  }, /backward of broken: returned 1 gradients for 2 inputs/);
  for (const t of [a, b]) {
    t.grad?.dispose();
    t.dispose();
  }
});

class Pair extends Module {
  readonly first = parameter(Tensor.from([1, 2, 3, 4], [2, 2]));
  readonly inner = { scale: parameter(Tensor.from([0.5], [1])) };
}

test('modules stamp parameter names, know their runtime, dispose, and half() keeps each parameter', async () => {
  const m = new Pair().nameParameters();
  assert.equal(
    m.parameters().map((p) => p.name),
    ['first', 'inner.scale'],
  );
  assert.is(m.rt, rt);
  const w = m.first;
  m.half();
  assert.is(m.first, w, 'the same tensor, its storage replaced');
  assert.is(w.dtype, 'f16');
  assert.equal([...(await w.read())], [1, 2, 3, 4]);
  assert.is(m.inner.scale.dtype, 'f32', 'one-dimensional parameters stay f32');
  assert.throws(() => w.view(), /first \[2, 2\] is f16/);
  m.dispose();
  assert.ok(w.disposed && m.inner.scale.disposed);
  assert.throws(() => new Module().rt, /has no parameters/);
});

test('SGD state is keyed by parameter name; an indexed (older) state loads by position or says why not', async () => {
  const m = new Pair().nameParameters();
  const opt = new SGD(m.parameters(), { lr: 0.1, momentum: 0.9 });
  for (const p of m.parameters()) p.grad = Tensor.from(new Float32Array(p.size).fill(1), p.shape);
  opt.step();
  const st = await opt.exportState();
  assert.equal(Object.keys(st.steps), ['first', 'inner.scale']);
  assert.equal([...st.velocities['inner.scale']!.data], [1]);
  const fresh = new SGD(m.parameters(), { lr: 0.1, momentum: 0.9 });
  fresh.loadState({ steps: [1, 1], velocities: [st.velocities.first!, st.velocities['inner.scale']!] });
  assert.equal(await fresh.exportState(), st);
  assert.throws(() => fresh.loadState({ steps: [1], velocities: [null] }), /older checkpoint, by parameter index\) has 1 parameters, this run trains 2/);
  const headsOnly = new SGD([m.inner.scale], { lr: 0.1 });
  assert.throws(() => headsOnly.loadState(st), /optimizer state for 'first', which this run does not train/);
  for (const o of [opt, fresh, headsOnly]) o.dispose();
  m.zeroGrad();
  m.dispose();
});

test.run();
