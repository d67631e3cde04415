// The product figures: a DeepMask training step and a full image, ours and the tfjs-webgpu peer
// (the same network in tfjs ops, bench/peer-deepmask.ts) on the same adapter in the same run, with
// GFLOP/s and the fraction of the adapter's measured peak (our best square matmul).
import { existsSync, readFileSync } from 'node:fs';
import { DeepMask, noGrad, ops, Rng, scope, SGD, Tensor } from '../src/index.js';
import { decodeImage, type RgbImage } from '../src/data/image.js';
import { generateScenes } from '../src/data/synth.js';
import { defaultScales, propose } from '../src/infer/proposals.js';
import type { DeepMaskConfig, VggTrunk } from '../src/model/presets.js';
import type { BenchContext } from './run.js';
import type { Row, Section } from './lib/report.js';
import { gflops, time } from './lib/timing.js';
import { PeerDeepMask } from './peer-deepmask.js';

/** Multiply-adds x 2 of the patch model's forward pass for one window. */
export function forwardFlops(c: DeepMaskConfig): number {
  if (c.trunk.kind !== 'vgg' || c.heads.kind !== 'paper') throw new Error('FLOP count covers VGG trunks with the paper heads');
  let size = c.inputSize,
    cin = 3,
    macs = 0;
  for (const l of (c.trunk as VggTrunk).layers) {
    if (l === 'M') size = Math.floor(size / 2);
    else {
      macs += size * size * 9 * cin * l;
      cin = l;
    }
  }
  const h = c.heads,
    F = size,
    P = Math.floor(F / 2);
  macs += F * F * cin * h.maskConv + F * F * h.maskConv * h.lowRank + h.lowRank * c.maskSize ** 2;
  let w = P * P * cin;
  for (const o of h.scoreHidden) {
    macs += w * o;
    w = o;
  }
  return 2 * (macs + w);
}

async function photo(): Promise<RgbImage> {
  const p = '../shared/data/coco-tiny-train2017/images/000000008193.jpg';
  if (existsSync(p)) {
    const img = decodeImage(readFileSync(p), p);
    const { resizeRgb } = await import('../src/data/image.js');
    return resizeRgb(img, 640, 480);
  }
  const s = generateScenes({ images: 1, width: 640, height: 480, seed: 3 }).images[0]!;
  const data = new Float32Array(640 * 480 * 3);
  for (let i = 0; i < 640 * 480; i++) for (let c = 0; c < 3; c++) data[i * 3 + c] = s.rgba[i * 4 + c]! / 255;
  return { width: 640, height: 480, data };
}

export async function deepmaskBench({ rt, peer, quick }: BenchContext): Promise<Section[]> {
  const rng = new Rng(0);
  // The adapter's measured peak: our best GEMM in this run (square, and the shape of a 3x3 conv at 56x56x256).
  let peak = 0;
  for (const [M, N, K] of [
    [1024, 1024, 1024],
    [2048, 2048, 2048],
    [3136, 256, 2304],
  ] as const) {
    const a = Tensor.from(
      Float32Array.from({ length: M * K }, () => rng.uniform(-1, 1)),
      [M, K],
    );
    const b = Tensor.from(
      Float32Array.from({ length: K * N }, () => rng.uniform(-1, 1)),
      [K, N],
    );
    const t = await time(
      () => noGrad(() => ops.matmul(a, b)).dispose(),
      () => rt.sync(),
      { minReps: 2, minMs: 0 },
    );
    peak = Math.max(peak, gflops(2 * M * N * K, t.ms));
    a.dispose();
    b.dispose();
  }
  const stepRows: Row[] = [],
    inferRows: Row[] = [];
  // vgg-a at batch 32 is in the model section (ours only: the peer cannot bind its 411 MB activations).
  const plans: [string, number[]][] = quick
    ? [['tiny', [8, 32]]]
    : [
        ['tiny', [8, 32]],
        ['vgg-a', [8]],
      ];
  const img = await photo();
  for (const [preset, batches] of plans) {
    const model = new DeepMask(preset, { seed: 1 });
    const c = model.config,
      S = c.inputSize,
      G = c.gtSize;
    const peerModel = peer ? new PeerDeepMask(peer.tf, c, 1) : null;
    const fl = forwardFlops(c);
    for (const B of batches) {
      const slow = preset === 'vgg-a';
      const opts = slow ? { minReps: 1, minMs: 0 } : {};
      const X = Float32Array.from({ length: B * S * S * 3 }, () => rng.uniform(-2, 2));
      const GT = Float32Array.from({ length: B * G * G }, () => (rng.next() < 0.3 ? 1 : -1));
      const MW = new Float32Array(B * G * G).fill(1 / (G * G)),
        L = Float32Array.from({ length: B }, (_, i) => (i % 2 ? 1 : -1)),
        LW = new Float32Array(B).fill(1 / 32);
      const x = Tensor.from(X, [B, S, S, 3]);
      const t = {
        masks: Tensor.from(GT, [B, G, G, 1]),
        maskWeights: Tensor.from(MW, [B, G, G, 1]),
        scores: Tensor.from(L, [B, 1]),
        scoreWeights: Tensor.from(LW, [B, 1]),
      };
      const opt = new SGD(model.parameters(), { lr: 1e-3, momentum: 0.9, weightDecay: 5e-4 });
      model.eval();
      const fwd = await time(
        () => noGrad(() => model.forward(x)).masks.dispose(),
        () => rt.sync(),
        opts,
      );
      model.train();
      const submitEvery = rt.submitEvery;
      rt.submitEvery = Infinity;
      const step = await time(
        () => {
          scope(() => {
            opt.zeroGrad();
            const l = model.loss(model.forward(x), t);
            l.backward();
            opt.step();
          });
        },
        () => rt.sync(),
        opts,
      );
      rt.submitEvery = submitEvery;
      opt.zeroGrad();
      opt.dispose();
      for (const v of [x, ...Object.values(t)]) v.dispose();
      let pf: number | undefined,
        ps: number | undefined,
        note = '';
      if (peerModel && peer) {
        const { tf } = peer;
        try {
          const px = tf.tensor4d(X, [B, S, S, 3]);
          const pt = {
            masks: tf.tensor4d(GT, [B, G, G, 1]),
            maskWeights: tf.tensor4d(MW, [B, G, G, 1]),
            scores: tf.tensor2d(L, [B, 1]),
            scoreWeights: tf.tensor2d(LW, [B, 1]),
          };
          const fwdRun = () => tf.tidy(() => peerModel.forward(px, false).masks).dispose();
          const stepRun = () => tf.tidy(() => peerModel.step(px, pt).dispose());
          await peer.check(fwdRun);
          pf = (await time(fwdRun, () => peer.sync(), opts)).ms;
          await peer.check(stepRun);
          ps = (await time(stepRun, () => peer.sync(), opts)).ms;
          px.dispose();
          for (const v of Object.values(pt)) v.dispose();
        } catch (e) {
          note = `peer failed: ${(e as Error).message.slice(0, 70)}`;
        }
      }
      const frac = (ms: number, flops: number) => gflops(flops, ms) / peak;
      stepRows.push({
        name: `${preset} forward B=${B}`,
        unit: 'ms',
        ours: fwd.ms,
        ...(pf !== undefined ? { peer: pf } : {}),
        detail: { 'ours GFLOP/s': gflops(B * fl, fwd.ms), 'of peak': frac(fwd.ms, B * fl), ...(note ? { note } : {}) },
      });
      stepRows.push({
        name: `${preset} step B=${B}`,
        unit: 'ms',
        ours: step.ms,
        ...(ps !== undefined ? { peer: ps } : {}),
        detail: { 'ours GFLOP/s': gflops(3 * B * fl, step.ms), 'of peak': frac(step.ms, 3 * B * fl), 'samples/s': (1000 * B) / step.ms },
      });
    }
    // Full-scene inference on one 640x480 image, 100 proposals, the preset's default scales.
    model.eval();
    const scales = defaultScales(model);
    const inferOpts = preset === 'vgg-a' ? { minReps: 1, minMs: 0 } : { minReps: 2, minMs: 0 };
    const weightMiB = () => model.parameters().reduce((n, p) => n + p.bytes, 0) / 2 ** 20;
    model.zeroGrad();
    rt.pool.trim();
    rt.pool.resetPeaks();
    const ours = await time(
      () => propose(model, img, { proposals: 100, scales }),
      () => rt.sync(),
      inferOpts,
    );
    const staged = await propose(model, img, { proposals: 100, scales, timeStages: true });
    const peakF32 = rt.memory().peakInUseBytes / 2 ** 20,
      weightsF32 = weightMiB();
    let theirs: number | undefined,
      inferNote = '';
    if (peerModel && peer) {
      const t0 = performance.now();
      try {
        await peer.check(() => peerModel.propose(img, scales, 100)); // one checked run, timed
        theirs = performance.now() - t0;
      } catch (e) {
        inferNote = `peer failed: ${(e as Error).message.slice(0, 70)}`;
      }
    }
    const st = staged.timings;
    inferRows.push({
      name: `${preset} 640x480, ${scales.length} scales`,
      unit: 'ms',
      ours: ours.ms,
      ...(theirs !== undefined ? { peer: theirs } : {}),
      detail: {
        pyramid: st.pyramid,
        trunk: st.trunk,
        heads: st.heads,
        'top-N': st.topN,
        masks: st.masks,
        paste: st.paste,
        RLE: st.rle,
        'peak MiB': peakF32,
        'weights MiB': weightsF32,
        ...(inferNote ? { note: inferNote } : {}),
      },
    });
    // The same with f16 weights (model.half()): half the weight memory and traffic, f32 arithmetic.
    model.half();
    rt.pool.trim();
    rt.pool.resetPeaks();
    const halfT = await time(
      () => propose(model, img, { proposals: 100, scales }),
      () => rt.sync(),
      inferOpts,
    );
    const hs = (await propose(model, img, { proposals: 100, scales, timeStages: true })).timings;
    inferRows.push({
      name: `${preset} 640x480, f16 weights`,
      unit: 'ms',
      ours: halfT.ms,
      detail: {
        trunk: hs.trunk,
        heads: hs.heads,
        'f32 / f16 time': ours.ms / halfT.ms,
        'peak MiB': rt.memory().peakInUseBytes / 2 ** 20,
        'weights MiB': weightMiB(),
      },
    });
    peerModel?.dispose();
    model.zeroGrad();
    for (const p of model.parameters()) p.dispose();
    rt.pool.trim();
  }
  return [
    {
      title: 'DeepMask patch model: forward and training step (forward+backward+SGD)',
      rows: stepRows,
      notes: [`peak: our best GEMM in this run, ${peak.toFixed(1)} GFLOP/s`, 'the peer step is tf.train.momentum without weight decay'],
    },
    {
      title: 'DeepMask full-scene inference (pyramid, trunk, dense heads, top-100, masks, paste, RLE)',
      rows: inferRows,
      notes: ['stage columns: ours, with the GPU synchronised at each stage boundary'],
    },
  ];
}
