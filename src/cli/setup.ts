// `deepmask setup`: what `npm run setup` does in a checkout, from the installed package too (npx
// deepmask setup), where package users have no `setup` script: the package's own scripts/setup.sh,
// without its npm step (npm has installed the dependencies; an installed package has no lock file).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from './args.js';
import type { Command } from './command.js';

const usage = `Usage: deepmask setup [--dry-run]

Makes a WebGPU adapter available to Node. When Dawn (the npm 'webgpu' package) already finds one,
it says so and installs nothing. On Linux without one it installs Mesa's Vulkan driver (lavapipe,
software Vulkan; no GPU needed) with apt-get, as root or through sudo: on Debian 12 from
bookworm-backports (Debian 12's own Mesa 22 is too old for Dawn), elsewhere from the distribution.
On macOS (Metal) and Windows (D3D12) the GPU's own driver gives the adapter.

  --dry-run   say what would be installed, and the commands, without running them`;

/** The package's scripts/setup.sh (dist/src/cli/ is three folders below the package root). */
export function setupScript(): string {
  return fileURLToPath(new URL('../../../scripts/setup.sh', import.meta.url));
}

export const setupCommand: Command = {
  summary: 'install what WebGPU needs here (Linux without a GPU: Mesa lavapipe); --dry-run shows it',
  usage,
  async run(argv) {
    const { values } = parse(argv, { 'dry-run': { type: 'boolean' } }, usage);
    const script = setupScript();
    if (!existsSync(script)) throw new Error(`${script} is missing from this installation of deepmask-webgpu`);
    if (process.platform === 'win32') {
      console.log('deepmask setup: on Windows, Dawn uses D3D12: install or update the GPU driver; `deepmask info` shows the adapter.');
      return;
    }
    const args = [script, '--no-npm', '--verbose', ...(values['dry-run'] ? ['--dry-run'] : [])];
    const r = spawnSync('bash', args, { stdio: 'inherit' });
    if (r.error) throw new Error(`could not run bash ${script}: ${r.error.message}`);
    process.exitCode = r.status ?? 1;
  },
};
