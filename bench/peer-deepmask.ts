// The peer for whole-model figures: the same DeepMask network (paper heads on a VGG-style trunk:
// the tiny and vgg-a presets) written with @tensorflow/tfjs-core ops on tfjs-backend-webgpu, with
// the same shapes, loss and SGD step, and the same full-scene inference stages (pyramid, dense
// heads, top-N, masks for the selected windows, resampling into the image). Benchmark-only code.
import type * as tfType from '@tensorflow/tfjs-core';
import type { Peer } from './lib/peer.js';
import type { DeepMaskConfig, VggTrunk } from '../src/model/presets.js';
import { normalizeRgb, resizeRgb, type RgbImage } from '../src/data/image.js';
import { Rng } from '../src/graph/random.js';
import { encodeMask } from '../src/data/rle.js';

type Tf = Peer['tf'];
type T4 = tfType.Tensor4D;

interface Dense {
  w: tfType.Variable;
  b: tfType.Variable;
}

export class PeerDeepMask {
  private readonly convs: (Dense | 'M')[] = [];
  private readonly maskConv: Dense;
  private readonly maskLowRank: Dense;
  private readonly maskOut: Dense;
  private readonly scoreHidden: Dense[];
  private readonly scoreOut: Dense;
  private readonly opt: tfType.Optimizer;
  readonly featureSize: number;
  private readonly channels: number;

  constructor(
    private readonly tf: Tf,
    readonly config: DeepMaskConfig,
    seed = 0,
  ) {
    if (config.trunk.kind !== 'vgg' || config.heads.kind !== 'paper') throw new Error('the peer covers VGG trunks with the paper heads');
    const rng = new Rng(seed);
    const param = (shape: number[], fanIn: number): tfType.Variable => {
      const n = shape.reduce((a, b) => a * b, 1),
        bound = 1 / Math.sqrt(fanIn);
      return tf.variable(
        tf.tensor(
          Float32Array.from({ length: n }, () => rng.uniform(-bound, bound)),
          shape,
        ),
      );
    };
    const dense = (shape: number[], fanIn: number): Dense => ({ w: param(shape, fanIn), b: param([shape[shape.length - 1]!], fanIn) });
    let cin = 3,
      size = config.inputSize;
    for (const l of (config.trunk as VggTrunk).layers) {
      if (l === 'M') {
        this.convs.push('M');
        size = Math.floor(size / 2);
      } else {
        this.convs.push(dense([3, 3, cin, l], 9 * cin));
        cin = l;
      }
    }
    this.featureSize = size;
    this.channels = cin;
    const h = config.heads;
    const F = size,
      P = Math.floor(F / 2),
      m = config.maskSize;
    this.maskConv = dense([1, 1, cin, h.maskConv], cin);
    this.maskLowRank = dense([F * F * h.maskConv, h.lowRank], F * F * h.maskConv);
    this.maskOut = dense([h.lowRank, m * m], h.lowRank);
    let w = P * P * cin;
    this.scoreHidden = h.scoreHidden.map((o) => {
      const d = dense([w, o], w);
      w = o;
      return d;
    });
    this.scoreOut = dense([w, 1], w);
    this.opt = tf.train.momentum(1e-3, 0.9);
  }

  private trunk(x: T4): T4 {
    const tf = this.tf;
    let h: T4 = x;
    for (const l of this.convs) h = l === 'M' ? tf.maxPool(h, 2, 2, 'valid') : (tf.relu(tf.add(tf.conv2d(h, l.w as T4, 1, 'same'), l.b)) as T4);
    return h;
  }

  forward(x: T4, training: boolean): { masks: T4; scores: tfType.Tensor2D } {
    const tf = this.tf,
      B = x.shape[0],
      m = this.config.maskSize;
    const f = this.trunk(x);
    const lin = (v: tfType.Tensor2D, d: Dense) => tf.add(tf.matMul(v, d.w as tfType.Tensor2D), d.b) as tfType.Tensor2D;
    const mc = tf.relu(tf.add(tf.conv2d(f, this.maskConv.w as T4, 1, 'valid'), this.maskConv.b)) as T4;
    const masks = tf.reshape(lin(lin(tf.reshape(mc, [B, -1]), this.maskLowRank), this.maskOut), [B, m, m, 1]) as T4;
    let s = tf.reshape(tf.maxPool(f, 2, 2, 'valid'), [B, -1]) as tfType.Tensor2D;
    for (const d of this.scoreHidden) {
      s = tf.relu(lin(s, d));
      if (training) s = tf.dropout(s, this.config.dropout) as tfType.Tensor2D;
    }
    return { masks, scores: lin(s, this.scoreOut) };
  }

  loss(pred: { masks: T4; scores: tfType.Tensor2D }, t: { masks: T4; maskWeights: T4; scores: tfType.Tensor2D; scoreWeights: tfType.Tensor2D }): tfType.Scalar {
    const tf = this.tf,
      G = this.config.gtSize;
    const up = tf.image.resizeBilinear(pred.masks, [G, G], true);
    const softplus = (z: tfType.Tensor) => tf.softplus(z);
    const maskLoss = tf.sum(tf.mul(t.maskWeights, softplus(tf.neg(tf.mul(t.masks, up)))));
    const scoreLoss = tf.sum(tf.mul(t.scoreWeights, softplus(tf.neg(tf.mul(t.scores, pred.scores)))));
    return tf.add(maskLoss, scoreLoss) as tfType.Scalar;
  }

  /** forward, loss, backward and a momentum SGD update (weight decay added to the loss as L2). */
  step(x: T4, t: Parameters<PeerDeepMask['loss']>[1]): tfType.Scalar {
    return this.opt.minimize(() => this.loss(this.forward(x, true), t), true) as tfType.Scalar;
  }

  /** Dense form over one normalised image: the embedding map and the score map (windows at stride 16). */
  dense(image: T4): { embedding: T4; scores: T4 } {
    const tf = this.tf,
      F = this.featureSize,
      P = Math.floor(F / 2);
    const f = this.trunk(image);
    const mc = tf.relu(tf.add(tf.conv2d(f, this.maskConv.w as T4, 1, 'valid'), this.maskConv.b)) as T4;
    const embedding = tf.add(
      tf.conv2d(mc, tf.reshape(this.maskLowRank.w, [F, F, this.config.heads.kind === 'paper' ? this.config.heads.maskConv : 0, -1]) as T4, 1, 'valid'),
      this.maskLowRank.b,
    ) as T4;
    let s: T4 = tf.maxPool(f, 2, 1, 'valid');
    this.scoreHidden.forEach((d, i) => {
      const w = i === 0 ? tf.reshape(d.w, [P, P, this.channels, -1]) : tf.reshape(d.w, [1, 1, d.w.shape[0]!, -1]);
      s = tf.relu(tf.add(tf.conv2d(s, w as T4, 1, 'valid', 'NHWC', i === 0 ? 2 : 1), d.b)) as T4;
    });
    const scores = tf.add(tf.conv2d(s, tf.reshape(this.scoreOut.w, [1, 1, this.scoreOut.w.shape[0]!, 1]) as T4, 1, 'valid'), this.scoreOut.b) as T4;
    return { embedding, scores };
  }

  /** The full-scene pipeline with the same stages as ours (masks resampled on the GPU, RLE on the host). */
  async propose(img: RgbImage, scales: number[], n: number, threshold = 0.2): Promise<number> {
    const tf = this.tf,
      S = this.config.inputSize,
      st = this.config.stride,
      m = this.config.maskSize;
    const maps: { emb: T4; rows: number; cols: number; s: number }[] = [];
    const cands: { v: number; k: number; r: number; c: number }[] = [];
    for (const [k, s] of scales.entries()) {
      const hs = Math.round(img.height * s),
        ws = Math.round(img.width * s);
      const scaled = resizeRgb(img, ws, hs);
      const W = ws + S,
        H = hs + S,
        rgb = new Float32Array(W * H * 3).fill(0.5);
      for (let y = 0; y < hs; y++) rgb.set(scaled.data.subarray(y * ws * 3, (y + 1) * ws * 3), ((y + S / 2) * W + S / 2) * 3);
      const x = tf.tensor4d(normalizeRgb(rgb, this.config.normalization), [1, H, W, 3]);
      const { embedding, scores } = tf.tidy(() => this.dense(x));
      x.dispose();
      const rows = embedding.shape[1],
        cols = embedding.shape[2],
        sw = scores.shape[2];
      const sv = await scores.data();
      scores.dispose();
      for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) cands.push({ v: sv[r * sw + c]!, k, r, c });
      maps.push({ emb: embedding, rows, cols, s });
    }
    cands.sort((a, b) => b.v - a.v);
    const top = cands.slice(0, n);
    let count = 0;
    for (const [k, map] of maps.entries()) {
      const sel = top.filter((t) => t.k === k);
      if (sel.length) {
        const logits = tf.tidy(() => {
          const e = tf.gather(
            tf.reshape(map.emb, [map.rows * map.cols, -1]),
            sel.map((t) => t.r * map.cols + t.c),
          );
          return tf.reshape(tf.add(tf.matMul(e as tfType.Tensor2D, this.maskOut.w as tfType.Tensor2D), this.maskOut.b), [sel.length, m, m, 1]) as T4;
        });
        // Each mask resampled to its window (one resize per proposal) and thresholded, then encoded.
        const side = Math.round(S / map.s);
        const up = tf.tidy(() => tf.greaterEqual(tf.image.resizeBilinear(logits, [side, side], true), Math.log(threshold / (1 - threshold))));
        const bits = await up.data();
        up.dispose();
        logits.dispose();
        for (let i = 0; i < sel.length; i++) {
          const t = sel[i]!;
          const mask = new Uint8Array(img.width * img.height);
          const x0 = Math.floor((st * t.c - S / 2) / map.s),
            y0 = Math.floor((st * t.r - S / 2) / map.s);
          for (let y = 0; y < side; y++) {
            const yy = y0 + y;
            if (yy < 0 || yy >= img.height) continue;
            for (let x = 0; x < side; x++) {
              const xx = x0 + x;
              if (xx >= 0 && xx < img.width && bits[(i * side + y) * side + x]) mask[yy * img.width + xx] = 1;
            }
          }
          encodeMask(mask, img.height, img.width);
          count++;
        }
      }
      map.emb.dispose();
    }
    return count;
  }

  dispose(): void {
    for (const v of [...this.convs.filter((l): l is Dense => l !== 'M'), this.maskConv, this.maskLowRank, this.maskOut, ...this.scoreHidden, this.scoreOut]) {
      v.w.dispose();
      v.b.dispose();
    }
    this.opt.dispose();
  }
}
