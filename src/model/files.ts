// Node only: models and trunks on disk (model.safetensors + config.json in a directory).
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { DeepMask } from './deepmask.js';
import { readSafetensors, type StDtype } from './safetensors.js';
import { exportModel, importModel, importTorchvisionTrunk, parseModelConfig } from './weights.js';

export const WEIGHTS_FILE = 'model.safetensors';
export const CONFIG_FILE = 'config.json';

/** The reason an OS error gives, e.g. "ENOSPC: no space left on device, write". */
const reason = (e: unknown) => (e instanceof Error ? e.message : String(e));

/**
 * Writes every byte of `data` to `fd`. writeSync may write less than asked (a nearly full disk
 * writes short, then fails with ENOSPC), so this loops on short writes, and a write that makes no
 * progress is an error rather than a silently cut-off file. Errors name `name` (the file meant).
 */
export function writeAll(fd: number, data: Uint8Array | string, name: string): void {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  let done = 0;
  while (done < bytes.length) {
    let n: number;
    try {
      n = writeSync(fd, bytes, done, bytes.length - done);
    } catch (e) {
      throw new Error(`${name}: cannot write (${reason(e)}) after ${done} of ${bytes.length} bytes`);
    }
    if (!(n > 0)) throw new Error(`${name}: cannot write (no progress after ${done} of ${bytes.length} bytes: is the disk full?)`);
    done += n;
  }
}

/**
 * A file written in full to a temporary file beside `path` and fsynced, not yet in place: `commit`
 * renames it over `path`, `abort` removes it. Several of them let a run put all its files in place
 * only once every one is on disk. On a failed write the temporary file is removed and `path` is
 * left as it was; the error names `path`.
 */
export interface StagedFile {
  readonly path: string;
  readonly tmp: string;
  commit(): void;
  abort(): void;
}

export function stageFile(path: string, data: Uint8Array | string): StagedFile {
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    writeFileSynced(tmp, data, path);
  } catch (e) {
    throw new Error(`${reason(e)}; the previous file, if any, is unchanged`);
  }
  let pending = true;
  return {
    path,
    tmp,
    commit() {
      try {
        renameSync(tmp, path);
      } catch (e) {
        rmSync(tmp, { force: true });
        throw new Error(`${path}: cannot put the new file in place (${reason(e)}); the previous one, if any, is unchanged`);
      }
      pending = false;
    },
    abort() {
      if (pending) rmSync(tmp, { force: true });
      pending = false;
    },
  };
}

/**
 * Writes `data` to `file` (created or truncated) through writeAll and fsyncs it; on any error the
 * file is removed and the error names `name` (the file it stands for, e.g. the final path).
 */
export function writeFileSynced(file: string, data: Uint8Array | string, name = file): void {
  let fd: number | undefined;
  try {
    fd = openSync(file, 'w');
    writeAll(fd, data, name);
    fsyncSync(fd); // on disk before any rename makes it the file others read
    closeSync(fd);
    fd = undefined;
  } catch (e) {
    if (fd !== undefined) {
      try {
        closeSync(fd);
      } catch {
        // already failing: the write's error is the one to report
      }
    }
    rmSync(file, { force: true });
    const msg = reason(e);
    throw new Error(msg.startsWith(`${name}: `) ? msg : `${name}: cannot write (${msg})`);
  }
}

/**
 * Writes atomically: a temporary file written in full and fsynced, then a rename, so an
 * interrupted or failed write (a full disk) never leaves a torn file and keeps the previous one.
 */
export function writeFileAtomic(path: string, data: Uint8Array | string): void {
  stageFile(path, data).commit();
}

export async function saveModel(model: DeepMask, dir: string, opts: { dtype?: StDtype; training?: Record<string, unknown> } = {}): Promise<void> {
  const { weights, config } = await exportModel(model, opts);
  mkdirSync(dir, { recursive: true });
  writeFileAtomic(join(dir, WEIGHTS_FILE), weights);
  writeFileAtomic(join(dir, CONFIG_FILE), `${JSON.stringify(config, null, 2)}\n`);
}

export function loadModel(dir: string): DeepMask {
  const cfgPath = join(dir, CONFIG_FILE),
    wPath = join(dir, WEIGHTS_FILE);
  for (const p of [cfgPath, wPath]) if (!existsSync(p)) throw new Error(`${p}: not found (a model directory holds ${CONFIG_FILE} and ${WEIGHTS_FILE})`);
  return importModel(parseModelConfig(readFileSync(cfgPath, 'utf8'), cfgPath), readFileSync(wPath), wPath);
}

/** Loads a torchvision-layout ImageNet trunk (e.g. ../shared/weights/squeezenet1_1-imagenet-features.safetensors). */
export function loadTrunk(model: DeepMask, path: string): number {
  if (!existsSync(path)) throw new Error(`${path}: not found`);
  return importTorchvisionTrunk(model, readSafetensors(readFileSync(path), path), path);
}
