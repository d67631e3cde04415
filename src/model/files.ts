// Node only: models and trunks on disk (model.safetensors + config.json in a directory).
import { mkdirSync, readFileSync, renameSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import type { DeepMask } from './deepmask.js';
import { readSafetensors, type StDtype } from './safetensors.js';
import { exportModel, importModel, importTorchvisionTrunk, parseModelConfig } from './weights.js';

export const WEIGHTS_FILE = 'model.safetensors';
export const CONFIG_FILE = 'config.json';

/** Writes atomically: a temporary file, then a rename, so an interrupted write never leaves a torn file. */
export function writeFileAtomic(path: string, data: Uint8Array | string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

export async function saveModel(model: DeepMask, dir: string, opts: { dtype?: StDtype; training?: Record<string, unknown> } = {}): Promise<void> {
  const { weights, config } = await exportModel(model, opts);
  mkdirSync(dir, { recursive: true });
  writeFileAtomic(join(dir, WEIGHTS_FILE), weights);
  writeFileAtomic(join(dir, CONFIG_FILE), `${JSON.stringify(config, null, 2)}\n`);
}

export function loadModel(dir: string): DeepMask {
  const cfgPath = join(dir, CONFIG_FILE), wPath = join(dir, WEIGHTS_FILE);
  for (const p of [cfgPath, wPath]) if (!existsSync(p)) throw new Error(`${p}: not found (a model directory holds ${CONFIG_FILE} and ${WEIGHTS_FILE})`);
  return importModel(parseModelConfig(readFileSync(cfgPath, 'utf8'), cfgPath), readFileSync(wPath), wPath);
}

/** Loads a torchvision-layout ImageNet trunk (e.g. ../shared/weights/squeezenet1_1-imagenet-features.safetensors). */
export function loadTrunk(model: DeepMask, path: string): number {
  if (!existsSync(path)) throw new Error(`${path}: not found`);
  return importTorchvisionTrunk(model, readSafetensors(readFileSync(path), path), path);
}
