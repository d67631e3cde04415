import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { init, noGrad, ops, Runtime, scope, Tensor, kernel, ceilDiv, GPUFailure } from '../src/index.js';
import { matmul } from '../src/kernels/matmul.js';
import { fill } from '../src/kernels/elementwise.js';
import { bucketSize } from '../src/gpu/pool.js';
import { rt } from './lib/gpu.js';

test('a too-small buffer is rejected before dispatch, naming the kernel and binding', () => {
  const small = rt.alloc(64);
  const big = rt.alloc(4096);
  const view = (b: GPUBuffer, size: number) => ({ buffer: b, offset: 0, size });
  assert.throws(
    () => matmul(rt, { a: view(small, 64), b: view(big, 4096), c: view(big, 4096), M: 8, N: 8, K: 8 }),
    (e: Error) => /kernel matmul\.matmul: binding 'a' \(@binding\(1\), array<f32>\) needs 256 bytes/.test(e.message),
  );
  rt.free(small);
  rt.free(big);
});

test('uniform parameters are checked by name and type', () => {
  const k = kernel<{ n: number; na: number; nb: number; alpha: number; beta: number; bogus?: number }>({
    shader: 'elementwise',
    entry: 'map',
    workgroups: (p) => ceilDiv(p.n, 64),
    sizes: (p) => ({ a: p.na, b: p.nb, out: p.n }),
  });
  const t = Tensor.from([1, 2, 3, 4], [4]);
  const v = t.view();
  assert.throws(
    () => rt.run(k, { params: { n: 4, na: 4, nb: 4, alpha: 1, beta: 0, bogus: 1 }, bind: { a: v, b: v, out: rt.empty } }),
    /parameter 'bogus' is not a field/,
  );
  assert.throws(() => rt.run(k, { params: { n: -1, na: 4, nb: 4, alpha: 1, beta: 0 }, bind: { a: v, b: v, out: rt.empty } }), /'n' = -1 is not a valid u32/);
  assert.throws(() => rt.run(k, { params: { n: 4, na: 4, nb: 4, alpha: 1, beta: 0 }, bind: { a: v, b: v } }), /binding 'out' .* was not given a buffer/);
  assert.throws(
    () => rt.run(k, { params: { n: 4, na: 4, nb: 4, alpha: 1, beta: 0 }, bind: { a: v, b: v, out: v } }),
    /overlap in one buffer and one is written/,
  );
  assert.throws(
    () => rt.run(k, { params: { n: 4, na: 4, nb: 4, alpha: 1, beta: 0 }, bind: { a: v, b: v, out: rt.empty }, constants: { NOPE: 1 } }),
    /declares no override 'NOPE'/,
  );
  t.dispose();
});

test('grids over 65,535 workgroups are folded and cover every element', async () => {
  const n = 65535 * 64 + 4099; // one workgroup per 64 elements: just past the per-dimension limit
  const t = Tensor.empty([n]);
  fill(rt, t.view(), n, 3);
  const d = await t.read();
  let bad = -1;
  for (let i = 0; i < n; i++)
    if (d[i] !== 3) {
      bad = i;
      break;
    }
  assert.is(bad, -1, 'every element written');
  t.dispose();
});

test('pipelines are cached by kernel and constants, not by shape', async () => {
  const run = (m: number) => noGrad(() => ops.matmul(Tensor.from(new Float32Array(m * 5), [m, 5]), Tensor.from(new Float32Array(5 * 8), [5, 8])));
  run(3).dispose();
  const before = rt.counters.pipelines;
  for (const m of [4, 9, 17, 33]) run(m).dispose();
  assert.is(rt.counters.pipelines, before);
});

test('dispatches share an encoder and are submitted in bounded batches', async () => {
  const c0 = { ...rt.counters };
  const x = Tensor.from(new Float32Array(100).fill(1), [100]);
  const y = noGrad(() => {
    let t = x;
    for (let i = 0; i < 40; i++) t = ops.scale(t, 1.01);
    return t;
  });
  const v = await y.read();
  assert.ok(Math.abs(v[0]! - 1.01 ** 40) < 1e-4);
  const dispatches = rt.counters.dispatches - c0.dispatches;
  const submits = rt.counters.submits - c0.submits;
  assert.is(dispatches, 40);
  assert.ok(submits <= Math.ceil(dispatches / rt.submitEvery) + 1, `${submits} submits for ${dispatches} dispatches`);
  x.dispose();
  y.dispose();
});

test('the pool rounds to buckets and reuses freed buffers', () => {
  assert.is(bucketSize(1), 256);
  assert.is(bucketSize(1000), 1024);
  assert.is(bucketSize(1025), 1280);
  rt.flush();
  const a = Tensor.empty([3000]);
  const buf = a.view().buffer;
  a.dispose();
  rt.flush();
  const b = Tensor.empty([2900]); // same bucket
  assert.is(b.view().buffer, buf);
  b.dispose();
});

test('the pool keeps freed buffers up to a bound, destroying the sizes used least recently', async () => {
  const small = await Runtime.create({ maxFreeBytes: 64 * 1024 });
  try {
    // Buffers of 16 different sizes (16-32 KiB each) freed in turn: without a bound all stay allocated.
    for (let i = 0; i < 16; i++) {
      const t = Tensor.empty([4096 + 512 * i], { rt: small });
      t.dispose();
      small.flush();
    }
    const m = small.memory();
    assert.ok(m.freeBytes <= 64 * 1024, `${m.freeBytes} free bytes kept`);
    assert.is(m.allocatedBytes, m.inUseBytes + m.freeBytes);
    // The most recently freed size is still reused.
    const last = Tensor.empty([4096 + 512 * 15], { rt: small });
    assert.is(small.memory().allocatedBytes, m.allocatedBytes, 'reused, not allocated');
    last.dispose();
  } finally {
    small.destroy();
  }
});

test('scopes free what they do not return; noGrad records no graph', async () => {
  const base = rt.memory().inUseBytes;
  const x = Tensor.from([1, -2, 3], [3]);
  x.requiresGrad = true;
  const y = scope(() => ops.relu(ops.scale(ops.add(x, x), 2)));
  assert.ok(y.requiresGrad && y.node);
  const z = noGrad(() => ops.relu(ops.scale(x, 2)));
  assert.not.ok(z.requiresGrad);
  assert.equal(Array.from(await z.read()), [2, 0, 6]);
  y.dispose();
  z.dispose();
  x.dispose();
  assert.is(rt.memory().inUseBytes, base);
  assert.throws(() => x.view(), /used after dispose\(\)/);
});

test('reshape shares storage until the last alias is disposed', async () => {
  const base = rt.memory().inUseBytes;
  const x = Tensor.from([1, 2, 3, 4, 5, 6], [2, 3]);
  const y = ops.reshape(x, [3, 2]);
  x.dispose();
  assert.equal(Array.from(await y.read()), [1, 2, 3, 4, 5, 6]);
  y.dispose();
  assert.is(rt.memory().inUseBytes, base);
});

test('a lost device becomes a clear error instead of a hang', async () => {
  const other = await Runtime.create();
  const t = Tensor.from([1, 2, 3], [3], { rt: other });
  other.device.destroy(); // as if the GPU were reset
  await new Promise((r) => setTimeout(r, 50));
  let err: unknown = null;
  try {
    await t.read();
  } catch (e) {
    err = e;
  }
  assert.instance(err, GPUFailure);
  assert.match((err as Error).message, /GPU device lost/);
});

test('destroy() ends a runtime cleanly and later use says so', async () => {
  const other = await init();
  other.destroy();
  assert.throws(() => other.alloc(16), /used after destroy\(\)/);
  (await import('../src/index.js')).setRuntime(rt);
});

test.run();
