// Training the heads from cached feature maps: the windows' geometry (positives centred on objects
// at the canonical scale, negatives far from every object), learning, exact resume (after a stop at
// any step, a signal or a kill), the cache, the run folder's contract (lock, run.json checked on
// --resume, checkpoints/, a folder of the old layout resumed), the CLI's refusals and its handling
// of bad input files.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { copyFileSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { DeepMask, Rng, Tensor } from '../src/index.js';
import { writeSynth } from '../src/data/synth-files.js';
import { decodeImage } from '../src/data/image.js';
import { FeatureWindows, extractFeatureMaps, type BankImage } from '../src/train/feature-bank.js';
import { DEFAULT_HEADS_TRAIN, HeadsTrainer } from '../src/train/train-heads.js';
import { runHeadsTraining, type HeadsRunHooks, type HeadsRunOptions } from '../src/train/heads-run.js';
import { findCheckpoint, TRAINER_CHECKPOINT } from '../src/train/run-folder.js';
import { toOldLayout } from './lib/old-layout.js';
import { cutTrunk } from '../src/model/trunks.js';
import { presetConfig, type DeepMaskConfig } from '../src/model/presets.js';
import { readSafetensors, writeSafetensors } from '../src/model/safetensors.js';
import type { HostTensor } from '../src/graph/module.js';
import { repoPath, sharedPath } from './lib/shared.js';
import { spawn, spawnSync } from 'node:child_process';
import { rejects } from './lib/check.js';
import { workDir } from './lib/trained.js';
import './lib/gpu.js';

const dir = join(workDir, 'heads');
writeSynth(join(dir, 'synth'), { images: 10, seed: 5 });
const ds = JSON.parse(readFileSync(join(dir, 'synth', 'instances.json'), 'utf8'));
const SCALES = [0.5, 0.71, 1, 1.41];

async function bank(model: DeepMask, flips = false): Promise<BankImage[]> {
  const out: BankImage[] = [];
  for (const im of ds.images) {
    const img = decodeImage(readFileSync(join(dir, 'synth', 'images', im.file_name)));
    for (const flip of flips ? [false, true] : [false])
      out.push({ id: im.id, width: img.width, height: img.height, flip, maps: await extractFeatureMaps(model, img, SCALES, flip) });
  }
  return out;
}

test('feature windows: positives sit within one stride of an object centre at 2^±1/4 of the canonical size; negatives two strides or an octave from all', async () => {
  const model = new DeepMask('tiny', { seed: 1 });
  const b = await bank(model, true);
  const geo = { ...model.config, featureSize: model.featureSize };
  const w = new FeatureWindows(b, ds.annotations, geo, new Rng(3));
  assert.ok(w.positives.length > 10, `${w.positives.length} objects with windows`);
  const st = geo.stride;
  for (const wins of w.positives) {
    for (const p of wins) {
      const im = b[p.image]!,
        m = im.maps[p.map]!;
      const [x, y, bw, bh] = p.ann!.bbox as number[];
      const cx = im.flip ? im.width - (x! + bw! / 2) : x! + bw! / 2,
        cy = y! + bh! / 2;
      assert.ok(Math.abs(st * p.c - cx * m.scale) <= st + 1e-9 && Math.abs(st * p.r - cy * m.scale) <= st + 1e-9, 'centred within a stride');
      assert.ok(Math.abs(Math.log2((Math.max(bw!, bh!) * m.scale) / geo.objectSize)) <= 0.25 + 1e-9, 'canonical scale');
    }
  }
  for (let i = 0; i < 200; i++) {
    const n = w.negative();
    const im = b[n.image]!,
      m = im.maps[n.map]!;
    assert.ok(w.isNegative(im, m, n.r, n.c));
  }
  // A mirrored image's target is the mirror of the original's.
  const pos = w.positives.flatMap((x) => x).find((p) => b[p.image]!.flip)!;
  const twin = w.positives
    .flatMap((x) => x)
    .find(
      (p) =>
        !b[p.image]!.flip &&
        p.ann === pos.ann &&
        p.map === pos.map &&
        p.r === pos.r &&
        b[p.image]!.maps[p.map]!.cols - model.featureSize - p.c === b[pos.image]!.maps[pos.map]!.cols - model.featureSize - pos.c,
    );
  if (twin) {
    const G = geo.gtSize;
    const [a, c] = [w.render([pos]).targets, w.render([twin]).targets];
    let same = 0;
    for (let yy = 0; yy < G; yy++) for (let xx = 0; xx < G; xx++) if (a[yy * G + xx] === c[yy * G + G - 1 - xx]) same++;
    assert.ok(same / (G * G) > 0.97, `mirrored targets agree on ${((100 * same) / (G * G)).toFixed(1)}% of pixels`);
  }
  model.dispose();
});

/**
 * Trains `model` (reset to its state at the call) on a bank's windows: `run(steps, from?)` gives the
 * validation before and after, the checkpoint and the weights; `worst(a, b)` the largest weight difference.
 */
async function trainRuns(model: DeepMask, b: BankImage[], geo: ConstructorParameters<typeof FeatureWindows>[2], opts: typeof DEFAULT_HEADS_TRAIN) {
  const val = new FeatureWindows(b, ds.annotations, geo, new Rng(9)).render(new FeatureWindows(b, ds.annotations, geo, new Rng(9)).sample(64));
  const state0 = await model.exportState(),
    rng0 = model.rng.state();
  const run = async (steps: number, from?: Uint8Array) => {
    model.loadState(state0);
    model.rng.setState(rng0);
    const t = new HeadsTrainer(model, new FeatureWindows(b, ds.annotations, geo, new Rng(4)), { ...opts, steps });
    if (from) t.restore(from, 'checkpoint');
    const before = await t.evaluate(val);
    await t.run();
    const after = await t.evaluate(val);
    const bytes = await t.checkpoint();
    t.dispose();
    return { before, after, bytes, state: await model.exportState() };
  };
  type Run = Awaited<ReturnType<typeof run>>;
  const worst = (a: Run, c: Run) => {
    let w = 0;
    for (const [name, t] of a.state) for (let i = 0; i < t.data.length; i++) w = Math.max(w, Math.abs(t.data[i]! - c.state.get(name)!.data[i]!));
    return w;
  };
  return { run, worst, state0 };
}

test('heads trained on feature windows learn, and a resumed run equals a straight one', async () => {
  const model = new DeepMask('tiny', { seed: 2 });
  const b = await bank(model);
  const geo = { ...model.config, featureSize: model.featureSize };
  const opts = {
    ...DEFAULT_HEADS_TRAIN,
    steps: 60,
    batch: 16,
    lrSchedule: [[0, 0.01]] as [number, number][],
    logEvery: 1000,
    validateEvery: 1000,
    checkpointEvery: 1000,
  };
  const { run, worst } = await trainRuns(model, b, geo, opts);
  const straight = await run(60);
  console.log(
    `    IoU ${straight.before.iouMean.toFixed(3)} -> ${straight.after.iouMean.toFixed(3)}, score accuracy ${straight.before.scoreAccuracy.toFixed(2)} -> ${straight.after.scoreAccuracy.toFixed(2)}`,
  );
  assert.ok(straight.after.iouMean > straight.before.iouMean + 0.1, 'mask IoU improves');
  const half = await run(30);
  const resumed = await run(60, half.bytes);
  assert.ok(worst(straight, resumed) <= 1e-6, `largest weight difference ${worst(straight, resumed)}`);
  model.dispose();
});

/** A model cut `k` trunk stages short, holding the same trunk weights as `model`. */
async function cutModel(model: DeepMask, k: number): Promise<DeepMask> {
  const cut = new DeepMask({ ...model.config, trunk: cutTrunk(model.config.trunk, k) }, { seed: 9 });
  const names = new Set(cut.trunk.namedParameters('trunk.').map(([n]) => n));
  const trunk = new Map([...(await model.exportState())].filter(([n]) => names.has(n)));
  cut.loadState(trunk, { partial: true });
  return cut;
}

// tiny ends in a pooling layer and one convolution: a second convolution after it for two stages.
const tiny2 = { ...presetConfig('tiny'), trunk: { kind: 'vgg', layers: [8, 'M', 16, 'M', 32, 'M', 48, 'M', 40, 48] } } as DeepMaskConfig;
for (const [preset, k] of [
  ['tiny', 1],
  ['mobile', 1],
  ['tiny', 2],
  ['mobile', 2],
] as const) {
  test(`${preset}: the trunk's last ${k} stage(s) on a window with ${k} cells of context from the cut trunk's maps equal the whole trunk's window`, async () => {
    const model = new DeepMask(preset === 'tiny' && k === 2 ? tiny2 : preset, { seed: 3 });
    const cut = await cutModel(model, k);
    const img = decodeImage(readFileSync(join(dir, 'synth', 'images', ds.images[0].file_name)));
    const scale = preset === 'tiny' ? 1 : 0.8;
    const whole: BankImage = { id: 0, width: img.width, height: img.height, flip: false, maps: await extractFeatureMaps(model, img, [scale]) };
    const part: BankImage = { ...whole, maps: await extractFeatureMaps(cut, img, [scale]) };
    const F = model.featureSize,
      C = model.trunk.outChannels;
    const m = whole.maps[0]!;
    assert.is(part.maps[0]!.rows, m.rows);
    // Corners (context past the map's edge) and an inner window.
    const refs = [
      [0, 0],
      [m.rows - F, m.cols - F],
      [0, m.cols - F],
      [Math.floor((m.rows - F) / 2), Math.floor((m.cols - F) / 2)],
    ].map(([r, c]) => ({ image: 0, map: 0, r: r!, c: c! }));
    const geo = { ...model.config, featureSize: F };
    const want = new FeatureWindows([whole], [], geo, new Rng(1)).render(refs).features;
    const ctx = new FeatureWindows([part], [], { ...geo, context: k }, new Rng(1)).render(refs);
    assert.is(ctx.features.length, (refs.length * (F + 2 * k) ** 2 * part.maps[0]!.data.length) / (m.rows * m.cols));
    const x = Tensor.from(ctx.features, [refs.length, F + 2 * k, F + 2 * k, ctx.features.length / (refs.length * (F + 2 * k) ** 2)]);
    const got = await model.trunk.forwardLast!(x, k, ctx.onMap).read();
    if (k > 1) assert.throws(() => model.trunk.forwardLast!(x, k), /2 stages need onMap/);
    assert.is(got.length, refs.length * F * F * C);
    // Both sides pass through f16 maps (the cut trunk's before the last stages, the whole trunk's after).
    let worst = 0,
      top = 0;
    for (let i = 0; i < got.length; i++) {
      worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
      top = Math.max(top, Math.abs(want[i]!));
    }
    assert.ok(top > 0 && worst <= 4e-3 * top, `largest difference ${worst} of ${top}`);
    model.dispose();
    cut.dispose();
  });
}

test('cutTrunk refuses stages it cannot run alone', () => {
  assert.throws(() => cutTrunk({ kind: 'mobilenet', blocks: 6 }, 1), /block 6 has stride 2/);
  assert.throws(() => cutTrunk({ kind: 'mobilenet', blocks: 11 }, 6), /block 6 has stride 2/);
  assert.throws(() => cutTrunk({ kind: 'mobilenet', blocks: 11 }, 1.5), /positive integer/);
  assert.throws(() => cutTrunk({ kind: 'vgg', layers: [8, 16, 'M'] }, 1), /pooling layer/);
  assert.throws(() => cutTrunk({ kind: 'squeeze' }, 1), /Fire modules/);
  assert.equal(cutTrunk({ kind: 'mobilenet', blocks: 11 }, 1), { kind: 'mobilenet', blocks: 10 });
  assert.equal(cutTrunk({ kind: 'mobilenet', blocks: 11 }, 5), { kind: 'mobilenet', blocks: 6 });
});

test('training the last trunk stage with the heads: it learns, only that stage of the trunk moves, and a resumed run equals a straight one', async () => {
  const model = new DeepMask('tiny', { seed: 2 });
  const cut = await cutModel(model, 1);
  const b = await bank(cut);
  cut.dispose();
  const geo = { ...model.config, featureSize: model.featureSize, context: 1 };
  const opts = {
    ...DEFAULT_HEADS_TRAIN,
    steps: 40,
    batch: 16,
    lrSchedule: [[0, 0.01]] as [number, number][],
    logEvery: 1000,
    validateEvery: 1000,
    checkpointEvery: 1000,
    trunkStages: 1,
  };
  const { run, worst, state0 } = await trainRuns(model, b, geo, opts);
  const straight = await run(40);
  assert.ok(straight.after.iouMean > straight.before.iouMean + 0.05, `mask IoU ${straight.before.iouMean} -> ${straight.after.iouMean}`);
  const last = 'trunk.features.12.weight'; // tiny's last convolution (torchvision index)
  const moved = (name: string) => straight.state.get(name)!.data.some((v, i) => v !== state0.get(name)!.data[i]);
  assert.ok(moved(last), 'the last stage is trained');
  for (const name of state0.keys()) if (name.startsWith('trunk.') && !name.startsWith('trunk.features.12.')) assert.not.ok(moved(name), `${name} stays frozen`);
  assert.ok(readSafetensors(straight.bytes).tensors.has(last), 'the checkpoint holds the trained stage');
  const half = await run(20);
  const resumed = await run(40, half.bytes);
  assert.ok(worst(straight, resumed) <= 1e-6, `largest weight difference ${worst(straight, resumed)}`);
  // A checkpoint of this run does not resume a frozen-trunk run.
  const frozen = new HeadsTrainer(model, new FeatureWindows(b, ds.annotations, geo, new Rng(4)), { ...opts, trunkStages: 0 });
  assert.throws(() => frozen.restore(half.bytes, 'ck.safetensors'), /ck.safetensors: the checkpoint trained 1 trunk stage\(s\), this run 0/);
  frozen.dispose();
  model.dispose();
});

test('deepmask train-heads: mobile on synthetic scenes writes a model, caches features, refuses to overwrite a run', async () => {
  const trunk = sharedPath('weights/mobilenet_v1_1.0_224-imagenet-features.safetensors');
  if (!trunk) {
    console.log('  (skipped: ../shared not found)');
    return;
  }
  const out = join(dir, 'cli');
  // In a child process, as a user runs it (the command ends by releasing its GPU device).
  const cli = (...extra: string[]) => spawnSync(process.execPath, [repoPath('bin/deepmask.js'), 'train-heads', ...args, ...extra], { encoding: 'utf8' });
  const args = [
    '--data',
    join(dir, 'synth', 'instances.json'),
    '--images',
    join(dir, 'synth', 'images'),
    '--preset',
    'mobile',
    '--init',
    trunk,
    '--out',
    out,
    '--steps',
    '6',
    '--batch',
    '8',
    '--scales=-1:0.5:0.5',
  ];
  const first = cli();
  assert.is(first.status, 0, first.stderr);
  assert.ok(existsSync(join(out, 'model', 'model.safetensors')) && existsSync(join(out, 'checkpoints', 'latest.json')));
  assert.is(readdirSync(join(out, 'features')).length, ds.images.length);
  const cfg = JSON.parse(readFileSync(join(out, 'model', 'config.json'), 'utf8'));
  assert.is(cfg.training.steps, 6);
  // Blocks 10 and 11 trained with the heads, which start from the first run's.
  const tuned = join(dir, 'cli-tuned');
  const second = spawnSync(
    process.execPath,
    [
      repoPath('bin/deepmask.js'),
      'train-heads',
      ...args.slice(0, 8),
      '--out',
      tuned,
      '--steps',
      '4',
      '--batch',
      '8',
      '--scales=-1:0.5:0.5',
      '--tune-last',
      '2',
      '--init-heads',
      join(out, 'model'),
    ],
    { encoding: 'utf8' },
  );
  assert.is(second.status, 0, second.stderr);
  assert.match(second.stdout, /init: \d+ tensors from .*model\.safetensors/);
  assert.is(JSON.parse(readFileSync(join(tuned, 'model', 'config.json'), 'utf8')).training.tunedStages, 2);
  const imagenet = readSafetensors(readFileSync(trunk)).tensors,
    got = readSafetensors(readFileSync(join(tuned, 'model', 'model.safetensors'))).tensors;
  const same = (name: string) => imagenet.get(name)!.data.every((v, i) => v === got.get(`trunk.${name}`)!.data[i]);
  assert.ok(same('blocks.9.pointwise.bias'), 'block 9 stays ImageNet');
  assert.not.ok(same('blocks.10.pointwise.bias'), 'block 10 is trained');
  assert.not.ok(same('blocks.11.pointwise.bias'), 'block 11 is trained');
  for (const [extra, re] of [
    [[], /already holds a run.*--resume/],
    [['--scales', '1:0:0.5'], /--scales must be MIN:MAX:STEP/],
    [['--batch', '1'], /--batch must be an integer from 2 to 65536, got '1'/],
    [['--tune-last', '--preset', 'squeeze'], /--tune-last: .*Fire modules/],
    [['--tune-last', '0'], /--tune-last must be an integer from 1 to 64, got '0'/],
    [['--tune-last', '6'], /--tune-last: .*block 6 has stride 2/],
  ] as const) {
    const r = cli(...extra);
    assert.is(r.status, 2, `${extra.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re);
  }
});

test('a heads run stopped after step 3 or step 7, or killed after its periodic checkpoint at step 5, resumes bit for bit', async () => {
  const model = new DeepMask('tiny', { seed: 2 });
  const b = await bank(model);
  const geo = { ...model.config, featureSize: model.featureSize };
  const opts = {
    ...DEFAULT_HEADS_TRAIN,
    steps: 12,
    batch: 8,
    lrSchedule: [[0, 0.01]] as [number, number][],
    logEvery: 1000,
    validateEvery: 1000,
    checkpointEvery: 1000,
  };
  const state0 = await model.exportState(),
    rng0 = model.rng.state();
  // Trains from the initial state (or a checkpoint), stopping when asked after step `stopAt`; returns every checkpoint written.
  const train = async (o: typeof opts, from?: Uint8Array, stopAt?: number) => {
    model.loadState(state0);
    model.rng.setState(rng0);
    const saved = new Map<number, Uint8Array>();
    const t: HeadsTrainer = new HeadsTrainer(model, new FeatureWindows(b, ds.annotations, geo, new Rng(4)), o, {
      onCheckpoint: (bytes, step) => void saved.set(step, bytes),
      shouldStop: () => stopAt !== undefined && t.step >= stopAt,
    });
    if (from) t.restore(from, 'checkpoint');
    await t.run();
    const step = t.step;
    t.dispose();
    return { saved, step, state: await model.exportState() };
  };
  const straight = await train(opts);
  const differing = (r: { state: Map<string, HostTensor> }) =>
    [...straight.state]
      .filter(([name, t]) => t.data.some((v, i) => v !== r.state.get(name)!.data[i]))
      .map(([name, t]) => `${name} (by up to ${t.data.reduce((w, v, i) => Math.max(w, Math.abs(v - r.state.get(name)!.data[i]!)), 0)})`);
  for (const k of [3, 7]) {
    const stopped = await train(opts, undefined, k);
    assert.is(stopped.step, k);
    assert.ok(stopped.saved.has(k), `a checkpoint at the stop (step ${k})`);
    const resumed = await train(opts, stopped.saved.get(k));
    assert.is(resumed.step, 12);
    assert.equal(differing(resumed), [], `stopped after step ${k} and resumed: weights differ from the uninterrupted run's`);
  }
  // kill -9 leaves the last periodic checkpoint.
  const periodic = await train({ ...opts, checkpointEvery: 5 });
  const resumed = await train(opts, periodic.saved.get(5));
  assert.equal(differing(resumed), [], "resumed from the periodic checkpoint at step 5: weights differ from the uninterrupted run's");
  model.dispose();
});

// The CLI on the tiny preset: a trunk file in torchvision's layout (what --init reads), made here.
const tinyTrunk = join(dir, 'tiny-trunk.safetensors');
{
  const m = new DeepMask('tiny', { seed: 7 });
  const t = new Map<string, HostTensor>();
  for (const [name, p] of m.trunk.namedParameters()) {
    const v = await p.read();
    if (p.shape.length !== 4) {
      t.set(name, { shape: [...p.shape], data: v });
      continue;
    }
    const [KH, KW, I, O] = p.shape as [number, number, number, number]; // ours HWIO, torchvision OIHW
    const data = new Float32Array(v.length);
    for (let y = 0; y < KH; y++)
      for (let x = 0; x < KW; x++)
        for (let i = 0; i < I; i++) for (let o = 0; o < O; o++) data[((o * I + i) * KH + y) * KW + x] = v[((y * KW + x) * I + i) * O + o]!;
    t.set(name, { shape: [O, I, KH, KW], data });
  }
  writeFileSync(tinyTrunk, writeSafetensors(t));
  m.dispose();
}
const synthData = join(dir, 'synth', 'instances.json'),
  synthImages = join(dir, 'synth', 'images');
const tinyArgs = (out: string, ...extra: string[]) => [
  '--data',
  synthData,
  '--images',
  synthImages,
  '--preset',
  'tiny',
  '--init',
  tinyTrunk,
  '--out',
  out,
  '--scales=-1:0.5:0.5',
  '--batch',
  '8',
  '--lr-schedule',
  '0:0.01',
  ...extra,
];
const headsCli = (args: string[]) =>
  spawnSync(process.execPath, [repoPath('bin/deepmask.js'), 'train-heads', ...args], { encoding: 'utf8', timeout: 300_000, killSignal: 'SIGKILL' });
const weightsIn = (out: string) => readSafetensors(readFileSync(join(out, 'model', 'model.safetensors'))).tensors;
/** The trainer's checkpoint file latest.json names. */
const newestCheckpoint = (out: string) => join(findCheckpoint(out)!.dir, TRAINER_CHECKPOINT);
const sameWeights = (a: string, b: string) => {
  const x = weightsIn(a),
    y = weightsIn(b);
  return [...x].filter(([name, t]) => !y.has(name) || t.data.some((v, i) => v !== y.get(name)!.data[i])).map(([name]) => name);
};

test('deepmask train-heads: SIGTERM checkpoints and stops (exit 143, no model/); --resume then ends bit for bit where an uninterrupted run does', async () => {
  const out = join(dir, 'cli-term');
  const child = spawn(process.execPath, [repoPath('bin/deepmask.js'), 'train-heads', ...tinyArgs(out, '--steps', '100000')], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '',
    stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
  // Training has begun (the windows are counted just before the first step); let it take some steps.
  for (let t = 0; !/windows: /.test(stdout); t++) {
    if (t > 1800 || child.exitCode !== null) assert.unreachable(`no training within 180 s\n${stdout}\n${stderr}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  await new Promise((r) => setTimeout(r, 1500));
  child.kill('SIGTERM');
  const status = await exited;
  assert.ok(findCheckpoint(out), `a checkpoint after SIGTERM\n${stderr}`);
  const ckpt = newestCheckpoint(out);
  assert.not.ok(existsSync(join(out, 'model')), 'no final model after a stop');
  const stopped = (JSON.parse(readSafetensors(readFileSync(ckpt)).metadata.state!) as { step: number }).step;
  assert.ok(stopped >= 1 && stopped < 100000, `stopped at step ${stopped}`);
  const total = String(stopped + 5);
  const resumed = headsCli([...tinyArgs(out, '--steps', total), '--resume']);
  assert.is(resumed.status, 0, resumed.stderr);
  const straight = headsCli(tinyArgs(join(dir, 'cli-straight'), '--steps', total));
  assert.is(straight.status, 0, straight.stderr);
  assert.equal(
    sameWeights(join(dir, 'cli-straight'), out),
    [],
    `stopped at step ${stopped} by SIGTERM and resumed to ${total}: these tensors differ from an uninterrupted run's`,
  );
  assert.is(status, 143, `SIGTERM exits 143 as the other trainers do\n${stderr}`);
});

test('deepmask train-heads: the run folder is locked and --resume refuses run-defining options that differ, naming the option and both values', async () => {
  const out = join(dir, 'cli-run');
  const first = headsCli(tinyArgs(out, '--steps', '4'));
  assert.is(first.status, 0, first.stderr);
  const ckpt = readFileSync(newestCheckpoint(out));
  const other = join(dir, 'other-data');
  writeSynth(other, { images: 10, seed: 6 });
  const valFile = join(dir, 'val-ids.json');
  writeFileSync(valFile, JSON.stringify([ds.images[0].id]));
  const cases: [string[], RegExp][] = [
    [['--seed', '2'], /--seed 2 \(the run has 1\)/],
    [['--batch', '4'], /--batch 4 \(the run has 8\)/],
    [['--scales=-1:0:0.5'], /--scales -1:0:0\.5 \(the run has -1:0\.5:0\.5\)/],
    [['--val-ids', valFile], /--val-ids .*val-ids\.json \(the run has none\)/],
    [
      ['--data', join(other, 'instances.json'), '--images', join(other, 'images')],
      /--data .*other-data.instances\.json \(the run has .*synth.instances\.json\)/,
    ],
    [['--lr-schedule', '0:0.02'], /--lr-schedule 0:0\.02 \(the run has 0:0\.01\)/],
    [['--tune-last'], /--tune-last 1 \(the run has 0\)/],
  ];
  for (const [extra, re] of cases) {
    const r = headsCli([...tinyArgs(out, '--steps', '6'), '--resume', ...extra]);
    assert.is(r.status, 2, `--resume ${extra.join(' ')}: exit ${r.status}\n${r.stdout}\n${r.stderr}`);
    assert.match(r.stderr, re, `--resume ${extra.join(' ')}`);
    assert.ok(readFileSync(newestCheckpoint(out)).equals(ckpt), `--resume ${extra.join(' ')}: the checkpoint is untouched`);
  }
  // A second run into a folder in use is refused (the lock of a live process: this one).
  writeFileSync(join(out, 'train.lock'), JSON.stringify({ pid: process.pid, host: hostname() }));
  const locked = headsCli([...tinyArgs(out, '--steps', '6'), '--resume']);
  assert.is(locked.status, 1, locked.stderr);
  assert.match(locked.stderr, /is in use by another training run/);
  rmSync(join(out, 'train.lock'));
  // The run's options are its own on --resume: only --out and the new step count are needed.
  const resumed = headsCli(['--out', out, '--resume', '--steps', '6']);
  assert.is(resumed.status, 0, resumed.stderr);
  assert.match(resumed.stdout, /resumed at step 4/);
  const run = JSON.parse(readFileSync(join(out, 'run.json'), 'utf8'));
  assert.is(run.seed, 1);
  assert.is(run.batch, 8);
  assert.is(JSON.parse(readFileSync(join(out, 'model', 'config.json'), 'utf8')).training.steps, 6);
  assert.ok(existsSync(join(out, 'curves.png')), 'curves.png');
  assert.not.ok(existsSync(join(out, 'train.lock')), 'the lock is released');
  const log = readFileSync(join(out, 'log.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
  const steps = log.filter((e) => e.type === 'train').map((e) => e.step);
  assert.equal(steps, [...new Set(steps)], 'no step logged twice');
});

test('deepmask train-heads: a bad --val-ids file, or --init / --init-heads naming a folder, is a clear error naming the file, before any work', () => {
  const bad = join(dir, 'bad');
  mkdirSync(bad, { recursive: true });
  const file = (name: string, text: string) => {
    writeFileSync(join(bad, name), text);
    return join(bad, name);
  };
  const out = join(dir, 'cli-bad');
  const cases: [string, string[], RegExp][] = [
    ['missing --val-ids', ['--val-ids', join(bad, 'nowhere.json')], /--val-ids .*nowhere\.json: not found/],
    ['--val-ids not JSON', ['--val-ids', file('text.json', 'id 1, id 2')], /--val-ids .*text\.json: not valid JSON/],
    ['--val-ids an object', ['--val-ids', file('object.json', '{"ids": [1, 2]}')], /--val-ids .*object\.json: .*a JSON array of integer image ids/],
    ['--val-ids strings', ['--val-ids', file('strings.json', '["1", "2"]')], /--val-ids .*strings\.json: .*a JSON array of integer image ids/],
    ['--val-ids of no image', ['--val-ids', file('unknown.json', '[999999]')], /--val-ids .*unknown\.json: none of its 1 ids is an image of .*instances\.json/],
    ['--val-ids a folder', ['--val-ids', bad], /--val-ids .*bad: a folder/],
    ['--init a folder', ['--init', bad], /--init .*bad: a folder.*safetensors/],
    ['--init-heads a folder without a model', ['--init-heads', bad], /--init-heads .*bad: a folder without model\.safetensors/],
  ];
  for (const [what, extra, re] of cases) {
    const r = headsCli([...tinyArgs(out, '--steps', '2'), ...extra]);
    assert.ok(r.status === 1 || r.status === 2, `${what}: exit ${r.status}\n${r.stderr}`);
    assert.match(r.stderr, re, what);
    assert.not.match(r.stderr, /\n\s+at |TypeError|EISDIR|ENOENT/, `${what}: no internal error or stack trace`);
    assert.not.ok(existsSync(out), `${what}: nothing written`);
  }
});

test('deepmask train-heads: an image whose size on disk differs from the annotation file is skipped, named and counted; none usable is an error', () => {
  const images = join(dir, 'resized');
  cpSync(synthImages, images, { recursive: true });
  const smaller = join(dir, 'smaller');
  writeSynth(smaller, { images: 1, seed: 5, width: 64, height: 48 });
  const im = ds.images[3];
  copyFileSync(join(smaller, 'images', 'synth_000001.png'), join(images, im.file_name));
  const args = (out: string) => [...tinyArgs(out, '--steps', '3'), '--images', images];
  const r = headsCli(args(join(dir, 'cli-resized')));
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`${im.file_name}: the image is 64x48 on disk but ${im.width}x${im.height} in the annotation file`));
  const training = JSON.parse(readFileSync(join(dir, 'cli-resized', 'model', 'config.json'), 'utf8')).training;
  assert.is(training.skippedImages.length, 1);
  assert.match(training.skippedImages[0], new RegExp(im.file_name));
  // Every image of another size: nothing to train on.
  const all = join(dir, 'all-resized');
  mkdirSync(all, { recursive: true });
  for (const x of ds.images) copyFileSync(join(smaller, 'images', 'synth_000001.png'), join(all, x.file_name));
  const none = headsCli([...tinyArgs(join(dir, 'cli-all-resized'), '--steps', '3'), '--images', all]);
  assert.is(none.status, 1, none.stderr);
  assert.match(none.stderr, /no usable image.*10 skipped/);
  assert.not.match(none.stderr, /\n\s+at |TypeError/);
});

const headsRun = (out: string, o: Partial<HeadsRunOptions> = {}, hooks: HeadsRunHooks = {}) =>
  runHeadsTraining(
    {
      data: synthData,
      images: synthImages,
      preset: 'tiny',
      init: tinyTrunk,
      out,
      scales: [-1, 0.5, 0.5],
      steps: 10,
      batch: 8,
      lrSchedule: [[0, 0.01]],
      logEvery: 1,
      validateEvery: 4,
      checkpointEvery: 1000,
      ...o,
    },
    hooks,
  );
/** A run of `headsRun` asked to stop once training has taken `k` steps. */
const stoppedAt = (out: string, k: number) => {
  let training = false,
    polls = 0;
  return headsRun(out, {}, { onTrainStart: () => (training = true), stopReason: () => (training && ++polls >= k ? 'SIGINT' : null) });
};
const trainSteps = (out: string) =>
  readFileSync(join(out, 'log.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l))
    .filter((e) => e.type === 'train')
    .map((e) => e.step);

test('runHeadsTraining: a stop while caching keeps the maps and leaves no run; stopped after step 3 or 7 and resumed, the model equals an uninterrupted run bit for bit; --force replaces a run', async () => {
  // Asked to stop while caching: the images done are cached, nothing else is written, and a new run starts there.
  const early = join(dir, 'lib-early');
  const r0 = await headsRun(early, {}, { stopReason: () => 'SIGTERM' });
  assert.is(r0.interrupted, 'SIGTERM');
  assert.ok(readdirSync(join(early, 'features')).length >= 1, 'the maps done are kept');
  for (const f of ['run.json', 'log.jsonl', 'checkpoints']) assert.not.ok(existsSync(join(early, f)), `no ${f}`);
  await headsRun(early, { steps: 2 });
  assert.ok(existsSync(join(early, 'model', 'model.safetensors')), 'a run after it completes');

  const whole = join(dir, 'lib-whole');
  assert.is((await headsRun(whole)).steps, 10);
  for (const k of [3, 7]) {
    const out = join(dir, `lib-stop-${k}`);
    const stopped = await stoppedAt(out, k);
    assert.is(stopped.interrupted, 'SIGINT');
    assert.is(stopped.steps, k);
    assert.not.ok(existsSync(join(out, 'model')), 'no final model after a stop');
    const resumed = await headsRun(out, { resume: true });
    assert.is(resumed.steps, 10);
    assert.equal(sameWeights(whole, out), [], `stopped after step ${k} and resumed: these tensors differ from the uninterrupted run's`);
    assert.equal(
      trainSteps(out),
      Array.from({ length: 10 }, (_, i) => i + 1),
      'every step logged once',
    );
  }
  await rejects(headsRun(whole), /already holds a run \(checkpoints, run\.json, log\.jsonl, curves\.png, model\).*--resume.*--force/);
  await rejects(headsRun(whole, { resume: true, seed: 3 }), /--resume with options that differ from the run's .*--seed 3 \(the run has 1\)/);
  const cached = readdirSync(join(whole, 'features')).length;
  let computed = -1;
  await headsRun(whole, { force: true, steps: 2 }, { onExtract: (_d, _t, c) => (computed = c) });
  assert.is(computed, 0, 'the feature cache is kept and read');
  assert.is(readdirSync(join(whole, 'features')).length, cached);
  assert.is(JSON.parse(readFileSync(join(whole, 'run.json'), 'utf8')).steps, 2);
});

test('runHeadsTraining: a run folder of the old layout (checkpoint.safetensors, log tagged `kind`) resumes bit for bit and moves to checkpoints/', async () => {
  const out = join(dir, 'lib-old-layout');
  assert.is((await stoppedAt(out, 3)).steps, 3);
  toOldLayout(out, 'kind');
  const resumed = await headsRun(out, { resume: true });
  assert.is(resumed.steps, 10);
  assert.equal(
    sameWeights(join(dir, 'lib-stop-3'), out),
    [],
    'resumed from the old layout: these tensors differ from those of a run resumed from the current one (equal to an uninterrupted run above)',
  );
  assert.equal(
    trainSteps(out),
    Array.from({ length: 10 }, (_, i) => i + 1),
    'the old records read as `type`, every step logged once',
  );
  assert.not.ok(existsSync(join(out, TRAINER_CHECKPOINT)), 'the old single checkpoint is superseded');
  assert.is(findCheckpoint(out)?.step, 10);
});

test.run();
