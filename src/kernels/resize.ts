// Launchers for shaders/resize.wgsl: bilinear resampling of NHWC images, forward and gradient.
import { kernel, ceilDiv } from '../gpu/kernel.js';
import type { BufferView, Runtime } from '../gpu/runtime.js';

type ResizeParams = { N: number; IH: number; IW: number; C: number; OH: number; OW: number; ay: number; by: number; ax: number; bx: number };

const forwardKernel = kernel<ResizeParams>({
  shader: 'resize',
  entry: 'bilinear',
  workgroups: (p) => ceilDiv(p.N * p.OH * p.OW * p.C, 64),
  sizes: (p) => ({ src: p.N * p.IH * p.IW * p.C, dst: p.N * p.OH * p.OW * p.C }),
});

const backwardKernel = kernel<ResizeParams>({
  shader: 'resize',
  entry: 'bilinear_backward',
  workgroups: (p) => ceilDiv(p.N * p.IH * p.IW * p.C, 64),
  sizes: (p) => ({ src: p.N * p.OH * p.OW * p.C, dst: p.N * p.IH * p.IW * p.C }),
});

export interface ResizeGeometry {
  N: number;
  IH: number;
  IW: number;
  C: number;
  OH: number;
  OW: number;
  /** Corner pixels of input and output align (Torch nn SpatialReSamplingEx, image.scale upsampling). */
  alignCorners: boolean;
}

/** Source coordinate of output index o is max(0, o*a + b). */
export function resizeAxis(inSize: number, outSize: number, alignCorners: boolean): { a: number; b: number } {
  if (alignCorners) return { a: outSize > 1 ? (inSize - 1) / (outSize - 1) : 0, b: 0 };
  const a = inSize / outSize;
  return { a, b: a / 2 - 0.5 };
}

function params(g: ResizeGeometry): ResizeParams {
  const y = resizeAxis(g.IH, g.OH, g.alignCorners),
    x = resizeAxis(g.IW, g.OW, g.alignCorners);
  return { N: g.N, IH: g.IH, IW: g.IW, C: g.C, OH: g.OH, OW: g.OW, ay: y.a, by: y.b, ax: x.a, bx: x.b };
}

export function resizeBilinear(rt: Runtime, src: BufferView, dst: BufferView, g: ResizeGeometry): void {
  rt.run(forwardKernel, {
    params: params(g),
    bind: { src, dst },
    split: { items: g.N, per: { src: g.IH * g.IW * g.C * 4, dst: g.OH * g.OW * g.C * 4 }, chunk: (_, N) => ({ N }) },
  });
}

/** Gradient w.r.t. the input: dx [N,IH,IW,C] from dy [N,OH,OW,C], as a gather. */
export function resizeBilinearBackward(rt: Runtime, dy: BufferView, dx: BufferView, g: ResizeGeometry): void {
  rt.run(backwardKernel, {
    params: params(g),
    bind: { src: dy, dst: dx },
    split: { items: g.N, per: { src: g.OH * g.OW * g.C * 4, dst: g.IH * g.IW * g.C * 4 }, chunk: (_, N) => ({ N }) },
  });
}

type ResampleParams = {
  IH: number;
  IW: number;
  OH: number;
  OW: number;
  pad: number;
  PH: number;
  PW: number;
  reverse: number;
  NW: number;
  gain: number;
  fill: number;
  mean0: number;
  mean1: number;
  mean2: number;
  std0: number;
  std1: number;
  std2: number;
};

const resampleKernel = kernel<ResampleParams>({
  shader: 'resize',
  entry: 'resample_image',
  workgroups: (p) => ceilDiv(p.PH * p.PW, 64),
  sizes: (p) => ({ src: p.IH * p.IW * 3, dst: p.PH * p.PW * 3, table: 3 * (p.OH + p.OW), weights: p.NW }),
});

/** How a resampled RGB image is framed and normalised for a network. */
export interface ImageFraming {
  /** Width of the frame around the image, and its raw value (before normalisation). */
  pad: number;
  fill: number;
  /** Each output channel c becomes (v * gain - mean[c]) / std[c]. */
  gain: number;
  mean: readonly [number, number, number];
  std: readonly [number, number, number];
  /** Output channel c reads input channel 2 - c (RGB -> BGR). */
  reverse?: boolean;
}

export interface ResampleImageGeometry extends ImageFraming {
  IH: number;
  IW: number;
  OH: number;
  OW: number;
  /** Entries of the weight table. */
  weightCount: number;
}

/**
 * An RGB image [IH, IW, 3] resampled by weight tables (`table`: start, count, first weight per output
 * row then per output column) into the middle of a normalised [OH + 2 pad, OW + 2 pad, 3] frame
 * (see shaders/resize.wgsl).
 */
export function resampleImage(rt: Runtime, a: { src: BufferView; dst: BufferView; table: BufferView; weights: BufferView }, g: ResampleImageGeometry): void {
  const params: ResampleParams = {
    IH: g.IH,
    IW: g.IW,
    OH: g.OH,
    OW: g.OW,
    pad: g.pad,
    PH: g.OH + 2 * g.pad,
    PW: g.OW + 2 * g.pad,
    reverse: g.reverse ? 1 : 0,
    NW: g.weightCount,
    gain: g.gain,
    fill: g.fill,
    mean0: g.mean[0],
    mean1: g.mean[1],
    mean2: g.mean[2],
    std0: g.std[0],
    std1: g.std[1],
    std2: g.std[2],
  };
  rt.run(resampleKernel, { params, bind: a });
}
