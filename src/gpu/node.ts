// Node-only: the Dawn bindings from the `webgpu` package (an optional dependency: browser projects
// can omit its 132 MB). The browser never reaches this module: device.ts imports it only when
// `navigator.gpu` is absent, and package.json's `browser` map empties it for bundlers.
import { mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { NodeHost } from './no-adapter.js';

let instance: GPU | null = null;

/** This host, for the no-adapter message (what to install here). */
export function nodeHost(): NodeHost {
  let osRelease: string | undefined;
  try {
    if (process.platform === 'linux') osRelease = readFileSync('/etc/os-release', 'utf8');
  } catch {
    // no os-release: the generic Linux advice
  }
  return { platform: process.platform, ...(osRelease !== undefined ? { osRelease } : {}) };
}

/**
 * The process-wide Dawn instance. It is held here for the life of the process: Dawn's instance
 * must outlive every device made from it (a collected instance crashes the next event poll).
 */
export async function nodeGPU(flags: string[] = []): Promise<GPU> {
  if (instance) return instance;
  let create: (flags: string[]) => unknown;
  try {
    ({ create } = (await import('webgpu')) as { create: (flags: string[]) => unknown });
  } catch (e) {
    throw new Error(
      `deepmask-webgpu needs the 'webgpu' package (Dawn's Node bindings) to run in Node: npm install webgpu (${(e as Error).message.split('\n')[0]})`,
    );
  }
  // The Vulkan loader warns when XDG_RUNTIME_DIR is unset (CI containers, cron).
  if (!process.env.XDG_RUNTIME_DIR) {
    const dir = join(tmpdir(), `xdg-runtime-${process.getuid?.() ?? 'user'}`);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    process.env.XDG_RUNTIME_DIR = dir;
  }
  instance = create(flags) as unknown as GPU;
  return instance;
}
