// The differentiable ops, in one namespace: core (elementwise, shapes, reductions, GEMM, losses),
// vision (convolution, pooling, resampling, dropout), rows (slices, concatenation, gathers) and the
// mask paste (logits to run lengths, not differentiable).
export * from './core.js';
export {
  conv2d,
  depthwiseConv2d,
  maxPool2d,
  fineStridePool,
  interleave,
  resizeBilinear,
  upsampleNearest,
  depthToSpace,
  conv2dUpsampled,
  cropWindows,
  resampleImage,
  dropout,
  concatChannels,
  meanSigmoidAbove,
  type Conv2dOptions,
  type PoolOptions,
  type WindowBox,
  type ResampleAxis,
  type ResampleImageOptions,
} from './nn.js';
export { sliceRows, concatRows, gatherRows, stripRows } from './rows.js';
export { pasteMasks, type PasteWindow, type MaskRuns } from './paste.js';
export type { Padding } from '../kernels/conv2d.js';
