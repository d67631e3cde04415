// `deepmask <command> [options]`: the command-line entry point (Node only).
import { readFileSync } from 'node:fs';
import { infoCommand } from './info.js';
import { demoCommand } from './demo.js';
import { trainCommand } from './train.js';
import { trainHeadsCommand } from './train-heads.js';
import { trainRefineCommand } from './train-refine.js';
import { synthCommand } from './synth.js';
import { inferCommand } from './infer.js';
import { evalCommand } from './eval.js';
import { mergeCommand } from './merge.js';
import { setupCommand } from './setup.js';
import type { Command } from './command.js';
import { OptionError } from '../train/run.js';

export type { Command } from './command.js';

/** Whether an error is the caller's (a usage error or a library option error: exit 2) rather than the run's (exit 1). */
export const isUsageError = (e: unknown): boolean => e instanceof OptionError;

const commands: Record<string, Command> = {
  demo: demoCommand,
  synth: synthCommand,
  train: trainCommand,
  'train-heads': trainHeadsCommand,
  'train-refine': trainRefineCommand,
  infer: inferCommand,
  merge: mergeCommand,
  eval: evalCommand,
  info: infoCommand,
  setup: setupCommand,
};

/** The package's version, from its package.json (dist/src/cli/ is three folders below it). */
export function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

function help(): string {
  const rows = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(12)} ${c.summary}`);
  return `deepmask-webgpu: DeepMask object proposals on a WebGPU engine\n\nUsage: deepmask <command> [options]\n\nCommands:\n${rows.join('\n')}\n\nRun \`deepmask <command> --help\` for a command's options; \`deepmask --version\` prints the version.`;
}

export async function main(argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(help());
    return;
  }
  if (name === '--version' || name === '-v' || name === '-V' || name === 'version') {
    console.log(version());
    return;
  }
  const cmd = commands[name];
  if (!cmd) {
    console.error(`deepmask: unknown command '${name}'\n\n${help()}`);
    process.exitCode = 2;
    return;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(`${cmd.summary}\n\n${cmd.usage}`);
    return;
  }
  await cmd.run(rest);
}
