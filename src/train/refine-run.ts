// Node: a refinement training run (SharpMask on a trained DeepMask), in the run folder every trainer
// writes (run-folder.ts): a lock, run.json (the run-defining options, checked on --resume), the JSONL
// log, curves.png, atomic checkpoints, exact resume, a stop on request after a checkpoint, and the
// final model with its training record. The frozen model's windows are cached first
// (refine-data.ts), shared by runs that refine the same model the same way.
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Rng } from '../graph/random.js';
import { DeepMask } from '../model/deepmask.js';
import { CONFIG_FILE, WEIGHTS_FILE } from '../model/files.js';
import { presetConfig, type RefineSpec } from '../model/presets.js';
import { readSafetensors } from '../model/safetensors.js';
import { parseModelConfig } from '../model/weights.js';
import { defaultScales } from '../infer/proposals.js';
import { loadDataSets, setImages, type DataSetSpec } from './datasets.js';
import { lossPanel, plotPanels } from './plot.js';
import { buildRefineCache, refineCacheKey, refineGeometry, RefineWindows, type RefineBatch } from './refine-data.js';
import {
  claimRunFolder,
  lockRunFolder,
  makeRunFolder,
  modelDir,
  OptionError,
  readRunRecord,
  RUN,
  RunLog,
  StopFlag,
  stoppedLine,
  stopWord,
  TRAINER_CHECKPOINT,
  trainerCheckpoint,
  writeCheckpoint,
  writeCurves,
  writeFinalModel,
  writeRunRecord,
  type StopReason,
} from './run-folder.js';
import { checkSchedule } from './run.js';
import { DEFAULT_REFINE_TRAIN, RefineTrainer, type RefineMetrics, type RefineTrainOptions } from './train-refine.js';

/** The refinement a preset gets unless told otherwise (MobileNet: the last block at each stride). */
export function defaultRefineSpec(preset: string): RefineSpec {
  if (preset === 'mobile') return { skips: ['blocks.11', 'blocks.5', 'blocks.3', 'blocks.1'], mask: 32, skipWidths: [32, 16, 16, 8] };
  const t = presetConfig(preset).trunk;
  if (t.kind !== 'vgg') throw new OptionError(`--skips: no default skip layers for the ${preset} preset; name them`);
  // The last convolution before each pooling, from stride 16 down to stride 2.
  const convs: { name: string; stride: number }[] = [];
  let index = 0,
    stride = 1;
  for (const l of t.layers) {
    if (l === 'M') {
      stride *= 2;
      index += 1;
    } else {
      convs.push({ name: `features.${index}`, stride });
      index += 2;
    }
  }
  const skips = [16, 8, 4, 2].map((s) => convs.filter((c) => c.stride === s).pop()?.name).filter((n): n is string => !!n);
  return { skips, mask: Math.max(32, 2 ** skips.length), skipWidths: skips.map((_, i) => (i === 3 ? 8 : 16)) };
}

export interface RefineRunOptions extends Partial<RefineTrainOptions> {
  /** The trained DeepMask to refine: a model folder (config.json and model.safetensors). */
  model: string;
  sets: DataSetSpec[];
  out: string;
  /** Folder of the window cache (default OUT/cache); runs that refine the same model share it. */
  cache?: string;
  /** Skips and widths (default: defaultRefineSpec of the model's preset). */
  refine?: RefineSpec;
  /** Overrides the spec's `coarse`: add the coarse mask's logits to the refined ones. */
  addCoarse?: boolean;
  /** Pyramid scales positives are taken at (default: the model's inference scales). */
  scales?: number[];
  seed?: number;
  resume?: boolean;
  force?: boolean;
  /** Store the final model in f16. */
  saveF16?: boolean;
}

export interface RefineRunHooks {
  log?(line: string): void;
  onExtract?(done: number, total: number, computed: number): void;
  /** Training begins (after the cache is made), at this step (0, or a resumed run's). */
  onTrainStart?(step: number, run: { steps: number; batch: number }): void;
  onStep?(e: { step: number; loss: number; lr: number; windowsPerSec: number }, run: { steps: number; batch: number }): void;
  onValidate?(m: RefineMetrics): void;
  stopReason?(): StopReason | null;
  onLocked?(release: () => void): void;
}

export interface RefineRunResult {
  steps: number;
  metrics: RefineMetrics | null;
  modelDir: string;
  interrupted: StopReason | null;
}

/** What defines a run: stored beside the checkpoint and compared on --resume. */
interface RefineRecord {
  model: string;
  sets: DataSetSpec[];
  refine: RefineSpec;
  scales: number[];
  seed: number;
  batch: number;
  lrSchedule: [number, number][];
  momentum: number;
  weightDecay: number;
  key: string;
}

export async function runRefineTraining(o: RefineRunOptions, hooks: RefineRunHooks = {}): Promise<RefineRunResult> {
  const log = (s: string) => hooks.log?.(s);
  const warn = (s: string) => console.warn(`warning: ${s}`);
  const opts: RefineTrainOptions = {
    ...DEFAULT_REFINE_TRAIN,
    ...Object.fromEntries(Object.entries(o).filter(([k, v]) => k in DEFAULT_REFINE_TRAIN && v !== undefined)),
  };
  checkSchedule(opts.lrSchedule);
  for (const k of ['steps', 'batch', 'logEvery', 'validateEvery', 'checkpointEvery'] as const) {
    if (!(Number.isInteger(opts[k]) && opts[k] >= 1)) throw new OptionError(`${k}: must be a positive integer, got ${opts[k]}`);
  }
  const cfgPath = join(o.model, CONFIG_FILE),
    wPath = join(o.model, WEIGHTS_FILE);
  for (const p of [cfgPath, wPath])
    if (!existsSync(p)) throw new OptionError(`--model: ${p} not found (a model folder holds ${CONFIG_FILE} and ${WEIGHTS_FILE})`);
  const base = parseModelConfig(readFileSync(cfgPath, 'utf8'), cfgPath);
  const seed = o.seed ?? 1;
  const sets = loadDataSets(o.sets, seed);
  for (const s of sets) for (const w of s.coco.warnings.slice(0, 5)) warn(w);
  for (const s of sets) if (s.missing) warn(`${s.missing} images named in ${s.spec.data} are missing from ${s.spec.images} and are skipped`);
  const spec = o.refine ?? defaultRefineSpec(base.model.preset);
  const refineSpec: RefineSpec = o.addCoarse === undefined ? spec : { ...spec, coarse: o.addCoarse };
  const config = { ...base.model, refine: refineSpec };
  let model: DeepMask;
  try {
    model = new DeepMask(config, { seed });
  } catch (e) {
    throw new OptionError(`${(e as Error).message}`);
  }
  try {
    // The frozen trunk and heads from the model; a refinement it already has is replaced.
    const tensors = readSafetensors(readFileSync(wPath), wPath).tensors;
    const frozen = new Map([...tensors].filter(([k]) => !k.startsWith('refine.')));
    if (frozen.size < tensors.size) warn(`${wPath}: its refinement is not used (a new one is trained)`);
    model.loadState(frozen, { partial: true, source: wPath });
    const absent = model
      .namedParameters()
      .filter(([k]) => !k.startsWith('refine.') && !frozen.has(k))
      .map(([k]) => k);
    if (absent.length) throw new Error(`${wPath}: missing tensor '${absent[0]}' (${absent.length} in all): not a model of its config's preset`);
    const scales = o.scales ?? defaultScales(model);

    makeRunFolder(o.out);
    const unlock = lockRunFolder(o.out, warn);
    try {
      hooks.onLocked?.(unlock);
      const runFile = join(o.out, RUN);
      claimRunFolder(o.out, { resume: o.resume, force: o.force, what: 'a refinement run' }, warn);
      const from = o.resume ? trainerCheckpoint(o.out) : null;
      if (o.resume && (!from || !existsSync(runFile))) throw new OptionError(`--resume: ${o.out} holds no refinement checkpoint (a checkpoint and ${RUN})`);

      const cacheDir = o.cache ?? join(o.out, 'cache');
      log(`scales ${scales.map((s) => s.toFixed(3)).join(' ')}; window cache ${cacheDir}`);
      const key = await refineCacheKey(model, scales);
      const record: RefineRecord = {
        model: resolve(o.model),
        sets: o.sets.map((s) => ({ ...s, data: resolve(s.data), images: resolve(s.images), ...(s.valIds ? { valIds: resolve(s.valIds) } : {}) })),
        refine: refineSpec,
        scales,
        seed,
        batch: opts.batch,
        lrSchedule: opts.lrSchedule,
        momentum: opts.momentum,
        weightDecay: opts.weightDecay,
        key,
      };
      if (o.resume) {
        const saved = readRunRecord(o.out) as unknown as RefineRecord;
        const differ = (Object.keys(record) as (keyof RefineRecord)[]).filter((k) => JSON.stringify(record[k]) !== JSON.stringify(saved[k]));
        if (differ.length)
          throw new OptionError(
            `${o.out}: --resume with ${differ.map((k) => (k === 'key' ? 'other frozen weights or scales' : k)).join(', ')} different from the run's (${runFile}); give the run's, or start a new run in another --out`,
          );
      } else writeRunRecord(o.out, record);

      // The windows: cached once per image, training images and held-out ones apart.
      const images = setImages(sets);
      const stop = new StopFlag(hooks.stopReason);
      const cache = await buildRefineCache(model, sets, images, {
        dir: cacheDir,
        key,
        scales,
        onProgress: hooks.onExtract,
        shouldStop: stop.poll,
      }).catch((e: Error) => {
        if (stop.reason) return null;
        throw e;
      });
      if (!cache) {
        log(`${stopWord(stop.reason!)} while caching windows (the images done are kept); run again to continue`);
        return { steps: 0, metrics: null, modelDir: modelDir(o.out), interrupted: stop.reason };
      }
      for (const s of cache.skipped) warn(`skipped ${s}`);
      const isVal = (e: { set: number; image: number }) => sets[e.set]!.valIds.has(e.image);
      const trainEntries = cache.entries.filter((e) => !isVal(e)),
        valEntries = cache.entries.filter(isVal);
      const g = refineGeometry(model);
      const rng = new Rng(seed);
      const windows = new RefineWindows(trainEntries, sets, g, cacheDir, rng);
      const perSet = sets.map(
        (s, i) =>
          `${s.spec.data}${s.spec.positivesOnly ? ' (positives only)' : ''}: ${trainEntries.filter((e) => e.set === i).length} objects to train on, ${valEntries.filter((e) => e.set === i).length} held out`,
      );
      for (const line of perSet) log(line);
      let validation = null;
      if (valEntries.length) {
        const val = new RefineWindows(valEntries, sets, g, cacheDir, new Rng(seed + 1));
        const refs = val.centred();
        validation = { n: refs.length, render: (i0: number, n: number): RefineBatch => val.render(refs.slice(i0, i0 + n)) };
      } else warn('no held-out object at a canonical scale: no validation');

      let runLog: RunLog | null = null; // opened once the step resumed from is known
      let last: RefineMetrics | null = null;
      const t0 = performance.now();
      const trainer = new RefineTrainer(
        model,
        { next: (n) => windows.render(windows.sample(n)), rngState: () => rng.state(), setRngState: (s) => rng.setState(s) },
        opts,
        {
          onLog: (e) => {
            runLog!.add({ type: 'train', ...e });
            hooks.onStep?.(e, { steps: opts.steps, batch: opts.batch });
          },
          onValidate: (m) => {
            last = m;
            runLog!.add({ type: 'val', ...m });
            hooks.onValidate?.(m);
            writeCurves(o.out, curves(runLog!.records));
          },
          onCheckpoint: (bytes, step) => writeCheckpoint(o.out, step, [[TRAINER_CHECKPOINT, bytes]]),
          shouldStop: stop.poll,
        },
        validation,
      );
      try {
        if (from) {
          trainer.restore(readFileSync(from), from);
          log(`resumed at step ${trainer.step}`);
        }
        runLog = new RunLog(o.out, trainer.step, warn); // the log keeps what the checkpoint covers
        hooks.onTrainStart?.(trainer.step, { steps: opts.steps, batch: opts.batch });
        await trainer.run();
        if (stop.reason && trainer.step < opts.steps) {
          log(stoppedLine(stop.reason, trainer.step, opts.steps, o.out));
          return { steps: trainer.step, metrics: last, modelDir: modelDir(o.out), interrupted: stop.reason };
        }
        const dir = await writeFinalModel(
          o.out,
          model,
          {
            ...(base.training ? { base: base.training } : {}),
            refinement: {
              method:
                'SharpMask refinement on the frozen trunk and heads: positive windows only, soft-margin loss at full window resolution, from cached skip maps',
              model: o.model,
              skips: refineSpec.skips,
              mask: refineSpec.mask,
              skipWidths: refineSpec.skipWidths,
              steps: opts.steps,
              batch: opts.batch,
              lrSchedule: opts.lrSchedule,
              momentum: opts.momentum,
              weightDecay: opts.weightDecay,
              seed,
              scales,
              data: o.sets.map((s, i) => ({
                ...s,
                trainObjects: trainEntries.filter((e) => e.set === i).length,
                heldOutObjects: valEntries.filter((e) => e.set === i).length,
              })),
              validation: last,
              seconds: Math.round((performance.now() - t0) / 1000),
            },
          },
          o.saveF16,
        );
        log(`model: ${dir}`);
        return { steps: trainer.step, metrics: last, modelDir: dir, interrupted: null };
      } finally {
        trainer.dispose();
      }
    } finally {
      unlock();
    }
  } finally {
    model.dispose();
  }
}

function curves(history: Record<string, unknown>[]): Uint8Array {
  const tr = history.filter((e) => e.type === 'train') as { step: number; loss: number }[];
  const va = history.filter((e) => e.type === 'val') as unknown as RefineMetrics[];
  return plotPanels([
    lossPanel(tr),
    {
      title: 'held-out mask IoU',
      yRange: [0, 1],
      series: [
        { name: 'refined', color: [40, 90, 200], points: va.map((m) => [m.step, m.iouMean]) },
        { name: 'coarse', color: [150, 150, 150], points: va.map((m) => [m.step, m.coarse.iouMean]) },
        { name: 'refined >= .75', color: [30, 150, 60], points: va.map((m) => [m.step, m.iou75]) },
      ],
    },
  ]);
}
