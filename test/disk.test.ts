// What infer, merge and training leave on disk when things go wrong: a full disk (injected into the
// CLI subprocess by test/lib/full-disk.ts: short writes, then ENOSPC) never tears a file or writes
// _SUCCESS; merge never leaves another run's record over its results; shards finish even when none
// of their images can be read, are written by one process at a time, and merge checks their counts.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeSynth } from '../src/data/synth-files.js';
import { repoPath } from './lib/shared.js';

const bin = repoPath('bin/deepmask.js');
const preload = new URL('./lib/full-disk.js', import.meta.url).href;
const tmp = mkdtempSync(join(tmpdir(), 'deepmask-disk-'));
const common = ['--weights', repoPath('models/tiny-synth'), '--proposals', '20'];

interface Ran {
  code: number | null;
  out: string;
  err: string;
}

/** Runs the CLI in `tmp`; with `full`, on a disk that fills after `bytes` bytes to files matching `pattern`. */
function cli(args: string[], full?: { pattern: string; bytes: number }): Ran {
  const env = { ...process.env, ...(full ? { FULL_DISK_PATTERN: full.pattern, FULL_DISK_BYTES: String(full.bytes) } : {}) };
  const r = spawnSync(process.execPath, [...(full ? ['--import', preload] : []), bin, ...args], { cwd: tmp, env, encoding: 'utf8', timeout: 180_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function cliAsync(args: string[]): Promise<Ran> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [bin, ...args], { cwd: tmp });
    let out = '',
      err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.on('exit', (code) => resolve({ code, out, err }));
  });
}

const at = (p: string) => join(tmp, p);
const read = (p: string) => readFileSync(at(p), 'utf8');
/** Every file under a folder (relative path -> bytes), to compare before and after. */
function snapshot(dir: string): Record<string, string> {
  const files: Record<string, string> = {};
  for (const f of readdirSync(at(dir), { recursive: true }) as string[]) {
    const p = join(dir, f);
    try {
      files[f] = readFileSync(at(p)).toString('base64');
    } catch {
      // a folder
    }
  }
  return files;
}
const temporaries = (dir: string) =>
  (readdirSync(at(dir), { recursive: true }) as string[]).filter((f) => /(\.(partial|tmp)-\d+$|(^|\/)\.tmp-)/.test(f) || f.endsWith('train.lock'));

test('setup: four synthetic scenes; a folder whose odd positions cannot be read', () => {
  writeSynth(at('scenes'), { images: 4, seed: 5, width: 96, height: 80 });
  mkdirSync(at('mixed'));
  const imgs = readdirSync(at('scenes/images')).sort();
  cpSync(at(`scenes/images/${imgs[0]}`), at('mixed/a.png'));
  writeFileSync(at('mixed/b.png'), 'not an image');
  cpSync(at(`scenes/images/${imgs[1]}`), at('mixed/c.png'));
  writeFileSync(at('mixed/d.png'), Buffer.from([0xff, 0xd8, 0xff, 0, 1]));
});

test('infer on a full disk keeps the previous results, run record and ids, exits 1 naming the file, no _SUCCESS', () => {
  const r = cli(['infer', 'scenes/images', ...common, '--out', 'inf']);
  assert.is(r.code, 0, r.err);
  const before = snapshot('inf');
  delete before._SUCCESS;
  // Other settings (--proposals 10), so a new file in place would show; the disk fills while the
  // results are written (short write, then ENOSPC), or later, while the run record is.
  for (const [pattern, file] of [
    ['inf/results\\.json\\.partial-', 'results.json'],
    ['inf/run\\.json\\.tmp-', 'run.json'],
    ['inf/ids\\.json\\.partial-', 'ids.json'],
  ] as const) {
    const f = cli(['infer', 'scenes/images', ...common, '--proposals', '10', '--force', '--out', 'inf'], { pattern, bytes: 100 });
    assert.is(f.code, 1, `${file}: ${f.out}\n${f.err}`);
    assert.match(f.err, new RegExp(`inf/${file.replace('.', '\\.')}: cannot write \\(ENOSPC: no space left on device`), file);
    assert.equal(snapshot('inf'), before, `${file}: the previous files are byte-identical`);
    assert.not.ok(existsSync(at('inf/_SUCCESS')), `${file}: no _SUCCESS`);
    assert.equal(temporaries('inf'), [], `${file}: no temporary file or lock left`);
  }
});

test('merge on a full disk keeps the previous merge, exits 1 naming the file, no _SUCCESS', () => {
  for (const i of [0, 1]) {
    const r = cli(['infer', 'scenes/images', ...common, '--shard', `${i}/2`, '--out', 'sh']);
    assert.is(r.code, 0, r.err);
  }
  const m = cli(['merge', 'sh', '--out', 'mg']);
  assert.is(m.code, 0, m.err);
  const before = snapshot('mg');
  delete before._SUCCESS;
  for (const [pattern, file] of [
    ['mg/results\\.json\\.partial-', 'results.json'],
    ['mg/summary\\.json\\.tmp-', 'summary.json'],
  ] as const) {
    const f = cli(['merge', 'sh', '--out', 'mg'], { pattern, bytes: 100 });
    assert.is(f.code, 1, `${file}: ${f.out}\n${f.err}`);
    assert.match(f.err, new RegExp(`mg/${file.replace('.', '\\.')}: cannot write \\(ENOSPC`), file);
    assert.equal(snapshot('mg'), before, `${file}: the previous merge is byte-identical`);
    assert.not.ok(existsSync(at('mg/_SUCCESS')), `${file}: no _SUCCESS`);
    assert.equal(temporaries('mg'), [], `${file}: no temporary file or lock left`);
  }
  // A merge with room again is the same as before.
  const again = cli(['merge', 'sh', '--out', 'mg']);
  assert.is(again.code, 0, again.err);
  assert.is(read('mg/results.json'), Buffer.from(before['results.json']!, 'base64').toString());
});

test('training on a full disk: a checkpoint or the model that cannot be written leaves the previous one, exit 1', () => {
  const train = [
    'train',
    '--data',
    'scenes/instances.json',
    '--images',
    'scenes/images',
    '--batch',
    '2',
    '--val-windows',
    '4',
    '--hold-out',
    '1',
    '--checkpoint-every',
    '1',
    '--validate-every',
    '1000',
    '--out',
    'tr',
  ];
  const r = cli([...train, '--preset', 'tiny', '--steps', '1']);
  assert.is(r.code, 0, r.err);
  const ckpt = snapshot('tr/checkpoints'),
    model = snapshot('tr/model');
  assert.ok(ckpt['step-0000001/model.safetensors'] && model['model.safetensors']);

  const c = cli([...train, '--resume', '--steps', '2'], { pattern: 'checkpoints/\\.tmp-step-0000002-\\d+/model\\.safetensors$', bytes: 1000 });
  assert.is(c.code, 1, c.err);
  assert.match(c.err, /checkpoint step-0000002 not written: \S*tr\/checkpoints\/step-0000002\/model\.safetensors: cannot write \(ENOSPC/);
  assert.equal(snapshot('tr/checkpoints'), ckpt, 'latest.json and step-0000001 byte-identical, no step-0000002');
  assert.equal(temporaries('tr'), []);

  const m = cli([...train, '--resume', '--steps', '2'], { pattern: 'tr/model/model\\.safetensors\\.tmp-', bytes: 1000 });
  assert.is(m.code, 1, m.err);
  assert.match(m.err, /tr\/model\/model\.safetensors: cannot write \(ENOSPC/);
  assert.equal(snapshot('tr/model'), model, 'the previous model is byte-identical');
  assert.equal(temporaries('tr'), []);
});

test('merge --out into a finished infer run is refused; --force replaces that run whole', () => {
  const r = cli(['infer', 'scenes/images', ...common, '--out', 'fin']);
  assert.is(r.code, 0, r.err);
  const before = snapshot('fin');
  const m = cli(['merge', 'sh', '--out', 'fin']);
  assert.is(m.code, 1, m.err);
  assert.match(m.err, /--out fin holds an infer run \(run\.json, _SUCCESS\); merge into another folder, or --force to replace it/);
  assert.equal(snapshot('fin'), before, 'the infer run is untouched');

  const f = cli(['merge', 'sh', '--out', 'fin', '--force']);
  assert.is(f.code, 0, f.err);
  assert.equal(readdirSync(at('fin')).sort(), ['_SUCCESS', 'ids.json', 'results.json', 'summary.json'], 'no run.json of the replaced run');
  assert.is(read('fin/results.json'), read('mg/results.json'));
  // A rerun of that infer no longer finds "its" finished run there.
  const again = cli(['infer', 'scenes/images', ...common, '--out', 'fin']);
  assert.not.match(again.out, /already complete/);
  assert.is(again.code, 1, again.err);
  assert.match(again.err, /fin holds merged shards \(summary\.json\), not an infer run/);
});

test('a shard none of whose images can be read finishes empty, recording its skips; merge joins it', () => {
  // Shard 1/2 of mixed/ is b.png and d.png, both unreadable.
  const s1 = cli(['infer', 'mixed', ...common, '--shard', '1/2', '--out', 'mx']);
  assert.is(s1.code, 1, 'skips without --allow-skips still exit 1');
  assert.match(s1.err, /2 of 2 image\(s\) could not be read and were skipped/);
  const dir = 'mx/shard-00001-of-00002';
  assert.equal(readdirSync(at(dir)).sort(), ['_SUCCESS', 'ids.json', 'results.json', 'run.json']);
  assert.is(read(`${dir}/results.json`), '[\n]\n');
  const run = JSON.parse(read(`${dir}/run.json`)) as { images: number; processed: number; proposals: number; skipped: { file: string }[] };
  assert.equal([run.images, run.processed, run.proposals, run.skipped.map((s) => s.file)], [2, 0, 0, ['b.png', 'd.png']]);
  const again = cli(['infer', 'mixed', ...common, '--shard', '1/2', '--out', 'mx', '--allow-skips']);
  assert.is(again.code, 0, again.err);
  assert.match(again.out, /already complete/);

  assert.is(cli(['infer', 'mixed', ...common, '--shard', '0/2', '--out', 'mx']).code, 0);
  const m = cli(['merge', 'mx', '--out', 'mx-merged']);
  assert.is(m.code, 0, m.err);
  const summary = JSON.parse(read('mx-merged/summary.json')) as { images: number; processed: number; skipped: number };
  assert.equal([summary.images, summary.processed, summary.skipped], [4, 2, 2]);
  assert.equal([...new Set((JSON.parse(read('mx-merged/results.json')) as { image_id: number }[]).map((r) => r.image_id))], [1, 3]);
});

test('a shard folder is written by one process at a time (lock), never both', async () => {
  // A live process (this one) holds the shard's lock: infer is refused and leaves the folder alone.
  const dir = at('locked/shard-00000-of-00002');
  mkdirSync(dir, { recursive: true });
  const lock = JSON.stringify({ pid: process.pid, host: hostname(), started: new Date().toISOString() });
  writeFileSync(join(dir, 'train.lock'), lock);
  const r = cli(['infer', 'scenes/images', ...common, '--shard', '0/2', '--out', 'locked']);
  assert.is(r.code, 1, r.err);
  assert.match(r.err, /shard-00000-of-00002 is in use by another process \(refusing a second infer \(shard 0\/2\) into it\)/);
  assert.equal(readdirSync(dir), ['train.lock']);
  assert.is(readFileSync(join(dir, 'train.lock'), 'utf8'), lock);

  // Two processes started together on one shard: one writes it, the other is refused or finds it done.
  const both = await Promise.all([0, 1].map(() => cliAsync(['infer', 'scenes/images', ...common, '--shard', '0/2', '--out', 'race'])));
  const log = both.map((b) => `${b.code}\n${b.out}\n${b.err}`).join('\n---\n');
  assert.is(both.filter((b) => /wrote /.test(b.out)).length, 1, log);
  for (const b of both) {
    assert.not.match(b.err, /ENOENT/, log);
    if (!/wrote /.test(b.out)) assert.ok((b.code === 1 && /in use by another process/.test(b.err)) || (b.code === 0 && /already complete/.test(b.out)), log);
  }
  assert.equal(readdirSync(at('race/shard-00000-of-00002')).sort(), ['_SUCCESS', 'ids.json', 'results.json', 'run.json']);
});

test("merge checks each shard's results against its run record, naming the shard and both counts", () => {
  cpSync(at('sh'), at('damaged'), { recursive: true });
  const file = at('damaged/shard-00001-of-00002/results.json');
  const lines = readFileSync(file, 'utf8').split('\n');
  const recorded = (JSON.parse(read('damaged/shard-00001-of-00002/run.json')) as { proposals: number }).proposals;
  assert.is(lines.length, recorded + 3, 'one result a line, between [ and ]');
  lines.splice(5, 1); // a result in the middle
  writeFileSync(file, lines.join('\n'));
  const m = cli(['merge', 'damaged', '--out', 'dm']);
  assert.is(m.code, 1, m.err);
  assert.match(
    m.err,
    new RegExp(`damaged/shard-00001-of-00002: shard 1/2 has ${recorded - 1} result\\(s\\) in results\\.json but its run\\.json records ${recorded}`),
  );
  assert.not.ok(existsSync(at('dm/results.json')));
  assert.not.ok(existsSync(at('dm/_SUCCESS')));
  assert.equal(temporaries('dm'), []);
});

test.after(() => rmSync(tmp, { recursive: true, force: true }));

test.run();
