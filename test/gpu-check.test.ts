// scripts/gpu-check.sh and gpu-pack.sh: the paths that need no GPU and no pack (the whole check ran
// end to end on lavapipe by hand, with --allow-software; see docs/PERFORMANCE.md).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoPath } from './lib/shared.js';

const sh = (script: string, args: string[], env: Record<string, string> = {}) =>
  spawnSync('bash', [repoPath(`scripts/${script}`), ...args], { encoding: 'utf8', env: { ...process.env, ...env } });
const tmp = () => mkdtempSync(join(tmpdir(), 'dm-gpu-'));

test('gpu-check.sh: unknown options exit 2; no pack, an incomplete or a corrupt one exit 3 naming the remedy; --stash keeps parts', () => {
  const bad = sh('gpu-check.sh', ['--frobnicate']);
  assert.is(bad.status, 2);
  assert.match(bad.stderr, /unknown option '--frobnicate'/);

  const none = sh('gpu-check.sh', [], { DEEPMASK_GPU_STASH: tmp(), DEEPMASK_GPU_PARTS: tmp() });
  assert.is(none.status, 3, none.stderr);
  assert.match(none.stderr, /no pack: run scripts\/gpu-pack\.sh/);

  // Two parts listed, the first carried now (--stash keeps it), the second never.
  const stash = tmp(),
    carried = tmp();
  const sums = `${'0'.repeat(64)}  part-00\n${'0'.repeat(64)}  part-01\n`;
  writeFileSync(join(carried, 'SHA256SUMS'), sums);
  writeFileSync(join(carried, 'part-00'), 'x');
  const kept = sh('gpu-check.sh', ['--stash'], { DEEPMASK_GPU_STASH: stash, DEEPMASK_GPU_PARTS: carried });
  assert.is(kept.status, 0, kept.stderr);
  assert.match(kept.stdout, /stashed in .*: part-00 ; still missing: part-01/);
  const partial = sh('gpu-check.sh', [], { DEEPMASK_GPU_STASH: stash, DEEPMASK_GPU_PARTS: tmp() });
  assert.is(partial.status, 3, partial.stderr);
  assert.match(partial.stderr, /the pack is incomplete; missing part-01/);

  // Both there, but not what the sums say.
  mkdirSync(join(stash, 'parts'), { recursive: true });
  writeFileSync(join(stash, 'parts', 'part-01'), 'y');
  const corrupt = sh('gpu-check.sh', [], { DEEPMASK_GPU_STASH: stash, DEEPMASK_GPU_PARTS: tmp() });
  assert.is(corrupt.status, 3, corrupt.stderr);
  assert.match(corrupt.stderr, /corrupt \(sha256 mismatch/);
});

test('gpu-pack.sh checks its options before any work', () => {
  const r = sh('gpu-pack.sh', ['--part-mib', 'lots']);
  assert.is(r.status, 2);
  assert.match(r.stderr, /--part-mib must be a whole number of MiB, got 'lots'/);
});

test.run();
