import { init } from '../index.js';
import { runTraining } from '../train/run.js';
import { OFFICIAL_SCHEDULE } from '../train/trainer.js';
import { intOption, numOption, parse, str, UsageError } from './args.js';
import type { Command } from './main.js';

const usage = `Usage: deepmask train --data instances.json --images DIR --preset tiny|squeeze|vgg-a|vgg16 --out DIR
                      [--init trunk.safetensors] [--steps N] [--batch B] [--resume] [options]

  --data FILE            COCO-format instances (polygons, RLE and crowd regions all fine)
  --images DIR           folder holding the images named in --data
  --preset NAME          tiny (CPU-friendly), squeeze (ImageNet SqueezeNet trunk), vgg-a (the paper), vgg16
  --out DIR              run folder: model/, checkpoints/, log.jsonl, curves.png
  --init FILE            ImageNet trunk in torchvision's layout (safetensors), e.g.
                         ../shared/weights/squeezenet1_1-imagenet-features.safetensors
  --steps N              training steps (default 1000)
  --batch B              windows per step (default 32)
  --resume               continue exactly from the latest checkpoint in --out
  --mode joint|alternate the paper's joint step (default) or the official mask/score alternation
  --rule paper|official  window sampling rule (default paper)
  --freeze-trunk         train only the heads (fast on a CPU with a pretrained trunk)
  --lr X                 constant learning rate (default: the official schedule from 1e-3)
  --lr-schedule S        STEP:LR,... e.g. 0:1e-3,3000:3e-4
  --hold-out X           held-out images: a count, or a fraction below 1 (default 0.1)
  --val-windows N        validation windows, half positive (default 256)
  --validate-every N     (default 200)     --checkpoint-every N (default 500)
  --log-every N          (default 10)      --workers N data loader threads (default 1)
  --seed N               (default 1)
  --save-f16             store the final model in f16 (checkpoints stay f32)`;

function schedule(v: unknown, lr: unknown): [number, number][] | undefined {
  if (lr !== undefined) return [[0, numOption(lr, 'lr', 1e-3)]];
  if (typeof v !== 'string') return undefined;
  const out = v.split(',').map((p) => {
    const [s, l] = p.split(':').map(Number);
    if (!Number.isInteger(s) || !(l! > 0)) throw new UsageError(`--lr-schedule: '${p}' is not STEP:LR`);
    return [s!, l!] as [number, number];
  });
  if (out[0]![0] !== 0) throw new UsageError('--lr-schedule must start at step 0');
  return out;
}

export const trainCommand: Command = {
  summary: 'train a DeepMask model on COCO-format data',
  usage,
  async run(argv) {
    const { values: v } = parse(
      argv,
      {
        data: { type: 'string' }, images: { type: 'string' }, preset: { type: 'string' }, out: { type: 'string' }, init: { type: 'string' },
        steps: { type: 'string' }, batch: { type: 'string' }, resume: { type: 'boolean' }, mode: { type: 'string' }, rule: { type: 'string' },
        'freeze-trunk': { type: 'boolean' }, lr: { type: 'string' }, 'lr-schedule': { type: 'string' }, 'hold-out': { type: 'string' },
        'val-windows': { type: 'string' }, 'validate-every': { type: 'string' }, 'checkpoint-every': { type: 'string' }, 'log-every': { type: 'string' },
        workers: { type: 'string' }, seed: { type: 'string' }, 'save-f16': { type: 'boolean' },
      },
      usage,
    );
    for (const k of ['data', 'images', 'out'] as const) if (!str(v[k])) throw new UsageError(`--${k} is required\n\n${usage}`);
    if (!v.resume && !str(v.preset)) throw new UsageError(`--preset is required\n\n${usage}`);
    const mode = str(v.mode) ?? 'joint', rule = str(v.rule) ?? 'paper';
    if (mode !== 'joint' && mode !== 'alternate') throw new UsageError(`--mode must be joint or alternate, got '${mode}'`);
    if (rule !== 'paper' && rule !== 'official') throw new UsageError(`--rule must be paper or official, got '${rule}'`);
    const rt = await init();
    console.log(`adapter: ${rt.adapter.description}`);
    await runTraining({
      data: str(v.data)!, images: str(v.images)!, preset: str(v.preset) ?? 'tiny', out: str(v.out)!, init: str(v.init), resume: !!v.resume,
      steps: intOption(v.steps, 'steps', 1000), batch: intOption(v.batch, 'batch', 32), mode, rule, freezeTrunk: !!v['freeze-trunk'],
      lrSchedule: schedule(v['lr-schedule'], v.lr) ?? OFFICIAL_SCHEDULE, holdOut: numOption(v['hold-out'], 'hold-out', 0.1),
      valWindows: intOption(v['val-windows'], 'val-windows', 256), validateEvery: intOption(v['validate-every'], 'validate-every', 200),
      checkpointEvery: intOption(v['checkpoint-every'], 'checkpoint-every', 500), logEvery: intOption(v['log-every'], 'log-every', 10),
      workers: intOption(v.workers, 'workers', 1), seed: intOption(v.seed, 'seed', 1), saveF16: !!v['save-f16'],
    });
    rt.destroy();
  },
};
