// Node-only: the Dawn bindings from the `webgpu` package. The browser bundle never reaches this
// module (device.ts imports it dynamically only when `navigator.gpu` is absent).
import { create } from 'webgpu';
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

let instance: GPU | null = null;

/**
 * The process-wide Dawn instance. It is held here for the life of the process: Dawn's instance
 * must outlive every device made from it (a collected instance crashes the next event poll).
 */
export function nodeGPU(flags: string[] = []): GPU {
  if (instance) return instance;
  // The Vulkan loader warns when XDG_RUNTIME_DIR is unset (CI containers, cron).
  if (!process.env.XDG_RUNTIME_DIR) {
    const dir = join(tmpdir(), `xdg-runtime-${process.getuid?.() ?? 'user'}`);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    process.env.XDG_RUNTIME_DIR = dir;
  }
  instance = create(flags) as unknown as GPU;
  return instance;
}
