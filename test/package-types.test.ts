// The packed package in a user's project, for the module systems and compilers people have: its
// declarations check with skipLibCheck off under TypeScript 5.9 and 7 with and without lib "dom",
// and CommonJS code can require() both entry points. The compilers are this checkout's
// (devDependencies `typescript` and `typescript7`), so the test needs no network.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile as execFileCb, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { repoPath } from './lib/shared.js';
import { installPacked, runOk } from './lib/packed.js';

// Types and require() need no GPU: without Dawn (132 MB) the install takes seconds.
const app = installPacked('deepmask-types-', ['--omit=optional', '--ignore-scripts']);
// @types/node from this checkout, where a Node project has it.
symlinkSync(repoPath('node_modules/@types'), join(app, 'node_modules/@types'));
test.after(() => rmSync(dirname(app), { recursive: true, force: true }));

const execFile = promisify(execFileCb);
const TSC = { 5: repoPath('node_modules/typescript/bin/tsc'), 7: repoPath('node_modules/typescript7/bin/tsc') } as const;

interface Variant {
  name: string;
  tsc: 5 | 7;
  dom: boolean;
  /** compilerOptions.types: @webgpu/types is how a TypeScript 5 program gets WebGPU's types. */
  types: string[];
}
// TypeScript 6+'s lib "dom" declares WebGPU itself; without DOM there is no WebGPU type at all.
const hasWebGpu = (v: Variant) => (v.dom && v.tsc === 7) || v.types.includes('@webgpu/types');

const VARIANTS: Variant[] = [
  { name: 'ts5-dom', tsc: 5, dom: true, types: [] },
  { name: 'ts5-dom-webgpu', tsc: 5, dom: true, types: ['@webgpu/types'] },
  { name: 'ts5-node', tsc: 5, dom: false, types: ['node'] },
  { name: 'ts7-dom', tsc: 7, dom: true, types: [] },
  { name: 'ts7-node', tsc: 7, dom: false, types: ['node'] },
];

/** A consumer of the universal entry point; the lines after the imports hold only where the environment has those types. */
function consumer(v: Variant): string {
  return [
    "import { imageFromInput, Runtime, type BufferView, type ImageInput, type RgbImage } from 'deepmask-webgpu';",
    'export const pixels: ImageInput = { width: 1, height: 1, data: new Uint8Array(4) };',
    'export const fromBytes = (b: Uint8Array): Promise<RgbImage> => imageFromInput(b);',
    'export const buffer = (v: BufferView) => v.buffer;',
    hasWebGpu(v)
      ? 'export const device = (rt: Runtime): GPUDevice => rt.device;'
      : '// @ts-expect-error a placeholder without WebGPU types (so its members are not there)\nexport const make = (rt: Runtime) => rt.device.createBuffer({ size: 4, usage: 0 });',
    v.dom ? 'export const canvas: ImageInput = new OffscreenCanvas(1, 1);' : '',
    '',
  ].join('\n');
}

// The Node entry point, from an ES module and from CommonJS (TypeScript 5.8+ types require() of ESM).
const NODE_CONSUMER = "import { loadModel, init } from 'deepmask-webgpu/node';\nexport const load: typeof loadModel = loadModel;\nexport { init };\n";
const CJS_CONSUMER =
  "import dm = require('deepmask-webgpu');\nimport node = require('deepmask-webgpu/node');\nexport const same: boolean = dm.init === node.init;\n";

test('the declarations check (skipLibCheck off) under TypeScript 5.9 and 7, with and without DOM', async () => {
  const declarations = readdirSync(join(app, 'node_modules/deepmask-webgpu/dist/src'), { recursive: true, encoding: 'utf8' }).filter((f) =>
    f.endsWith('.d.ts'),
  );
  const referencing = declarations.filter((f) =>
    /^\/\/\/\s*<reference\s+types=/m.test(readFileSync(join(app, 'node_modules/deepmask-webgpu/dist/src', f), 'utf8')),
  );
  assert.equal(referencing, [], 'declarations that force types onto the consumer');

  writeFileSync(join(app, 'node-consumer.ts'), NODE_CONSUMER);
  writeFileSync(join(app, 'cjs-consumer.cts'), CJS_CONSUMER);
  const runs = VARIANTS.map(async (v) => {
    writeFileSync(join(app, `${v.name}.ts`), consumer(v));
    // A page (bundler resolution) with DOM; a Node program (nodenext) without.
    const resolution = v.dom ? { module: 'esnext', moduleResolution: 'bundler' } : { module: 'nodenext', moduleResolution: 'nodenext' };
    writeFileSync(
      join(app, `tsconfig.${v.name}.json`),
      JSON.stringify({
        compilerOptions: {
          target: 'es2022',
          ...resolution,
          lib: v.dom ? ['es2022', 'dom', 'dom.iterable'] : ['es2022'],
          types: v.types,
          strict: true,
          noEmit: true,
          skipLibCheck: false,
        },
        files: [`${v.name}.ts`, ...(v.dom ? [] : ['node-consumer.ts', 'cjs-consumer.cts'])],
      }),
    );
    // The compilers run side by side (one after another they took most of a minute): a failure is its first lines.
    return execFile(process.execPath, [TSC[v.tsc], '--pretty', 'false', '-p', `tsconfig.${v.name}.json`], { cwd: app, encoding: 'utf8' }).then(
      () => null,
      (e: { stdout: string; stderr: string }) => `${v.name}: ${(e.stdout + e.stderr).split('\n').slice(0, 12).join('\n')}`,
    );
  });
  const failures = (await Promise.all(runs)).filter((f) => f !== null);
  assert.equal(failures, [], failures.join('\n\n'));
});

test('CommonJS code can require() both entry points', () => {
  writeFileSync(
    join(app, 'require.cjs'),
    [
      "const dm = require('deepmask-webgpu');",
      "const node = require('deepmask-webgpu/node');",
      'console.log(JSON.stringify({ init: typeof dm.init, same: node.init === dm.init, model: node.BUNDLED_MODEL }));',
      '',
    ].join('\n'),
  );
  const out = JSON.parse(runOk(process.execPath, ['require.cjs'], app).trim());
  assert.equal(out, { init: 'function', same: true, model: 'models/mobile-coco' });

  // Where Node cannot require() ES modules (before 20.19, or with it turned off), its error says what to do.
  const old = spawnSync(process.execPath, ['--no-experimental-require-module', 'require.cjs'], { cwd: app, encoding: 'utf8' });
  assert.is.not(old.status, 0);
  assert.match(old.stderr, /ERR_REQUIRE_ESM/);
  assert.match(old.stderr, /dynamic import\(\)/);
});

test.run();
