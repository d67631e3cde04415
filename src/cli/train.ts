import { init } from '../index.js';
import { runFolderHelp } from '../train/run-folder.js';
import { checkRunOptions, runTraining, type RunOptions } from '../train/run.js';
import { cliRunHooks } from './run-hooks.js';
import { parse, parseSchedule, rangedOption, str, UsageError, withNegativeValues } from './args.js';
import type { Command } from './command.js';

const usage = `Usage: deepmask train --data instances.json --images DIR --preset tiny|squeeze|vgg-a|vgg16 --out DIR
                      [--init trunk.safetensors] [--steps N] [--batch B] [--resume] [options]

  --data FILE            COCO-format instances (polygons, RLE and crowd regions all fine)
  --images DIR           folder holding the images named in --data
  --preset NAME          tiny (CPU-friendly), squeeze (ImageNet SqueezeNet trunk), vgg-a (the paper), vgg16
  --out DIR              run folder: ${runFolderHelp({ runRecord: false })}
  --init FILE            ImageNet trunk in torchvision's layout (safetensors), e.g.
                         ../shared/weights/squeezenet1_1-imagenet-features.safetensors
  --steps N              training steps (default 1000)
  --batch B              windows per step (default 32)
  --resume               continue exactly from the latest checkpoint in --out (options left out
                         take the run's values; different run-defining ones are refused)
  --allow-changes        with --resume: accept different --seed, --batch, --lr, ... (logged)
  --force                start a new run in an --out that holds one, deleting that run
  --mode joint|alternate the paper's joint step (default) or the official mask/score alternation
  --rule paper|official  window sampling rule (default paper)
  --freeze-trunk         train only the heads (fast on a CPU with a pretrained trunk)
  --lr X                 constant learning rate, above 0 (default: the official schedule from 1e-3)
  --lr-schedule S        STEP:LR,... steps increasing from 0, e.g. 0:1e-3,3000:3e-4
  --hold-out X           held-out images: a count, or a fraction below 1 (default 0.1)
  --val-windows N        validation windows, half positive (default 256)
  --validate-every N     (default 200)     --checkpoint-every N (default 500)
  --log-every N          (default 10)      --workers N data loader threads (default 1)
  --seed N               (default 1)
  --save-f16             store the final model in f16 (checkpoints stay f32)`;

function schedule(v: unknown, lr: unknown): [number, number][] | undefined {
  if (lr !== undefined && v !== undefined) throw new UsageError('give --lr or --lr-schedule, not both');
  if (lr !== undefined) return [[0, rangedOption(lr, 'lr', undefined, { min: 0, max: Infinity, minOpen: true })!]];
  return typeof v === 'string' ? parseSchedule(v) : undefined;
}

export const trainCommand: Command = {
  summary: 'train a DeepMask model on COCO-format data',
  usage,
  async run(argv) {
    const spec = {
      data: { type: 'string' },
      images: { type: 'string' },
      preset: { type: 'string' },
      out: { type: 'string' },
      init: { type: 'string' },
      steps: { type: 'string' },
      batch: { type: 'string' },
      resume: { type: 'boolean' },
      force: { type: 'boolean' },
      'allow-changes': { type: 'boolean' },
      mode: { type: 'string' },
      rule: { type: 'string' },
      'freeze-trunk': { type: 'boolean' },
      lr: { type: 'string' },
      'lr-schedule': { type: 'string' },
      'hold-out': { type: 'string' },
      'val-windows': { type: 'string' },
      'validate-every': { type: 'string' },
      'checkpoint-every': { type: 'string' },
      'log-every': { type: 'string' },
      workers: { type: 'string' },
      seed: { type: 'string' },
      'save-f16': { type: 'boolean' },
    } as const;
    const { values: v } = parse(withNegativeValues(argv, spec), spec, usage);
    for (const k of ['data', 'images', 'out'] as const) if (!str(v[k])) throw new UsageError(`--${k} is required\n\n${usage}`);
    if (!v.resume && !str(v.preset)) throw new UsageError(`--preset is required\n\n${usage}`);
    if (v.resume && v.force) throw new UsageError('give --resume (continue the run in --out) or --force (replace it), not both');
    if (v['allow-changes'] && !v.resume) throw new UsageError('--allow-changes only applies with --resume');
    // Options not given stay undefined: a new run takes the defaults, a resumed one the run's own values.
    const opts: RunOptions = {
      data: str(v.data)!,
      images: str(v.images)!,
      preset: str(v.preset),
      out: str(v.out)!,
      init: str(v.init),
      resume: !!v.resume,
      force: !!v.force,
      allowChanges: !!v['allow-changes'],
      steps: rangedOption(v.steps, 'steps', 1000, { min: 1, max: 1e9, integer: true }),
      batch: rangedOption(v.batch, 'batch', undefined, { min: 1, max: 65536, integer: true }),
      mode: str(v.mode) as RunOptions['mode'],
      rule: str(v.rule) as RunOptions['rule'],
      freezeTrunk: v['freeze-trunk'] ? true : undefined,
      lrSchedule: schedule(v['lr-schedule'], v.lr),
      holdOut: rangedOption(v['hold-out'], 'hold-out', undefined, { min: 0, max: Infinity, minOpen: true }),
      valWindows: rangedOption(v['val-windows'], 'val-windows', undefined, { min: 2, max: 1e6, integer: true }),
      validateEvery: rangedOption(v['validate-every'], 'validate-every', 200, { min: 1, max: 1e9, integer: true }),
      checkpointEvery: rangedOption(v['checkpoint-every'], 'checkpoint-every', 500, { min: 1, max: 1e9, integer: true }),
      logEvery: rangedOption(v['log-every'], 'log-every', 10, { min: 1, max: 1e9, integer: true }),
      workers: rangedOption(v.workers, 'workers', 1, { min: 1, max: 256, integer: true }),
      seed: rangedOption(v.seed, 'seed', undefined, { min: 0, max: 2 ** 31 - 1, integer: true }),
      saveF16: !!v['save-f16'],
    };
    try {
      checkRunOptions(opts); // every value and range, before any work
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    const rt = await init();
    try {
      console.log(`adapter: ${rt.adapter.description}`);
      const cli = cliRunHooks();
      try {
        const r = await runTraining(opts, cli.hooks);
        // Interrupted: a checkpoint was written, but the run did not complete.
        if (r.interrupted) process.exitCode = r.interrupted === 'SIGINT' ? 130 : 143;
      } finally {
        cli.close();
      }
    } finally {
      rt.destroy(); // on every path, so that nothing keeps the process alive
    }
  },
};
