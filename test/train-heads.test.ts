// Training the heads from cached feature maps: the windows' geometry (positives centred on objects
// at the canonical scale, negatives far from every object), learning, exact resume, the cache, and
// the CLI's refusals.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DeepMask, Rng } from '../src/index.js';
import { writeSynth } from '../src/data/synth-files.js';
import { decodeImage } from '../src/data/image.js';
import { FeatureWindows, extractFeatureMaps, type BankImage } from '../src/train/feature-bank.js';
import { DEFAULT_HEADS_TRAIN, HeadsTrainer } from '../src/train/train-heads.js';
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

test('heads trained on feature windows learn, and a resumed run equals a straight one', async () => {
  const model = new DeepMask('tiny', { seed: 2 });
  const b = await bank(model);
  const geo = { ...model.config, featureSize: model.featureSize };
  const opts = { ...DEFAULT_HEADS_TRAIN, steps: 60, batch: 16, lrSchedule: [[0, 0.01]] as [number, number][], logEvery: 1000, validateEvery: 1000, checkpointEvery: 1000 };
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
  const straight = await run(60);
  console.log(`    IoU ${straight.before.iouMean.toFixed(3)} -> ${straight.after.iouMean.toFixed(3)}, score accuracy ${straight.before.scoreAccuracy.toFixed(2)} -> ${straight.after.scoreAccuracy.toFixed(2)}`);
  assert.ok(straight.after.iouMean > straight.before.iouMean + 0.1, 'mask IoU improves');
  const half = await run(30);
  const resumed = await run(60, half.bytes);
  let worst = 0;
  for (const [name, t] of straight.state) for (let i = 0; i < t.data.length; i++) worst = Math.max(worst, Math.abs(t.data[i]! - resumed.state.get(name)!.data[i]!));
  assert.ok(worst <= 1e-6, `largest weight difference ${worst}`);
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
  for (const [extra, re] of [[[], /already holds a run.*--resume/], [['--scales', '1:0:0.5'], /--scales must be MIN:MAX:STEP/], [['--batch', '1'], /--batch must be an integer from 2 to 65536, got '1'/]] as const) {
    const r = cli(...extra);
    assert.is(r.status, 2, `${extra.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re);
  }
});

test.run();
