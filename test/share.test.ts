// Shared GEMM loads (RuntimeOptions.shareLoads, the SHARE override of shaders/include/gemm.wgsl): on
// wide tiles the lanes of a subgroup load a few rows of A each and read the others' with subgroup
// shuffles. The GEMM-shaped ops with wide outputs (64 columns and more; for a convolution's input
// gradient, 64 input channels and more; for its weight gradient, 64 outputs and a multiple of 16
// input channels) against float64 references,
// and bitwise against a second runtime that does not share, on shapes that divide no tile.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ops, Rng, Runtime, scope, setRuntime, Tensor } from '../src/index.js';
import { assertClose, randomData } from './lib/check.js';
import { conv2dInputGradRef, conv2dRef, conv2dWeightGradRef, convOut, matmulRef, type ConvRefGeometry } from './lib/ref.js';
import { rt } from './lib/gpu.js';

const rng = new Rng(11);
const data = (n: number) => randomData(n, rng);

test('lavapipe shares loads by default (so the cases below run the shared path there)', () => {
  if (rt.adapter.slug !== 'llvmpipe') return;
  assert.ok(rt.shareLanes >= 4, `shareLanes ${rt.shareLanes}: lavapipe with subgroups should share`);
});

interface Case {
  /** Runs the ops on the current runtime: outputs and gradients. */
  run(): Promise<Float32Array[]>;
  /** Float64 references of the first outputs (the gradients are held bitwise only). */
  refs: Float64Array[];
}

function matmulCase(M: number, K: number, N: number): Case {
  const A = data(M * K),
    B = data(K * N),
    G = data(M * N);
  return {
    refs: [matmulRef(A, B, M, N, K)],
    run: async () => {
      const a = Tensor.from(A, [M, K]),
        b = Tensor.from(B, [K, N]);
      a.requiresGrad = b.requiresGrad = true;
      const y = scope(() => {
        const y = ops.matmul(a, b);
        y.backward(Tensor.from(G, y.shape)); // dA = G·Bᵀ (narrow or wide with K), dB = Aᵀ·G (wide)
        return y;
      });
      return Promise.all([y, a.grad!, b.grad!].map((t) => t.read()));
    },
  };
}

/** A convolution; with `grad` (no ReLU) also its backward, both gradients checked against float64 too. */
function convCase(g: ConvRefGeometry, bias: boolean, relu: boolean, grad = false): Case {
  const X = data(g.N * g.H * g.W * g.Cin),
    W = data(g.KH * g.KW * g.Cin * g.Cout),
    B = bias ? data(g.Cout) : null;
  const [OH, OW] = convOut(g);
  const G = data(g.N * OH * OW * g.Cout);
  return {
    refs: grad ? [conv2dRef(X, W, B, g, relu), conv2dInputGradRef(G, W, g), conv2dWeightGradRef(X, G, g)] : [conv2dRef(X, W, B, g, relu)],
    run: async () => {
      const x = Tensor.from(X, [g.N, g.H, g.W, g.Cin]),
        w = Tensor.from(W, [g.KH, g.KW, g.Cin, g.Cout]);
      const b = B ? Tensor.from(B, [g.Cout]) : null;
      if (!grad) return [await ops.conv2d(x, w, b, { stride: g.stride, pad: g.pad, dilation: g.dil, relu }).read()];
      for (const t of [x, w, b]) if (t) t.requiresGrad = true;
      const y = scope(() => {
        const y = ops.conv2d(x, w, b, { stride: g.stride, pad: g.pad, dilation: g.dil, relu });
        y.backward(Tensor.from(G, y.shape));
        return y;
      });
      return Promise.all([y, x.grad!, w.grad!, ...(b ? [b.grad!] : [])].map((t) => t.read()));
    },
  };
}

const geometry = (o: Partial<ConvRefGeometry>): ConvRefGeometry => ({ N: 2, H: 9, W: 7, Cin: 13, Cout: 72, KH: 1, KW: 1, stride: 1, pad: 0, dil: 1, ...o });

const cases: Record<string, Case> = {
  'matmul 37x29·29x70 (rows past the last tile, columns past the last lane)': matmulCase(37, 29, 70),
  'matmul 21x130·130x64 (dA wide too)': matmulCase(21, 130, 64),
  'matmul 3x2051·2051x80 (split over K)': matmulCase(3, 2051, 80),
  'conv2d 1x1, 72 outputs': convCase(geometry({}), false, false),
  'conv2d 3x3 stride 2 pad 1 + bias + ReLU, 64 outputs': convCase(geometry({ H: 11, W: 10, Cin: 6, Cout: 64, KH: 3, KW: 3, stride: 2, pad: 1 }), true, true),
  'conv2d 3x3 dilation 2 pad 2, 130 outputs': convCase(geometry({ N: 1, Cin: 5, Cout: 130, KH: 3, KW: 3, pad: 2, dil: 2 }), true, false),
  'conv2d 1x1, 67 inputs, with dX (wide over the inputs)': convCase(geometry({ Cin: 67, Cout: 24 }), true, false, true),
  'conv2d 3x3 stride 2 pad 1, 70 inputs, with dX (taps no output uses)': convCase(
    geometry({ H: 11, W: 10, Cin: 70, Cout: 9, KH: 3, KW: 3, stride: 2, pad: 1 }),
    false,
    false,
    true,
  ),
  'conv2d 3x3 pad 1, 32 inputs, 72 outputs, with dW (one tap per tile of rows)': convCase(
    geometry({ Cin: 32, Cout: 72, KH: 3, KW: 3, pad: 1 }),
    true,
    false,
    true,
  ),
};

const plain = await Runtime.create({ shareLoads: false });
test.after(() => {
  setRuntime(rt);
  plain.destroy();
});

test('a runtime told not to share does not', () => {
  assert.is(plain.shareLanes, 0);
});

for (const [name, c] of Object.entries(cases)) {
  test(`shared loads: ${name}`, async () => {
    setRuntime(rt);
    const shared = await c.run();
    setRuntime(plain);
    const own = await c.run();
    setRuntime(rt);
    c.refs.forEach((r, i) => assertClose(shared[i]!, r, `${name}: output ${i} against float64`));
    assert.is(shared.length, own.length);
    own.forEach((p, i) => {
      const q = shared[i]!;
      assert.is(q.length, p.length, `${name}: result ${i} length`);
      const differs = p.findIndex((v, k) => !Object.is(v, q[k]));
      assert.is(differs, -1, `${name}: result ${i} differs at ${differs} (${q[differs]} shared vs ${p[differs]} own loads)`);
    });
  });
}

test.run();
