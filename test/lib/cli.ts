// Running the CLI as a user does, and catching what a library call warns.
import { spawnSync } from 'node:child_process';
import { repoPath } from './shared.js';

/** Runs `node bin/deepmask.js ARGS`; status null means it had to be killed (it hung). */
export function cli(args: string[], timeout = 120_000): { status: number | null; err: string; out: string } {
  const r = spawnSync(process.execPath, [repoPath('bin/deepmask.js'), ...args], { encoding: 'utf8', timeout, killSignal: 'SIGKILL' });
  return { status: r.status, err: r.stderr, out: r.stdout };
}

/** Collects console.warn lines while `f` runs. */
export async function warnings<T>(f: () => Promise<T>): Promise<{ value: T; lines: string[] }> {
  const lines: string[] = [];
  const warn = console.warn;
  console.warn = (s: string) => lines.push(String(s));
  try {
    return { value: await f(), lines };
  } finally {
    console.warn = warn;
  }
}
