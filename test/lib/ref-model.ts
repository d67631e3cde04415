// Float64 CPU reference of DeepMask's patch form (VGG trunk + paper heads, or the SqueezeNet trunk),
// built from the reference ops in ref.ts, parameters by name in our layouts.
import { conv2dRef, matmulRef, maxPoolRef, resizeRef, softplusRef } from './ref.js';
import type { DeepMaskConfig } from '../../src/index.js';

export type Params = Map<string, { shape: number[]; data: Float64Array }>;
export interface Fm {
  d: Float64Array;
  N: number;
  H: number;
  W: number;
  C: number;
}

export function convLayer(x: Fm, P: Params, name: string, o: { stride?: number; pad?: number; relu?: boolean } = {}): Fm {
  const w = P.get(`${name}.weight`)!,
    b = P.get(`${name}.bias`)!;
  const [KH, KW, Cin, Cout] = w.shape as [number, number, number, number];
  const g = { N: x.N, H: x.H, W: x.W, Cin, Cout, KH, KW, stride: o.stride ?? 1, pad: o.pad ?? 0, dil: 1 };
  const OH = Math.floor((x.H + 2 * g.pad - KH) / g.stride) + 1,
    OW = Math.floor((x.W + 2 * g.pad - KW) / g.stride) + 1;
  return { d: conv2dRef(x.d, w.data, b.data, g, o.relu ?? true), N: x.N, H: OH, W: OW, C: Cout };
}

export function pool(x: Fm, k: number, s: number, ceil: boolean): Fm {
  const size = (n: number) => {
    if (!ceil) return Math.floor((n - k) / s) + 1;
    let o = Math.ceil((n - k) / s) + 1;
    if ((o - 1) * s >= n) o--;
    return o;
  };
  const OH = size(x.H),
    OW = size(x.W);
  return { d: maxPoolRef(x.d, x.N, x.H, x.W, x.C, k, s, OH, OW), N: x.N, H: OH, W: OW, C: x.C };
}

function concat(a: Fm, b: Fm): Fm {
  const C = a.C + b.C,
    rows = a.N * a.H * a.W,
    d = new Float64Array(rows * C);
  for (let r = 0; r < rows; r++) {
    d.set(a.d.subarray(r * a.C, (r + 1) * a.C), r * C);
    d.set(b.d.subarray(r * b.C, (r + 1) * b.C), r * C + a.C);
  }
  return { d, N: a.N, H: a.H, W: a.W, C };
}

export function trunkRef(cfg: DeepMaskConfig, P: Params, x: Fm): Fm {
  if (cfg.trunk.kind === 'vgg') {
    let i = 0;
    for (const l of cfg.trunk.layers) {
      if (l === 'M') {
        x = pool(x, 2, 2, false);
        i += 1;
      } else {
        x = convLayer(x, P, `trunk.features.${i}`, { pad: 1 });
        i += 2;
      }
    }
    return x;
  }
  const fire = (h: Fm, k: string) => {
    const s = convLayer(h, P, `trunk.features.${k}.squeeze`);
    return concat(convLayer(s, P, `trunk.features.${k}.expand1x1`), convLayer(s, P, `trunk.features.${k}.expand3x3`, { pad: 1 }));
  };
  let h = pool(convLayer(x, P, 'trunk.features.0', { stride: 2 }), 3, 2, true);
  h = pool(fire(fire(h, '3'), '4'), 3, 2, true);
  h = pool(fire(fire(h, '6'), '7'), 3, 2, true);
  for (const k of ['9', '10', '11', '12']) h = fire(h, k);
  return h;
}

function linear(x: Float64Array, rows: number, P: Params, name: string, relu: boolean): Float64Array {
  const w = P.get(`${name}.weight`)!,
    b = P.get(`${name}.bias`)!;
  const [I, O] = w.shape as [number, number];
  return matmulRef(x, w.data, rows, O, I).map((v, i) => (relu ? Math.max(0, v + b.data[i % O]!) : v + b.data[i % O]!));
}

/** Patch form in evaluation mode (no dropout), paper heads: mask logits [B*m*m] and scores [B]. */
export function deepmaskRef(cfg: DeepMaskConfig, P: Params, x: Fm): { masks: Float64Array; scores: Float64Array } {
  const f = trunkRef(cfg, P, x);
  const B = x.N;
  if (cfg.heads.kind !== 'paper') throw new Error('reference covers the paper heads');
  const m1 = convLayer(f, P, 'heads.maskConv');
  const masks = linear(linear(m1.d, B, P, 'heads.maskLowRank', false), B, P, 'heads.maskOut', false);
  let s = pool(f, 2, 2, false).d;
  cfg.heads.scoreHidden.forEach((_, i) => (s = linear(s, B, P, `heads.scoreHidden.${i}`, true)));
  return { masks, scores: linear(s, B, P, 'heads.scoreOut', false) };
}

export interface RefTargets {
  masks: Float64Array;
  maskWeights: Float64Array;
  scores: Float64Array;
  scoreWeights: Float64Array;
}

export function lossRef(cfg: DeepMaskConfig, P: Params, x: Fm, t: RefTargets): number {
  const out = deepmaskRef(cfg, P, x);
  const up = resizeRef(out.masks, x.N, cfg.maskSize, cfg.maskSize, 1, cfg.gtSize, cfg.gtSize, true);
  let l = 0;
  for (let i = 0; i < up.length; i++) l += t.maskWeights[i]! * softplusRef(-t.masks[i]! * up[i]!);
  for (let i = 0; i < out.scores.length; i++) l += t.scoreWeights[i]! * softplusRef(-t.scores[i]! * out.scores[i]!);
  return l;
}
