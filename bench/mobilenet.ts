// MobileNetV1 (the mobile preset's trunk): each depthwise 3x3 layer shape, and the whole trunk through
// block 11 at 224x224 and on a padded 640x480 photo (scale 1 of the pyramid: 800x640), ours against
// tfjs-webgpu's depthwiseConv2d / conv2d / relu6 with the same weights on the same adapter.
import { DeepMask, noGrad, Rng, Tensor } from '../src/index.js';
import { convGeometry } from '../src/kernels/conv2d.js';
import { depthwiseForward } from '../src/kernels/depthwise.js';
import type { BenchContext } from './run.js';
import type { Row, Section } from './lib/report.js';
import { gflops, time } from './lib/timing.js';

// (input side, channels, stride) of MobileNetV1's depthwise layers at 224 (blocks 1-11).
const DW: [number, number, number][] = [
  [112, 32, 1],
  [112, 64, 2],
  [56, 128, 1],
  [56, 128, 2],
  [28, 256, 1],
  [28, 256, 2],
  [14, 512, 1],
];

export async function mobilenetBench({ rt, peer, quick }: BenchContext): Promise<Section[]> {
  const rng = new Rng(0);
  const rand = (n: number) => Float32Array.from({ length: n }, () => rng.uniform(-1, 1));
  const dwRows: Row[] = [];
  for (const [S, C, stride] of quick ? DW.slice(0, 3) : DW) {
    const X = rand(S * S * C),
      Wt = rand(9 * C),
      B = rand(C);
    const g = convGeometry({ N: 1, H: S, W: S, Cin: C, Cout: C, KH: 3, KW: 3 }, { stride, pad: 'same' });
    const x = Tensor.from(X, [1, S, S, C]),
      w = Tensor.from(Wt, [3, 3, C]),
      b = Tensor.from(B, [C]),
      y = Tensor.empty([1, g.OH, g.OW, C]);
    const ours = await time(
      () => depthwiseForward(rt, { x: x.view(), w: w.view(), bias: b.view(), y: y.view(), g, relu: true, reluMax: 6 }),
      () => rt.sync(),
    );
    for (const t of [x, w, b, y]) t.dispose();
    let peerMs: number | undefined;
    if (peer) {
      const { tf } = peer;
      const px = tf.tensor4d(X, [1, S, S, C]),
        pw = tf.tensor4d(Wt, [3, 3, C, 1]),
        pb = tf.tensor1d(B);
      peerMs = (
        await time(
          () => tf.tidy(() => tf.relu6(tf.add(tf.depthwiseConv2d(px, pw, stride, 'same'), pb))).dispose(),
          () => peer.sync(),
        )
      ).ms;
      for (const t of [px, pw, pb]) t.dispose();
    }
    const flops = 2 * g.OH * g.OW * 9 * C;
    dwRows.push({
      name: `${S}²×${C} s${stride}`,
      unit: 'GFLOP/s',
      ours: gflops(flops, ours.ms),
      ...(peerMs !== undefined ? { peer: gflops(flops, peerMs) } : {}),
      detail: { 'ours ms': ours.ms, ...(peerMs !== undefined ? { 'peer ms': peerMs } : {}) },
    });
  }

  // The whole trunk with random weights (timing does not depend on them).
  const model = new DeepMask('mobile', { seed: 1 }).eval();
  const state = await model.trunk.exportState();
  const trunkRows: Row[] = [];
  for (const [H, W] of quick
    ? [[224, 224]]
    : [
        [224, 224],
        [640, 800],
      ]) {
    const X = rand(H * W * 3);
    const x = Tensor.from(X, [1, H, W, 3]);
    const ours = await time(
      () => noGrad(() => model.trunk.forward(x)).dispose(),
      () => rt.sync(),
      { minMs: 3000 },
    );
    x.dispose();
    let peerMs: number | undefined;
    if (peer) {
      const { tf } = peer;
      const p = (name: string) => state.get(name)!;
      const t4 = (name: string, shape: [number, number, number, number]) => tf.tensor4d(p(name).data, shape);
      const conv0 = { w: t4('conv0.weight', [3, 3, 3, 32]), b: tf.tensor1d(p('conv0.bias').data) };
      const blocks = [...Array(11).keys()].map((i) => {
        const k = i + 1,
          dw = p(`blocks.${k}.depthwise.weight`),
          pw = p(`blocks.${k}.pointwise.weight`);
        return {
          dw: tf.tensor4d(dw.data, [3, 3, dw.shape[2]!, 1]),
          db: tf.tensor1d(p(`blocks.${k}.depthwise.bias`).data),
          pw: tf.tensor4d(pw.data, [1, 1, pw.shape[2]!, pw.shape[3]!]),
          pb: tf.tensor1d(p(`blocks.${k}.pointwise.bias`).data),
          stride: [2, 4, 6].includes(k) ? 2 : 1,
        };
      });
      const px = tf.tensor4d(X, [1, H, W, 3]);
      const run = () =>
        tf
          .tidy(() => {
            let h = tf.relu6(tf.add(tf.conv2d(px, conv0.w, 2, 'same'), conv0.b)) as typeof px;
            for (const b of blocks) {
              h = tf.relu6(tf.add(tf.depthwiseConv2d(h, b.dw, b.stride, 'same'), b.db)) as typeof px;
              h = tf.relu6(tf.add(tf.conv2d(h, b.pw, 1, 'same'), b.pb)) as typeof px;
            }
            return h;
          })
          .dispose();
      try {
        await peer.check(run);
        peerMs = (await time(run, () => peer.sync(), { minMs: 3000 })).ms;
      } catch (e) {
        console.warn(`peer trunk ${H}x${W}: ${(e as Error).message}`);
      }
      px.dispose();
      for (const t of [conv0.w, conv0.b, ...blocks.flatMap((b) => [b.dw, b.db, b.pw, b.pb])]) t.dispose();
    }
    trunkRows.push({ name: `${H}x${W}`, unit: 'ms', ours: ours.ms, ...(peerMs !== undefined ? { peer: peerMs } : {}) });
  }
  for (const p of model.parameters()) p.dispose();
  return [
    { title: 'MobileNetV1 depthwise 3x3 + bias + ReLU6 (SAME)', rows: dwRows, notes: ['tfjs: depthwiseConv2d, add, relu6 (three kernels; ours fuses them)'] },
    {
      title: 'MobileNetV1 trunk through block 11 (stride 16, 512 channels), batch 1',
      rows: trunkRows,
      notes: ['640x800: a 640x480 photo at scale 1 with the 80-pixel grey border inference adds'],
    },
  ];
}
