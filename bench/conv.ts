// conv3x3 at the VGG shapes: forward, input gradient and weight gradient, ours against the peer.
import { Rng, Tensor } from '../src/index.js';
import { conv2dBackwardInput, conv2dBackwardWeight, conv2dForward, convGeometry } from '../src/kernels/conv2d.js';
import type { BenchContext } from './run.js';
import type { Row, Section } from './lib/report.js';
import { gflops, time } from './lib/timing.js';

const SHAPES: [number, number, number][] = [
  [224, 3, 64],
  [112, 128, 128],
  [56, 256, 256],
  [28, 512, 512],
  [14, 512, 512],
];

export async function convBench({ rt, peer, quick }: BenchContext): Promise<Section[]> {
  const rng = new Rng(0);
  const rows: Record<'fwd' | 'dx' | 'dw', Row[]> = { fwd: [], dx: [], dw: [] };
  for (const N of quick ? [1] : [1, 8]) {
    for (const [S, Cin, Cout] of SHAPES) {
      const g = convGeometry({ N, H: S, W: S, Cin, Cout, KH: 3, KW: 3 }, { pad: 1 });
      const rand = (n: number) => Float32Array.from({ length: n }, () => rng.uniform(-1, 1));
      const X = rand(N * S * S * Cin),
        Wt = rand(9 * Cin * Cout),
        DY = rand(N * S * S * Cout);
      const x = Tensor.from(X, [N, S, S, Cin]),
        w = Tensor.from(Wt, [3, 3, Cin, Cout]),
        dy = Tensor.from(DY, [N, S, S, Cout]);
      const y = Tensor.empty([N, S, S, Cout]),
        dx = Tensor.empty(x.shape),
        dw = Tensor.empty(w.shape);
      const sync = () => rt.sync();
      const fwd = await time(() => conv2dForward(rt, { x: x.view(), w: w.view(), y: y.view(), g }), sync);
      const bwdX = await time(() => conv2dBackwardInput(rt, { dy: dy.view(), w: w.view(), dx: dx.view(), g }), sync);
      const bwdW = await time(() => conv2dBackwardWeight(rt, { x: x.view(), dy: dy.view(), dw: dw.view(), g }), sync);
      for (const t of [x, w, dy, y, dx, dw]) t.dispose();

      const peerMs: Partial<Record<'fwd' | 'dx' | 'dw', number>> = {};
      if (peer) {
        const { tf } = peer;
        const px = tf.tensor4d(X, [N, S, S, Cin]),
          pw = tf.tensor4d(Wt, [3, 3, Cin, Cout]),
          pdy = tf.tensor4d(DY, [N, S, S, Cout]);
        const attrs = { strides: 1, pad: 'same', dataFormat: 'NHWC', dimRoundingMode: undefined } as const;
        const run = (name: string, inputs: object, extra: object) => () =>
          (tf.engine().runKernel(name, inputs as never, { ...attrs, ...extra } as never) as { dispose(): void }).dispose();
        peerMs.fwd = (
          await time(
            () => tf.conv2d(px, pw, 1, 'same').dispose(),
            () => peer.sync(),
          )
        ).ms;
        peerMs.dx = (await time(run('Conv2DBackpropInput', { dy: pdy, filter: pw }, { inputShape: [N, S, S, Cin] }), () => peer.sync())).ms;
        peerMs.dw = (await time(run('Conv2DBackpropFilter', { x: px, dy: pdy }, { filterShape: [3, 3, Cin, Cout] }), () => peer.sync())).ms;
        for (const t of [px, pw, pdy]) t.dispose();
      }
      const flops = 2 * N * S * S * 9 * Cin * Cout;
      const name = `N=${N} ${S}²×${Cin}→${Cout}`;
      for (const [k, ms] of [
        ['fwd', fwd.ms],
        ['dx', bwdX.ms],
        ['dw', bwdW.ms],
      ] as const) {
        const p = peerMs[k];
        rows[k].push({
          name,
          unit: 'GFLOP/s',
          ours: gflops(flops, ms),
          ...(p !== undefined ? { peer: gflops(flops, p) } : {}),
          detail: { 'ours ms': ms, ...(p !== undefined ? { 'peer ms': p } : {}), ...(k === 'fwd' ? {} : { 'vs fwd': ms / fwd.ms }) },
        });
      }
    }
  }
  return [
    { title: 'conv3x3 forward (f32, NHWC, pad 1)', rows: rows.fwd },
    { title: 'conv3x3 input gradient dX', rows: rows.dx, notes: ['vs fwd: our dX time over our forward time (target <= 2)'] },
    { title: 'conv3x3 weight gradient dW', rows: rows.dw, notes: ['vs fwd: our dW time over our forward time (target <= 2)'] },
  ];
}
