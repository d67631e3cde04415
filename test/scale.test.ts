// Large runs (shards, merge) and infer's hostile-input guarantees (ids, kills, skips and options for infer and
// eval): deterministic input lists and ids, shards run by a local runner as a cluster would run
// them, idempotent outputs, merge; the CLI is run as a user runs it (node bin/deepmask.js).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listInputs, shardImages, shardSize } from '../src/data/inputs.js';
import { identityDiff } from '../src/infer/shards.js';
import { scalesOption, shardOption } from '../src/cli/infer.js';
import { withNegativeValues, UsageError } from '../src/cli/args.js';
import { repoPath } from './lib/shared.js';

const bin = repoPath('bin/deepmask.js');
const DM = `${JSON.stringify(process.execPath)} ${JSON.stringify(bin)}`; // `deepmask` in docs/SCALE.md
const tmp = mkdtempSync(join(tmpdir(), 'deepmask-scale-'));
const scenes = join(tmp, 'scenes');
// The options of every run here (docs/SCALE.md's local example uses the same).
const common = ['--weights', repoPath('models/tiny-synth'), '--proposals', '20'];

interface Ran {
  code: number | null;
  signal?: NodeJS.Signals | null;
  out: string;
  err: string;
}

function cli(args: string[], env: Record<string, string> = {}): Ran {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd: tmp, env: { ...process.env, ...env }, encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function sh(cmd: string): Ran {
  const r = spawnSync('bash', ['-c', cmd], { cwd: tmp, encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** Runs the CLI and SIGKILLs it as soon as it reports its first image done (mid-way through). */
function killedMidway(args: string[], env: Record<string, string> = {}): Promise<Ran> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [bin, ...args], { cwd: tmp, env: { ...process.env, ...env } });
    let out = '',
      err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => {
      err += d;
      if (/image 1\//.test(err)) p.kill('SIGKILL');
    });
    p.on('exit', (code, signal) => resolve({ code, signal, out, err }));
  });
}

const read = (p: string) => readFileSync(join(tmp, p), 'utf8');
const resultIds = (p: string) => (JSON.parse(read(p)) as { image_id: number }[]).map((r) => r.image_id);

test('setup: nine synthetic scenes from `deepmask synth`', () => {
  const r = cli(['synth', '--out', scenes, '--images', '9', '--width', '128', '--height', '96', '--seed', '3']);
  assert.is(r.code, 0, r.err);
  assert.is(readdirSync(join(scenes, 'images')).length, 9);
});

test('input lists: sorted keys, stable ids by a stated rule, COCO ids, shards that cover the list once', () => {
  const dir = join(tmp, 'names');
  mkdirSync(join(dir, 'a'), { recursive: true });
  mkdirSync(join(dir, 'b'), { recursive: true });
  const png = join(scenes, 'images', 'synth_000001.png');
  for (const f of ['a/2.png', 'a/10.png', 'b/2.png', 'b/x.png']) copyFileSync(png, join(dir, f));
  // Numbers in the names give the ids when they are distinct; sorted by key (code units).
  const a = listInputs({ paths: [join(dir, 'a')] });
  assert.is(a.rule, 'file-number');
  assert.equal(
    a.images.map((i) => [i.key, i.id, i.position]),
    [
      ['10.png', 10, 0],
      ['2.png', 2, 1],
    ],
  );
  // Two folders: keys keep the folder, so b/2.png is not a.2.png; 2 repeats, so positions give the ids.
  const ab = listInputs({ paths: [join(dir, 'a'), join(dir, 'b')] });
  assert.is(ab.rule, 'sorted-position');
  assert.equal(
    ab.images.map((i) => i.id),
    [1, 2, 3, 4],
  );
  assert.is(new Set(ab.images.map((i) => i.key)).size, 4);
  // A manifest in another order lists the same images: same keys, ids and fingerprint.
  writeFileSync(join(dir, 'list.txt'), '# images\nb/x.png\na/2.png\n\nb/2.png\na/10.png\n');
  const m = listInputs({ manifest: join(dir, 'list.txt') });
  assert.equal(
    m.images.map((i) => [i.key, i.id]),
    [
      ['a/10.png', 1],
      ['a/2.png', 2],
      ['b/2.png', 3],
      ['b/x.png', 4],
    ],
  );
  assert.is.not(m.fingerprint, a.fingerprint);
  assert.is(listInputs({ manifest: join(dir, 'list.txt') }).fingerprint, m.fingerprint);
  // A COCO file: its ids, its images read from images/ beside it; as id source, matched by name.
  const coco = JSON.parse(readFileSync(join(scenes, 'instances.json'), 'utf8')) as { images: { id: number; file_name: string }[] };
  const c = listInputs({ coco: join(scenes, 'instances.json') });
  assert.is(c.rule, 'coco');
  assert.equal(
    c.images.map((i) => i.id),
    coco.images.map((i) => i.id),
  );
  assert.ok(existsSync(c.images[0]!.path));
  assert.equal(
    listInputs({ paths: [join(scenes, 'images')], coco: join(scenes, 'instances.json') }).images.map((i) => i.id),
    c.images.map((i) => i.id),
  );
  assert.throws(
    () => listInputs({ paths: [join(dir, 'a')], coco: join(scenes, 'instances.json') }),
    /2 input image\(s\) are not in this COCO file \(10\.png, 2\.png\)/,
  );
  writeFileSync(join(dir, 'escape.json'), JSON.stringify({ images: [{ id: 1, file_name: '../../etc/passwd', width: 1, height: 1 }], annotations: [] }));
  assert.throws(() => listInputs({ coco: join(dir, 'escape.json') }), /leaves the images folder|must be a path inside the image folder/);
  assert.throws(() => listInputs({ paths: [png, png] }), /two inputs have the name/);
  // Strided shards: every position exactly once, sizes as merge expects.
  const all = Array.from({ length: 10 }, (_, position) => ({ position }));
  const parts = [0, 1, 2].map((i) => shardImages(all, i, 3));
  assert.equal(
    parts.map((p) => p.length),
    [0, 1, 2].map((i) => shardSize(10, i, 3)),
  );
  assert.equal(
    parts
      .flat()
      .map((p) => p.position)
      .sort((x, y) => x - y),
    all.map((p) => p.position),
  );
  assert.is(shardSize(2, 2, 3), 0);
});

test('shard index from --shard I/N or from the environment with --shards N; bad values name the option or variable', () => {
  assert.equal(shardOption('2/3', undefined, {}), { index: 2, count: 3 });
  assert.equal(shardOption(undefined, '3', { JOB_COMPLETION_INDEX: '1' }), { index: 1, count: 3 });
  assert.equal(shardOption(undefined, '4', { AWS_BATCH_JOB_ARRAY_INDEX: '3' }), { index: 3, count: 4 });
  assert.is(shardOption(undefined, undefined, { JOB_COMPLETION_INDEX: '1' }), undefined);
  const bad: [string | undefined, string | undefined, NodeJS.ProcessEnv, RegExp][] = [
    ['3/3', undefined, {}, /--shard must be I\/N .*got '3\/3'/],
    ['1/0', undefined, {}, /--shard must be/],
    ['-1/3', undefined, {}, /--shard must be/],
    ['1/3', '4', {}, /disagree/],
    [undefined, '3', {}, /--shards 3 needs the shard index: --shard I\/3, or JOB_COMPLETION_INDEX or AWS_BATCH_JOB_ARRAY_INDEX/],
    [undefined, '3', { JOB_COMPLETION_INDEX: '3' }, /JOB_COMPLETION_INDEX=3 is not a shard index from 0 to 2/],
    [undefined, '3', { JOB_COMPLETION_INDEX: '1', AWS_BATCH_JOB_ARRAY_INDEX: '2' }, /disagree/],
    [undefined, '0', {}, /--shards must be an integer from 1 to 1000000, got '0'/],
  ];
  for (const [s, n, env, re] of bad) {
    try {
      shardOption(s, n, env);
      assert.unreachable(`${s} ${n} accepted`);
    } catch (e) {
      assert.instance(e, UsageError);
      assert.match((e as Error).message, re);
    }
  }
});

test('two images never share an image_id; ids are stable and written beside the results', () => {
  const dir = join(tmp, 'ids');
  mkdirSync(dir, { recursive: true });
  // Before: 1.png took id 1 from its name and b.png id 1 from a counter; their proposals merged.
  copyFileSync(join(scenes, 'images', 'synth_000001.png'), join(dir, '1.png'));
  copyFileSync(join(scenes, 'images', 'synth_000002.png'), join(dir, 'b.png'));
  const r = cli(['infer', dir, ...common, '--out', 'ids-out']);
  assert.is(r.code, 0, r.err);
  const got = resultIds('ids-out/results.json');
  assert.equal([...new Set(got)].sort(), [1, 2], 'each image has its own id in results.json');
  assert.is(got.filter((i) => i === 1).length, 20, '20 proposals each, not 40 under one id');
  const ids = JSON.parse(read('ids-out/ids.json')) as { rule: string; images: { position: number; id: number; file: string }[] };
  assert.is(ids.rule, 'sorted-position');
  assert.equal(ids.images, [
    { position: 0, id: 1, file: '1.png' },
    { position: 1, id: 2, file: 'b.png' },
  ]);
  // Stable: a fresh run elsewhere gives the same ids.
  const again = cli(['infer', dir, ...common, '--out', 'ids-out-2']);
  assert.is(again.code, 0, again.err);
  assert.is(read('ids-out-2/ids.json'), read('ids-out/ids.json'));
  assert.is(read('ids-out-2/results.json'), read('ids-out/results.json'));
});

let whole = '';

test('three shards by xargs -P (index from the environment), one killed mid-way and rerun, merged == one whole run', async () => {
  // One whole run, for reference.
  const w = cli(['infer', 'scenes/images', ...common, '--out', 'whole']);
  assert.is(w.code, 0, w.err);
  whole = read('whole/results.json');
  assert.is(new Set(resultIds('whole/results.json')).size, 9);

  // Shard 1 is killed after its first image: no marker, no results, only a temporary file.
  const killed = await killedMidway(['infer', 'scenes/images', ...common, '--shards', '3', '--out', 'run'], { JOB_COMPLETION_INDEX: '1' });
  assert.is(killed.signal, 'SIGKILL', `expected a kill mid-way: ${killed.err}`);
  const s1 = join(tmp, 'run/shard-00001-of-00003');
  assert.not.ok(existsSync(join(s1, '_SUCCESS')));
  assert.not.ok(existsSync(join(s1, 'results.json')));
  assert.ok(
    readdirSync(s1).some((f) => f.startsWith('results.json.partial-')),
    'the killed shard left its temporary file',
  );

  // The local runner of docs/SCALE.md: every shard, three at a time, the index in the environment.
  const runner = `seq 0 2 | xargs -P 3 -I{} env JOB_COMPLETION_INDEX={} ${DM} infer scenes/images --weights ${repoPath('models/tiny-synth')} --proposals 20 --shards 3 --out run`;
  const r = sh(runner);
  assert.is(r.code, 0, r.err);
  assert.equal(readdirSync(s1).sort(), ['_SUCCESS', 'ids.json', 'results.json', 'run.json'], 'rerun cleanly: the stale temporary file is gone');
  const record = JSON.parse(read('run/shard-00001-of-00003/run.json')) as {
    images: number;
    processed: number;
    skipped: unknown[];
    shard: unknown;
    identity: { shards: number };
  };
  assert.equal([record.images, record.processed, record.skipped.length, record.identity.shards], [3, 3, 0, 3]);
  assert.equal(record.shard, { index: 1, count: 3 });

  const m = cli(['merge', 'run', '--out', 'merged']);
  assert.is(m.code, 0, m.err);
  assert.is(read('merged/results.json'), whole, 'merged results are byte for byte the whole run');
  assert.is(read('merged/ids.json'), read('whole/ids.json'));
  const summary = JSON.parse(read('merged/summary.json')) as Record<string, number>;
  assert.equal([summary.shards, summary.images, summary.processed, summary.skipped, summary.proposals], [3, 9, 9, 0, 180]);
  assert.ok(summary.ms_per_image! > 0);
  assert.ok(existsSync(join(tmp, 'merged/_SUCCESS')));

  // Rerunning finished shards does no work: no device, no model, files untouched.
  const before = readdirSync(join(tmp, 'run')).map((d) => statSync(join(tmp, 'run', d, 'run.json')).mtimeMs);
  const again = sh(runner);
  assert.is(again.code, 0, again.err);
  assert.is(again.out.match(/already complete/g)?.length, 3, again.out);
  assert.not.match(again.out, /adapter:/);
  assert.equal(
    readdirSync(join(tmp, 'run')).map((d) => statSync(join(tmp, 'run', d, 'run.json')).mtimeMs),
    before,
  );
  // The same shard with other settings is refused rather than overwritten.
  const other = cli(['infer', 'scenes/images', ...common, '--threshold', '0.3', '--shard', '1/3', '--out', 'run']);
  assert.is(other.code, 2);
  assert.match(other.err, /holds a finished shard 1\/3 with other settings \(settings\.threshold: 0\.3 vs 0\.2\)/);
});

test('merge refuses a missing, unfinished, repeated or foreign shard, naming it', () => {
  const missing = cli(['merge', 'run/shard-00000-of-00003', 'run/shard-00002-of-00003', '--out', 'm-missing']);
  assert.is(missing.code, 1);
  assert.match(missing.err, /missing shard 1\/3 \(shard-00001-of-00003\)/);
  assert.not.ok(existsSync(join(tmp, 'm-missing/results.json')));

  sh('cp -r run/shard-00001-of-00003 unfinished-shard && rm unfinished-shard/_SUCCESS');
  const unfinished = cli(['merge', 'run/shard-00000-of-00003', 'unfinished-shard', 'run/shard-00002-of-00003', '--out', 'm-unfinished']);
  assert.is(unfinished.code, 1);
  assert.match(unfinished.err, /unfinished-shard: shard 1\/3 is incomplete \(no _SUCCESS/);

  const twice = cli(['merge', 'run', 'run/shard-00001-of-00003', '--out', 'm-twice']);
  assert.is(twice.code, 1);
  assert.match(twice.err, /shard 1\/3 given twice/);

  const f = cli(['infer', 'scenes/images', ...common, '--threshold', '0.3', '--shard', '2/3', '--out', 'foreign']);
  assert.is(f.code, 0, f.err);
  const foreign = cli(['merge', 'run/shard-00000-of-00003', 'run/shard-00001-of-00003', 'foreign/shard-00002-of-00003', '--out', 'm-foreign']);
  assert.is(foreign.code, 1);
  assert.match(foreign.err, /foreign\/shard-00002-of-00003: a shard of a different run than run\/shard-00000-of-00003 \(settings\.threshold: 0\.3 vs 0\.2\)/);
  assert.not.ok(existsSync(join(tmp, 'm-foreign')));
  assert.equal(identityDiff({ a: { b: 1, c: [1, 2] } }, { a: { b: 1, c: [1, 3] } }), ['a.c: [1,2] vs [1,3]']);
});

test('a killed infer leaves the previous results.json as it was', async () => {
  // An earlier results file (as the old infer wrote it: no marker); the new run is killed mid-way.
  mkdirSync(join(tmp, 'kept'), { recursive: true });
  writeFileSync(join(tmp, 'kept/results.json'), whole);
  const k = await killedMidway(['infer', 'scenes/images', ...common, '--out', 'kept']);
  assert.is(k.signal, 'SIGKILL', k.err);
  assert.is(read('kept/results.json'), whole, 'not truncated');
  assert.not.ok(existsSync(join(tmp, 'kept/_SUCCESS')));
});

test('unreadable images are skipped, counted and make the exit non-zero; none readable: nothing written', () => {
  const dir = join(tmp, 'some-bad');
  mkdirSync(dir, { recursive: true });
  copyFileSync(join(scenes, 'images', 'synth_000001.png'), join(dir, 'a.png'));
  writeFileSync(join(dir, 'b.png'), 'not an image');
  copyFileSync(join(scenes, 'images', 'synth_000003.png'), join(dir, 'c.png'));
  const r = cli(['infer', dir, ...common, '--out', 'some-bad-out']);
  assert.is(r.code, 1, r.err);
  assert.match(r.err, /1 of 3 image\(s\) could not be read and were skipped/);
  assert.match(r.err, /b\.png/);
  const run = JSON.parse(read('some-bad-out/run.json')) as { images: number; processed: number; skipped: { file: string; error: string }[] };
  assert.equal([run.images, run.processed, run.skipped.map((s) => s.file)], [3, 2, ['b.png']]);
  assert.match(run.skipped[0]!.error, /cannot decode image/);
  assert.equal([...new Set(resultIds('some-bad-out/results.json'))], [1, 3]);
  assert.is((JSON.parse(read('some-bad-out/ids.json')) as { images: unknown[] }).images.length, 3, 'the skipped image keeps its id');
  // The shard is complete (a rerun would fail the same way): a rerun reports it without work.
  const again = cli(['infer', dir, ...common, '--out', 'some-bad-out']);
  assert.is(again.code, 1);
  assert.match(again.out, /already complete/);
  assert.is(cli(['infer', dir, ...common, '--out', 'some-bad-out', '--allow-skips']).code, 0);

  const none = join(tmp, 'all-bad');
  mkdirSync(none, { recursive: true });
  writeFileSync(join(none, 'x.png'), 'no');
  writeFileSync(join(none, 'y.jpg'), Buffer.from([0xff, 0xd8, 0xff, 0, 1]));
  const n = cli(['infer', none, ...common, '--out', 'all-bad-out']);
  assert.is(n.code, 1);
  assert.match(n.err, /none of the 2 image\(s\) .* could be read/);
  assert.not.ok(existsSync(join(tmp, 'all-bad-out/results.json')));
  assert.not.ok(existsSync(join(tmp, 'all-bad-out/_SUCCESS')));
});

test('infer and eval options are checked before any work, naming the option, value and range (exit 2)', () => {
  const cases: [string[], RegExp][] = [
    [['--threshold', '0'], /--threshold must be a number in \(0, 1\), got '0'/],
    [['--threshold', '1.5'], /--threshold must be a number in \(0, 1\), got '1\.5'/],
    [['--threshold', '-0.5'], /--threshold must be a number in \(0, 1\), got '-0\.5'/],
    [['--scales', '0:1:1e-7'], /--scales '0:1:1e-7' gives 10000001 scales; at most 64/],
    [['--scales', '-2:1'], /--scales must be MIN:MAX:STEP .*got '-2:1'/],
    [['--scales', '-2:30:1'], /--scales: MIN and MAX must be in \[-8, 8\]/],
    [['--scales', '1:-2:0.5'], /--scales: MAX must be at least MIN/],
    [['--proposals', '0'], /--proposals must be an integer from 1 to 100000, got '0'/],
    [['--proposals', '-3'], /--proposals must be an integer from 1 to 100000, got '-3'/],
    [['--proposals', '2.5'], /--proposals must be an integer/],
    [['--nms', '0'], /--nms must be a number in \(0, 1\], got '0'/],
    [['--viz-top', '0'], /--viz-top must be an integer from 1 to 1000/],
    // A negative scale range is a value, not a missing argument ("argument is ambiguous").
    [['--scales', '-2:0:1', '--threshold', '7'], /--threshold must be a number in \(0, 1\), got '7'/],
    [['--weights', 'no-such-model'], /--weights no-such-model: no config\.json there/],
  ];
  for (const [args, re] of cases) {
    const r = cli(['infer', 'scenes/images', '--out', 'bad-out', ...args]);
    assert.is(r.code, 2, `${args.join(' ')}: ${r.err}`);
    assert.match(r.err, re, args.join(' '));
    assert.not.match(r.out, /adapter:/, 'no device, no model: checked before any work');
  }
  assert.not.ok(existsSync(join(tmp, 'bad-out')));
  assert.equal(scalesOption('-2:1:0.5').length, 7);
  assert.equal(withNegativeValues(['--scales', '-2:1:1', '--f16', '--out', 'x'], { scales: { type: 'string' }, f16: { type: 'boolean' } }), [
    '--scales=-2:1:1',
    '--f16',
    '--out',
    'x',
  ]);

  // eval: a results file of [null] and bad --max-dets name the file, entry or option.
  writeFileSync(join(tmp, 'null.json'), '[null]');
  const e = cli(['eval', '--gt', 'scenes/instances.json', '--results', 'null.json']);
  assert.is(e.code, 1);
  assert.match(e.err, /null\.json: entry 0: expected a COCO result/);
  writeFileSync(join(tmp, 'nan.json'), JSON.stringify([{ image_id: 1, category_id: 1, score: 'high', bbox: [0, 0, 1, 1] }]));
  assert.match(cli(['eval', '--gt', 'scenes/instances.json', '--results', 'nan.json']).err, /nan\.json: entry 0: score must be a finite number/);
  for (const md of ['0', '10,x', '-5']) {
    const b = cli(['eval', '--gt', 'scenes/instances.json', '--results', 'whole/results.json', '--max-dets', md]);
    assert.is(b.code, 2, b.err);
    assert.match(b.err, new RegExp(`--max-dets must be a comma-separated list of integers from 1 to 100000 .*got '${md}'`));
  }
  const ok = cli(['eval', '--gt', 'scenes/instances.json', '--results', 'whole/results.json', '--max-dets', '10,20', '--json']);
  assert.is(ok.code, 0, ok.err);
  assert.is((JSON.parse(ok.out) as { images: number }).images, 9);
});

test.after(() => rmSync(tmp, { recursive: true, force: true }));

test.run();
