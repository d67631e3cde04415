// Locates the workspace's shared data (../shared beside the checkout, or DEEPMASK_SHARED).
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const candidates = [process.env.DEEPMASK_SHARED, join(repo, '../shared'), '/work/shared'].filter((p): p is string => !!p);

export const sharedDir: string | null = candidates.find((p) => existsSync(join(p, 'data'))) ?? null;

export function sharedPath(rel: string): string | null {
  return sharedDir ? join(sharedDir, rel) : null;
}

export const repoPath = (rel: string): string => join(repo, rel);
