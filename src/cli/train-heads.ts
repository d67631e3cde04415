import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { init } from '../index.js';
import { parseCoco } from '../data/coco.js';
import { Rng } from '../graph/random.js';
import { defaultScales, scalesFromRange } from '../infer/proposals.js';
import { DeepMask } from '../model/deepmask.js';
import { loadTrunk, saveModel, WEIGHTS_FILE, writeFileAtomic } from '../model/files.js';
import { readSafetensors } from '../model/safetensors.js';
import { cutTrunk } from '../model/trunks.js';
import { presetConfig } from '../model/presets.js';
import { FeatureWindows, type BankImage, type WindowRef } from '../train/feature-bank.js';
import { cacheKey, loadBank } from '../train/feature-cache.js';
import { DEFAULT_HEADS_TRAIN, HeadsTrainer } from '../train/train-heads.js';
import { parse, rangedOption, str, UsageError } from './args.js';
import type { Command } from './command.js';
import { Progress } from './progress.js';

const d = DEFAULT_HEADS_TRAIN;
const usage = `Usage: deepmask train-heads --data instances.json --images DIR --preset NAME --init trunk.safetensors --out DIR
                            [--val-ids FILE] [--steps N] [--batch B] [--lr-schedule S] [--scales A:B:S] [--resume]
                            [--heads C:E:H] [--tune-last [K]] [--init-heads FILE] [--flips] [--seed N] [--save-f16]

Trains the heads of a model whose ImageNet trunk stays frozen (all but its last K stages with --tune-last). The trunk runs once per image and
pyramid scale (feature maps cached as f16 in DIR/features, reused by later runs), and the training
windows are cells of those maps: exactly the windows inference scores. Fast on a CPU.

  --data FILE          COCO-format instances
  --images DIR         folder holding the images named in --data
  --preset NAME        e.g. mobile (MobileNetV1 trunk) or squeeze
  --init FILE          the ImageNet trunk, e.g. ../shared/weights/mobilenet_v1_1.0_224-imagenet-features.safetensors
  --out DIR            run folder: model/, checkpoint.safetensors, log.jsonl, features/
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
  --resume             continue from DIR/checkpoint.safetensors
  --seed N             (default 1)          --save-f16 store the final model in f16`;

function schedule(v: unknown): [number, number][] {
  if (typeof v !== 'string') return d.lrSchedule;
  const out = v.split(',').map((p) => {
    const [s, l] = p.split(':').map(Number);
    if (!Number.isInteger(s) || s! < 0 || !(l! > 0)) throw new UsageError(`--lr-schedule: '${p}' is not STEP:LR with STEP >= 0 and LR > 0`);
    return [s!, l!] as [number, number];
  });
  if (out[0]![0] !== 0) throw new UsageError('--lr-schedule must start at step 0');
  if (out.some((e, i) => i > 0 && e[0] <= out[i - 1]![0])) throw new UsageError('--lr-schedule steps must increase');
  return out;
}

export const trainHeadsCommand: Command = {
  summary: 'train the heads on a frozen ImageNet trunk from cached feature maps (fast)',
  usage,
  async run(argv) {
    // A bare --tune-last means one stage.
    argv = argv.flatMap((a, i) => (a === '--tune-last' && !/^\d+$/.test(argv[i + 1] ?? '') ? ['--tune-last=1'] : [a]));
    const { values: v } = parse(
      argv,
      {
        data: { type: 'string' }, images: { type: 'string' }, preset: { type: 'string' }, init: { type: 'string' }, out: { type: 'string' },
        'val-ids': { type: 'string' }, steps: { type: 'string' }, batch: { type: 'string' }, 'lr-schedule': { type: 'string' }, scales: { type: 'string' }, heads: { type: 'string' },
        'tune-last': { type: 'string' }, 'init-heads': { type: 'string' },
        flips: { type: 'boolean' }, resume: { type: 'boolean' }, seed: { type: 'string' }, 'save-f16': { type: 'boolean' },
      },
      usage,
    );
    for (const k of ['data', 'images', 'preset', 'init', 'out'] as const) if (!str(v[k])) throw new UsageError(`--${k} is required\n\n${usage}`);
    const steps = rangedOption(v.steps, 'steps', d.steps, { min: 1, max: 1e9, integer: true });
    const batch = rangedOption(v.batch, 'batch', d.batch, { min: 2, max: 65536, integer: true });
    const seed = rangedOption(v.seed, 'seed', 1, { min: 0, max: 2 ** 31 - 1, integer: true });
    const lrSchedule = schedule(v['lr-schedule']);
    const config = presetConfig(str(v.preset)!); // an unknown preset is a usage error before any work
    if (str(v.heads)) {
      const w = str(v.heads)!.split(':').map(Number);
      if (w.length !== 3 || !w.every((x) => Number.isInteger(x) && x >= 1 && x <= 4096)) throw new UsageError(`--heads must be CONV:EMBED:HIDDEN, three integers in 1..4096, e.g. 64:256:512; got '${str(v.heads)}'`);
      config.heads = { kind: 'shared', conv: w[0]!, embed: w[1]!, scoreHidden: w[2]! };
    }
    const stages = v['tune-last'] === undefined ? 0 : rangedOption(v['tune-last'], 'tune-last', 1, { min: 1, max: 64, integer: true });
    let cut = config.trunk;
    if (stages > 0) {
      try {
        cut = cutTrunk(config.trunk, stages);
      } catch (e) {
        throw new UsageError(`--tune-last: ${(e as Error).message}`);
      }
    }
    const initHeads = str(v['init-heads']);
    const initFile = initHeads && (existsSync(join(initHeads, WEIGHTS_FILE)) ? join(initHeads, WEIGHTS_FILE) : initHeads);
    if (initFile && !existsSync(initFile)) throw new UsageError(`--init-heads: ${initFile} not found`);
    let range: [number, number, number] | null = null;
    if (str(v.scales)) {
      const [a, b, s] = str(v.scales)!.split(':').map(Number);
      if (![a, b, s].every(Number.isFinite) || !(s! >= 0.05) || b! < a! || b! - a! > 10) throw new UsageError(`--scales must be MIN:MAX:STEP in log2 units with MIN <= MAX <= MIN + 10 and STEP >= 0.05, e.g. -2.5:0.5:0.5; got '${str(v.scales)}'`);
      range = [a!, b!, s!];
    }

    const out = str(v.out)!, data = str(v.data)!, images = str(v.images)!, trunkFile = str(v.init)!;
    for (const f of [data, images, trunkFile]) if (!existsSync(f)) throw new UsageError(`${f}: not found`);
    const checkpointFile = join(out, 'checkpoint.safetensors');
    if (v.resume && !existsSync(checkpointFile)) throw new UsageError(`--resume: ${checkpointFile} not found`);
    if (!v.resume && existsSync(checkpointFile)) throw new UsageError(`${out} already holds a run (checkpoint.safetensors): use --resume, or another --out`);

    const rt = await init();
    console.log(`adapter: ${rt.adapter.description}`);
    const model = new DeepMask(config, { seed });
    console.log(`trunk: ${loadTrunk(model, trunkFile)} tensors from ${trunkFile}`);
    const scales = range ? scalesFromRange(...range) : defaultScales(model);
    if (initFile) {
      // Trained tensors only: the heads and, when tuned, the trunk's last stages (the rest stays the ImageNet trunk's).
      const tuned = new Set(stages > 0 ? model.trunk.lastParameters!(stages) : []);
      const keep = new Set(model.namedParameters().filter(([n, p]) => n.startsWith('heads.') || tuned.has(p)).map(([n]) => n));
      const file = readSafetensors(readFileSync(initFile), initFile);
      const start = new Map([...file.tensors].filter(([n]) => keep.has(n)));
      if (![...start.keys()].some((n) => n.startsWith('heads.'))) throw new Error(`${initFile}: no heads.* tensors to start from`);
      model.loadState(start, { partial: true, source: initFile });
      console.log(`init: ${start.size} tensors from ${initFile}`);
    }
    // The maps cached: the trunk's output, or with --tune-last the cut trunk's.
    const bankModel = stages > 0 ? new DeepMask({ ...config, trunk: cut }, { seed }) : model;
    if (bankModel !== model) loadTrunk(bankModel, trunkFile);

    const ds = parseCoco(readFileSync(data, 'utf8'), data);
    const rng = new Rng(seed);
    let valIds: Set<number>;
    if (str(v['val-ids'])) {
      const f = str(v['val-ids'])!;
      const ids = JSON.parse(readFileSync(f, 'utf8')) as unknown;
      if (!Array.isArray(ids) || !ids.every((x) => Number.isInteger(x))) throw new Error(`${f}: expected a JSON array of image ids`);
      valIds = new Set(ids as number[]);
    } else {
      const order = ds.images.map((im) => im.id).sort((a, b) => a - b);
      for (let i = order.length - 1; i > 0; i--) {
        const j = rng.int(i + 1);
        [order[i], order[j]] = [order[j]!, order[i]!];
      }
      valIds = new Set(order.slice(0, Math.max(1, Math.round(order.length * 0.1))));
    }
    const sources = ds.images.map((im) => ({ id: im.id, file: join(images, im.file_name) }));
    mkdirSync(out, { recursive: true });
    console.log(`data: ${ds.images.length} images (${valIds.size} held out), scales ${scales.map((s) => s.toFixed(3)).join(' ')}`);

    // Feature maps: computed once, cached, reused.
    const progress = new Progress(sources.length, 'images', 'features');
    const { bank, skipped } = await loadBank(bankModel, sources, {
      scales, dir: join(out, 'features'), key: cacheKey(bankModel, scales, trunkFile), flips: !!v.flips,
      onProgress: (done) => progress.update(done, done),
    });
    progress.done();
    if (bankModel !== model) bankModel.dispose();
    for (const s of skipped) console.warn(`skipped: ${s}`);
    const trainBank = bank.filter((b) => !valIds.has(b.id)), valBank = bank.filter((b) => valIds.has(b.id) && !b.flip);
    const geo = { ...model.config, featureSize: model.featureSize, context: stages };
    const windows = new FeatureWindows(trainBank, ds.annotations, geo, rng);
    const val = new FeatureWindows(valBank, ds.annotations, geo, new Rng(seed + 1));
    console.log(`windows: ${windows.positives.length} training objects with positive windows, ${val.positives.length} held out`);
    const valBatch = val.render(validationWindows(val, valBank, geo.stride));

    const opts = { ...d, steps, batch, lrSchedule, trunkStages: stages };
    let stop = false;
    const onSignal = () => {
      stop = true;
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    const logFile = join(out, 'log.jsonl');
    const bar = new Progress(steps, 'windows', 'step');
    const trainer = new HeadsTrainer(model, windows, opts, {
      onLog: (e) => {
        appendFileSync(logFile, `${JSON.stringify({ ...e, kind: 'train' })}\n`);
        bar.update(e.step, e.step * batch, { loss: e.loss, lr: e.lr });
      },
      onValidate: (m) => {
        appendFileSync(logFile, `${JSON.stringify({ ...m, kind: 'val' })}\n`);
        console.log(`\nvalidation @${m.step}: IoU mean ${m.iouMean.toFixed(3)} median ${m.iouMedian.toFixed(3)} >=.5 ${(100 * m.iou50).toFixed(1)}% >=.7 ${(100 * m.iou70).toFixed(1)}% score acc ${(100 * m.scoreAccuracy).toFixed(1)}% (${m.windows} windows)`);
      },
      onCheckpoint: (bytes) => writeFileAtomic(checkpointFile, bytes),
      shouldStop: () => stop,
    }, valBatch);
    if (v.resume) {
      trainer.restore(readFileSync(checkpointFile), checkpointFile);
      console.log(`resumed at step ${trainer.step}`);
    }
    const t0 = performance.now();
    await trainer.run();
    bar.done();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (trainer.step < steps) {
      console.error(`interrupted at step ${trainer.step}: the checkpoint is saved; continue with --resume`);
      trainer.dispose();
      rt.destroy();
      process.exitCode = 130;
      return;
    }
    const metrics = await trainer.evaluate(valBatch);
    await saveModel(model, join(out, 'model'), {
      ...(v['save-f16'] ? { dtype: 'F16' as const } : {}),
      training: {
        method: stages > 0 ? `heads and the trunk's last ${stages} stage(s), windows from cached maps of the trunk cut short` : 'heads on a frozen trunk, windows from cached feature maps',
        ...(stages > 0 ? { tunedStages: stages } : {}), ...(initFile ? { initHeads: initFile } : {}),
        steps, batch, lrSchedule, momentum: opts.momentum, weightDecay: opts.weightDecay, lambda: opts.lambda,
        data, trunk: trunkFile, scales, flips: !!v.flips, trainImages: new Set(trainBank.map((b) => b.id)).size,
        heldOutImages: [...valIds].sort((a, b) => a - b), validation: metrics, seconds: Math.round((performance.now() - t0) / 1000),
      },
    });
    writeFileSync(join(out, 'done.json'), `${JSON.stringify({ steps, validation: metrics }, null, 2)}\n`);
    console.log(`model: ${join(out, 'model')}`);
    trainer.dispose();
    rt.destroy();
  },
};

/** One window per held-out object (its centre cell at its scale) and as many negatives. */
function validationWindows(val: FeatureWindows, bank: readonly BankImage[], stride: number): WindowRef[] {
  const pos = val.positives.map((wins) => {
    // The window nearest the object's centre.
    const score = (w: WindowRef) => {
      const a = w.ann!, m = bank[w.image]!.maps[w.map]!;
      const [x, y, bw, bh] = a.bbox as [number, number, number, number];
      return Math.hypot(stride * w.c - (x + bw / 2) * m.scale, stride * w.r - (y + bh / 2) * m.scale);
    };
    return wins.reduce((best, w) => (score(w) < score(best) ? w : best));
  });
  return [...pos, ...Array.from({ length: pos.length }, () => val.negative())];
}
