// Model weights as bytes (universal: Node and browser): safetensors in our layouts plus a JSON
// config, and import of ImageNet trunks saved from torchvision.
//
// Tensor names are the model's parameter names: `trunk.features.<i>.weight|bias` (torchvision's
// indices), `heads.<layer>.weight|bias`. Layouts: convolutions [KH, KW, Cin, Cout], linear
// layers [in, out]; a linear layer over a feature map flattens it in (h, w, c) order.
import type { HostTensor } from '../graph/module.js';
import { DeepMask } from './deepmask.js';
import type { DeepMaskConfig, InferenceDefaults } from './presets.js';
import { readSafetensors, writeSafetensors, type SafetensorsFile, type StDtype } from './safetensors.js';

export const FORMAT = 'deepmask-webgpu';
export const LAYOUT = 'conv [kh, kw, in, out]; linear [in, out]; activations NHWC';

export interface ModelFileConfig {
  format: typeof FORMAT;
  version: 1;
  model: DeepMaskConfig;
  /** Free-form training record: hyper-parameters, steps, data, metrics. */
  training?: Record<string, unknown>;
}

/** Non-finite numbers where a model or a loss must be finite (a diverged run): never saved, never loaded. */
export class NonFiniteError extends Error {
  override name = 'NonFiniteError';
}

/** Throws NonFiniteError naming `source` and the first tensor that holds a NaN or an infinity. */
export function checkFinite(tensors: Map<string, HostTensor>, source: string): void {
  for (const [name, t] of tensors) {
    let bad = 0,
      first = -1;
    for (let i = 0; i < t.data.length; i++) {
      if (!Number.isFinite(t.data[i]!)) {
        bad++;
        if (first < 0) first = i;
      }
    }
    if (bad)
      throw new NonFiniteError(
        `${source}: tensor '${name}' holds ${bad} non-finite value(s) (${t.data[first]} at index ${first}); the weights are unusable (saved from a diverged run?)`,
      );
  }
}

/** Exports the weights; refuses non-finite ones so a diverged model never reaches a file. */
export async function exportModel(
  model: DeepMask,
  opts: { dtype?: StDtype; training?: Record<string, unknown> } = {},
): Promise<{ weights: Uint8Array; config: ModelFileConfig }> {
  const state = await model.exportState();
  checkFinite(state, `${model.config.preset} model`);
  const config: ModelFileConfig = { format: FORMAT, version: 1, model: model.config, ...(opts.training ? { training: opts.training } : {}) };
  const weights = writeSafetensors(state, { format: FORMAT, layout: LAYOUT, preset: model.config.preset }, opts.dtype ?? 'F32');
  return { weights, config };
}

export function parseModelConfig(json: string, source = 'config.json'): ModelFileConfig {
  let c: ModelFileConfig;
  try {
    c = JSON.parse(json) as ModelFileConfig;
  } catch (e) {
    throw new Error(`${source}: not valid JSON (${(e as Error).message})`);
  }
  if (c === null || typeof c !== 'object' || c.format !== FORMAT || !c.model || typeof c.model !== 'object') {
    throw new Error(`${source}: not a ${FORMAT} model config (expected "format": "${FORMAT}" and a "model" entry)`);
  }
  checkModelConfig(c.model, source);
  return c;
}

/** Checks the geometry a config gives before a model is built from it (a "stride": 0 fails here, not in a kernel). */
function checkModelConfig(m: DeepMaskConfig, source: string): void {
  const fail = (key: string, want: string): never => {
    throw new Error(`${source}: model.${key} must be ${want}, got ${JSON.stringify((m as unknown as Record<string, unknown>)[key])}`);
  };
  for (const key of ['inputSize', 'stride', 'maskSize', 'gtSize', 'objectSize'] as const) {
    const v = m[key];
    if (!Number.isInteger(v) || v < 1 || v > 65536) fail(key, 'an integer from 1 to 65536');
  }
  if (m.stride > m.inputSize) fail('stride', `at most inputSize (${m.inputSize})`);
  if (typeof m.dropout !== 'number' || !(m.dropout >= 0 && m.dropout < 1)) fail('dropout', 'a number in [0, 1)');
  const n = m.normalization;
  const three = (a: unknown) => Array.isArray(a) && a.length === 3 && a.every((x) => typeof x === 'number' && Number.isFinite(x));
  if (!n || !three(n.mean) || !three(n.std) || n.std.some((x) => x === 0)) {
    throw new Error(`${source}: model.normalization must hold mean and std, three finite numbers each (std not 0), got ${JSON.stringify(n)}`);
  }
  if (!m.trunk || typeof m.trunk !== 'object' || !m.heads || typeof m.heads !== 'object')
    throw new Error(`${source}: model.trunk and model.heads must be objects`);
  if (m.inference !== undefined) checkInference(m.inference, source);
  const r = m.refine;
  if (
    r !== undefined &&
    (r === null ||
      typeof r !== 'object' ||
      !Array.isArray(r.skips) ||
      !r.skips.every((x) => typeof x === 'string') ||
      !Array.isArray(r.skipWidths) ||
      typeof r.mask !== 'number')
  ) {
    throw new Error(`${source}: model.refine must be { "skips": [layer names], "mask": channels, "skipWidths": [widths] }, got ${JSON.stringify(r)}`);
  }
}

/** The inference settings a config stores, checked like the options that override them. */
function checkInference(i: InferenceDefaults, source: string): void {
  const fail = (key: string, want: string, got: unknown): never => {
    throw new Error(`${source}: model.inference.${key} must be ${want}, got ${JSON.stringify(got)}`);
  };
  const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
  if (i === null || typeof i !== 'object') fail('', 'an object', i);
  const sc = i.scales;
  if (sc !== undefined && !(Array.isArray(sc) && sc.length === 3 && sc.every(finite) && sc[2] > 0 && sc[1] >= sc[0] && (sc[1] - sc[0]) / sc[2] < 64))
    fail('scales', '[min, max, step] in log2 units with step > 0, max >= min and at most 64 scales', sc);
  if (i.threshold !== undefined && !(finite(i.threshold) && i.threshold > 0 && i.threshold < 1)) fail('threshold', 'a probability in (0, 1)', i.threshold);
  if (i.proposals !== undefined && !(Number.isInteger(i.proposals) && i.proposals >= 1)) fail('proposals', 'a positive integer', i.proposals);
  if (i.nms !== undefined && !(finite(i.nms) && i.nms > 0 && i.nms <= 1)) fail('nms', 'a mask IoU in (0, 1]', i.nms);
  const r = i.rerank;
  if (r !== undefined) {
    if (r === null || typeof r !== 'object') fail('rerank', 'an object { pool, power }', r);
    if (!(Number.isInteger(r.pool) && r.pool >= 1)) fail('rerank.pool', 'a positive integer', r.pool);
    if (!(finite(r.power) && r.power >= 0)) fail('rerank.power', 'a finite number >= 0', r.power);
  }
}

/** Builds the model its config describes and loads its weights. */
export function importModel(config: ModelFileConfig, weights: Uint8Array, source = 'model.safetensors'): DeepMask {
  const tensors = readSafetensors(weights, source).tensors;
  checkFinite(tensors, source);
  let model: DeepMask;
  try {
    model = new DeepMask(config.model);
  } catch (e) {
    throw new Error(`${source}: its config describes no model this version builds (${(e as Error).message})`);
  }
  model.loadState(tensors, { source });
  model.eval();
  return model;
}

/**
 * Loads an ImageNet trunk saved in PyTorch's layout into the model's trunk, converting layouts:
 * torchvision's `features.<i>.*` (VGG, SqueezeNet) or MobileNetV1's `conv0.*` and `blocks.<k>.*`
 * (depthwise weights [C, 1, kh, kw], i.e. groups = C). Every trunk parameter must be present with
 * the right shape, and every tensor of the file must map to one, except MobileNet blocks past the
 * preset's cut (a stride-32 file serves the stride-16 trunk).
 */
export function importTorchvisionTrunk(model: DeepMask, file: SafetensorsFile, source = 'trunk.safetensors'): number {
  checkFinite(file.tensors, source);
  const trunk = new Map(model.trunk.namedParameters());
  const spec = model.config.trunk;
  const pastCut = (name: string) => spec.kind === 'mobilenet' && Number(/^blocks\.(\d+)\./.exec(name)?.[1] ?? 0) > spec.blocks;
  const ours = spec.kind === 'mobilenet' ? (n: string) => /^(conv0|blocks)\./.test(n) : (n: string) => n.startsWith('features.');
  const mapped = new Map<string, HostTensor>();
  for (const [name, t] of file.tensors) {
    if (!ours(name) || pastCut(name)) continue;
    const p = trunk.get(name);
    if (!p) throw new Error(`${source}: tensor '${name}' has no matching parameter in the ${model.config.preset} trunk`);
    if (t.shape.length === 4 && p.shape.length === 3) {
      // Depthwise: [C, 1, KH, KW] -> [KH, KW, C].
      const [KH, KW, C] = p.shape as [number, number, number];
      if (t.shape.join() !== [C, 1, KH, KW].join())
        throw new Error(
          `${source}: tensor '${name}' has shape [${t.shape.join(', ')}], expected [${[C, 1, KH, KW].join(', ')}] (depthwise [channels, 1, kh, kw])`,
        );
      mapped.set(`trunk.${name}`, { shape: [KH, KW, C], data: ohwiToHwio(t.data, [C, 1, KH, KW]) });
    } else if (t.shape.length === 4) {
      const [O, I, KH, KW] = t.shape as [number, number, number, number];
      const expected = [O, I, KH, KW],
        hwio = [KH, KW, I, O];
      if (hwio.join() !== p.shape.join()) {
        throw new Error(
          `${source}: tensor '${name}' has shape [${t.shape.join(', ')}], expected [${torchShape(p.shape).join(', ')}] (torchvision [out, in, kh, kw])`,
        );
      }
      mapped.set(`trunk.${name}`, { shape: hwio, data: ohwiToHwio(t.data, expected) });
    } else {
      if (t.shape.join() !== p.shape.join()) throw new Error(`${source}: tensor '${name}' has shape [${t.shape.join(', ')}], expected [${p.shape.join(', ')}]`);
      mapped.set(`trunk.${name}`, t);
    }
  }
  for (const name of trunk.keys())
    if (!mapped.has(`trunk.${name}`))
      throw new Error(`${source}: missing tensor '${name}' (expected shape [${torchShape(trunk.get(name)!.shape).join(', ')}])`);
  model.loadState(mapped, { partial: true, source });
  return mapped.size;
}

const torchShape = (s: readonly number[]): number[] => (s.length === 4 ? [s[3]!, s[2]!, s[0]!, s[1]!] : s.length === 3 ? [s[2]!, 1, s[0]!, s[1]!] : [...s]);

/** [O, I, KH, KW] -> [KH, KW, I, O]. */
function ohwiToHwio(d: Float32Array, [O, I, KH, KW]: number[]): Float32Array {
  const out = new Float32Array(d.length);
  for (let o = 0; o < O!; o++)
    for (let i = 0; i < I!; i++)
      for (let a = 0; a < KH!; a++) for (let b = 0; b < KW!; b++) out[((a * KW! + b) * I! + i) * O! + o] = d[((o * I! + i) * KH! + a) * KW! + b]!;
  return out;
}
