// `deepmask train-heads`: the options and the progress lines over runHeadsTraining (src/train/heads-run.ts);
// the run folder is the one every trainer writes (src/train/run-folder.ts), and Ctrl-C and SIGTERM
// are handled as by the other trainers (run-hooks.ts).
import { init } from '../index.js';
import { checkHeadsOptions, runHeadsTraining, type HeadsRunOptions } from '../train/heads-run.js';
import { runFolderHelp } from '../train/run-folder.js';
import { DEFAULT_HEADS_TRAIN } from '../train/train-heads.js';
import { parse, parseSchedule, rangedOption, str, UsageError, withNegativeValues } from './args.js';
import type { Command } from './command.js';
import { Progress } from './progress.js';
import { cliRunHooks } from './run-hooks.js';

const d = DEFAULT_HEADS_TRAIN;
const usage = `Usage: deepmask train-heads --data instances.json --images DIR --preset NAME --init trunk.safetensors --out DIR
                            [--val-ids FILE] [--steps N] [--batch B] [--lr-schedule S] [--scales A:B:S]
                            [--heads C:E:H] [--tune-last [K]] [--init-heads FILE] [--flips] [--seed N] [--save-f16]
                            [--validate-every N] [--checkpoint-every N] [--resume | --force]
       deepmask train-heads --out DIR --resume [--steps N]

Trains the heads of a model whose ImageNet trunk stays frozen (all but its last K stages with --tune-last). The trunk runs once per image and
pyramid scale (feature maps cached as f16 in DIR/features, reused by later runs), and the training
windows are cells of those maps: exactly the windows inference scores. Fast on a CPU.

  --data FILE          COCO-format instances
  --images DIR         folder holding the images named in --data
  --preset NAME        e.g. mobile (MobileNetV1 trunk) or squeeze
  --init FILE          the ImageNet trunk, e.g. ../shared/weights/mobilenet_v1_1.0_224-imagenet-features.safetensors
  --out DIR            run folder: ${runFolderHelp({ runRecord: true })},
                       features/ (the cache, kept by --force and reused by later runs)
  --val-ids FILE       JSON array of image ids held out for validation (never trained on);
                       default: a seeded 10% of the images
  --steps N            (default ${d.steps})     --batch B (default ${d.batch})
  --lr-schedule S      STEP:LR,... (default ${d.lrSchedule.map(([s, l]) => `${s}:${l}`).join(',')})
  --scales A:B:S       pyramid 2^A..2^B in steps of 2^S (default: the preset's inference scales)
  --heads C:E:H        the official heads' widths: 1x1 conv C, shared embedding E, score hidden H
                       (default: the preset's, e.g. 128:512:1024 for mobile; 64:256:512 costs a
                       quarter of the dense heads' time)
  --tune-last [K]      also train the trunk's last K stages (default 1: MobileNet blocks or VGG
                       convolutions, 3x3 stride 1) with the heads: the maps cached are those of the
                       trunk without them, and each window carries K cells of context around it
                       (about 5x the time per step for one stage, 10x for two)
  --init-heads FILE    start the heads (and tuned last stages) from a model directory or a train-heads
                       checkpoint instead of at random; the trunk still comes from --init
  --flips              also extract the mirror image of every photo (twice the extraction time)
  --validate-every N   (default ${d.validateEvery})   --checkpoint-every N (default ${d.checkpointEvery})
  --resume             continue exactly from the latest checkpoint in DIR: the run's options (run.json) are
                       its own; any given must match them (--steps may change)
  --force              start a new run in an --out that holds one, deleting that run
  --seed N             (default 1)          --save-f16 store the final model in f16`;

export const trainHeadsCommand: Command = {
  summary: 'train the heads on a frozen ImageNet trunk from cached feature maps (fast)',
  usage,
  async run(argv) {
    // A bare --tune-last means one stage.
    argv = argv.flatMap((a, i) => (a === '--tune-last' && !/^\d+$/.test(argv[i + 1] ?? '') ? ['--tune-last=1'] : [a]));
    const spec = {
      data: { type: 'string' },
      images: { type: 'string' },
      preset: { type: 'string' },
      init: { type: 'string' },
      out: { type: 'string' },
      'val-ids': { type: 'string' },
      steps: { type: 'string' },
      batch: { type: 'string' },
      'lr-schedule': { type: 'string' },
      scales: { type: 'string' },
      heads: { type: 'string' },
      'tune-last': { type: 'string' },
      'init-heads': { type: 'string' },
      'validate-every': { type: 'string' },
      'checkpoint-every': { type: 'string' },
      flips: { type: 'boolean' },
      resume: { type: 'boolean' },
      force: { type: 'boolean' },
      seed: { type: 'string' },
      'save-f16': { type: 'boolean' },
    } as const;
    const { values: v } = parse(withNegativeValues(argv, spec), spec, usage);
    // A resumed run takes its options from its run.json: only --out is needed.
    for (const k of v.resume ? (['out'] as const) : (['data', 'images', 'preset', 'init', 'out'] as const))
      if (!str(v[k])) throw new UsageError(`--${k} is required\n\n${usage}`);
    if (v.resume && v.force) throw new UsageError('give --resume (continue the run in --out) or --force (replace it), not both');
    const triple = (name: string, what: string) => {
      const t = str(v[name as keyof typeof v]);
      if (!t) return undefined;
      const x = t.split(':').map((p) => (p.trim() === '' ? NaN : Number(p)));
      if (x.length !== 3) throw new UsageError(`--${name} must be ${what}; got '${t}'`);
      return x as [number, number, number];
    };
    let lrSchedule: [number, number][] | undefined;
    if (str(v['lr-schedule'])) lrSchedule = parseSchedule(str(v['lr-schedule'])!);
    const opts: HeadsRunOptions = {
      out: str(v.out)!,
      data: str(v.data),
      images: str(v.images),
      preset: str(v.preset),
      init: str(v.init),
      valIds: str(v['val-ids']),
      initHeads: str(v['init-heads']),
      // Left undefined when not given: a new run takes the defaults, a resumed one its own values.
      steps: rangedOption(v.steps, 'steps', undefined, { min: 1, max: 1e9, integer: true }),
      batch: rangedOption(v.batch, 'batch', undefined, { min: 2, max: 65536, integer: true }),
      seed: rangedOption(v.seed, 'seed', undefined, { min: 0, max: 2 ** 31 - 1, integer: true }),
      tuneLast: v['tune-last'] === undefined ? undefined : rangedOption(v['tune-last'], 'tune-last', 1, { min: 1, max: 64, integer: true }),
      validateEvery: rangedOption(v['validate-every'], 'validate-every', undefined, { min: 1, max: 1e9, integer: true }),
      checkpointEvery: rangedOption(v['checkpoint-every'], 'checkpoint-every', undefined, { min: 1, max: 1e9, integer: true }),
      lrSchedule,
      scales: triple('scales', 'MIN:MAX:STEP in log2 units, e.g. -2.5:0.5:0.5'),
      heads: triple('heads', 'CONV:EMBED:HIDDEN, three integers in 1..4096, e.g. 64:256:512'),
      flips: v.flips ? true : undefined,
      resume: !!v.resume,
      force: !!v.force,
      saveF16: !!v['save-f16'],
    };
    try {
      checkHeadsOptions(opts); // every value and range, before any work
    } catch (e) {
      throw new UsageError((e as Error).message);
    }

    const rt = await init();
    try {
      console.log(`adapter: ${rt.adapter.description}`);
      const cli = cliRunHooks();
      let extract = null as Progress | null,
        bar = null as Progress | null,
        from = 0;
      try {
        const r = await runHeadsTraining(opts, {
          log: (s) => {
            extract?.done();
            bar?.done();
            cli.hooks.log?.(s);
          },
          onExtract: (done, total, computed) => {
            extract ??= new Progress(total, 'images', 'features');
            extract.update(done, Math.max(computed, 1e-9), { computed });
            if (done === total) extract.done();
          },
          onTrainStart: (step, run) => {
            from = step;
            bar = new Progress(run.steps - step, 'windows', 'step');
          },
          onStep: (e, run) => bar?.update(e.step - from, (e.step - from) * run.batch, { loss: e.loss, lr: e.lr }),
          onValidate: (m) => {
            bar?.done();
            console.log(
              `validation @${m.step}: IoU mean ${m.iouMean.toFixed(3)} median ${m.iouMedian.toFixed(3)} >=.5 ${(100 * m.iou50).toFixed(1)}% >=.7 ${(100 * m.iou70).toFixed(1)}% score acc ${(100 * m.scoreAccuracy).toFixed(1)}% (${m.windows} windows)`,
            );
          },
          stopReason: () => cli.hooks.stopReason?.() ?? null,
          onLocked: (release) => cli.hooks.onLocked?.(release),
        });
        // Stopped by a signal: the checkpoint is written, the run did not complete.
        if (r.interrupted) process.exitCode = r.interrupted === 'SIGINT' ? 130 : 143;
      } finally {
        extract?.done();
        bar?.done();
        cli.close();
      }
    } finally {
      rt.destroy(); // on every path, so that nothing keeps the process alive
    }
  },
};
