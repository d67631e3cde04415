// Hostile but realistic use: every failure is a clear error or a counted skip, nothing
// is lost, nothing hangs. Small synthetic data and the tiny model keep this fast.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeSynth } from '../src/data/synth-files.js';
import { rateText } from '../src/cli/progress.js';
import { parseCoco } from '../src/data/coco.js';
import { WorkerLoader } from '../src/data/loader.js';
import type { SampleAnnotation } from '../src/data/sampler.js';
import { loadModel } from '../src/model/files.js';
import { presetConfig } from '../src/model/presets.js';
import { readSafetensors, writeSafetensors } from '../src/model/safetensors.js';
import { OptionError, runTraining, type RunOptions } from '../src/train/run.js';
import { cliRunHooks } from '../src/cli/run-hooks.js';
import { cli, warnings } from './lib/cli.js';
import { rejects } from './lib/check.js';
import './lib/gpu.js';

const dir = mkdtempSync(join(tmpdir(), 'deepmask-robust-'));
const data = join(dir, 'data');
writeSynth(data, { images: 10, seed: 21, width: 96, height: 80 });
const base: RunOptions = {
  data: join(data, 'instances.json'),
  images: join(data, 'images'),
  preset: 'tiny',
  out: '',
  holdOut: 3,
  valWindows: 4,
  batch: 2,
  lrSchedule: [[0, 0.01]],
  logEvery: 1,
  validateEvery: 1000,
  checkpointEvery: 1,
};
const cliData = ['--data', base.data, '--images', base.images, '--preset', 'tiny', '--steps', '2', '--batch', '2', '--val-windows', '4', '--hold-out', '3'];

const latestOf = (out: string) => JSON.parse(readFileSync(join(out, 'checkpoints', 'latest.json'), 'utf8')) as { dir: string; step: number };
const weightsOf = (d: string) => readSafetensors(readFileSync(join(d, 'model.safetensors'))).tensors;
const run1 = join(dir, 'run1');

test('a new run into a run folder is refused and the old run is left intact; pruning keeps what latest.json names', async () => {
  await runTraining({ ...base, out: run1, steps: 2 });
  const log = readFileSync(join(run1, 'log.jsonl')),
    model = readFileSync(join(run1, 'model', 'model.safetensors'));
  await rejects(runTraining({ ...base, out: run1, steps: 1 }), /already holds a training run.*--resume.*--force/, 'fresh run into a run folder');
  assert.ok(readFileSync(join(run1, 'log.jsonl')).equals(log), 'log.jsonl untouched');
  assert.ok(readFileSync(join(run1, 'model', 'model.safetensors')).equals(model), 'model/ untouched');
  // Higher-numbered folders (an older run's) must not make the run prune its own new checkpoint, and a
  // temporary folder left by a killed checkpoint write is cleaned.
  for (const n of ['step-0000900', 'step-0000901', '.tmp-step-0000003-99999']) mkdirSync(join(run1, 'checkpoints', n));
  await runTraining({ ...base, out: run1, steps: 3, resume: true });
  const latest = latestOf(run1);
  assert.is(latest.dir, 'step-0000003');
  assert.ok(existsSync(join(run1, 'checkpoints', latest.dir, 'model.safetensors')), 'the checkpoint latest.json names exists');
  const dirs = readdirSync(join(run1, 'checkpoints')).sort();
  assert.equal(dirs, ['latest.json', 'step-0000002', 'step-0000003', 'step-0000900', 'step-0000901'], `pruned by write order: ${dirs}`);
});

test('--resume with different run-defining options is refused with the differences, unless --allow-changes (logged)', async () => {
  const e = await rejects(runTraining({ ...base, out: run1, steps: 4, resume: true, seed: 2, batch: 4 }), /differ from the run's/, 'changed seed and batch');
  assert.match(e.message, /--seed 2 \(the run has 1\)/);
  assert.match(e.message, /--batch 4 \(the run has 2\)/);
  assert.instance(e, OptionError, 'reported as a usage error (exit 2)');
  cpSync(base.images, join(dir, 'elsewhere'), { recursive: true });
  await rejects(
    runTraining({ ...base, out: run1, steps: 4, resume: true, data: join(run1, '..', 'data', '.', 'instances.json'), images: join(dir, 'elsewhere') }),
    /--images .*elsewhere/,
    'changed --images',
  );
  await rejects(
    runTraining({ ...base, out: run1, steps: 4, resume: true, preset: 'squeeze', allowChanges: true }),
    /cannot change --preset squeeze/,
    'changed preset',
  );
  await rejects(
    runTraining({ ...base, out: run1, steps: 4, resume: true, freezeTrunk: true, allowChanges: true }),
    /cannot change --freeze-trunk/,
    'toggled --freeze-trunk',
  );
  const { value: r, lines } = await warnings(() => runTraining({ ...base, out: run1, steps: 4, resume: true, lrSchedule: [[0, 0.005]], allowChanges: true }));
  assert.is(r.steps, 4);
  assert.ok(
    lines.some((l) => /--allow-changes: --lr\/--lr-schedule 0:0.005 \(the run has 0:0.01\)/.test(l)),
    lines.join('\n'),
  );
  const log = readFileSync(join(run1, 'log.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.ok(
    log.some((x) => x.type === 'allow-changes' && x.step === 3 && /--lr/.test(x.changes[0])),
    'the override is in the log',
  );
  // Options left out take the run's own values: no --batch here, and the run's batch (2) goes on.
  await runTraining({ ...base, batch: undefined, lrSchedule: undefined, out: run1, steps: 5, resume: true });
  assert.is(latestOf(run1).step, 5);
  // --force replaces the run.
  await runTraining({ ...base, out: run1, steps: 1, force: true });
  assert.equal(readdirSync(join(run1, 'checkpoints')).sort(), ['latest.json', 'step-0000001']);
  assert.ok(
    readFileSync(join(run1, 'log.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .every((l) => JSON.parse(l).step <= 1),
  );
});

test('a non-finite loss stops the run with an error, keeps the last finite checkpoint, writes no model; non-finite weights never load', async () => {
  const out = join(dir, 'nan');
  // A sane step, then a learning rate that blows the weights up.
  const e = await rejects(
    runTraining({
      ...base,
      out,
      steps: 6,
      lrSchedule: [
        [0, 0.01],
        [2, 1e30],
      ],
    }),
    /the loss is (NaN|-?Infinity) at step \d/,
    'diverging run',
  );
  assert.match(e.message, /last finite checkpoint is .*step-000000\d/);
  assert.not.ok(existsSync(join(out, 'model')), 'no final model');
  const last = join(out, 'checkpoints', latestOf(out).dir);
  for (const [name, t] of weightsOf(last)) assert.ok(t.data.every(Number.isFinite), `${name} finite`);
  loadModel(last); // the kept checkpoint loads
  assert.ok(readFileSync(join(out, 'log.jsonl'), 'utf8').includes('"type":"error"'), 'the divergence is in the log');
  // A model file holding a NaN is refused on load.
  const broken = join(dir, 'nan-model');
  cpSync(last, broken, { recursive: true });
  const w = weightsOf(broken);
  w.values().next().value!.data[3] = NaN;
  writeFileSync(join(broken, 'model.safetensors'), writeSafetensors(w));
  assert.throws(() => loadModel(broken), /model\.safetensors: tensor '.*' holds 1 non-finite value/);
});

test('an image whose size on disk differs from the annotation file is a counted skip naming the file and both sizes', async () => {
  const ds = parseCoco(readFileSync(base.data, 'utf8'), base.data);
  const im = ds.images[0]!;
  const ann = ds.annotationsByImage.get(im.id)![0]!;
  const other = join(dir, 'other');
  writeSynth(other, { images: 1, seed: 5, width: 64, height: 48 });
  const images = join(dir, 'resized');
  cpSync(base.images, images, { recursive: true });
  copyFileSync(join(other, 'images', 'synth_000001.png'), join(images, im.file_name));
  const geo = presetConfig('tiny');
  const loader = new WorkerLoader({
    imagesDir: images,
    files: new Map([[im.id, im.file_name]]),
    sizes: new Map([[im.id, [im.width, im.height]]]),
    geo,
    norm: geo.normalization,
  });
  try {
    const [x, y, w, h] = ann.bbox;
    const spec = { imageId: im.id, cx: x + w / 2, cy: y + h / 2, side: 60, flip: false, label: 1 as const, annId: ann.id };
    const [r] = await loader.render([spec], [ann as unknown as SampleAnnotation]);
    assert.ok(r && 'error' in r, 'an error result, not a render or a crash');
    if (r && 'error' in r) {
      assert.is(r.file, join(images, im.file_name));
      assert.match(r.error, /64x48 on disk but 96x80 in the annotation file/);
    }
  } finally {
    await loader.close();
  }
});

/** A copy of the synthetic data set, edited. */
function variant(
  name: string,
  edit: (ds: { images: { id: number; file_name: string }[]; annotations: { image_id: number; iscrowd: number }[] }, images: string) => void,
): string[] {
  const d = join(dir, name);
  cpSync(data, d, { recursive: true });
  const ds = JSON.parse(readFileSync(join(d, 'instances.json'), 'utf8'));
  edit(ds, join(d, 'images'));
  writeFileSync(join(d, 'instances.json'), JSON.stringify(ds));
  return ['--data', join(d, 'instances.json'), '--images', join(d, 'images')];
}
const spoil = (images: string, file: string) => writeFileSync(join(images, file), 'not an image');

test('every failure before the first step exits non-zero at once (no hang, no spinning core)', async () => {
  const opts = cliData.slice(4);
  const cases: [string, string[], RegExp][] = [
    [
      'no usable objects',
      [...variant('crowd', (ds) => ds.annotations.forEach((a) => (a.iscrowd = 1))), ...opts, '--out', join(dir, 'o-crowd')],
      /no annotation can serve as a positive/,
    ],
    ['unwritable --out', [...cliData, '--out', join(base.data, 'run')], /cannot create the run folder/],
    [
      'every image unreadable',
      [...variant('undecodable', (ds, images) => ds.images.forEach((im) => spoil(images, im.file_name))), ...opts, '--out', join(dir, 'o-undecodable')],
      /could not be read|can be read/,
    ],
    ['--freeze-trunk toggled on --resume', [...cliData.slice(0, 4), '--out', run1, '--resume', '--freeze-trunk'], /cannot change --freeze-trunk/],
  ];
  for (const [what, args, re] of cases) {
    const t0 = performance.now();
    const r = cli(['train', ...args]);
    assert.ok(r.status === 1 || r.status === 2, `${what}: exit ${r.status} (null: killed after hanging)\n${r.err}`);
    assert.match(r.err, re, what);
    assert.not.match(r.err, /\n\s+at /, `${what}: no stack trace`);
    console.log(`    ${what}: exit ${r.status} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
});

test('unreadable held-out images are skipped (or replaced when none can be read); resume stays exact after skipped images', async () => {
  const held = (JSON.parse(readFileSync(join(run1, 'model', 'config.json'), 'utf8')).training.heldOutImages as number[]) ?? [];
  assert.is(held.length, 3);
  // All three held-out images and two training images are unreadable.
  let trainBad: string[] = [];
  const args = variant('unreadable', (ds, images) => {
    const names = new Map(ds.images.map((im) => [im.id, im.file_name]));
    for (const id of held) spoil(images, names.get(id)!);
    trainBad = ds.images
      .filter((im) => !held.includes(im.id))
      .slice(0, 2)
      .map((im) => im.file_name);
    for (const f of trainBad) spoil(images, f);
  });
  const opts = { ...base, data: args[1]!, images: args[3]!, batch: 4, checkpointEvery: 3 };
  const { value: r, lines } = await warnings(() => runTraining({ ...opts, out: join(dir, 'u-straight'), steps: 6 }));
  assert.is(r.steps, 6, 'training went on');
  assert.ok(r.skippedImages >= 4, `skipped ${r.skippedImages}: ${lines.join('\n')}`);
  assert.ok(
    lines.some((l) => /no held-out image can be read .*holding out 3 more image/.test(l)),
    lines.join('\n'),
  );
  await warnings(() => runTraining({ ...opts, out: join(dir, 'u-resumed'), steps: 3 }));
  await warnings(() => runTraining({ ...opts, out: join(dir, 'u-resumed'), steps: 6, resume: true }));
  const a = weightsOf(join(dir, 'u-straight', 'model')),
    b = weightsOf(join(dir, 'u-resumed', 'model'));
  let worst = 0;
  for (const [name, t] of a) for (let i = 0; i < t.data.length; i++) worst = Math.max(worst, Math.abs(t.data[i]! - b.get(name)!.data[i]!));
  assert.ok(worst <= 1e-6, `largest weight difference ${worst}`);
});

test('SIGTERM checkpoints and stops without a final model; a second run into the same folder is refused meanwhile', async () => {
  const out = join(dir, 'term');
  const cli = cliRunHooks({ quiet: true }); // the CLI's signal handling, as `deepmask train` installs it
  const running = warnings(() => runTraining({ ...base, out, steps: 100000, checkpointEvery: 100000 }, cli.hooks).finally(() => cli.close()));
  const logFile = join(out, 'log.jsonl');
  for (let t = 0; !(existsSync(logFile) && readFileSync(logFile, 'utf8').includes('"type":"train"')); t++) {
    if (t > 1200) assert.unreachable('no training step within 120 s');
    await new Promise((r) => setTimeout(r, 100));
  }
  await rejects(runTraining({ ...base, out, steps: 1, force: true }), /is in use by another training run/, 'second run into a locked folder');
  process.emit('SIGTERM', 'SIGTERM');
  const { value: r } = await running;
  assert.is(r.interrupted, 'SIGTERM');
  assert.ok(r.steps >= 1 && r.steps < 100000);
  assert.is(latestOf(out).step, r.steps, 'checkpoint at the step it stopped');
  assert.not.ok(existsSync(join(out, 'model')), 'no final model after an interruption');
  assert.not.ok(existsSync(join(out, 'train.lock')), 'lock released');
  // A lock left by a killed run (its process is gone) is taken over, and the run resumes.
  writeFileSync(join(out, 'train.lock'), JSON.stringify({ pid: 2 ** 22 + 12345, host: hostname(), started: 'then' }));
  const { value: again, lines } = await warnings(() => runTraining({ ...base, out, steps: r.steps + 1, resume: true }));
  assert.is(again.steps, r.steps + 1);
  assert.is(again.interrupted, null);
  assert.ok(existsSync(join(out, 'model', 'model.safetensors')), 'the completed run writes model/');
  assert.ok(
    lines.some((l) => /taking over the lock of a run that ended/.test(l)),
    lines.join('\n'),
  );
});

test('bad options are refused before any work, naming the option, the value and the range (exit 2)', () => {
  const cases: [string[], RegExp][] = [
    [['train', ...cliData, '--out', join(dir, 'o10'), '--batch', '0'], /--batch must be an integer from 1 to 65536, got '0'/],
    [['train', ...cliData, '--out', join(dir, 'o10'), '--lr', '0'], /--lr must be a number above 0, got '0'/],
    [['train', ...cliData, '--out', join(dir, 'o10'), '--lr', '-1e-3'], /--lr must be a number above 0, got '-1e-3'/],
    [['train', ...cliData, '--out', join(dir, 'o10'), '--seed', '-3'], /--seed must be an integer from 0 to \d+, got '-3'/],
    [['train', ...cliData, '--out', join(dir, 'o10'), '--lr-schedule', '0:1e-3,500:1e-4,200:1e-5'], /--lr-schedule: steps must increase, got 200 after 500/],
    [['train', ...cliData, '--out', join(dir, 'o10'), '--hold-out', '-0.5'], /--hold-out must be a number above 0, got '-0.5'/],
    [
      ['train', ...cliData, '--out', join(dir, 'o10'), '--hold-out', '2.5'],
      /--hold-out must be a count of images \(an integer >= 1\) or a fraction in \(0, 1\), got 2.5/,
    ],
    [['synth', '--out', join(dir, 'o10s'), '--width', '100000', '--height', '100000'], /--width must be an integer from 32 to 4096, got '100000'/],
    [['synth', '--out', join(dir, 'o10s'), '--images', '-5'], /--images must be an integer from 1 to \d+, got '-5'/],
  ];
  for (const [args, re] of cases) {
    const r = cli(args, 30_000);
    assert.is(r.status, 2, `${args.slice(-2).join(' ')}: exit ${r.status}\n${r.err}`);
    assert.match(r.err, re);
  }
  assert.not.ok(existsSync(join(dir, 'o10')) || existsSync(join(dir, 'o10s')), 'nothing was written');
});

test('a corrupt latest.json and a config with "stride": 0 are errors naming the file', async () => {
  const out = join(dir, 'corrupt-latest');
  cpSync(run1, out, { recursive: true });
  writeFileSync(join(out, 'checkpoints', 'latest.json'), '{"dir": "step-00');
  await rejects(runTraining({ ...base, out, steps: 2, resume: true }), /checkpoints\/latest\.json: not valid JSON/, 'corrupt latest.json');
  const model = join(dir, 'stride0');
  cpSync(join(run1, 'model'), model, { recursive: true });
  const cfg = JSON.parse(readFileSync(join(model, 'config.json'), 'utf8'));
  cfg.model.stride = 0;
  writeFileSync(join(model, 'config.json'), JSON.stringify(cfg));
  assert.throws(() => loadModel(model), /stride0\/config\.json: model\.stride must be an integer from 1 to 65536, got 0/);
});

test('file_name leading out of the image folder is refused', () => {
  const ds = JSON.parse(readFileSync(base.data, 'utf8'));
  for (const bad of ['../../x.png', '/etc/passwd', 'a/../../b.png', '..\\x.png']) {
    ds.images[0].file_name = bad;
    assert.throws(() => parseCoco(JSON.stringify(ds), 'inst.json'), /inst\.json: image \d+: file_name must be a path inside the image folder/, bad);
  }
  ds.images[0].file_name = 'sub/dir/x..y.png'; // fine
  parseCoco(JSON.stringify(ds), 'inst.json');
});

test('safetensors: the header is padded on its UTF-8 bytes; overlapping, gapped or trailing data is refused', () => {
  const t = new Map([
    ['a', { shape: [2], data: Float32Array.of(1, 2) }],
    ['b', { shape: [1], data: Float32Array.of(3) }],
  ]);
  for (const note of ['plain', 'é', 'ünïcödé 数据 ✓']) {
    const bytes = writeSafetensors(t, { note });
    const headerLen = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    assert.is((8 + headerLen) % 8, 0, `data aligned with metadata ${note}`);
    const back = readSafetensors(bytes);
    assert.is(back.metadata.note, note);
    assert.equal([...back.tensors.get('b')!.data], [3]);
  }
  const file = (header: Record<string, unknown>, dataBytes: number) => {
    const head = new TextEncoder().encode(JSON.stringify(header));
    const out = new Uint8Array(8 + head.length + dataBytes);
    new DataView(out.buffer).setBigUint64(0, BigInt(head.length), true);
    out.set(head, 8);
    return out;
  };
  const f32 = (b: number, e: number) => ({ dtype: 'F32', shape: [(e - b) / 4], data_offsets: [b, e] });
  assert.throws(() => readSafetensors(file({ a: f32(0, 8), b: f32(4, 12) }, 12), 'x.st'), /x\.st: tensors 'a' and 'b' overlap/);
  assert.throws(() => readSafetensors(file({ a: f32(0, 4), b: f32(8, 12) }, 12), 'x.st'), /x\.st: 4 bytes of the data before tensor 'b' belong to no tensor/);
  assert.throws(() => readSafetensors(file({ a: f32(0, 4) }, 12), 'x.st'), /x\.st: 8 bytes after the last tensor belong to no tensor/);
  readSafetensors(file({ b: f32(4, 8), a: f32(0, 4) }, 8), 'x.st'); // any order in the header is fine
});

test.run();

test('progress rates read sensibly when an item takes seconds', () => {
  assert.is(rateText(30, 2, 'images'), '15.0 images/s');
  assert.is(rateText(3, 45, 'images'), '15.0 s/image');
  assert.is(rateText(0, 0, 'samples'), '- samples/s');
});
