// What the published package carries: a LICENSE, `deepmask --version`, and no source maps that
// point at sources left out (package-types.test.ts checks the declarations in a consumer's tsc).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { repoPath } from './lib/shared.js';

const pkg = JSON.parse(readFileSync(repoPath('package.json'), 'utf8')) as { version: string; license: string };

test('deepmask --version prints the package version and exits 0', () => {
  for (const flag of ['--version', '-v']) {
    const r = spawnSync(process.execPath, [repoPath('bin/deepmask.js'), flag], { encoding: 'utf8' });
    assert.is(r.status, 0, r.stderr);
    assert.is(r.stdout.trim(), pkg.version);
  }
  const help = spawnSync(process.execPath, [repoPath('bin/deepmask.js'), '--help'], { encoding: 'utf8' });
  assert.match(help.stdout, /--version/);
});

test('the packed files: a LICENSE that matches package.json, no source maps', () => {
  assert.is(pkg.license, 'MIT');
  const license = readFileSync(repoPath('LICENSE'), 'utf8');
  assert.match(license, /^MIT License/);
  assert.match(license, /deepmask-webgpu contributors/);
  const r = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: repoPath('.'), encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  const files = (JSON.parse(r.stdout) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path);
  assert.ok(files.includes('LICENSE'), 'LICENSE is not packed');
  assert.ok(files.includes('dist/src/index.d.ts'));
  assert.equal(
    files.filter((f) => f.endsWith('.map')),
    [],
    'source maps packed without their sources',
  );
  // Nor a pointer to a map (bundlers warn about each missing one).
  const pointing = files.filter((f) => f.endsWith('.js') && f.startsWith('dist/') && readFileSync(repoPath(f), 'utf8').includes('//# sourceMappingURL='));
  assert.equal(pointing, [], 'packed scripts point at source maps');
});

test.run();
