// Square matmul GFLOP/s, ours against the peer.
import { noGrad, ops, Rng, Tensor } from '../src/index.js';
import type { BenchContext } from './run.js';
import type { Section } from './lib/report.js';
import { gflops, time } from './lib/timing.js';

export async function matmulBench({ rt, peer, quick }: BenchContext): Promise<Section> {
  const rows: Section['rows'] = [];
  const rng = new Rng(0);
  for (const n of quick ? [256, 512] : [256, 512, 1024]) {
    const data = () => Float32Array.from({ length: n * n }, () => rng.uniform(-1, 1));
    const A = data(),
      B = data();
    const a = Tensor.from(A, [n, n]),
      b = Tensor.from(B, [n, n]);
    const ours = await time(
      () => noGrad(() => ops.matmul(a, b)).dispose(),
      () => rt.sync(),
    );
    a.dispose();
    b.dispose();
    let theirs: number | undefined;
    if (peer) {
      const { tf } = peer;
      const pa = tf.tensor2d(A, [n, n]),
        pb = tf.tensor2d(B, [n, n]);
      theirs = (
        await time(
          () => tf.matMul(pa, pb).dispose(),
          () => peer.sync(),
        )
      ).ms;
      pa.dispose();
      pb.dispose();
    }
    const flops = 2 * n ** 3;
    rows.push({
      name: `${n}x${n}x${n}`,
      unit: 'GFLOP/s',
      ours: gflops(flops, ours.ms),
      ...(theirs !== undefined ? { peer: gflops(flops, theirs) } : {}),
      detail: { 'ours ms': ours.ms, ...(theirs !== undefined ? { 'peer ms': theirs } : {}) },
    });
  }
  return { title: 'matmul (f32, square)', rows };
}
