// Depthwise convolution (one filter per channel) and ReLU6 against a float64 reference and central
// differences, on shapes that divide no tile; TensorFlow's SAME padding on even and odd sizes.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ops, Rng, Tensor } from '../src/index.js';
import { checkOp, randomData } from './lib/check.js';
import { conv2dRef, type ConvRefGeometry } from './lib/ref.js';
import './lib/gpu.js';

const rng = new Rng(23);
const numel = (s: number[]) => s.reduce((a, b) => a * b, 1);
const input = (shape: number[], grad = true) => ({ shape, data: randomData(numel(shape), rng), grad });

interface DwGeometry {
  N: number;
  H: number;
  W: number;
  C: number;
  K: number;
  stride: number;
  dil: number;
  pad: number | 'same';
}

/** Padding above/left and the output size, per axis (TF SAME: out = ceil(n / stride), the extra zero below/right). */
function axis(n: number, k: number, g: DwGeometry): [number, number] {
  const span = g.dil * (k - 1) + 1;
  if (g.pad === 'same') {
    const out = Math.ceil(n / g.stride);
    return [out, Math.floor(Math.max(0, (out - 1) * g.stride + span - n) / 2)];
  }
  return [Math.floor((n + 2 * g.pad - span) / g.stride) + 1, g.pad];
}

/** Direct depthwise convolution in float64 with an activation cap (Infinity: ReLU; 6: ReLU6; null: none). */
function depthwiseRef(x: Float64Array, w: Float64Array, b: Float64Array | null, g: DwGeometry, cap: number | null = null): Float64Array {
  const [OH, py] = axis(g.H, g.K, g),
    [OW, px] = axis(g.W, g.K, g);
  const y = new Float64Array(g.N * OH * OW * g.C);
  for (let n = 0; n < g.N; n++)
    for (let oh = 0; oh < OH; oh++)
      for (let ow = 0; ow < OW; ow++)
        for (let c = 0; c < g.C; c++) {
          let s = b ? b[c]! : 0;
          for (let kh = 0; kh < g.K; kh++) {
            const ih = oh * g.stride - py + kh * g.dil;
            if (ih < 0 || ih >= g.H) continue;
            for (let kw = 0; kw < g.K; kw++) {
              const iw = ow * g.stride - px + kw * g.dil;
              if (iw >= 0 && iw < g.W) s += x[((n * g.H + ih) * g.W + iw) * g.C + c]! * w[(kh * g.K + kw) * g.C + c]!;
            }
          }
          y[((n * OH + oh) * OW + ow) * g.C + c] = cap === null ? s : Math.min(Math.max(s, 0), cap);
        }
  return y;
}

const cases: DwGeometry[] = [
  { N: 2, H: 13, W: 17, C: 5, K: 3, stride: 1, dil: 1, pad: 1 },
  { N: 2, H: 13, W: 17, C: 5, K: 3, stride: 2, dil: 1, pad: 1 },
  { N: 1, H: 12, W: 11, C: 7, K: 3, stride: 2, dil: 1, pad: 'same' }, // even rows: 0 above, 1 below; odd columns: 1 and 1
  { N: 2, H: 10, W: 14, C: 8, K: 3, stride: 2, dil: 1, pad: 'same' }, // vec4 channels, both axes even
  { N: 1, H: 9, W: 15, C: 12, K: 3, stride: 1, dil: 2, pad: 2 },
  { N: 2, H: 11, W: 9, C: 3, K: 5, stride: 1, dil: 1, pad: 'same' },
  { N: 1, H: 8, W: 10, C: 6, K: 2, stride: 2, dil: 1, pad: 0 },
];

for (const g of cases) {
  test(`depthwise ${g.K}x${g.K} stride ${g.stride} dilation ${g.dil} pad ${g.pad}, ${g.N}x${g.H}x${g.W}x${g.C}`, async () => {
    await checkOp(
      'depthwise',
      [input([g.N, g.H, g.W, g.C]), input([g.K, g.K, g.C]), input([g.C])],
      ([x, w, b]) => ops.depthwiseConv2d(x!, w!, b!, { stride: g.stride, pad: g.pad, dilation: g.dil }),
      ([x, w, b]) => depthwiseRef(x!, w!, b!, g),
      { samples: 40 },
    );
  });
}

test('depthwise with fused ReLU6 and ReLU (gradients vanish at both clamps)', async () => {
  for (const [C, cap] of [
    [5, 6],
    [8, 6],
    [8, Infinity],
  ] as const) {
    const g: DwGeometry = { N: 2, H: 9, W: 11, C, K: 3, stride: 1, dil: 1, pad: 'same' };
    // Inputs spread so that some outputs sit below 0 and some above 6, few near either kink.
    const x = input([2, 9, 11, C]);
    x.data = x.data.map((v) => Math.fround(v * 4));
    await checkOp(
      `depthwise relu cap ${cap}`,
      [x, input([3, 3, C]), input([C])],
      ([xx, w, b]) => ops.depthwiseConv2d(xx!, w!, b!, { pad: 'same', ...(cap === 6 ? { relu6: true } : { relu: true }) }),
      ([xx, w, b]) => depthwiseRef(xx!, w!, b!, g, cap),
      { samples: 60, eps: 1e-7 },
    );
  }
});

test('depthwise on MobileNet-like widths: a larger image, 32 and 64 channels (weight gradient split over pixels)', async () => {
  for (const [C, stride] of [
    [32, 1],
    [64, 2],
  ] as const) {
    const g: DwGeometry = { N: 1, H: 37, W: 30, C, K: 3, stride, dil: 1, pad: 'same' };
    await checkOp(
      `depthwise ${C} ch stride ${stride}`,
      [input([1, 37, 30, C]), input([3, 3, C]), input([C])],
      ([x, w, b]) => ops.depthwiseConv2d(x!, w!, b!, { stride, pad: 'same' }),
      ([x, w, b]) => depthwiseRef(x!, w!, b!, g),
      { samples: 30 },
    );
  }
});

test('conv2d with SAME padding and ReLU6 matches the reference (the stride-2 first layer of MobileNet)', async () => {
  for (const [H, W] of [
    [12, 10],
    [11, 13],
  ] as const) {
    // SAME 3x3 stride 2: pad above/left = floor(total / 2), the rest below/right.
    const OH = Math.ceil(H / 2),
      OW = Math.ceil(W / 2);
    const py = Math.floor(Math.max(0, (OH - 1) * 2 + 3 - H) / 2),
      px = Math.floor(Math.max(0, (OW - 1) * 2 + 3 - W) / 2);
    const g: ConvRefGeometry = { N: 2, H: H + 2, W: W + 2, Cin: 3, Cout: 5, KH: 3, KW: 3, stride: 2, pad: 0, dil: 1 };
    const x = input([2, H, W, 3]);
    x.data = x.data.map((v) => Math.fround(v * 6));
    // The reference: explicit zero padding (py above, px left, the rest below/right), then a valid conv.
    const padded = (d: Float64Array) => {
      const out = new Float64Array(2 * (H + 2) * (W + 2) * 3);
      for (let n = 0; n < 2; n++)
        for (let y = 0; y < H; y++)
          for (let xx = 0; xx < W; xx++)
            for (let c = 0; c < 3; c++) out[((n * (H + 2) + y + py) * (W + 2) + xx + px) * 3 + c] = d[((n * H + y) * W + xx) * 3 + c]!;
      return out;
    };
    const ref = (xd: Float64Array, w: Float64Array, b: Float64Array) => {
      const full = conv2dRef(padded(xd), w, b, g);
      const [FH, FW] = [Math.floor((H + 2 - 3) / 2) + 1, Math.floor((W + 2 - 3) / 2) + 1];
      const out = new Float64Array(2 * OH * OW * 5);
      for (let n = 0; n < 2; n++)
        for (let i = 0; i < OH; i++)
          for (let j = 0; j < OW; j++)
            for (let c = 0; c < 5; c++) out[((n * OH + i) * OW + j) * 5 + c] = Math.min(6, Math.max(0, full[((n * FH + i) * FW + j) * 5 + c]!));
      return out;
    };
    await checkOp(
      `conv2d same relu6 ${H}x${W}`,
      [x, input([3, 3, 3, 5]), input([5])],
      ([xx, w, b]) => ops.conv2d(xx!, w!, b!, { stride: 2, pad: 'same', relu6: true }),
      ([xx, w, b]) => ref(xx!, w!, b!),
      { samples: 40, eps: 1e-7 },
    );
  }
});

test('linear with ReLU6 (1x1 pointwise convolutions run as GEMMs) clamps and masks its gradient', async () => {
  const x = input([7, 9]);
  x.data = x.data.map((v) => Math.fround(v * 5));
  const w = input([9, 6]);
  await checkOp(
    'linear relu6',
    [x, w, input([6])],
    ([a, b, c]) => ops.conv2d(ops.reshape(a!, [1, 1, 7, 9]), ops.reshape(b!, [1, 1, 9, 6]), c!, { relu6: true }),
    ([a, b, c]) => {
      const y = new Float64Array(42);
      for (let i = 0; i < 7; i++)
        for (let j = 0; j < 6; j++) {
          let s = c![j]!;
          for (let k = 0; k < 9; k++) s += a![i * 9 + k]! * b![k * 6 + j]!;
          y[i * 6 + j] = Math.min(6, Math.max(0, s));
        }
      return y;
    },
    { eps: 1e-7 },
  );
});

test('depthwise rejects a weight that does not match the channels, naming both shapes', () => {
  const x = Tensor.from(new Float32Array(2 * 4 * 4 * 3), [2, 4, 4, 3]);
  const w = Tensor.from(new Float32Array(9 * 4), [3, 3, 4]);
  assert.throws(() => ops.depthwiseConv2d(x, w), /weight \[3, 3, 4\] does not match input \[2, 4, 4, 3\]/);
  x.dispose();
  w.dispose();
});

test.run();
