// Training the heads from cached feature maps: the windows' geometry (positives centred on objects
// at the canonical scale, negatives far from every object), learning, exact resume, the cache, and
// the CLI's refusals.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DeepMask, Rng, Tensor } from '../src/index.js';
import { writeSynth } from '../src/data/synth-files.js';
import { decodeImage } from '../src/data/image.js';
import { FeatureWindows, extractFeatureMaps, type BankImage } from '../src/train/feature-bank.js';
import { DEFAULT_HEADS_TRAIN, HeadsTrainer } from '../src/train/train-heads.js';
import { cutTrunk } from '../src/model/trunks.js';
import { presetConfig, type DeepMaskConfig } from '../src/model/presets.js';
import { readSafetensors } from '../src/model/safetensors.js';
import { repoPath, sharedPath } from './lib/shared.js';
import { spawnSync } from 'node:child_process';
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
    for (const flip of flips ? [false, true] : [false]) out.push({ id: im.id, width: img.width, height: img.height, flip, maps: await extractFeatureMaps(model, img, SCALES, flip) });
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
      const im = b[p.image]!, m = im.maps[p.map]!;
      const [x, y, bw, bh] = p.ann!.bbox as number[];
      const cx = im.flip ? im.width - (x! + bw! / 2) : x! + bw! / 2, cy = y! + bh! / 2;
      assert.ok(Math.abs(st * p.c - cx * m.scale) <= st + 1e-9 && Math.abs(st * p.r - cy * m.scale) <= st + 1e-9, 'centred within a stride');
      assert.ok(Math.abs(Math.log2((Math.max(bw!, bh!) * m.scale) / geo.objectSize)) <= 0.25 + 1e-9, 'canonical scale');
    }
  }
  for (let i = 0; i < 200; i++) {
    const n = w.negative();
    const im = b[n.image]!, m = im.maps[n.map]!;
    assert.ok(w.isNegative(im, m, n.r, n.c));
  }
  // A mirrored image's target is the mirror of the original's.
  const pos = w.positives.flatMap((x) => x).find((p) => b[p.image]!.flip)!;
  const twin = w.positives.flatMap((x) => x).find((p) => !b[p.image]!.flip && p.ann === pos.ann && p.map === pos.map && p.r === pos.r && b[p.image]!.maps[p.map]!.cols - model.featureSize - p.c === b[pos.image]!.maps[pos.map]!.cols - model.featureSize - pos.c);
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
  const state0 = await model.exportState(), rng0 = model.rng.state();
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
  const opts = { ...DEFAULT_HEADS_TRAIN, steps: 60, batch: 16, lrSchedule: [[0, 0.01]] as [number, number][], logEvery: 1000, validateEvery: 1000, checkpointEvery: 1000 };
  const { run, worst } = await trainRuns(model, b, geo, opts);
  const straight = await run(60);
  console.log(`    IoU ${straight.before.iouMean.toFixed(3)} -> ${straight.after.iouMean.toFixed(3)}, score accuracy ${straight.before.scoreAccuracy.toFixed(2)} -> ${straight.after.scoreAccuracy.toFixed(2)}`);
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
for (const [preset, k] of [['tiny', 1], ['mobile', 1], ['tiny', 2], ['mobile', 2]] as const) {
  test(`${preset}: the trunk's last ${k} stage(s) on a window with ${k} cells of context from the cut trunk's maps equal the whole trunk's window`, async () => {
    const model = new DeepMask(preset === 'tiny' && k === 2 ? tiny2 : preset, { seed: 3 });
    const cut = await cutModel(model, k);
    const img = decodeImage(readFileSync(join(dir, 'synth', 'images', ds.images[0].file_name)));
    const scale = preset === 'tiny' ? 1 : 0.8;
    const whole: BankImage = { id: 0, width: img.width, height: img.height, flip: false, maps: await extractFeatureMaps(model, img, [scale]) };
    const part: BankImage = { ...whole, maps: await extractFeatureMaps(cut, img, [scale]) };
    const F = model.featureSize, C = model.trunk.outChannels;
    const m = whole.maps[0]!;
    assert.is(part.maps[0]!.rows, m.rows);
    // Corners (context past the map's edge) and an inner window.
    const refs = [[0, 0], [m.rows - F, m.cols - F], [0, m.cols - F], [Math.floor((m.rows - F) / 2), Math.floor((m.cols - F) / 2)]].map(([r, c]) => ({ image: 0, map: 0, r: r!, c: c! }));
    const geo = { ...model.config, featureSize: F };
    const want = new FeatureWindows([whole], [], geo, new Rng(1)).render(refs).features;
    const ctx = new FeatureWindows([part], [], { ...geo, context: k }, new Rng(1)).render(refs);
    assert.is(ctx.features.length, refs.length * (F + 2 * k) ** 2 * part.maps[0]!.data.length / (m.rows * m.cols));
    const x = Tensor.from(ctx.features, [refs.length, F + 2 * k, F + 2 * k, ctx.features.length / (refs.length * (F + 2 * k) ** 2)]);
    const got = await model.trunk.forwardLast!(x, k, ctx.onMap).read();
    if (k > 1) assert.throws(() => model.trunk.forwardLast!(x, k), /2 stages need onMap/);
    assert.is(got.length, refs.length * F * F * C);
    // Both sides pass through f16 maps (the cut trunk's before the last stages, the whole trunk's after).
    let worst = 0, top = 0;
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
  const opts = { ...DEFAULT_HEADS_TRAIN, steps: 40, batch: 16, lrSchedule: [[0, 0.01]] as [number, number][], logEvery: 1000, validateEvery: 1000, checkpointEvery: 1000, trunkStages: 1 };
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
  const args = ['--data', join(dir, 'synth', 'instances.json'), '--images', join(dir, 'synth', 'images'), '--preset', 'mobile', '--init', trunk, '--out', out, '--steps', '6', '--batch', '8', '--scales=-1:0.5:0.5'];
  const first = cli();
  assert.is(first.status, 0, first.stderr);
  assert.ok(existsSync(join(out, 'model', 'model.safetensors')) && existsSync(join(out, 'checkpoint.safetensors')));
  assert.is(readdirSync(join(out, 'features')).length, ds.images.length);
  const cfg = JSON.parse(readFileSync(join(out, 'model', 'config.json'), 'utf8'));
  assert.is(cfg.training.steps, 6);
  // Blocks 10 and 11 trained with the heads, which start from the first run's.
  const tuned = join(dir, 'cli-tuned');
  const second = spawnSync(process.execPath, [repoPath('bin/deepmask.js'), 'train-heads', ...args.slice(0, 8), '--out', tuned, '--steps', '4', '--batch', '8', '--scales=-1:0.5:0.5', '--tune-last', '2', '--init-heads', join(out, 'model')], { encoding: 'utf8' });
  assert.is(second.status, 0, second.stderr);
  assert.match(second.stdout, /init: \d+ tensors from .*model\.safetensors/);
  assert.is(JSON.parse(readFileSync(join(tuned, 'model', 'config.json'), 'utf8')).training.tunedStages, 2);
  const imagenet = readSafetensors(readFileSync(trunk)).tensors, got = readSafetensors(readFileSync(join(tuned, 'model', 'model.safetensors'))).tensors;
  const same = (name: string) => imagenet.get(name)!.data.every((v, i) => v === got.get(`trunk.${name}`)!.data[i]);
  assert.ok(same('blocks.9.pointwise.bias'), 'block 9 stays ImageNet');
  assert.not.ok(same('blocks.10.pointwise.bias'), 'block 10 is trained');
  assert.not.ok(same('blocks.11.pointwise.bias'), 'block 11 is trained');
  for (const [extra, re] of [[[], /already holds a run.*--resume/], [['--scales', '1:0:0.5'], /--scales must be MIN:MAX:STEP/], [['--batch', '1'], /--batch must be an integer from 2 to 65536, got '1'/], [['--tune-last', '--preset', 'squeeze'], /--tune-last: .*Fire modules/], [['--tune-last', '0'], /--tune-last must be an integer from 1 to 64, got '0'/], [['--tune-last', '6'], /--tune-last: .*block 6 has stride 2/]] as const) {
    const r = cli(...extra);
    assert.is(r.status, 2, `${extra.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re);
  }
});

test.run();
