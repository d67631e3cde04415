// Training records keep paths as the user gave them: never an absolute path of the machine that
// trained (the shipped models' configs included).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join, relative } from 'node:path';
import { writeSynth } from '../src/data/synth-files.js';
import { runTraining } from '../src/train/run.js';
import { repoPath } from './lib/shared.js';
import './lib/gpu.js';

/** Every string in a JSON value that reads as an absolute path (POSIX, a drive letter or UNC). */
function absolutePaths(v: unknown, where = ''): string[] {
  if (typeof v === 'string') return /^(\/|[A-Za-z]:[\\/]|\\\\)/.test(v) ? [`${where}: ${v}`] : [];
  if (Array.isArray(v)) return v.flatMap((x, i) => absolutePaths(x, `${where}[${i}]`));
  if (v && typeof v === 'object') return Object.entries(v).flatMap(([k, x]) => absolutePaths(x, `${where}.${k}`));
  return [];
}

test('the shipped models record no absolute path', () => {
  const models = readdirSync(repoPath('models'));
  assert.ok(models.length >= 2);
  for (const m of models) {
    type Record = { data?: string; base?: Record; refinement?: { data?: { data?: string }[] } };
    const cfg = JSON.parse(readFileSync(repoPath(`models/${m}/config.json`), 'utf8')) as { training?: Record };
    assert.equal(absolutePaths(cfg), [], `models/${m}/config.json`);
    const t = cfg.training;
    if (!t) continue;
    // A refined model records both stages: the DeepMask heads' run and the refinement's data sets.
    const base = t.refinement ? t.base : t;
    assert.type(base?.data, 'string', `models/${m}: training data`);
    if (t.refinement) {
      assert.ok((t.refinement.data ?? []).length > 0, `models/${m}: refinement data`);
      for (const d of t.refinement.data ?? []) assert.type(d.data, 'string', `models/${m}: refinement data`);
    }
  }
});

test('a training run records its data path as typed (relative), in the model and the checkpoints', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'deepmask-records-'));
  try {
    writeSynth(join(dir, 'synth'), { images: 10, seed: 5 });
    // As a user in the current folder would type them.
    const data = relative(process.cwd(), join(dir, 'synth', 'instances.json')),
      images = relative(process.cwd(), join(dir, 'synth', 'images'));
    assert.not.ok(isAbsolute(data));
    const out = join(dir, 'run');
    await runTraining({ data, images, out, preset: 'tiny', steps: 2, batch: 4, holdOut: 2, valWindows: 8, validateEvery: 1000, checkpointEvery: 1 });
    const model = JSON.parse(readFileSync(join(out, 'model', 'config.json'), 'utf8')) as { training: { data: string } };
    assert.is(model.training.data, data);
    assert.equal(absolutePaths(model), []);
    const ckpts = readdirSync(join(out, 'checkpoints')).filter((f) => f.startsWith('step-'));
    assert.ok(ckpts.length > 0);
    for (const c of ckpts) {
      const cfg = JSON.parse(readFileSync(join(out, 'checkpoints', c, 'config.json'), 'utf8')) as { training: { data: string } };
      assert.is(cfg.training.data, data, c);
      assert.equal(absolutePaths(cfg), [], c);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
