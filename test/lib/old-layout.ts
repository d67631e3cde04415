// Run folders in the layout train-heads and train-refine wrote before run-folder.ts (one
// OUT/checkpoint.safetensors, log records tagged `kind` by train-heads), made from a current one:
// what the fallback that still resumes such folders is tested on.
import { copyFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { findCheckpoint, TRAINER_CHECKPOINT } from '../../src/train/run-folder.js';

/** Rewrites `out` in the old layout: its newest checkpoint as OUT/checkpoint.safetensors, no checkpoints/, the log tagged by `tag`. */
export function toOldLayout(out: string, tag: 'kind' | 'type'): void {
  const ref = findCheckpoint(out);
  if (!ref || ref.legacy) throw new Error(`${out}: no checkpoint in the current layout`);
  copyFileSync(join(ref.dir, TRAINER_CHECKPOINT), join(out, TRAINER_CHECKPOINT));
  rmSync(join(out, 'checkpoints'), { recursive: true });
  const log = join(out, 'log.jsonl');
  const lines = readFileSync(log, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  const old = lines.map(({ type, ...rest }) => (tag === 'kind' ? { ...rest, kind: type } : { type, ...rest }));
  writeFileSync(log, old.map((e) => `${JSON.stringify(e)}\n`).join(''));
}
