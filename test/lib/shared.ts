// Locates the workspace's shared data: DEEPMASK_SHARED, else ../shared beside the checkout.
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const candidates = [process.env.DEEPMASK_SHARED, join(repo, '../shared')].filter((p): p is string => !!p);

export const sharedDir: string | null = candidates.find((p) => existsSync(join(p, 'data'))) ?? null;

export function sharedPath(rel: string): string | null {
  return sharedDir ? join(sharedDir, rel) : null;
}

export const repoPath = (rel: string): string => join(repo, rel);

const skips: string[] = [];
process.on('exit', () => {
  if (skips.length) console.log(`\n  SKIPPED (passed without running) ${skips.length}:\n${skips.map((s) => `    - ${s}`).join('\n')}`);
});

/**
 * Marks a test that cannot run on this machine (no shared data, no Chromium): it is named in a
 * SKIPPED list printed when the suite ends, so a pass is never mistaken for a run; under CI=true
 * it fails instead, since CI must run everything.
 */
export function skipped(why: string): void {
  if (process.env.CI === 'true') throw new Error(`cannot run under CI=true: ${why}`);
  skips.push(why);
  console.log(`  (skipped: ${why})`);
}
