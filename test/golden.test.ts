// Golden values from PyTorch (test/golden/torch.json, made by scripts/torch-golden.py): they pin
// our conventions for padding, dilation, ceil mode, both bilinear modes and the soft-margin loss.
import { test } from 'uvu';
import { readFileSync } from 'node:fs';
import { ops, scope, Tensor } from '../src/index.js';
import { assertClose } from './lib/check.js';
import './lib/gpu.js';

type Case = Record<string, number[] | number>;
const golden = JSON.parse(readFileSync(new URL('../../test/golden/torch.json', import.meta.url), 'utf8')) as Record<string, Case>;

/** NCHW -> NHWC. */
function nhwc(d: number[], [N, C, H, W]: number[]): number[] {
  const out = new Array<number>(d.length);
  for (let n = 0; n < N!; n++)
    for (let c = 0; c < C!; c++)
      for (let h = 0; h < H!; h++) for (let w = 0; w < W!; w++) out[((n * H! + h) * W! + w) * C! + c] = d[((n * C! + c) * H! + h) * W! + w]!;
  return out;
}
/** PyTorch conv weight (out, in, kh, kw) -> ours (kh, kw, in, out). */
function hwio(d: number[], [O, I, KH, KW]: number[]): number[] {
  const out = new Array<number>(d.length);
  for (let o = 0; o < O!; o++)
    for (let i = 0; i < I!; i++)
      for (let a = 0; a < KH!; a++) for (let b = 0; b < KW!; b++) out[((a * KW! + b) * I! + i) * O! + o] = d[((o * I! + i) * KH! + a) * KW! + b]!;
  return out;
}
const toNhwcShape = ([N, C, H, W]: number[]) => [N!, H!, W!, C!];

async function forwardBackward(c: Case, f: (x: Tensor) => Tensor, what: string) {
  const xs = c.xShape as number[],
    ys = c.yShape as number[];
  const x = Tensor.from(nhwc(c.x as number[], xs), toNhwcShape(xs));
  x.requiresGrad = true;
  const y = scope(() => {
    const y = f(x);
    y.backward(Tensor.from(nhwc(c.g as number[], ys), y.shape));
    return y;
  });
  assertClose(await y.read(), nhwc(c.y as number[], ys), `${what} forward vs PyTorch`, 1e-5);
  assertClose(await x.grad!.read(), nhwc(c.dx as number[], xs), `${what} input gradient vs PyTorch`, 1e-5);
  for (const t of [x, y, x.grad!]) t.dispose();
}

test('conv2d with stride 2, padding 1, dilation 2 matches PyTorch (forward and all gradients)', async () => {
  const c = golden.conv2d!;
  const ws = c.wShape as number[];
  const w = Tensor.from(hwio(c.w as number[], ws), [ws[2]!, ws[3]!, ws[1]!, ws[0]!]);
  const b = Tensor.from(c.b as number[], [ws[0]!]);
  w.requiresGrad = b.requiresGrad = true;
  await forwardBackward(c, (x) => ops.conv2d(x, w, b, { stride: 2, pad: 1, dilation: 2 }), 'conv2d');
  assertClose(await w.grad!.read(), hwio(c.dw as number[], ws), 'conv2d weight gradient vs PyTorch', 1e-5);
  assertClose(await b.grad!.read(), c.db as number[], 'conv2d bias gradient vs PyTorch', 1e-5);
  for (const t of [w, b, w.grad!, b.grad!]) t.dispose();
});

test('3x3 stride-2 ceil-mode max pooling matches PyTorch', async () => {
  await forwardBackward(golden.maxpool3s2ceil!, (x) => ops.maxPool2d(x, { kernel: 3, stride: 2, ceil: true }), 'maxpool');
});

test('bilinear resampling matches PyTorch with align_corners True and False', async () => {
  for (const align of [true, false]) {
    await forwardBackward(golden[`bilinear_align${align ? 1 : 0}`]!, (x) => ops.resizeBilinear(x, [7, 11], { alignCorners: align }), `bilinear align=${align}`);
  }
});

test('soft-margin loss (sum) matches PyTorch', async () => {
  const c = golden.soft_margin!;
  const n = (c.x as number[]).length;
  const x = Tensor.from(c.x as number[], [n]);
  x.requiresGrad = true;
  const loss = ops.softMarginLoss(x, Tensor.from(c.y as number[], [n]), Tensor.from(new Float32Array(n).fill(1), [n]));
  loss.backward();
  assertClose([await loss.item()], [c.loss as number], 'loss vs PyTorch', 1e-5);
  assertClose(await x.grad!.read(), c.dx as number[], 'loss gradient vs PyTorch', 1e-5);
});

test.run();
