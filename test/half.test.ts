// f16 weights for inference: the cast, the kernels that read packed halves (conv2d forward, matmul's
// B), the guards that keep f16 out of f32 kernels and gradients, and a whole model checked against f32.
import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { noGrad, ops, Rng, Runtime, Tensor } from '../src/index.js';
import { f16ToF32, f32ToF16 } from '../src/graph/half.js';
import { loadModel } from '../src/model/files.js';
import { decodeImage } from '../src/data/image.js';
import { propose } from '../src/infer/proposals.js';
import * as rle from '../src/data/rle.js';
import { assertClose, randomData } from './lib/check.js';
import { conv2dRef, convOut, matmulRef, type ConvRefGeometry } from './lib/ref.js';
import { repoPath } from './lib/shared.js';
import { rt } from './lib/gpu.js';

const rng = new Rng(5);
const rounded = (d: ArrayLike<number>) => Float64Array.from(d, (v) => f16ToF32(f32ToF16(v)));

test('half() rounds to IEEE f16 (nearest even) and read() unpacks; odd lengths', async () => {
  // Magnitudes from subnormal halves to thousands, and ties that must round to even.
  const data = Float64Array.from([...randomData(37, rng, -3000, 3000), 1e-6, -3e-5, 0.1, 1 + 2 ** -11, 1 + 3 * 2 ** -11, 65504, 0]);
  const x = Tensor.from(data, [data.length], { rt });
  const h = ops.half(x);
  assert.is(h.dtype, 'f16');
  assert.is(h.bytes, Math.ceil(data.length / 2) * 4);
  assert.equal(Array.from(await h.read()), Array.from(rounded(data)));
  const up = Tensor.from(data, [data.length], { rt, dtype: 'f16' });
  assert.equal(Array.from(await up.read()), Array.from(rounded(data)), 'host packing agrees with the GPU cast');
  for (const t of [x, h, up]) t.dispose();
});

test('conv2d with f16 weights equals the float64 reference on the rounded weights', async () => {
  const cases: [ConvRefGeometry, boolean][] = [
    [{ N: 2, H: 13, W: 17, Cin: 3, Cout: 5, KH: 3, KW: 3, stride: 2, pad: 1, dil: 1 }, false], // scalar weight loads
    [{ N: 1, H: 11, W: 9, Cin: 8, Cout: 12, KH: 3, KW: 3, stride: 1, pad: 1, dil: 1 }, true], // vec4 loads, fused ReLU
    [{ N: 1, H: 19, W: 18, Cin: 6, Cout: 7, KH: 7, KW: 7, stride: 1, pad: 0, dil: 2 }, false], // the score head's dilated 7x7
    [{ N: 3, H: 10, W: 9, Cin: 6, Cout: 3, KH: 3, KW: 3, stride: 1, pad: 1, dil: 1 }, false], // fewer channels than a lane's 8 columns (the refinement's last layers), scalar loads
    [{ N: 2, H: 12, W: 11, Cin: 5, Cout: 4, KH: 3, KW: 3, stride: 2, pad: 1, dil: 1 }, true], // the same with vec4 loads
  ];
  for (const [g, relu] of cases) {
    const xd = randomData(g.N * g.H * g.W * g.Cin, rng),
      wd = randomData(g.KH * g.KW * g.Cin * g.Cout, rng),
      bd = randomData(g.Cout, rng);
    const y = noGrad(() => {
      const w = ops.half(Tensor.from(wd, [g.KH, g.KW, g.Cin, g.Cout], { rt }));
      return ops.conv2d(Tensor.from(xd, [g.N, g.H, g.W, g.Cin], { rt }), w, Tensor.from(bd, [g.Cout], { rt }), {
        stride: g.stride,
        pad: g.pad,
        dilation: g.dil,
        relu,
      });
    });
    const [OH, OW] = convOut(g);
    assert.equal([...y.shape], [g.N, OH, OW, g.Cout]);
    assertClose(await y.read(), conv2dRef(xd, rounded(wd), bd, g, relu), `conv ${g.KH}x${g.KW} ${g.Cin}->${g.Cout}`, 1e-5);
    y.dispose();
  }
});

test('f16 weights over the binding limit: conv tap slices and matmul windows', async () => {
  const small = await Runtime.create({ maxBindingBytes: 16 * 1024 });
  // A 7x7 conv 16 -> 32: 50 KiB of halves under a 16 KiB cap.
  const g: ConvRefGeometry = { N: 1, H: 9, W: 9, Cin: 16, Cout: 32, KH: 7, KW: 7, stride: 1, pad: 0, dil: 1 };
  const xd = randomData(9 * 9 * 16, rng),
    wd = randomData(7 * 7 * 16 * 32, rng),
    bd = randomData(32, rng);
  const y = noGrad(() =>
    ops.conv2d(Tensor.from(xd, [1, 9, 9, 16], { rt: small }), ops.half(Tensor.from(wd, [7, 7, 16, 32], { rt: small })), Tensor.from(bd, [32], { rt: small }), {
      relu: true,
    }),
  );
  assertClose(await y.read(), conv2dRef(xd, rounded(wd), bd, g, true), 'f16 tap slices', 1e-5);
  // Tap slices with 4 output channels: 5x5 96 -> 4 is 19 KiB of halves; the input fits a binding.
  const gn: ConvRefGeometry = { N: 1, H: 6, W: 7, Cin: 96, Cout: 4, KH: 5, KW: 5, stride: 1, pad: 0, dil: 1 };
  const xn = randomData(6 * 7 * 96, rng),
    wn = randomData(5 * 5 * 96 * 4, rng),
    bn = randomData(4, rng);
  const yn = noGrad(() =>
    ops.conv2d(Tensor.from(xn, [1, 6, 7, 96], { rt: small }), ops.half(Tensor.from(wn, [5, 5, 96, 4], { rt: small })), Tensor.from(bn, [4], { rt: small }), {
      relu: true,
    }),
  );
  assertClose(await yn.read(), conv2dRef(xn, rounded(wn), bn, gn, true), 'f16 tap slices, 4 channels', 1e-5);
  yn.dispose();
  // Linear layers with [in, out] weights of 2 * 2049 * out bytes: K pieces; N = 8 (vec4) and N = 7 (scalar).
  for (const O of [8, 7]) {
    const [B, I] = [5, 2049];
    const ad = randomData(B * I, rng),
      bwd = randomData(I * O, rng),
      bb = randomData(O, rng);
    const out = noGrad(() =>
      ops.linear(Tensor.from(ad, [B, I], { rt: small }), ops.half(Tensor.from(bwd, [I, O], { rt: small })), Tensor.from(bb, [O], { rt: small })),
    );
    const ref = matmulRef(ad, rounded(bwd), B, O, I).map((v, i) => v + bb[i % O]!);
    assertClose(await out.read(), ref, `f16 linear windows, ${O} outputs`, 1e-5);
  }
  small.destroy();
});

test('f16 tensors are refused by f32 kernels and by gradients, with a message', async () => {
  const w = ops.half(Tensor.from(randomData(12, rng), [3, 4], { rt }));
  w.name = 'fc.weight';
  const x = Tensor.from(randomData(6, rng), [2, 3], { rt });
  x.requiresGrad = true;
  assert.throws(() => ops.relu(w), /fc\.weight \[3, 4\] is f16/);
  assert.throws(() => ops.linear(x, w), /linear: fc\.weight is f16, which has no gradients/);
  const y = noGrad(() => ops.linear(x, w));
  assert.equal([...y.shape], [2, 4]);
  for (const t of [w, x, y]) t.dispose();
});

test("a trained model with half() weights gives the f32 model's scores and masks", async () => {
  const img = decodeImage(readFileSync(repoPath('web/assets/scene.png')), 'scene.png');
  const full = loadModel(repoPath('models/tiny-synth'));
  const halved = loadModel(repoPath('models/tiny-synth')).half();
  const weights = halved.namedParameters();
  assert.ok(
    weights.filter(([, p]) => p.shape.length >= 2).every(([, p]) => p.dtype === 'f16'),
    'every weight is f16',
  );
  assert.ok(
    weights.filter(([, p]) => p.shape.length === 1).every(([, p]) => p.dtype === 'f32'),
    'biases stay f32',
  );
  const state = await full.exportState();
  assert.throws(() => halved.loadState(state), /holds it as f16/);

  const image = Tensor.from(randomData(1 * 160 * 176 * 3, rng), [1, 160, 176, 3], { rt });
  const a = noGrad(() => full.eval().dense(image)),
    b = noGrad(() => halved.eval().dense(image));
  assertClose(await b.scores.read(), await a.scores.read(), 'dense scores', 1e-2);
  assertClose(await b.embedding.read(), await a.embedding.read(), 'dense embedding', 1e-2);

  const pf = (await propose(full, img, { proposals: 20 })).proposals;
  const ph = (await propose(halved, img, { proposals: 20 })).proposals;
  assert.is(ph.length, pf.length);
  // Each of the top 10 f16 proposals has an f32 twin: a near-equal score and the same mask.
  for (const [i, p] of ph.slice(0, 10).entries()) {
    const best = Math.max(...pf.map((q) => (Math.abs(q.score - p.score) < 0.02 ? rle.iou([p.rle], [q.rle], [false])[0]![0]! : 0)));
    assert.ok(best >= 0.95, `f16 proposal ${i} (score ${p.score.toFixed(3)}): best IoU with an f32 proposal ${best.toFixed(3)}`);
  }
  for (const t of [image, a.scores, a.embedding, b.scores, b.embedding, ...full.parameters(), ...halved.parameters()]) t.dispose();
});

test.run();
