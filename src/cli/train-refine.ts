import { resolve } from 'node:path';
import { init } from '../index.js';
import type { DataSetSpec } from '../train/datasets.js';
import { runRefineTraining, type RefineRunOptions } from '../train/refine-run.js';
import { runFolderHelp } from '../train/run-folder.js';
import { checkSchedule } from '../train/run.js';
import { DEFAULT_REFINE_TRAIN } from '../train/train-refine.js';
import { parse, parseSchedule, rangedOption, str, UsageError, withNegativeValues } from './args.js';
import type { Command } from './command.js';
import { Progress } from './progress.js';
import { cliRunHooks } from './run-hooks.js';

const d = DEFAULT_REFINE_TRAIN;
const usage = `Usage: deepmask train-refine --model DIR --data instances.json --images DIR [--val-ids FILE]
                             [--data ... --images ... [--val-ids ...]] [--positives-only FILE] --out DIR
                             [--steps N] [--batch B] [--lr-schedule S] [--skips L,L,..] [--mask N] [--widths W,W,..]
                             [--cache DIR] [--resume | --force] [--seed N] [--save-f16]

Trains SharpMask's refinement of a trained model (Pinheiro et al., ECCV 2016): top-down stages that
mix the coarse mask with the trunk's earlier, finer maps, down to a mask at full window resolution.
The trunk and the heads stay frozen and only positive windows are used, so the model's windows are
cached once (--cache) and each step costs only the refinement.

  --model DIR          the trained model to refine (e.g. models/mobile-coco)
  --data FILE          COCO-format instances; repeat --data/--images/--val-ids for several data sets
  --images DIR         the folder of the images the --data before it names
  --val-ids FILE       JSON array of that data set's held-out image ids (never trained on; they give
                       the validation); default: a seeded tenth of its images
  --positives-only FILE
                       the data set of this annotation file labels only some objects of each image:
                       a source of positive windows, never of negatives (repeatable)
  --out DIR            run folder: ${runFolderHelp({ runRecord: true })}
  --cache DIR          the window cache (default OUT/cache); runs that refine the same model share it
  --steps N            (default ${d.steps})     --batch B (default ${d.batch})
  --lr-schedule S      STEP:LR,... (default ${d.lrSchedule.map(([s, l]) => `${s}:${l}`).join(',')})
  --skips L,...        trunk layers for the skip connections, from the model's stride down by halves
                       (default for mobile: blocks.11,blocks.5,blocks.3,blocks.1)
  --mask N             channels of the mask encoding, halved at each stage (default 32)
  --widths W,...       width of each skip branch's first convolution (default 32,16,16,8)
  --add-coarse         add the coarse mask's logits to the refined ones: the refinement learns a
                       correction of the coarse mask (--no-add-coarse: the official design, a mask
                       decoded from the embedding alone)
  --validate-every N   (default ${d.validateEvery})   --checkpoint-every N (default ${d.checkpointEvery})
  --resume             continue exactly from the latest checkpoint in --out (the run's options must match)
  --force              start a new run in an --out that holds one, deleting that run
  --seed N             (default 1)          --save-f16 store the final model in f16`;

function list(v: unknown, name: string): string[] {
  if (v === undefined) return [];
  return (Array.isArray(v) ? v : [v]).map((x) => {
    if (typeof x !== 'string' || !x) throw new UsageError(`--${name} needs a value`);
    return x;
  });
}

export const trainRefineCommand: Command = {
  summary: "train SharpMask's refinement of a trained model (sharp masks at full window resolution)",
  usage,
  async run(argv) {
    const spec = {
      model: { type: 'string' },
      data: { type: 'string', multiple: true },
      images: { type: 'string', multiple: true },
      'val-ids': { type: 'string', multiple: true },
      'positives-only': { type: 'string', multiple: true },
      out: { type: 'string' },
      cache: { type: 'string' },
      steps: { type: 'string' },
      batch: { type: 'string' },
      'lr-schedule': { type: 'string' },
      skips: { type: 'string' },
      mask: { type: 'string' },
      widths: { type: 'string' },
      'add-coarse': { type: 'boolean' },
      'no-add-coarse': { type: 'boolean' },
      'validate-every': { type: 'string' },
      'checkpoint-every': { type: 'string' },
      resume: { type: 'boolean' },
      force: { type: 'boolean' },
      seed: { type: 'string' },
      'save-f16': { type: 'boolean' },
    } as const;
    const { values: v } = parse(withNegativeValues(argv, spec), spec, usage);
    for (const k of ['model', 'out'] as const) if (!str(v[k])) throw new UsageError(`--${k} is required\n\n${usage}`);
    const data = list(v.data, 'data'),
      images = list(v.images, 'images'),
      valIds = list(v['val-ids'], 'val-ids'),
      positives = list(v['positives-only'], 'positives-only');
    if (!data.length) throw new UsageError(`--data is required\n\n${usage}`);
    if (images.length !== data.length) throw new UsageError(`give one --images folder per --data file (${data.length} --data, ${images.length} --images)`);
    if (valIds.length && valIds.length !== data.length)
      throw new UsageError(`give one --val-ids file per --data file, or none (${data.length} --data, ${valIds.length} --val-ids)`);
    for (const p of positives)
      if (!data.some((f) => resolve(f) === resolve(p))) throw new UsageError(`--positives-only ${p}: not one of the --data files (${data.join(', ')})`);
    if (positives.length === data.length)
      console.warn('warning: every data set is positives-only; that is fine for the refinement, which learns from positives alone');
    if (v.resume && v.force) throw new UsageError('give --resume (continue the run in --out) or --force (replace it), not both');
    const sets: DataSetSpec[] = data.map((f, i) => ({
      data: f,
      images: images[i]!,
      ...(valIds[i] ? { valIds: valIds[i] } : {}),
      ...(positives.some((p) => resolve(p) === resolve(f)) ? { positivesOnly: true } : {}),
    }));

    let lrSchedule: [number, number][] | undefined;
    if (str(v['lr-schedule'])) {
      lrSchedule = parseSchedule(str(v['lr-schedule'])!);
      try {
        checkSchedule(lrSchedule);
      } catch (e) {
        throw new UsageError((e as Error).message);
      }
    }
    let refine: RefineRunOptions['refine'];
    if (v['add-coarse'] && v['no-add-coarse']) throw new UsageError('give --add-coarse or --no-add-coarse, not both');
    if (str(v.skips) || str(v.mask) || str(v.widths)) {
      if (!str(v.skips) || !str(v.widths)) throw new UsageError('--skips and --widths go together (one width per skip layer)');
      const skips = str(v.skips)!
        .split(',')
        .map((x) => x.trim());
      const widths = str(v.widths)!
        .split(',')
        .map((x) => (x.trim() === '' ? NaN : Number(x)));
      if (widths.length !== skips.length || !widths.every((w) => Number.isInteger(w) && w >= 1 && w <= 4096))
        throw new UsageError(`--widths must hold one integer in 1..4096 per skip layer (${skips.length}), got '${str(v.widths)}'`);
      const mask = rangedOption(v.mask, 'mask', 32, { min: 1, max: 4096, integer: true });
      if (mask % 2 ** skips.length !== 0)
        throw new UsageError(
          `--mask must be a multiple of 2^${skips.length} = ${2 ** skips.length} (halved at each of the ${skips.length} stages), got ${mask}`,
        );
      refine = { skips, mask, skipWidths: widths };
    }
    const addCoarse = v['add-coarse'] ? true : v['no-add-coarse'] ? false : undefined;
    const opts: RefineRunOptions = {
      model: str(v.model)!,
      sets,
      out: str(v.out)!,
      ...(str(v.cache) ? { cache: str(v.cache)! } : {}),
      ...(refine ? { refine } : {}),
      ...(addCoarse !== undefined ? { addCoarse } : {}),
      steps: rangedOption(v.steps, 'steps', d.steps, { min: 1, max: 1e9, integer: true }),
      batch: rangedOption(v.batch, 'batch', d.batch, { min: 1, max: 4096, integer: true }),
      ...(lrSchedule ? { lrSchedule } : {}),
      validateEvery: rangedOption(v['validate-every'], 'validate-every', d.validateEvery, { min: 1, max: 1e9, integer: true }),
      checkpointEvery: rangedOption(v['checkpoint-every'], 'checkpoint-every', d.checkpointEvery, { min: 1, max: 1e9, integer: true }),
      seed: rangedOption(v.seed, 'seed', 1, { min: 0, max: 2 ** 31 - 1, integer: true }),
      resume: !!v.resume,
      force: !!v.force,
      saveF16: !!v['save-f16'],
    };

    const rt = await init();
    try {
      console.log(`adapter: ${rt.adapter.description}`);
      const cli = cliRunHooks();
      let extract = null as Progress | null,
        steps = null as Progress | null,
        from = 0;
      try {
        const r = await runRefineTraining(opts, {
          log: (s) => {
            extract?.done();
            steps?.done();
            cli.hooks.log?.(s);
          },
          onExtract: (done, total, computed) => {
            extract ??= new Progress(total, 'images', 'caching windows');
            extract.update(done, computed, { computed }); // the rate is of images computed, not of those already cached
            if (done === total) extract.done();
          },
          onTrainStart: (step, run) => {
            from = step;
            steps = new Progress(run.steps - step, 'windows', 'step');
            steps.from = step;
          },
          onStep: (e, run) => steps?.update(e.step - from, (e.step - from) * run.batch, { loss: e.loss, lr: e.lr }),
          onValidate: (m) => {
            steps?.done();
            const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
            console.log(
              `validation @${m.step} (${m.windows} held-out windows): refined IoU mean ${m.iouMean.toFixed(3)}, >=.75 ${pct(m.iou75)}, >=.85 ${pct(m.iou85)}; coarse IoU mean ${m.coarse.iouMean.toFixed(3)}, >=.75 ${pct(m.coarse.iou75)}, >=.85 ${pct(m.coarse.iou85)}`,
            );
          },
          stopReason: () => cli.hooks.stopReason?.() ?? null,
          onLocked: (release) => cli.hooks.onLocked?.(release),
        });
        if (r.interrupted) process.exitCode = r.interrupted === 'SIGINT' ? 130 : 143;
      } finally {
        extract?.done();
        steps?.done();
        cli.close();
      }
    } finally {
      rt.destroy();
    }
  },
};
