import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { noGrad, ops, Rng, Runtime, SGD, Tensor } from '../src/index.js';
import { assertClose, checkOp, randomData } from './lib/check.js';
import { conv2dRef, convOut, cropWindowsRef, maxPoolRef, resizeRef, upsampleNearestRef, type ConvRefGeometry } from './lib/ref.js';
import { rt } from './lib/gpu.js';
import { axisWeights, paddedInput, resizeRgb } from '../src/data/image.js';

const rng = new Rng(11);
const numel = (s: number[]) => s.reduce((a, b) => a * b, 1);
const input = (shape: number[], grad = true) => ({ shape, data: randomData(numel(shape), rng), grad });

// Shapes that divide no tile: 13x17 images, 3 input and 5 output channels, batch 2.
for (const k of [1, 3, 7]) {
  for (const [stride, pad, dil] of [
    [1, 0, 1],
    [1, 1, 1],
    [2, 0, 1],
    [2, 1, 1],
    [1, 1, 2],
    [2, 1, 2],
  ] as const) {
    test(`conv2d ${k}x${k} stride ${stride} pad ${pad} dilation ${dil}`, async () => {
      const g: ConvRefGeometry = { N: 2, H: 13, W: 17, Cin: 3, Cout: 5, KH: k, KW: k, stride, pad, dil };
      const [OH, OW] = convOut(g);
      if (OH <= 0 || OW <= 0) return;
      await checkOp(
        'conv2d',
        [input([2, 13, 17, 3]), input([k, k, 3, 5]), input([5])],
        ([x, w, b]) => ops.conv2d(x!, w!, b!, { stride, pad, dilation: dil }),
        ([x, w, b]) => conv2dRef(x!, w!, b!, g),
        { samples: 48 },
      );
    });
  }
}

test('conv2d with vector-width channels (8 in, 12 out), fused ReLU, and a non-square kernel', async () => {
  for (const [KH, KW, relu] of [
    [3, 3, true],
    [2, 5, false],
  ] as const) {
    const g: ConvRefGeometry = { N: 3, H: 9, W: 11, Cin: 8, Cout: 12, KH, KW, stride: 1, pad: 1, dil: 1 };
    const x = input([3, 9, 11, 8]);
    x.data = x.data.map((v) => v + 0.05); // keep pre-activations off ReLU's kink
    await checkOp(
      'conv2d vec4',
      [x, input([KH, KW, 8, 12]), input([12])],
      ([xx, w, b]) => ops.conv2d(xx!, w!, b!, { pad: 1, relu }),
      ([xx, w, b]) => conv2dRef(xx!, w!, b!, g, relu),
      { samples: 48 },
    );
  }
});

test('conv2d with fused ReLU on few channels (the lane-per-pixel input gradient reads the masked gradient)', async () => {
  for (const [Cin, Cout, stride] of [
    [3, 5, 1],
    [3, 8, 2],
    [4, 12, 1],
  ] as const) {
    const g: ConvRefGeometry = { N: 2, H: 11, W: 13, Cin, Cout, KH: 3, KW: 3, stride, pad: 1, dil: 1 };
    await checkOp(
      `conv2d relu ${Cin}->${Cout} stride ${stride}`,
      [input([2, 11, 13, Cin]), input([3, 3, Cin, Cout]), input([Cout])],
      ([x, w, b]) => ops.conv2d(x!, w!, b!, { pad: 1, stride, relu: true }),
      ([x, w, b]) => conv2dRef(x!, w!, b!, g, true),
      { samples: 40 },
    );
  }
});

test('conv2d with 1 to 4 output channels (as the refinement uses): strides, padding, dilation, fused ReLU', async () => {
  for (const [Cout, stride, pad, dil, relu] of [
    [1, 1, 1, 1, false],
    [2, 2, 1, 1, true],
    [3, 1, 2, 2, false],
    [4, 2, 0, 1, true],
  ] as const) {
    const g: ConvRefGeometry = { N: 2, H: 11, W: 13, Cin: 5, Cout, KH: 3, KW: 3, stride, pad, dil };
    const x = input([2, 11, 13, 5]);
    if (relu) x.data = x.data.map((v) => v + 0.05);
    await checkOp(
      `conv2d 5->${Cout} stride ${stride} pad ${pad} dilation ${dil}${relu ? ' relu' : ''}`,
      [x, input([3, 3, 5, Cout]), input([Cout])],
      ([xx, w, b]) => ops.conv2d(xx!, w!, b!, { stride, pad, dilation: dil, relu }),
      ([xx, w, b]) => conv2dRef(xx!, w!, b!, g, relu),
      { samples: 40 },
    );
  }
});

test('conv2d weight gradient splits long pixel ranges deterministically', async () => {
  // Many pixels and few output tiles: the weight gradient is split into partials and reduced.
  const x = Tensor.from(randomData(4 * 40 * 40 * 8, rng), [4, 40, 40, 8]);
  const w = Tensor.from(randomData(3 * 3 * 8 * 8, rng), [3, 3, 8, 8]);
  w.requiresGrad = true;
  const grads: Float32Array[] = [];
  for (let i = 0; i < 2; i++) {
    const y = ops.conv2d(x, w, null, { pad: 1 });
    y.backward(Tensor.from(new Float32Array(y.size).fill(1), y.shape));
    grads.push(await w.grad!.read());
    w.grad!.dispose();
    w.grad = null;
    y.dispose();
  }
  assert.equal(Array.from(grads[0]!), Array.from(grads[1]!), 'identical run to run');
  const xd = Float64Array.from(await x.read());
  // d/dw of sum(y) = sum over pixels of the shifted input.
  const ref = new Float64Array(3 * 3 * 8 * 8);
  for (let n = 0; n < 4; n++)
    for (let oh = 0; oh < 40; oh++)
      for (let ow = 0; ow < 40; ow++)
        for (let kh = 0; kh < 3; kh++)
          for (let kw = 0; kw < 3; kw++) {
            const ih = oh - 1 + kh,
              iw = ow - 1 + kw;
            if (ih < 0 || ih >= 40 || iw < 0 || iw >= 40) continue;
            for (let ci = 0; ci < 8; ci++) for (let co = 0; co < 8; co++) ref[((kh * 3 + kw) * 8 + ci) * 8 + co]! += xd[((n * 40 + ih) * 40 + iw) * 8 + ci]!;
          }
  assertClose(grads[0]!, ref, 'dW');
  x.dispose();
  w.dispose();
});

for (const [k, s, ceil] of [
  [2, 2, false],
  [2, 1, false],
  [3, 2, true],
  [3, 2, false],
] as const) {
  test(`maxPool2d ${k}x${k} stride ${s}${ceil ? ' ceil' : ''}`, async () => {
    const [N, H, W, C] = [2, 13, 17, 5];
    const out = (n: number) => (ceil ? Math.ceil((n - k) / s) + 1 : Math.floor((n - k) / s) + 1);
    await checkOp(
      'maxPool2d',
      [input([N, H, W, C])],
      ([x]) => ops.maxPool2d(x!, { kernel: k, stride: s, ceil }),
      ([x]) => maxPoolRef(x!, N, H, W, C, k, s, out(H), out(W)),
      {
        eps: 1e-7,
      },
    );
  });
}

test('fine-stride pooling and interleave', async () => {
  const [N, H, W, C] = [2, 13, 16, 3];
  const h = Math.floor((H - 1) / 2),
    w = Math.floor((W - 1) / 2);
  const ref = (x: Float64Array) => {
    const parts = [0, 1, 2, 3].map((o) => maxPoolRef(x, N, H, W, C, 2, 2, h, w, o >> 1, o & 1));
    const out = new Float64Array(N * 4 * h * w * C);
    const per = h * w * C;
    for (let n = 0; n < N; n++) for (let o = 0; o < 4; o++) out.set(parts[o]!.subarray(n * per, (n + 1) * per), (n * 4 + o) * per);
    return out;
  };
  await checkOp(
    'fineStridePool',
    [input([N, H, W, C])],
    ([x]) => ops.fineStridePool(x!),
    ([x]) => ref(x!),
    { eps: 1e-7 },
  );
  const inter = (x: Float64Array) => {
    const out = new Float64Array(x.length);
    for (let n = 0; n < N; n++)
      for (let y = 0; y < 2 * h; y++)
        for (let xx = 0; xx < 2 * w; xx++)
          for (let c = 0; c < C; c++)
            out[((n * 2 * h + y) * 2 * w + xx) * C + c] = x[(((n * 4 + (y % 2) * 2 + (xx % 2)) * h + (y >> 1)) * w + (xx >> 1)) * C + c]!;
    return out;
  };
  await checkOp(
    'interleave',
    [input([N * 4, h, w, C])],
    ([x]) => ops.interleave(x!),
    ([x]) => inter(x!),
  );
});

test('interleaved fine-stride pooling + 7x7 conv equals stride-1 pooling + dilation-2 7x7 conv', async () => {
  const [N, H, W, C, K] = [2, 23, 21, 6, 4];
  const x = Tensor.from(randomData(N * H * W * C, rng), [N, H, W, C]);
  const wt = Tensor.from(randomData(7 * 7 * C * K, rng), [7, 7, C, K]);
  const b = Tensor.from(randomData(K, rng), [K]);
  const [a, d] = noGrad(() => [
    ops.interleave(ops.conv2d(ops.fineStridePool(x), wt, b)),
    ops.conv2d(ops.maxPool2d(x, { kernel: 2, stride: 1 }), wt, b, { dilation: 2 }),
  ]);
  const [ah, aw] = [a!.shape[1]!, a!.shape[2]!];
  const [dh, dw] = [d!.shape[1]!, d!.shape[2]!];
  assert.ok(ah <= dh && aw <= dw, `interleaved ${ah}x${aw} within dilated ${dh}x${dw}`);
  const av = await a!.read(),
    dv = await d!.read();
  const crop: number[] = [];
  for (let n = 0; n < N; n++)
    for (let y = 0; y < ah; y++) for (let q = 0; q < aw; q++) for (let c = 0; c < K; c++) crop.push(dv[((n * dh + y) * dw + q) * K + c]!);
  assertClose(av, crop, 'interleaved vs dilated', 1e-5);
  for (const t of [x, wt, b, a!, d!]) t.dispose();
});

for (const align of [true, false]) {
  test(`resizeBilinear ${align ? 'align-corners' : 'half-pixel'}: up, down and to a window size`, async () => {
    for (const [IH, IW, OH, OW] of [
      [7, 5, 13, 17],
      [13, 17, 5, 6],
      [14, 14, 56, 56],
      [1, 3, 4, 9],
    ] as const) {
      await checkOp(
        `resize ${IH}x${IW}->${OH}x${OW}`,
        [input([2, IH, IW, 3])],
        ([x]) => ops.resizeBilinear(x!, [OH, OW], { alignCorners: align }),
        ([x]) => resizeRef(x!, 2, IH, IW, 3, OH, OW, align),
        { samples: 40 },
      );
    }
  });
}

test("resampleImage: weight tables, frame and normalisation against a float64 reference; a pyramid level equals the host's", async () => {
  // Any tables: random starts and weights (3 rows, 4 columns of taps), odd sizes, both channel orders.
  const IH = 9,
    IW = 13,
    OH = 5,
    OW = 7,
    pad = 3;
  const img = randomData(IH * IW * 3, rng, 0, 1);
  const table = (outs: number, size: number) => {
    const start: number[] = [],
      weights: number[][] = [];
    for (let o = 0; o < outs; o++) {
      const n = 1 + (o % 4);
      start.push(Math.floor(rng.next() * (size - n + 1)));
      weights.push(Array.from({ length: n }, () => rng.next() - 0.2));
    }
    return { start, weights };
  };
  const rows = table(OH, IH),
    cols = table(OW, IW);
  const x = Tensor.from(img, [1, IH, IW, 3]);
  for (const reverse of [false, true]) {
    const norm = { gain: reverse ? 255 : 1, mean: [0.4, 0.5, 0.6] as [number, number, number], std: [0.2, 0.3, 0.5] as [number, number, number] };
    const y = noGrad(() => ops.resampleImage(x, { rows, cols, pad, fill: 0.5, reverse, ...norm }));
    assert.equal(y.shape, [1, OH + 2 * pad, OW + 2 * pad, 3]);
    const want: number[] = [];
    for (let py = 0; py < OH + 2 * pad; py++) {
      for (let px = 0; px < OW + 2 * pad; px++) {
        for (let c = 0; c < 3; c++) {
          const from = reverse ? 2 - c : c;
          let v = 0.5;
          const oy = py - pad,
            ox = px - pad;
          if (oy >= 0 && oy < OH && ox >= 0 && ox < OW) {
            v = 0;
            rows.weights[oy]!.forEach((wy, ky) =>
              cols.weights[ox]!.forEach((wx, kx) => (v += wy * wx * img[((rows.start[oy]! + ky) * IW + cols.start[ox]! + kx) * 3 + from]!)),
            );
          }
          want.push((v * norm.gain - norm.mean[c]!) / norm.std[c]!);
        }
      }
    }
    assertClose(await y.read(), want, `resampled, framed, normalised (reverse ${reverse})`, 1e-5);
    y.dispose();
  }
  // A tap outside the image is refused before any work.
  assert.throws(
    () => ops.resampleImage(x, { rows: { start: [IH - 1], weights: [[0.5, 0.5]] }, cols, pad, fill: 0, gain: 1, mean: [0, 0, 0], std: [1, 1, 1] }),
    /row 0 reads 8\.\.9 of 9/,
  );
  x.dispose();
  // With resizeRgb's tables it is the host pyramid level (down by area, up by align-corners bilinear).
  const photo = { width: 23, height: 17, data: Float32Array.from(randomData(23 * 17 * 3, rng, 0, 1)) };
  const src = Tensor.from(photo.data, [1, 17, 23, 3]);
  for (const [w, h] of [
    [7, 5],
    [41, 30],
    [23, 9],
  ] as const) {
    const norm = { space: 'rgb' as const, mean: [0.485, 0.456, 0.406] as [number, number, number], std: [0.229, 0.224, 0.225] as [number, number, number] };
    const level = noGrad(() =>
      ops.resampleImage(src, { rows: axisWeights(17, h), cols: axisWeights(23, w), pad: 4, fill: 0.5, gain: 1, mean: norm.mean, std: norm.std }),
    );
    assertClose(await level.read(), paddedInput(resizeRgb(photo, w, h), 4, norm), `level ${w}x${h}`, 1e-5);
    level.dispose();
  }
  src.dispose();
});

test('dropout: seeded mask, 1/(1-p) scaling, identity at inference, backward through the same mask', async () => {
  const n = 20000,
    p = 0.5;
  const x = Tensor.from(new Float32Array(n).fill(1), [n]);
  x.requiresGrad = true;
  const y = ops.dropout(x, p, { training: true, seed: 42 });
  const v = await y.read();
  const kept = v.filter((e) => e !== 0);
  assert.ok(
    kept.every((e) => Math.abs(e - 2) < 1e-6),
    'kept values scaled by 1/(1-p)',
  );
  assert.ok(Math.abs(kept.length / n - 0.5) < 0.02, `kept fraction ${kept.length / n}`);
  const again = await noGrad(() => ops.dropout(x, p, { training: true, seed: 42 })).read();
  assert.equal(Array.from(again), Array.from(v), 'the same seed gives the same mask');
  const other = await noGrad(() => ops.dropout(x, p, { training: true, seed: 43 })).read();
  assert.not.equal(Array.from(other), Array.from(v), 'another seed gives another mask');
  y.backward(Tensor.from(new Float32Array(n).fill(3), [n]));
  const g = await x.grad!.read();
  assert.ok(
    g.every((e, i) => (v[i] === 0 ? e === 0 : Math.abs(e - 6) < 1e-6)),
    'gradient flows through kept elements only',
  );
  assert.is(ops.dropout(x, p, { training: false, seed: 1 }), x, 'identity at inference');
  for (const t of [x, y, x.grad!]) t.dispose();
});

test('tensors over the storage binding limit are split transparently', async () => {
  // A runtime capped at 64 KiB per binding: a [6, 24, 20, 16] activation is 184 KiB.
  const small = await Runtime.create({ maxBindingBytes: 64 * 1024 });
  const mk = (r: Runtime, d: Float64Array, s: number[]) => Tensor.from(d, s, { rt: r });
  const xd = randomData(6 * 24 * 20 * 16, rng),
    wd = randomData(3 * 3 * 16 * 8, rng),
    bd = randomData(8, rng);
  const results: Float32Array[][] = [];
  for (const r of [rt, small]) {
    const x = mk(r, xd, [6, 24, 20, 16]),
      w = mk(r, wd, [3, 3, 16, 8]),
      b = mk(r, bd, [8]);
    x.requiresGrad = w.requiresGrad = true;
    const y = ops.resizeBilinear(ops.maxPool2d(ops.relu(ops.conv2d(x, w, b, { pad: 1 }))), [24, 20]);
    const l = ops.sum(ops.mul(y, y));
    l.backward();
    results.push([await y.read(), await x.grad!.read(), await w.grad!.read()]);
    for (const t of [x, w, b, y, l, x.grad!, w.grad!]) t.dispose();
  }
  assertClose(results[1]![0]!, results[0]![0]!, 'split forward', 1e-6);
  assertClose(results[1]![1]!, results[0]![1]!, 'split input gradient', 1e-6);
  assertClose(results[1]![2]!, results[0]![2]!, 'split weight gradient', 1e-5);
  assert.ok(small.counters.dispatches > 0);
  small.destroy();
});

test('convolution weights over the binding limit are taken a range of taps at a time', async () => {
  // A 7x7 conv 16 -> 32 (a fully connected layer as a convolution): 100 KiB of weights under a 16 KiB cap.
  const small = await Runtime.create({ maxBindingBytes: 16 * 1024 });
  const xd = randomData(9 * 9 * 16, rng),
    wd = randomData(7 * 7 * 16 * 32, rng),
    bd = randomData(32, rng);
  const outs: Float32Array[] = [];
  for (const r of [rt, small]) {
    const y = noGrad(() =>
      ops.conv2d(Tensor.from(xd, [1, 9, 9, 16], { rt: r }), Tensor.from(wd, [7, 7, 16, 32], { rt: r }), Tensor.from(bd, [32], { rt: r }), { relu: true }),
    );
    outs.push(await y.read());
    y.dispose();
  }
  assertClose(outs[1]!, outs[0]!, 'tap slices', 1e-5);
  small.destroy();
});

test('matmul operands over the binding limit run as windowed sub-problems', async () => {
  const small = await Runtime.create({ maxBindingBytes: 16 * 1024 });
  // A fully connected layer whose weight [in, out] is 64 KiB: forward (K pieces), input gradient
  // (rows of the transposed weight) and weight gradient (rows of the output) all need windows.
  const [B, I, O] = [5, 2049, 8];
  const xd = randomData(B * I, rng),
    wd = randomData(I * O, rng),
    bd = randomData(O, rng);
  const results: Float32Array[][] = [];
  for (const r of [rt, small]) {
    const x = Tensor.from(xd, [B, I], { rt: r }),
      w = Tensor.from(wd, [I, O], { rt: r }),
      b = Tensor.from(bd, [O], { rt: r });
    x.requiresGrad = w.requiresGrad = b.requiresGrad = true;
    const y = ops.linear(x, w, b, { relu: true });
    const l = ops.sum(ops.mul(y, y));
    l.backward();
    results.push([await y.read(), await x.grad!.read(), await w.grad!.read(), await b.grad!.read()]);
    for (const t of [x, w, b, y, l, x.grad!, w.grad!, b.grad!]) t.dispose();
  }
  ['forward', 'input gradient', 'weight gradient', 'bias gradient'].forEach((what, i) =>
    assertClose(results[1]![i]!, results[0]![i]!, `windowed ${what}`, 1e-5),
  );
  // And an SGD step with momentum on that 64 KiB weight, twice (velocity in place).
  const stepped: Float32Array[] = [];
  for (const r of [rt, small]) {
    const w = Tensor.from(wd, [I, O], { rt: r });
    w.requiresGrad = true;
    const opt = new SGD([w], { lr: 0.1, momentum: 0.9, weightDecay: 0.01 });
    for (let k = 0; k < 2; k++) {
      w.grad = Tensor.from(
        wd.map((v, i) => 0.5 * v + k * (i % 3)),
        [I, O],
        { rt: r },
      );
      opt.step();
      w.grad.dispose();
      w.grad = null;
    }
    stepped.push(await w.read());
    opt.dispose();
    w.dispose();
  }
  assertClose(stepped[1]!, stepped[0]!, 'SGD on a parameter over the binding limit', 1e-6);
  small.destroy();
});

test('meanSigmoidAbove: per-row mean probability of the entries at or above a threshold, against float64; empty rows give 0; split past the binding limit', async () => {
  // 130 rows of 3137 logits (not a multiple of the 64 lanes); row 3 has none above the threshold, row 5 all.
  const rows = 130,
    cols = 3137,
    T = 0.4;
  const d = randomData(rows * cols, rng).map((v) => 6 * v);
  for (let c = 0; c < cols; c++) {
    d[3 * cols + c] = -Math.abs(d[3 * cols + c]!) - 1;
    d[5 * cols + c] = Math.abs(d[5 * cols + c]!) + 1;
  }
  d[0] = T; // exactly at the threshold counts
  const f32 = Float32Array.from(d);
  const want = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let s = 0,
      n = 0;
    for (let c = 0; c < cols; c++) {
      const x = f32[r * cols + c]!;
      if (x >= Math.fround(T)) {
        s += 1 / (1 + Math.exp(-x));
        n++;
      }
    }
    want[r] = n ? s / n : 0;
  }
  assert.ok(want[3] === 0 && want[5]! > 0.7);
  // 12.5 KiB a row, so aligned chunks are 64 rows: three dispatches under a 1 MiB limit.
  const small = await Runtime.create({ maxBindingBytes: 2 ** 20 });
  for (const r of [rt, small]) {
    const x = Tensor.from(f32, [rows, 1, cols], { rt: r });
    const before = r.counters.dispatches;
    const y = ops.meanSigmoidAbove(x, T);
    assert.equal(y.shape, [rows]);
    assertClose(await y.read(), want, `meanSigmoidAbove (${r === rt ? 'whole' : 'split'})`, 2e-6);
    assert.is(r.counters.dispatches - before, r === small ? 3 : 1, 'dispatches');
    x.dispose();
    y.dispose();
  }
  small.destroy();
  assert.throws(() => ops.meanSigmoidAbove(Tensor.from(new Float32Array(4), [2, 2]), NaN), /threshold must be finite/);
});

test('upsampleNearest by 2 and 3 on odd shapes, forward and backward against float64 and finite differences', async () => {
  for (const [N, H, W, C, f] of [
    [2, 3, 5, 3, 2],
    [1, 5, 3, 7, 3],
    [3, 1, 1, 1, 2],
  ] as const) {
    await checkOp(
      `upsampleNearest ${N}x${H}x${W}x${C} by ${f}`,
      [input([N, H, W, C])],
      ([x]) => ops.upsampleNearest(x!, f),
      ([x]) => upsampleNearestRef(x!, N, H, W, C, f),
    );
  }
  assert.throws(() => ops.upsampleNearest(Tensor.from(new Float32Array(4), [1, 2, 2, 1]), 1.5), /positive integer/);
});

test('depthToSpace on odd shapes, forward and backward against float64 and finite differences', async () => {
  for (const [N, h, w, C] of [
    [2, 3, 5, 3],
    [1, 1, 1, 1],
    [3, 4, 1, 2],
  ] as const) {
    await checkOp(
      `depthToSpace ${N}x${h}x${w}x${4 * C}`,
      [input([N, h, w, 4 * C])],
      ([x]) => ops.depthToSpace(x!),
      ([x]) => {
        const out = new Float64Array(x!.length);
        for (let n = 0; n < N; n++)
          for (let y = 0; y < 2 * h; y++)
            for (let xx = 0; xx < 2 * w; xx++)
              for (let c = 0; c < C; c++)
                out[((n * 2 * h + y) * 2 * w + xx) * C + c] = x![((n * h + (y >> 1)) * w + (xx >> 1)) * 4 * C + ((y & 1) * 2 + (xx & 1)) * C + c]!;
        return out;
      },
    );
  }
  assert.throws(() => ops.depthToSpace(Tensor.from(new Float32Array(6), [1, 1, 2, 3])), /multiple of 4/);
});

test('conv2dUpsampled equals a 3x3 convolution of the nearest x2 upsampling, with and without ReLU, forward and backward', async () => {
  // 1 to 5 output channels (the refinement's narrow layers), odd sizes, a single-pixel map.
  for (const [N, H, W, Cin, Cout, relu] of [
    [2, 3, 5, 2, 1, false],
    [1, 4, 3, 3, 5, true],
    [3, 1, 1, 4, 2, true],
  ] as const) {
    const g: ConvRefGeometry = { N, H: 2 * H, W: 2 * W, Cin, Cout, KH: 3, KW: 3, stride: 1, pad: 1, dil: 1 };
    const x = input([N, H, W, Cin]);
    if (relu) x.data = x.data.map((v) => v + 0.05); // keep pre-activations off ReLU's kink
    await checkOp(
      `conv2dUpsampled ${N}x${H}x${W}x${Cin} -> ${Cout}${relu ? ' relu' : ''}`,
      [x, input([3, 3, Cin, Cout]), input([Cout])],
      ([xx, w, b]) => ops.conv2dUpsampled(xx!, w!, b!, { relu }),
      ([xx, w, b]) => conv2dRef(upsampleNearestRef(xx!, N, H, W, Cin, 2), w!, b!, g, relu),
      { samples: 48 },
    );
  }
  assert.throws(() => ops.conv2dUpsampled(Tensor.from(new Float32Array(4), [1, 2, 2, 1]), Tensor.from(new Float32Array(4), [2, 2, 1, 1])), /3x3 kernel/);
});

test('cropWindows: overlapping windows, windows past every edge, several maps; forward and backward against float64 and finite differences', async () => {
  const [B, H, W, C, s] = [2, 7, 9, 3, 4];
  const boxes: [number, number, number][] = [
    [0, 0, 0],
    [0, 1, 2],
    [1, 4, 6],
    [1, -2, -3],
    [0, 5, 7],
    [1, 2, 2],
    [0, -4, 9],
  ];
  await checkOp(
    'cropWindows',
    [input([B, H, W, C])],
    ([x]) =>
      ops.cropWindows(
        x!,
        boxes.map(([image, top, left]) => ({ image, top, left })),
        s,
      ),
    ([x]) => cropWindowsRef(x!, H, W, C, boxes, s),
  );
  const x = Tensor.from(new Float32Array(B * H * W * C), [B, H, W, C]);
  assert.throws(() => ops.cropWindows(x, [{ image: 2, top: 0, left: 0 }], 2), /window 0 .*one of 2 maps/);
  assert.throws(() => ops.cropWindows(x, [{ image: 0, top: 0.5, left: 0 }], 2), /integer position/);
  x.dispose();
});

test.run();
