// What the published package carries: a LICENSE, `deepmask --version`, declarations that bring
// WebGPU's types to a consumer's tsc, and no source maps that point at sources left out.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
  assert.equal(files.filter((f) => f.endsWith('.map')), [], 'source maps packed without their sources');
  // Nor a pointer to a map (bundlers warn about each missing one).
  const pointing = files.filter((f) => f.endsWith('.js') && f.startsWith('dist/') && readFileSync(repoPath(f), 'utf8').includes('//# sourceMappingURL='));
  assert.equal(pointing, [], 'packed scripts point at source maps');
});

test("the declarations bring WebGPU's types to a consumer's tsc", () => {
  // A consumer that imports the built entry points and names WebGPU types itself, with no
  // @webgpu/types of its own in its tsconfig.
  const dir = mkdtempSync(join(tmpdir(), 'deepmask-consumer-'));
  try {
    const entry = (f: string): string => JSON.stringify(repoPath(`dist/src/${f}`));
    writeFileSync(join(dir, 'consumer.ts'), [
      `import { Runtime, type Tensor } from ${entry('index.js')};`,
      `import { loadModel } from ${entry('node.js')};`,
      'export function device(rt: Runtime): GPUDevice { return rt.device; }',
      'export const usage: GPUBufferUsageFlags = 0;',
      'export type Buffers = GPUBuffer[];',
      'export type Loaded = Awaited<ReturnType<typeof loadModel>>;',
      'export type T = Tensor;',
      '',
    ].join('\n'));
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({
      compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', lib: ['ES2022', 'DOM'], types: [], strict: true, noEmit: true, skipLibCheck: true },
      files: ['consumer.ts'],
    }));
    const r = spawnSync(process.execPath, [repoPath('node_modules/typescript/bin/tsc'), '-p', dir], { encoding: 'utf8' });
    assert.is(r.status, 0, `tsc: ${r.stdout}${r.stderr}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.match(readFileSync(repoPath('dist/src/index.d.ts'), 'utf8'), /<reference types="@webgpu\/types"/);
});

test.run();
