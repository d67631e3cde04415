// Whole-model figures per preset and batch: forward, forward+backward, and peak GPU memory.
import { DeepMask, noGrad, Rng, scope, Tensor } from '../src/index.js';
import type { BenchContext } from './run.js';
import type { Section } from './lib/report.js';
import { time } from './lib/timing.js';

function batch(m: DeepMask, B: number, rng: Rng) {
  const { inputSize: S, gtSize: G } = m.config;
  const r = (n: number, f: () => number) => Float32Array.from({ length: n }, f);
  return {
    x: Tensor.from(
      r(B * S * S * 3, () => rng.uniform(-2, 2)),
      [B, S, S, 3],
    ),
    t: {
      masks: Tensor.from(
        r(B * G * G, () => (rng.next() < 0.3 ? 1 : -1)),
        [B, G, G, 1],
      ),
      maskWeights: Tensor.from(
        r(B * G * G, () => 1 / (G * G)),
        [B, G, G, 1],
      ),
      scores: Tensor.from(
        r(B, () => (rng.next() < 0.5 ? 1 : -1)),
        [B, 1],
      ),
      scoreWeights: Tensor.from(
        r(B, () => 1 / 32),
        [B, 1],
      ),
    },
  };
}

export async function modelBench({ rt, quick }: BenchContext): Promise<Section> {
  const rows: Section['rows'] = [];
  const rng = new Rng(0);
  const plans: [string, number[]][] = quick
    ? [
        ['tiny', [8, 32]],
        ['squeeze', [8]],
      ]
    : [
        ['tiny', [1, 8, 32]],
        ['squeeze', [1, 8, 32]],
        ['vgg-a', [1, 8, 32]],
      ];
  for (const [preset, batches] of plans) {
    const m = new DeepMask(preset);
    for (const B of batches) {
      const { x, t } = batch(m, B, rng);
      const slow = preset === 'vgg-a' && B > 1;
      const opts = slow ? { minReps: 1, minMs: 0, warmup: 1 } : {};
      rt.flush();
      rt.pool.resetPeaks();
      m.eval();
      const fwd = await time(
        () => noGrad(() => m.forward(x)).masks.dispose(),
        () => rt.sync(),
        opts,
      );
      m.train();
      const step = await time(
        () => {
          const l = scope(() => {
            const l = m.loss(m.forward(x), t);
            l.backward();
            return l;
          });
          l.dispose();
          m.zeroGrad();
        },
        () => rt.sync(),
        opts,
      );
      const peak = rt.memory().peakInUseBytes / 2 ** 20;
      rows.push({ name: `${preset} B=${B}`, unit: 'ms', ours: fwd.ms, detail: { 'fwd+bwd ms': step.ms, 'samples/s': (1000 * B) / step.ms, 'peak MiB': peak } });
      for (const v of [x, ...Object.values(t)]) v.dispose();
    }
    m.zeroGrad();
    for (const p of m.parameters()) p.dispose();
    rt.pool.trim();
  }
  return { title: 'DeepMask patch model: forward (ours), forward+backward, peak GPU memory', rows };
}
