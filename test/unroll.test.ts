// Register promotion (src/gpu/unroll.ts): the rewrite on small WGSL snippets, and every register-
// blocked kernel compiled promoted giving bitwise the results of the same kernel as written (a second
// runtime with promoteRegisters forced on, beside the shared one, which compiles as written here).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ops, Rng, Runtime, scope, setRuntime, Tensor } from '../src/index.js';
import { lintUnroll, promoteArrays, promoteRegisters, unrollLoops } from '../src/gpu/unroll.js';
import { randomData } from './lib/check.js';
import { rt } from './lib/gpu.js';

test('unrollLoops: constant bounds unroll into blocks; dynamic bounds, breaks and big trips stay loops', () => {
  const src = [
    'const R: u32 = 3u;',
    'fn f(n: u32) -> f32 {',
    '  var s = 0.0;',
    '  for (var i = 0u; i < R; i++) { s += f32(i); }',
    '  for (var k = 0u; k < n; k++) { for (var j = 1u; j < 3u; j++) { s += f32(j * k); } }',
    '  for (var b = 0u; b < 4u; b++) { if (s > 2.0) { break; } s += 1.0; }',
    '  for (var z = 0u; z < 1000u; z++) { s += 1.0; }',
    '  return s;',
    '}',
  ].join('\n');
  const out = unrollLoops(src);
  assert.ok(out.includes('{{ s += f32(0u); }{ s += f32(1u); }{ s += f32(2u); }}'), out);
  assert.ok(out.includes('for (var k = 0u; k < n; k++) { {{ s += f32(1u * k); }{ s += f32(2u * k); }} }'), out);
  assert.ok(out.includes('for (var b = 0u; b < 4u; b++)'), 'a loop with its own break stays a loop');
  assert.ok(out.includes('for (var z = 0u; z < 1000u; z++)'), 'past 64 trips it stays a loop');
});

test('promoteArrays: constant-indexed arrays become one variable per element; whole uses copy in and out', () => {
  const src = [
    'alias Acc = array<array<vec4f, 2>, 2>;',
    'fn g(a: ptr<function, Acc>) -> f32 { return (*a)[1][0].x; }',
    'fn f() -> f32 {',
    '  var acc: Acc;',
    '  acc[0u][1u] = vec4f(1.0); acc[1u][0u] = acc[0u][1u] * 2.0;',
    '  let r = g(&acc);',
    '  var d: array<f32, 4>;',
    '  let i = 2u;',
    '  d[i] = 1.0;',
    '  return r + d[1u + 1u];',
    '}',
  ].join('\n');
  const out = promoteArrays(src);
  assert.ok(out.includes('var acc__1_0: vec4f;'), out);
  assert.ok(out.includes('acc__1_0 = acc__0_1 * 2.0;'), out);
  assert.ok(out.includes('acc[1][1] = acc__1_1; let r = g(&acc);'), 'copied into the array before a whole use');
  assert.ok(out.includes('acc__1_0 = acc[1][0];'), 'and back after it');
  assert.ok(out.includes('d[i] = 1.0;') && out.includes('d[1u + 1u]'), 'a dynamically indexed array is left alone');
});

test('promoteRegisters: strips comments, so a name in a comment is not a use', () => {
  const out = promoteRegisters(
    'fn f() -> f32 {\n  var a: array<f32, 2>; // a stays in registers\n  for (var i = 0u; i < 2u; i++) { a[i] = f32(i); }\n  return a[1u];\n}',
  );
  assert.not.match(out, /array</);
  assert.match(out, /return a__1;/);
});

test('lintUnroll: tells the kernel author what the pass and SwiftShader mishandle, and passes what they handle', () => {
  const lint = (body: string) => lintUnroll(`const R: u32 = 16u;\nconst C: u32 = 2u;\nfn f(n: u32) {\n  var ok: array<bool, R>;\n${body}\n}`);
  // Short-circuit chains unrolled 16 times (an R-loop) crash SwiftShader's compiler; 8 compile.
  const chains = lint('  for (var i = 0u; i < R; i++) {\n    ok[i] = i > 2u && i < n;\n  }');
  assert.is(chains.length, 1, chains.join('\n'));
  assert.match(chains[0]!, /^line 6: '&&' unrolled into 16 copies by src\/gpu\/unroll\.ts \(the loops at line 5\).*use '&' on bools/);
  assert.match(
    lint('  for (var i = 0u; i < C; i++) { for (var j = 0u; j < 8u; j++) { ok[i] = (i > 2u) || (j < n); } }')[0]!,
    /'\|\|' unrolled into 16 copies .*use '\|'/,
  );
  assert.equal(lint('  for (var i = 0u; i < R; i++) { ok[i] = (i > 2u) & (i < n); }'), [], 'no short circuit');
  assert.equal(lint('  for (var i = 0u; i < 8u; i++) { ok[i] = i > 2u && i < n; }'), [], '8 copies');
  assert.equal(lint('  for (var i = 0u; i < n; i++) { ok[i % R] = i > 2u && i < n; }'), [], 'a loop that is not unrolled');
  // Constant-bound loops over a register array that stay loops: the array stays in memory.
  const kept = lint('  for (var i = 0u; i < R; i++) {\n    if (i > n) { break; }\n    ok[i] = true;\n  }');
  assert.is(kept.length, 1, kept.join('\n'));
  assert.match(
    kept[0]!,
    /^line 5, `for \(var i \.\.\.\)`: .* because it has a break or continue of its own .*, so ok \(indexed by i\) stay in memory on SwiftShader/,
  );
  assert.match(lint('  for (var i = 0u; i <= 15u; i++) { ok[i] = true; }')[0]!, /its header is not `for \(var i = LITERAL; i < BOUND; i\+\+\)`/);
  assert.equal(lint('  for (var i = 0u; i < R; i++) { for (var k = 0u; k < n; k++) { if (k > 3u) { break; } } ok[i] = true; }'), [], "a nested loop's break");
  assert.equal(lint('  for (var i = 0u; i < R; i++) { if (i > n) { break; } }'), [], 'no register array indexed');
});

// Each case returns the arrays to compare: outputs and gradients, with shapes that divide no tile.
const rng = new Rng(5);
const data = (n: number) => randomData(n, rng);
const X = data(2 * 13 * 11 * 6),
  W3 = data(3 * 3 * 6 * 10),
  B10 = data(10),
  Wd = data(3 * 3 * 6),
  B6 = data(6);
const A = data(37 * 29),
  Bm = data(29 * 45),
  G = data(4096);
const cases: Record<string, () => Promise<Float32Array[]>> = {
  'conv2d 3x3 stride 2 + bias + ReLU, dX and dW': async () => {
    const x = Tensor.from(X, [2, 13, 11, 6]),
      w = Tensor.from(W3, [3, 3, 6, 10]),
      b = Tensor.from(B10, [10]);
    for (const t of [x, w, b]) t.requiresGrad = true;
    const y = scope(() => {
      const y = ops.conv2d(x, w, b, { stride: 2, pad: 1, relu: true });
      y.backward(Tensor.from(G.subarray(0, y.size), y.shape));
      return y;
    });
    return Promise.all([y, x.grad!, w.grad!, b.grad!].map((t) => t.read()));
  },
  'conv2d 3x3 dilation 2, SAME-free padding 2': async () => {
    const x = Tensor.from(X, [2, 13, 11, 6]),
      w = Tensor.from(W3, [3, 3, 6, 10]);
    return [await ops.conv2d(x, w, null, { dilation: 2, pad: 2 }).read()];
  },
  'depthwise 3x3 stride 1 and 2 + ReLU6, dX and dW': async () => {
    const out: Float32Array[] = [];
    for (const stride of [1, 2]) {
      const x = Tensor.from(X, [2, 13, 11, 6]),
        w = Tensor.from(Wd, [3, 3, 6]),
        b = Tensor.from(B6, [6]);
      for (const t of [x, w, b]) t.requiresGrad = true;
      const y = scope(() => {
        const y = ops.depthwiseConv2d(x, w, b, { stride, pad: 'same', relu6: true });
        y.backward(Tensor.from(G.subarray(0, y.size), y.shape));
        return y;
      });
      out.push(...(await Promise.all([y, x.grad!, w.grad!, b.grad!].map((t) => t.read()))));
    }
    return out;
  },
  'matmul 37x29x45 and its transposes': async () => {
    const a = Tensor.from(A, [37, 29]),
      b = Tensor.from(Bm, [29, 45]);
    a.requiresGrad = b.requiresGrad = true;
    const y = scope(() => {
      const y = ops.matmul(a, b);
      y.backward(Tensor.from(G.subarray(0, y.size), y.shape));
      return y;
    });
    return Promise.all([y, a.grad!, b.grad!].map((t) => t.read()));
  },
};

const promoted = await Runtime.create({ promoteRegisters: true });
test.after(() => {
  setRuntime(rt);
  promoted.destroy();
});

for (const [name, run] of Object.entries(cases)) {
  test(`promoted kernels give bitwise the same results: ${name}`, async () => {
    setRuntime(rt);
    const plain = await run();
    setRuntime(promoted);
    const prom = await run();
    setRuntime(rt);
    assert.is(prom.length, plain.length);
    plain.forEach((p, i) => {
      const q = prom[i]!;
      assert.is(q.length, p.length, `${name}: result ${i} length`);
      const differs = p.findIndex((v, k) => !Object.is(v, q[k]));
      assert.is(differs, -1, `${name}: result ${i} differs at ${differs} (${p[differs]} vs ${q[differs]})`);
    });
  });
}

test.run();
