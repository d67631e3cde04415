import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import {
  DeepMask,
  exportModel,
  importModel,
  importTorchvisionTrunk,
  noGrad,
  readSafetensors,
  Rng,
  scope,
  Tensor,
  writeSafetensors,
  type HostTensor,
} from '../src/index.js';
import { decodeImage, normalizeRgb, resizeRgb } from '../src/data/image.js';
import { f16ToF32, f32ToF16 } from '../src/model/safetensors.js';
import { assertClose, numericGrad, randomData } from './lib/check.js';
import { deepmaskRef, lossRef, trunkRef, type Params } from './lib/ref-model.js';
import { sharedPath } from './lib/shared.js';
import './lib/gpu.js';

const rng = new Rng(5);

async function hostParams(m: DeepMask): Promise<Params> {
  const out: Params = new Map();
  for (const [name, t] of await m.exportState()) out.set(name, { shape: t.shape, data: Float64Array.from(t.data) });
  return out;
}

function dispose(m: DeepMask): void {
  m.zeroGrad();
  m.dispose();
}

test('parameter counts of every preset (vgg-a: 75,844,545, as in the paper)', () => {
  const counts: Record<string, number> = {
    'vgg-a': 75_844_545,
    vgg16: 81_338_753,
    squeeze: 13_999_361,
    tiny: 624_097,
    mobile: 1_605_760 + 65_664 + 6_554_112 + 1_608_768 + 525_312 + 1_025,
  };
  for (const [preset, n] of Object.entries(counts)) {
    const m = new DeepMask(preset);
    assert.is(m.parameterCount(), n, preset);
    dispose(m);
  }
});

test('save -> load round trip is bit-exact, and names and shapes are checked on load', async () => {
  const m = new DeepMask('tiny', { seed: 3 });
  const { weights, config } = await exportModel(m, { training: { steps: 0 } });
  const back = importModel(JSON.parse(JSON.stringify(config)), weights);
  const a = await m.exportState(),
    b = await back.exportState();
  assert.equal([...a.keys()], [...b.keys()]);
  for (const [k, v] of a) assert.ok(Buffer.from(v.data.buffer).equals(Buffer.from(b.get(k)!.data.buffer)), `${k} bit-exact`);
  // A wrong shape and a missing tensor are named with their expected and found shapes.
  const state = await m.exportState();
  state.set('heads.maskOut.bias', { shape: [3135], data: new Float32Array(3135) });
  assert.throws(
    () => importModel(config, writeSafetensors(state), 'bad.safetensors'),
    /bad\.safetensors: tensor 'heads\.maskOut\.bias' has shape \[3135\], expected \[3136\]/,
  );
  state.delete('heads.maskOut.bias');
  assert.throws(
    () => importModel(config, writeSafetensors(state), 'bad.safetensors'),
    /bad\.safetensors: missing tensor 'heads\.maskOut\.bias' \(expected shape \[3136\]\)/,
  );
  dispose(m);
  dispose(back);
});

test('f16 weights round to the nearest half and load', async () => {
  for (const v of [0, 1, -2.5, 65504, 1e-5, 3.14159, -0.000061035]) assert.ok(Math.abs(f16ToF32(f32ToF16(v)) - v) <= Math.abs(v) * 2 ** -11 + 6e-8, `${v}`);
  const m = new DeepMask('tiny');
  const { weights, config } = await exportModel(m, { dtype: 'F16' });
  const back = importModel(config, weights);
  const a = await m.exportState(),
    b = await back.exportState();
  assertClose(b.get('heads.maskOut.weight')!.data, a.get('heads.maskOut.weight')!.data, 'f16 weights', 1e-3);
  dispose(m);
  dispose(back);
});

test('import of a torchvision-layout trunk maps every tensor ([out, in, kh, kw] -> [kh, kw, in, out])', async () => {
  const m = new DeepMask('tiny');
  const file = { tensors: new Map<string, HostTensor>(), metadata: {} };
  for (const [name, p] of m.trunk.namedParameters()) {
    const shape = p.shape.length === 4 ? [p.shape[3]!, p.shape[2]!, p.shape[0]!, p.shape[1]!] : [...p.shape];
    file.tensors.set(name, { shape, data: Float32Array.from(randomData(p.size, rng)) });
  }
  assert.is(importTorchvisionTrunk(m, file), 10);
  const w = file.tensors.get('features.3.weight')!; // [16, 8, 3, 3] in torchvision's layout
  const ours = await m.trunk
    .namedParameters()
    .find(([n]) => n === 'features.3.weight')![1]
    .read();
  const [O, I] = [16, 8];
  for (const [o, i, a, b] of [
    [0, 0, 0, 0],
    [15, 7, 2, 1],
    [3, 5, 1, 2],
  ] as const)
    assert.is(ours[((a * 3 + b) * I + i) * O + o], w.data[((o * I + i) * 3 + a) * 3 + b]);
  file.tensors.get('features.0.weight')!.shape = [8, 3, 5, 5];
  assert.throws(
    () => importTorchvisionTrunk(m, file, 'vgg.safetensors'),
    /vgg\.safetensors: tensor 'features\.0\.weight' has shape \[8, 3, 5, 5\], expected \[8, 3, 3, 3\]/,
  );
  file.tensors.delete('features.0.weight');
  assert.throws(() => importTorchvisionTrunk(m, file, 'vgg.safetensors'), /missing tensor 'features\.0\.weight' \(expected shape \[8, 3, 3, 3\]\)/);
  dispose(m);
});

test('tiny preset: forward, loss and gradients against the float64 CPU reference', async () => {
  const m = new DeepMask('tiny', { seed: 9 }).eval(); // evaluation mode: dropout is the identity
  const c = m.config,
    B = 2,
    S = c.inputSize,
    G = c.gtSize;
  const x = randomData(B * S * S * 3, rng);
  const gt = Float64Array.from({ length: B * G * G }, () => (rng.next() < 0.3 ? 1 : -1));
  const t = {
    masks: gt,
    maskWeights: Float64Array.from({ length: B * G * G }, (_, i) => (i < G * G ? 1 / (G * G) : 0)), // first window positive
    scores: Float64Array.of(1, -1),
    scoreWeights: Float64Array.of(1 / 32, 1 / 32),
  };
  const P = await hostParams(m);
  const fm = { d: x, N: B, H: S, W: S, C: 3 };
  const ref = deepmaskRef(c, P, fm);
  const xt = Tensor.from(x, [B, S, S, 3]);
  const loss = scope(() => {
    const pred = m.forward(xt);
    const l = m.loss(pred, {
      masks: Tensor.from(t.masks, [B, G, G, 1]),
      maskWeights: Tensor.from(t.maskWeights, [B, G, G, 1]),
      scores: Tensor.from(t.scores, [B, 1]),
      scoreWeights: Tensor.from(t.scoreWeights, [B, 1]),
    });
    l.backward();
    return [l, pred.masks, pred.scores];
  });
  assertClose(await loss[1]!.read(), ref.masks, 'mask logits');
  assertClose(await loss[2]!.read(), ref.scores, 'scores');
  assertClose([await loss[0]!.item()], [lossRef(c, P, fm, t)], 'loss');
  const byName = new Map(m.namedParameters());
  for (const name of [
    'trunk.features.0.weight',
    'trunk.features.12.bias',
    'heads.maskConv.weight',
    'heads.maskLowRank.weight',
    'heads.maskOut.bias',
    'heads.scoreHidden.0.weight',
    'heads.scoreOut.weight',
  ]) {
    const p = P.get(name)!;
    const at = Array.from({ length: 5 }, () => rng.int(p.data.length));
    const numeric = numericGrad((v) => lossRef(c, new Map(P).set(name, { shape: p.shape, data: v }), fm, t), p.data, 1e-6, at);
    const got = await byName.get(name)!.grad!.read();
    assertClose(
      at.map((i) => got[i]!),
      at.map((i) => numeric[i]!),
      `d loss / d ${name}`,
      1e-3,
    );
  }
  for (const v of loss) v!.dispose();
  xt.dispose();
  dispose(m);
});

test('vgg-a takes a full SGD step at batch 1 (its 205 MB mask weight exceeds the binding limit)', async () => {
  const { SGD, scope: sc } = await import('../src/index.js');
  const m = new DeepMask('vgg-a', { seed: 1 });
  const big = m.namedParameters().find(([n]) => n === 'heads.maskLowRank.weight')![1];
  assert.ok(big.bytes > m.rt.limits.maxBindingBytes, `${big.bytes} bytes`);
  const S = 224,
    G = m.config.gtSize;
  const x = Tensor.from(randomData(S * S * 3, rng), [1, S, S, 3]);
  const t = {
    masks: Tensor.from(new Float32Array(G * G).fill(1), [1, G, G, 1]),
    maskWeights: Tensor.from(new Float32Array(G * G).fill(1 / (G * G)), [1, G, G, 1]),
    scores: Tensor.from([1], [1, 1]),
    scoreWeights: Tensor.from([1 / 32], [1, 1]),
  };
  const before = (await big.read()).slice(0, 1000);
  const opt = new SGD(m.parameters(), { lr: 0.01, momentum: 0.9, weightDecay: 5e-4 });
  const loss = sc(() => {
    const l = m.loss(m.forward(x), t);
    l.backward();
    opt.step();
    return l;
  });
  assert.ok(Number.isFinite(await loss.item()), 'finite loss');
  const after = (await big.read()).slice(0, 1000);
  assert.ok(
    after.some((v, i) => v !== before[i]),
    'the oversized weight was updated',
  );
  assert.ok(after.every(Number.isFinite), 'and stays finite');
  loss.dispose();
  opt.dispose();
  for (const v of [x, ...Object.values(t)]) v.dispose();
  dispose(m);
});

/** Crops [n, F, F, C] windows at `cells` from a [1, fh, fw, C] feature map (host side). */
function crops(f: Float32Array, fw: number, C: number, F: number, cells: [number, number][]): Float32Array {
  const out = new Float32Array(cells.length * F * F * C);
  cells.forEach(([r, c], n) => {
    for (let y = 0; y < F; y++) out.set(f.subarray(((r + y) * fw + c) * C, ((r + y) * fw + c + F) * C), (n * F + y) * F * C);
  });
  return out;
}

for (const preset of ['tiny', 'squeeze', 'mobile']) {
  test(`${preset}: dense outputs at every window equal patch-mode outputs on that window's features`, async () => {
    const m = new DeepMask(preset, { seed: 2 }).eval();
    const S = m.config.inputSize + 2 * m.config.stride + 5; // a few windows each way, not a multiple of 16
    const image = Tensor.from(randomData(S * S * 3, rng), [1, S, S, 3]);
    const [features, dense] = noGrad(() => {
      const f = m.trunk.forward(image);
      return [f, m.heads.dense(f)] as const;
    });
    const [, fh, fw, C] = features.shape as [number, number, number, number];
    const F = m.featureSize,
      rows = fh - F + 1,
      cols = fw - F + 1;
    assert.ok(rows >= 3 && cols >= 3, `${rows}x${cols} windows`);
    const cells: [number, number][] = [];
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) cells.push([r, c]);
    const windows = crops(await features.read(), fw, C, F, cells);
    const patch = noGrad(() => m.heads.patch(Tensor.from(windows, [cells.length, F, F, C])));
    const masks = noGrad(() =>
      m.masksAt(
        dense.embedding,
        cells.map(([r, c]) => r * cols + c),
      ),
    );
    assertClose(await masks.read(), await patch.masks.read(), `${preset} dense masks`, 1e-4);
    const sm = await dense.scores.read();
    const sw = dense.scores.shape[2]!;
    assertClose(
      cells.map(([r, c]) => sm[r * sw + c]!),
      await patch.scores.read(),
      `${preset} dense scores`,
      1e-4,
    );
    for (const t of [image, features, dense.embedding, dense.scores, patch.masks, patch.scores, masks]) t.dispose();
    dispose(m);
  });
}

test('squeeze trunk with the shared ImageNet weights matches a float64 CPU reference on a real photo', async () => {
  const weights = sharedPath('weights/squeezenet1_1-imagenet-features.safetensors');
  const photo = sharedPath('data/coco-tiny-train2017/images/000000008193.jpg');
  if (!weights || !photo) {
    console.log('  (skipped: ../shared not found; set DEEPMASK_SHARED)');
    return;
  }
  const m = new DeepMask('squeeze').eval();
  assert.is(importTorchvisionTrunk(m, readSafetensors(readFileSync(weights), weights)), 50);
  const img = resizeRgb(decodeImage(readFileSync(photo), photo), 224, 224);
  const x = normalizeRgb(img.data, m.config.normalization);
  const f = noGrad(() => m.trunk.forward(Tensor.from(x, [1, 224, 224, 3])));
  assert.equal(f.shape, [1, 13, 13, 512]);
  const P = await hostParams(m);
  const ref = trunkRef(m.config, P, { d: Float64Array.from(x), N: 1, H: 224, W: 224, C: 3 });
  const got = await f.read();
  assertClose(got, ref.d, 'squeeze features', 1e-4);
  assert.ok(
    ref.d.some((v) => v > 1),
    'features are non-trivial',
  );
  f.dispose();
  dispose(m);
});

/** NCHW -> NHWC. */
function toNhwc(d: Float32Array, [N, C, H, W]: number[]): Float32Array {
  const out = new Float32Array(d.length);
  for (let n = 0; n < N!; n++)
    for (let c = 0; c < C!; c++)
      for (let h = 0; h < H!; h++) for (let w = 0; w < W!; w++) out[((n * H! + h) * W! + w) * C! + c] = d[((n * C! + c) * H! + h) * W! + w]!;
  return out;
}

test('mobile trunk with the shared ImageNet MobileNetV1 weights matches the independent float64 block-11 reference', async () => {
  const weights = sharedPath('weights/mobilenet_v1_1.0_224-imagenet-features.safetensors');
  const reference = sharedPath('weights/mobilenet_v1-reference.safetensors');
  if (!weights || !reference) {
    console.log('  (skipped: ../shared not found; set DEEPMASK_SHARED)');
    return;
  }
  const m = new DeepMask('mobile').eval();
  // conv0 + 11 blocks of depthwise and pointwise, weight and bias each; blocks 12-13 are past the cut.
  assert.is(importTorchvisionTrunk(m, readSafetensors(readFileSync(weights), weights)), 2 + 11 * 4);
  const ref = readSafetensors(readFileSync(reference), reference).tensors;
  const input = ref.get('input')!,
    block11 = ref.get('block11')!;
  const f = noGrad(() => m.trunk.forward(Tensor.from(toNhwc(input.data, input.shape), [1, 224, 224, 3])));
  assert.equal(f.shape, [1, 14, 14, 512]);
  const expected = toNhwc(block11.data, block11.shape);
  // Activations reach 6 (ReLU6); a float32 implementation stays within 4.9e-6 of the float64 one.
  assertClose(await f.read(), expected, 'mobile block 11', 2e-6);
  assert.ok(
    expected.some((v) => v === 6),
    'the reference saturates ReLU6 somewhere',
  );
  f.dispose();
  dispose(m);
});

test('mobile trunk: an odd-sized image gives the features of the same image zero-padded to a multiple of 16', async () => {
  const m = new DeepMask('mobile', { seed: 3 }).eval();
  const H = 83,
    W = 61;
  const data = randomData(H * W * 3, rng);
  const whole = noGrad(() => m.trunk.forward(Tensor.from(data, [1, H, W, 3])));
  assert.equal(whole.shape, [1, 6, 4, 512]);
  // The same image zero-padded below/right to 96 x 64 (zero = mid-grey after x/127.5 - 1).
  const padded = new Float64Array(96 * 64 * 3);
  for (let y = 0; y < H; y++) padded.set(data.subarray(y * W * 3, (y + 1) * W * 3), y * 64 * 3);
  const p = noGrad(() => m.trunk.forward(Tensor.from(padded, [1, 96, 64, 3])));
  assertClose(await whole.read(), await p.read(), 'odd size vs padded', 1e-5);
  for (const t of [whole, p]) t.dispose();
  dispose(m);
});

test.run();
