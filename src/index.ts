// deepmask-webgpu: the library's public API.
// The declarations name WebGPU's types (GPUDevice, GPUBuffer) through src/gpu/global-types.ts: they
// are the consumer's own (lib "dom" in TypeScript 6+, or @webgpu/types), so nothing here forces
// @webgpu/types onto a program whose lib already declares them.
import { Runtime, type RuntimeOptions } from './gpu/runtime.js';
import { setRuntime } from './graph/tensor.js';

export { Runtime, GPUFailure, type RuntimeOptions, type BufferView } from './gpu/runtime.js';
export { NoAdapterError } from './gpu/no-adapter.js';
export { kernel, ceilDiv, type Kernel, type KernelSpec } from './gpu/kernel.js';
export type { PoolStats } from './gpu/pool.js';
export { Tensor, scope, keep, setRuntime, getRuntime, numel, fits, type DType } from './graph/tensor.js';
export { noGrad, withoutGrad, isGradEnabled, type Node } from './graph/autograd.js';
export * as ops from './graph/ops.js';
export { Module, parameter, type HostTensor } from './graph/module.js';
export { Linear, Conv2d, Dropout, uniformInit } from './graph/layers.js';
export { Rng } from './graph/random.js';
export { SGD, type SgdOptions, type OptimizerState } from './graph/optim.js';
export { DeepMask, type Prediction, type LossTargets } from './model/deepmask.js';
export { PRESETS, presetConfig, type DeepMaskConfig, type PresetName } from './model/presets.js';
export { exportModel, importModel, parseModelConfig, importTorchvisionTrunk, type ModelFileConfig } from './model/weights.js';
export { readSafetensors, writeSafetensors, type SafetensorsFile } from './model/safetensors.js';
export type { DenseModel } from './model/deepmask.js';
export {
  propose,
  encode,
  ImageEncoding,
  defaultScales,
  inferenceDefaults,
  scalesFromRange,
  type Proposal,
  type InferOptions,
  type InferResult,
  type Timings,
  type EncodeOptions,
  type PointOptions,
  type InferProgress,
  type Rerank,
} from './infer/proposals.js';
export { toCocoResults, drawProposals, nms, toRgba, withPolygons, type CocoResult } from './infer/results.js';
export { maskToPolygons, rleToPolygons, traceOutlines, simplifyRing, type PolygonOptions } from './data/polygon.js';
export { evaluate, arAuc, formatTable, type EvalResult } from './eval/cocoeval.js';
export { parseCoco, subset, summary, type CocoDataset } from './data/coco.js';
export { decodeImage, resizeRgb, normalizeRgb, type RgbImage } from './data/image.js';
export {
  imageFromInput,
  imageFromPixels,
  decodeImageBytes,
  jpegOrientation,
  orient,
  type ImageInput,
  type PixelsLike,
  type ImageInputOptions,
} from './data/image-input.js';
export { encodePng, decodePng } from './data/png.js';
export { drawOverlay } from './data/draw.js';
export * as rle from './data/rle.js';
export { generateScenes, type SynthOptions, type SynthDataset } from './data/synth.js';
export { PatchSampler, renderSample, type SampleSpec, type SamplingRule } from './data/sampler.js';
export { BatchMaker, type Batch, type Renderer } from './train/batches.js';
export { Trainer, DEFAULT_TRAIN, OFFICIAL_SCHEDULE, learningRate, maskIou, type TrainOptions, type ValidationMetrics, type LogEntry } from './train/trainer.js';
export { plotPanels } from './train/plot.js';
export { load, Segmenter, DEFAULT_CACHE, type LoadOptions, type LoadProgress, type ModelSource, type ModelBytes, type Selection } from './api.js';

/** Creates a runtime on the best adapter and makes it the default for tensor constructors. */
export async function init(opts: RuntimeOptions = {}): Promise<Runtime> {
  const rt = await Runtime.create(opts);
  setRuntime(rt);
  return rt;
}
