// Node: the run folder, one contract for every trainer (train, train-heads, train-refine). Its layout
// is spelled here and nowhere else:
//
//   OUT/train.lock                  held while a run writes the folder: a second run into it is refused
//   OUT/run.json                    the run-defining options, checked on --resume (train-heads,
//                                   train-refine; train keeps them in each checkpoint's state.json)
//   OUT/log.jsonl                   one JSON record a line, tagged by `type` (LogRecord)
//   OUT/curves.png                  the log's curves, redrawn at every validation and at the end
//   OUT/checkpoints/step-NNNNNNN/   a checkpoint: written to a temporary folder, synced, renamed
//   OUT/checkpoints/latest.json     names the newest ({"dir", "step", "kept"}); the last two are kept
//   OUT/model/                      the final model (config.json with the training record); only
//                                   once the run completed, never after a stop
//
// A stop (Ctrl-C, SIGTERM: StopReason) comes between steps: a checkpoint is written and no model.
// Folders of the older train-heads/train-refine layout (one OUT/checkpoint.safetensors, log records
// tagged `kind`) still resume: that file is their checkpoint and `kind` reads as `type`.
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { DeepMask } from '../model/deepmask.js';
import { saveModel, writeFileAtomic, writeFileSynced } from '../model/files.js';

export const LOCK = 'train.lock';
export const RUN = 'run.json';
export const LOG = 'log.jsonl';
export const CURVES = 'curves.png';
export const CHECKPOINTS = 'checkpoints';
export const LATEST = 'latest.json';
export const MODEL = 'model';
/** The file of a train-heads or train-refine checkpoint (in its step folder; in OUT itself in the old layout). */
export const TRAINER_CHECKPOINT = 'checkpoint.safetensors';
/** What a run writes: a folder holding any of these holds a run (caches beside them are not part of it). */
const RUN_FILES = [CHECKPOINTS, TRAINER_CHECKPOINT, RUN, LOG, CURVES, MODEL, 'done.json'];
/** Checkpoints kept: the newest and the one before it (a torn newest still leaves one). */
const KEEP = 2;

const stepDir = (step: number) => `step-${String(step).padStart(7, '0')}`;

/** A bad option value or a conflict between options and the run on disk; the CLI reports it as a usage error (exit 2). */
export class OptionError extends Error {
  override name = 'OptionError';
}

// ---- signals ------------------------------------------------------------------------------------

/** Why a run stopped before its last step (the CLI maps signals to these). */
export type StopReason = 'SIGINT' | 'SIGTERM';

/** A caller's stop request, asked between steps and remembered once given. */
export class StopFlag {
  reason: StopReason | null = null;
  constructor(private readonly ask?: () => StopReason | null) {}
  /** Whether to stop now (asks the caller until it says so). */
  readonly poll = (): boolean => (this.reason ??= this.ask?.() ?? null) !== null;
}

/** The line a run stopped by a signal ends with. */
export function stoppedLine(stop: StopReason, step: number, steps: number, out: string): string {
  return `${stopWord(stop)} at step ${step} of ${steps}: checkpoint in ${join(out, CHECKPOINTS)}; continue with --resume (no final model written)`;
}

/** "interrupted" (SIGINT) or "terminated" (SIGTERM). */
export const stopWord = (stop: StopReason): string => (stop === 'SIGINT' ? 'interrupted' : 'terminated');

// ---- the folder and its lock --------------------------------------------------------------------

/** Creates the run folder, with an error naming it when that fails. */
export function makeRunFolder(out: string): void {
  try {
    mkdirSync(out, { recursive: true });
  } catch (e) {
    throw new Error(`${out}: cannot create the run folder (${(e as Error).message})`);
  }
}

/** What of a run `out` holds (names of RUN_FILES present). */
export function existingRun(out: string): string[] {
  return RUN_FILES.filter((f) => existsSync(join(out, f)));
}

/** The refusal of a new run into a folder that holds one (`what`: e.g. "a training run"). */
export function runFolderTaken(out: string, found: string[], what: string): OptionError {
  return new OptionError(`${out} already holds ${what} (${found.join(', ')}): continue it with --resume, replace it with --force, or choose another --out`);
}

/**
 * For a new run, under the lock: a previous run in `out` is refused, or deleted with --force (what
 * lies beside it, e.g. a feature cache, is kept); then what interrupted writes left is removed.
 */
export function claimRunFolder(out: string, o: { resume?: boolean; force?: boolean; what: string; kept?: string }, warn: (s: string) => void): void {
  if (!o.resume) {
    const found = existingRun(out);
    if (found.length) {
      if (!o.force) throw runFolderTaken(out, found, o.what);
      for (const f of found) rmSync(join(out, f), { recursive: true, force: true });
      warn(`--force: deleted the previous run in ${out} (${found.join(', ')}${o.kept ? `; ${o.kept}` : ''})`);
    }
  }
  removeTemporaries(out);
}

/** Removes what interrupted writes left behind: .tmp-* checkpoint folders and files (the caller holds the lock). */
function removeTemporaries(out: string): void {
  for (const dir of [join(out, CHECKPOINTS), join(out, MODEL), out]) {
    if (!existsSync(dir)) continue;
    for (const f of readdirSync(dir)) if (f.startsWith('.tmp-') || /\.tmp-\d+$/.test(f)) rmSync(join(dir, f), { recursive: true, force: true });
  }
}

/**
 * Takes the run folder's lock file, so a second run into the same --out is refused instead of
 * interleaving with this one; a lock left by a dead process on this machine is taken over.
 */
export function lockRunFolder(out: string, warn: (s: string) => void): () => void {
  const file = join(out, LOCK);
  const me = { pid: process.pid, host: hostname(), started: new Date().toISOString() };
  for (;;) {
    try {
      writeFileSync(file, JSON.stringify(me), { flag: 'wx' });
      let held = true;
      return () => {
        if (held) rmSync(file, { force: true });
        held = false;
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new Error(`${out}: cannot write to the run folder (${(e as Error).message})`);
    }
    let other: { pid?: number; host?: string; started?: string } = {};
    try {
      other = JSON.parse(readFileSync(file, 'utf8'));
    } catch {
      // unreadable: treated as held
    }
    if (other.host === me.host && typeof other.pid === 'number' && !alive(other.pid)) {
      warn(`${file}: taking over the lock of a run that ended without releasing it (pid ${other.pid})`);
      rmSync(file, { force: true });
      continue;
    }
    throw new Error(
      `${out} is in use by another training run (${file}: pid ${other.pid ?? '?'} on ${other.host ?? '?'}, since ${other.started ?? '?'}); wait for it to end, or delete ${file} if no run is active`,
    );
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

// ---- run.json -----------------------------------------------------------------------------------

/** The run's recorded options (OUT/run.json), or null when there is none; errors name the file. */
export function readRunRecord(out: string): Record<string, unknown> | null {
  const file = join(out, RUN);
  if (!existsSync(file)) return null;
  try {
    const r = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    if (!r || typeof r !== 'object' || Array.isArray(r)) throw new Error('not a JSON object');
    return r as Record<string, unknown>;
  } catch (e) {
    throw new Error(`${file}: cannot read the run's options (${(e as Error).message})`);
  }
}

export function writeRunRecord(out: string, record: object): void {
  writeFileAtomic(join(out, RUN), `${JSON.stringify(record, null, 2)}\n`);
}

// ---- the log ------------------------------------------------------------------------------------

/** A training step's record (the trainer's own fields besides these: samples or windows per second, ...). */
export type TrainRecord = { type: 'train'; step: number; loss: number; lr: number } & Record<string, unknown>;
/** A validation's record: the trainer's metrics at that step. */
export type ValRecord = { type: 'val'; step: number } & Record<string, unknown>;
/** A resume that accepted options differing from the run's (train --allow-changes). */
export type ChangesRecord = { type: 'allow-changes'; step: number; changes: string[] };
/** Training stopped by an error (a non-finite loss) at that step. */
export type ErrorRecord = { type: 'error'; step: number; message: string };
export type LogRecord = TrainRecord | ValRecord | ChangesRecord | ErrorRecord;

/** OUT/log.jsonl as a run writes it: the records so far (those a resumed checkpoint covers first). */
export class RunLog {
  readonly file: string;
  readonly records: LogRecord[];
  /** Opens the log of a run at `step` (0: a new run), dropping what came after that checkpoint. */
  constructor(out: string, step: number, warn: (s: string) => void) {
    this.file = join(out, LOG);
    this.records = resumeLog(this.file, step, warn) as LogRecord[];
  }
  add(r: LogRecord): void {
    this.records.push(r);
    appendFileSync(this.file, `${JSON.stringify(r)}\n`);
  }
  /** The records of one type. */
  of<T extends LogRecord['type']>(type: T): Extract<LogRecord, { type: T }>[] {
    return this.records.filter((r): r is Extract<LogRecord, { type: T }> => r.type === type);
  }
}

/**
 * A run's JSONL log as it resumes at `step` (0: a new run): the entries up to that step, the file
 * rewritten (atomically) to hold just those, since what came after the checkpoint is redone; a
 * torn last line (a kill mid-write) is dropped with a warning, and an old record's `kind` tag is
 * rewritten as `type`.
 */
export function resumeLog(file: string, step: number, warn: (s: string) => void): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  if (existsSync(file) && step > 0) {
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      if (!line) continue;
      let e: Record<string, unknown>;
      try {
        e = JSON.parse(line) as Record<string, unknown>;
      } catch {
        warn(`${file}: dropping an unreadable line (${line.slice(0, 40)})`);
        continue;
      }
      if (e.type === undefined && typeof e.kind === 'string') {
        const { kind, ...rest } = e;
        e = { type: kind, ...rest };
      }
      if ((e.step as number) <= step) out.push(e);
    }
  }
  writeFileAtomic(file, out.map((e) => JSON.stringify(e)).join('\n') + (out.length ? '\n' : ''));
  return out;
}

/** Writes OUT/curves.png (a plot of the log). */
export function writeCurves(out: string, png: Uint8Array): void {
  writeFileAtomic(join(out, CURVES), png);
}

// ---- checkpoints --------------------------------------------------------------------------------

/** A checkpoint on disk: its folder and step (null for the old layout's single file, whose step is inside it). */
export interface CheckpointRef {
  dir: string;
  step: number | null;
  /** The old train-heads/train-refine layout: `dir` is OUT and holds checkpoint.safetensors. */
  legacy: boolean;
}

/** OUT/checkpoints (where checkpoints go; named in messages). */
export const checkpointsDir = (out: string): string => join(out, CHECKPOINTS);

/**
 * The newest checkpoint in `out`: the folder latest.json names or, in a folder of the old
 * train-heads/train-refine layout, OUT itself (its checkpoint.safetensors); null when there is none.
 * Errors name the file at fault.
 */
export function findCheckpoint(out: string): CheckpointRef | null {
  const root = join(out, CHECKPOINTS),
    latest = join(root, LATEST);
  if (!existsSync(latest)) return existsSync(join(out, TRAINER_CHECKPOINT)) ? { dir: out, step: null, legacy: true } : null;
  let named: { dir?: unknown; step?: unknown };
  try {
    named = JSON.parse(readFileSync(latest, 'utf8')) as { dir?: unknown };
  } catch (e) {
    throw new Error(`${latest}: not valid JSON (${(e as Error).message}); it should name the newest checkpoint, e.g. {"dir": "step-0000500"}`);
  }
  const name = named?.dir;
  if (typeof name !== 'string' || !/^step-\d+$/.test(name))
    throw new Error(`${latest}: "dir" must name a checkpoint folder such as "step-0000500", got ${JSON.stringify(name)}`);
  const dir = join(root, name);
  if (!existsSync(dir)) throw new Error(`${latest}: names ${name}, which is not in ${root}`);
  return { dir, step: Number(name.slice(5)), legacy: false };
}

/**
 * The train-heads or train-refine checkpoint file to resume from (in either layout), or null when
 * `out` holds none; a checkpoint of `train` (a model folder, no checkpoint.safetensors) is refused.
 */
export function trainerCheckpoint(out: string): string | null {
  const ref = findCheckpoint(out);
  if (!ref) return null;
  const file = join(ref.dir, TRAINER_CHECKPOINT);
  if (!existsSync(file))
    throw new OptionError(
      `${ref.dir}: no ${TRAINER_CHECKPOINT} in it: a checkpoint of deepmask train, not of train-heads or train-refine; resume it with deepmask train`,
    );
  return file;
}

/**
 * Writes a checkpoint's files into checkpoints/step-N/ atomically (a temporary folder, each file
 * synced, then a rename), then points latest.json at it. Older checkpoints are pruned by write order
 * (latest.json keeps the list), never the one it names; an old layout's single checkpoint file is
 * superseded. On an error nothing changes: latest.json still names the last good checkpoint.
 */
export function writeCheckpoint(out: string, step: number, files: [string, Uint8Array | string][]): void {
  const root = join(out, CHECKPOINTS),
    latestFile = join(root, LATEST);
  const name = stepDir(step);
  const tmp = join(root, `.tmp-${name}-${process.pid}`);
  mkdirSync(tmp, { recursive: true });
  // Each file checked in full and synced (a full disk wrote short files that were renamed into a checkpoint).
  try {
    for (const [file, data] of files) writeFileSynced(join(tmp, file), data, join(root, name, file));
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw new Error(`checkpoint ${name} not written: ${(e as Error).message}; ${latestFile} still names the previous checkpoint, if any`);
  }
  let kept: string[] = [];
  try {
    const prev = JSON.parse(readFileSync(latestFile, 'utf8')) as { dir?: string; kept?: string[] };
    kept = Array.isArray(prev.kept) ? prev.kept : typeof prev.dir === 'string' ? [prev.dir] : [];
  } catch {
    // first checkpoint (or an unreadable latest.json, which is replaced): nothing to prune
  }
  const final = join(root, name),
    old = join(root, `.tmp-old-${name}-${process.pid}`);
  if (existsSync(final)) renameSync(final, old); // replaced only once the new one is in place
  renameSync(tmp, final);
  kept = [...kept.filter((d) => d !== name), name];
  writeFileAtomic(latestFile, JSON.stringify({ dir: name, step, kept: kept.slice(-KEEP) }));
  for (const d of kept.slice(0, -KEEP)) if (/^step-\d+$/.test(d)) rmSync(join(root, d), { recursive: true, force: true });
  rmSync(old, { recursive: true, force: true });
  rmSync(join(out, TRAINER_CHECKPOINT), { force: true });
}

// ---- the final model ----------------------------------------------------------------------------

/** Writes the final model (OUT/model) with its training record; returns its folder. */
export async function writeFinalModel(out: string, model: DeepMask, training: Record<string, unknown>, f16 = false): Promise<string> {
  const dir = join(out, MODEL);
  await saveModel(model, dir, { training, dtype: f16 ? 'F16' : 'F32' });
  return dir;
}

/** Where a run's final model goes (whether or not it is written). */
export const modelDir = (out: string): string => join(out, MODEL);

/** The run folder's contents, as the commands' usage lists them (train keeps its options in the checkpoints, not in run.json). */
export function runFolderHelp(o: { runRecord: boolean }): string {
  return [`${MODEL}/`, `${CHECKPOINTS}/`, ...(o.runRecord ? [RUN] : []), LOG, CURVES].join(', ');
}
