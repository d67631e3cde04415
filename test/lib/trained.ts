// A tiny model trained once per test process on synthetic scenes, shared by the test files that
// need a trained model (uvu runs every file in one process).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeSynth } from '../../src/data/synth-files.js';
import { runTraining, type RunOptions, type RunResult } from '../../src/train/run.js';

export const workDir = mkdtempSync(join(tmpdir(), 'deepmask-test-'));
writeSynth(join(workDir, 'synth'), { images: 120, seed: 11 });

export const synthData = { data: join(workDir, 'synth', 'instances.json'), images: join(workDir, 'synth', 'images') };

export const baseRun: RunOptions = {
  ...synthData,
  preset: 'tiny',
  out: '',
  holdOut: 20,
  valWindows: 96,
  lrSchedule: [[0, 0.01]],
  logEvery: 50,
  checkpointEvery: 1000,
};

export const TRAIN_STEPS = 200;
let trained: Promise<RunResult & { seconds: number }> | null = null;

export function trainedTiny(): Promise<RunResult & { seconds: number }> {
  trained ??= (async () => {
    const t0 = performance.now();
    const r = await runTraining({ ...baseRun, out: join(workDir, 'learn'), steps: TRAIN_STEPS, batch: 16, validateEvery: TRAIN_STEPS });
    return { ...r, seconds: (performance.now() - t0) / 1000 };
  })();
  return trained;
}
