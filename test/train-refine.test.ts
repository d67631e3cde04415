// Training SharpMask's refinement from cached windows: the cache (made once, reused, keyed on the
// frozen weights), what the windows hold, learning, exact resume after a stop (also from a run folder
// of the old layout), the run folder's refusals, positives-only data sets, and the CLI's checks
// before any work.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { DeepMask, noGrad, propose, Rng, Tensor } from '../src/index.js';
import { writeSynth } from '../src/data/synth-files.js';
import { decodeImage } from '../src/data/image.js';
import { loadModel, saveModel } from '../src/model/files.js';
import { presetConfig } from '../src/model/presets.js';
import { SKIP_CONTEXT } from '../src/model/refine.js';
import { readSafetensors } from '../src/model/safetensors.js';
import { loadDataSets } from '../src/train/datasets.js';
import { refineGeometry, RefineWindows, type RefineEntry } from '../src/train/refine-data.js';
import { runRefineTraining, type RefineRunHooks, type RefineRunOptions } from '../src/train/refine-run.js';
import { runTraining } from '../src/train/run.js';
import { findCheckpoint, TRAINER_CHECKPOINT } from '../src/train/run-folder.js';
import { toOldLayout } from './lib/old-layout.js';
import { repoPath } from './lib/shared.js';
import { rejects } from './lib/check.js';
import { workDir } from './lib/trained.js';
import './lib/gpu.js';

const dir = join(workDir, 'refine');
writeSynth(join(dir, 'a'), { images: 12, seed: 8 });
writeSynth(join(dir, 'b'), { images: 6, seed: 9 });
const setA = { data: join(dir, 'a', 'instances.json'), images: join(dir, 'a', 'images') };
const setB = { data: join(dir, 'b', 'instances.json'), images: join(dir, 'b', 'images'), positivesOnly: true };
const SCALES = [0.71, 1, 1.41];

// A tiny model to refine (its heads untrained: the refinement only needs a frozen model).
const base = join(dir, 'base');
const tiny = new DeepMask('tiny', { seed: 2 });
await saveModel(tiny, base);
tiny.dispose();

const run = (out: string, o: Partial<RefineRunOptions> = {}, hooks: RefineRunHooks = {}) =>
  runRefineTraining(
    {
      model: base,
      sets: [setA, setB],
      out,
      cache: join(dir, 'cache'),
      scales: SCALES,
      steps: 6,
      batch: 4,
      validateEvery: 3,
      checkpointEvery: 2,
      lrSchedule: [[0, 0.02]],
      ...o,
    },
    hooks,
  );

test('a refinement run caches the windows once, trains only the refinement, and writes a refined model that proposes', async () => {
  let computed = -1;
  await run(join(dir, 'one'), { sets: [setA] });
  // Again with the cache made: nothing is computed.
  await runRefineTraining(
    { model: base, sets: [setA], out: join(dir, 'one-again'), cache: join(dir, 'cache'), scales: SCALES, steps: 2, batch: 4, validateEvery: 2 },
    { onExtract: (_d, _t, c) => (computed = c) },
  );
  assert.is(computed, 0, 'the second run reads the cache');
  const out = join(dir, 'one', 'model');
  const cfg = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
  assert.equal(cfg.model.refine, { skips: ['features.12', 'features.9', 'features.6', 'features.3'], mask: 32, skipWidths: [16, 16, 16, 8] });
  assert.is(cfg.training.refinement.steps, 6);
  // The trunk and heads are the base model's, bit for bit; the refinement is new.
  const before = readSafetensors(readFileSync(join(base, 'model.safetensors'))).tensors;
  const after = readSafetensors(readFileSync(join(out, 'model.safetensors'))).tensors;
  for (const [k, t] of before) assert.equal(Array.from(after.get(k)!.data), Array.from(t.data), `${k} unchanged`);
  assert.ok(
    [...after.keys()].some((k) => k.startsWith('refine.stages.3.horizontal.0')),
    'refinement saved',
  );
  for (const f of ['log.jsonl', 'curves.png', 'run.json', 'checkpoints/latest.json']) assert.ok(existsSync(join(dir, 'one', f)), f);
  // It loads and proposes: masks at full window resolution pasted into the image.
  const model = loadModel(out);
  const img = decodeImage(readFileSync(join(setA.images, readdirSync(setA.images)[0]!)));
  const res = await propose(model, img, { proposals: 20 });
  assert.is(res.proposals.length, 20);
  assert.ok(res.timings.refine > 0, 'the refinement ran');
  model.dispose();
});

test('the cached windows hold the model’s embeddings and skip maps around each positive window', async () => {
  const sets = loadDataSets([setA], 1);
  const model = new DeepMask({
    ...presetConfig('tiny'),
    refine: { skips: ['features.12', 'features.9', 'features.6', 'features.3'], mask: 32, skipWidths: [16, 16, 16, 8] },
  });
  model.loadState(readSafetensors(readFileSync(join(base, 'model.safetensors'))).tensors, { partial: true });
  const g = refineGeometry(model);
  const cacheDir = join(dir, 'cache');
  const file = readdirSync(cacheDir).find((f) => f.startsWith('0-'))!;
  const id = Number(file.slice(2, -4));
  // The entries of that image, read back as the trainer reads them.
  const buf = readFileSync(join(cacheDir, file));
  const n = buf.readUInt32LE(0);
  const h = JSON.parse(buf.subarray(4, 4 + n).toString()) as { entries: Omit<RefineEntry, 'offset' | 'set' | 'image'>[] };
  assert.ok(h.entries.length > 0, 'an image with positives');
  const e0: RefineEntry = { ...h.entries[0]!, set: 0, image: id, offset: 4 + n + ((2 - ((4 + n) % 2)) % 2) };
  const w = new RefineWindows([e0], sets, g, cacheDir, new Rng(1));
  const b = w.render([{ entry: 0, cell: 0 }]);
  // The same window computed directly from the image.
  const im = sets[0]!.coco.images.find((x) => x.id === id)!;
  const img = decodeImage(readFileSync(join(setA.images, im.file_name)));
  const { paddedInput, resizeRgb } = await import('../src/data/image.js');
  const s = e0.scale,
    hs = Math.round(img.height * s),
    ws = Math.round(img.width * s);
  const x = Tensor.from(paddedInput(resizeRgb(img, ws, hs), 56, model.config.normalization), [1, hs + 112, ws + 112, 3]);
  const [r, c] = e0.cells[0]!;
  const { features, taps } = noGrad(() => model.trunkTaps(x, model.refine!.skips));
  const emb = noGrad(() => model.denseHeads(features)).embedding;
  const E = g.embedWidth,
    gw = emb.shape[2]!;
  const ev = await emb.read();
  const want = ev.subarray((r * gw + c) * E, (r * gw + c + 1) * E);
  for (let j = 0; j < E; j++)
    assert.ok(Math.abs(b.embedding[j]! - want[j]!) <= 2e-3 * Math.max(1, Math.abs(want[j]!)), `embedding ${j}: ${b.embedding[j]} vs ${want[j]}`);
  for (let i = 0; i < taps.length; i++) {
    const t = taps[i]!,
      [, th, tw, C] = t.shape as [number, number, number, number];
    const tv = await t.read(),
      side = (g.featureSize << i) + 2 * SKIP_CONTEXT;
    for (let y = 0; y < side; y += 3)
      for (let xx = 0; xx < side; xx += 2) {
        const ty = (r << i) - SKIP_CONTEXT + y,
          tx = (c << i) - SKIP_CONTEXT + xx,
          on = ty >= 0 && tx >= 0 && ty < th && tx < tw;
        for (let ch = 0; ch < C; ch += 5) {
          const got = b.crops[i]![(y * side + xx) * C + ch]!,
            exp = on ? tv[(ty * tw + tx) * C + ch]! : 0;
          assert.ok(Math.abs(got - exp) <= 2e-3 * Math.max(1, Math.abs(exp)), `level ${i} (${y}, ${xx}, ${ch}): ${got} vs ${exp}`);
        }
      }
  }
  // The target is the object's mask over the window: some object pixels and some background.
  const on = b.targets.filter((v) => v > 0).length;
  assert.ok(on > 0 && on < b.targets.length, `target has ${on} object pixels`);
  for (const t of [x, features, emb, ...taps]) if (!t.disposed) t.dispose();
  model.dispose();
});

test('a stopped refinement run resumes exactly: N steps equal K, stop, resume, N - K', async () => {
  await run(join(dir, 'whole'));
  // The trainer asks after every step; the stop comes after step 3 (the cache is made by then).
  let cached = false,
    polls = 0;
  const stopped = await run(join(dir, 'parts2'), {}, { onExtract: (d, t) => (cached = d === t), stopReason: () => (cached && ++polls >= 3 ? 'SIGINT' : null) });
  assert.is(stopped.interrupted, 'SIGINT');
  assert.is(stopped.steps, 3);
  assert.not.ok(existsSync(join(dir, 'parts2', 'model')), 'no final model after a stop');
  const resumed = await run(join(dir, 'parts2'), { resume: true });
  assert.is(resumed.steps, 6);
  const a = readSafetensors(readFileSync(join(dir, 'whole', 'model', 'model.safetensors'))).tensors;
  const b = readSafetensors(readFileSync(join(dir, 'parts2', 'model', 'model.safetensors'))).tensors;
  for (const [k, t] of a) assert.equal(Array.from(b.get(k)!.data), Array.from(t.data), `${k} bitwise equal`);
  const log = readFileSync(join(dir, 'parts2', 'log.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
  assert.equal(
    log.filter((e) => e.type === 'train').map((e) => e.step),
    [...new Set(log.filter((e) => e.type === 'train').map((e) => e.step))],
    'no step logged twice',
  );
});

test('a refinement run folder of the old layout (one checkpoint.safetensors) resumes bit for bit and moves to checkpoints/', async () => {
  const out = join(dir, 'old-layout');
  let cached = false,
    polls = 0;
  const stopped = await run(out, {}, { onExtract: (d, t) => (cached = d === t), stopReason: () => (cached && ++polls >= 3 ? 'SIGINT' : null) });
  assert.is(stopped.steps, 3);
  toOldLayout(out, 'type');
  assert.is((await run(out, { resume: true })).steps, 6);
  const a = readSafetensors(readFileSync(join(dir, 'whole', 'model', 'model.safetensors'))).tensors;
  const b = readSafetensors(readFileSync(join(out, 'model', 'model.safetensors'))).tensors;
  for (const [k, t] of a) assert.equal(Array.from(b.get(k)!.data), Array.from(t.data), `${k} bitwise equal`);
  assert.not.ok(existsSync(join(out, TRAINER_CHECKPOINT)), 'the old single checkpoint is superseded');
  assert.is(findCheckpoint(out)?.step, 6);
});

test('a refinement run refuses a used --out, a resume with other options, and a second run into the same folder', async () => {
  const out = join(dir, 'whole');
  await rejects(run(out), /already holds a refinement run/);
  await rejects(run(out, { resume: true, batch: 8 }), /--resume with batch different/);
  await rejects(run(out, { resume: true, sets: [setA] }), /--resume with sets different/);
  writeFileSync(join(out, 'train.lock'), JSON.stringify({ pid: process.pid, host: (await import('node:os')).hostname() }));
  await rejects(run(out, { force: true }), /in use by another training run/);
  (await import('node:fs')).rmSync(join(out, 'train.lock'));
  const pos = (await run(join(dir, 'pos-only'), { sets: [setB], steps: 2 })).steps;
  assert.is(pos, 2, 'a positives-only set alone trains the refinement');
});

test('one trainer does not resume another’s run folder: the error says which command made it', async () => {
  // A refinement run (the folder of the old-layout test, moved to checkpoints/) given to train.
  await rejects(
    runTraining({ ...setA, out: join(dir, 'old-layout'), resume: true, steps: 8 }),
    /step-0000006: holds a train-heads or train-refine checkpoint \(checkpoint\.safetensors\), not one of deepmask train/,
  );
  // A train run's checkpoint (a model folder) given to train-refine.
  const trained = join(dir, 'train-run');
  mkdirSync(join(trained, 'checkpoints', 'step-0000002'), { recursive: true });
  writeFileSync(join(trained, 'checkpoints', 'latest.json'), JSON.stringify({ dir: 'step-0000002', step: 2 }));
  await rejects(
    run(trained, { resume: true }),
    /step-0000002: no checkpoint\.safetensors in it: a checkpoint of deepmask train.*resume it with deepmask train/,
  );
});

test('deepmask train-refine checks its options before any work', () => {
  const cli = (...args: string[]) => spawnSync(process.execPath, [repoPath('bin/deepmask.js'), 'train-refine', ...args], { encoding: 'utf8' });
  const common = ['--model', base, '--out', join(dir, 'cli')];
  let r = cli(...common, '--data', setA.data);
  assert.is(r.status, 2);
  assert.match(r.stderr, /one --images folder per --data file/);
  r = cli(...common, '--data', setA.data, '--images', setA.images, '--positives-only', setB.data);
  assert.is(r.status, 2);
  assert.match(r.stderr, /--positives-only .*not one of the --data files/);
  r = cli(...common, '--data', setA.data, '--images', setA.images, '--skips', 'features.12,features.9', '--widths', '8');
  assert.is(r.status, 2);
  assert.match(r.stderr, /one integer in 1..4096 per skip layer/);
  r = cli('--model', join(dir, 'nowhere'), '--out', join(dir, 'cli'), '--data', setA.data, '--images', setA.images);
  assert.is(r.status, 2);
  assert.match(r.stderr, /--model: .*config.json not found/);
  assert.not.ok(existsSync(join(dir, 'cli')), 'nothing written');
});

test.run();
