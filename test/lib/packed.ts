// The package as a new user gets it: `npm pack` of this checkout, installed into an empty ES-module
// project in a fresh temporary folder.
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoPath } from './shared.js';

/** Runs a command to completion and fails the test, with its output, unless it exits 0. Returns stdout. */
export function runOk(cmd: string, args: string[], cwd: string): string {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', env: { ...process.env, npm_config_loglevel: 'error' } });
  assert.is(r.status, 0, `${cmd} ${args.join(' ')}: ${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** Packs the checkout and installs the tarball (with `npmArgs`) into a new project; returns the project's folder. */
export function installPacked(prefix: string, npmArgs: string[] = []): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const packed = JSON.parse(runOk('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', dir], repoPath('.'))) as { filename: string }[];
  const app = join(dir, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  runOk('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', ...npmArgs, join(dir, packed[0]!.filename)], app);
  return app;
}
