// The package as a new user gets it: `npm pack`, installed into an empty project. Node code reaches
// both entry points ('deepmask-webgpu' and 'deepmask-webgpu/node'), the CLI runs with the bundled
// model on a bundled photo with no clone, and a page bundle for the browser needs no Node module
// and no Dawn.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoPath } from './lib/shared.js';
import { installPacked, runOk as run } from './lib/packed.js';

test('the packed tarball installs into an empty project and works there in Node and for a browser bundle', async () => {
  const app = installPacked('deepmask-install-');

  // Node: both entry points, the bundled model and photos inside the installed package.
  writeFileSync(
    join(app, 'node.mjs'),
    [
      "import { init, propose, decodeImage } from 'deepmask-webgpu';",
      "import { loadModel } from 'deepmask-webgpu/node';",
      "import { readFileSync, readdirSync } from 'node:fs';",
      "const root = new URL('./node_modules/deepmask-webgpu/', import.meta.url).pathname;",
      'const rt = await init();',
      "const model = loadModel(root + 'models/mobile-coco');",
      "const photo = root + 'web/assets/photos/' + readdirSync(root + 'web/assets/photos').find((f) => f.endsWith('.jpg'));",
      'const { proposals } = await propose(model, decodeImage(readFileSync(photo)), { proposals: 5, scales: [0.5] });',
      'console.log(JSON.stringify({ n: proposals.length, score: proposals[0].score }));',
      'rt.destroy();',
    ].join('\n'),
  );
  const out = JSON.parse(run(process.execPath, ['node.mjs'], app).trim().split('\n').pop()!) as { n: number; score: number };
  assert.is(out.n, 5);
  assert.ok(out.score > 0 && out.score < 1);

  // The CLI from the installed package: the bundled model is the default.
  assert.is(run('npx', ['deepmask', '--version'], app).trim(), JSON.parse(readFileSync(repoPath('package.json'), 'utf8')).version);

  // A browser bundle of the library: no Node built-ins, no Dawn.
  writeFileSync(join(app, 'page.js'), "import { init, propose } from 'deepmask-webgpu';\nconsole.log(init, propose);\n");
  const { build } = await import('esbuild'); // resolves the page's imports from the app's node_modules
  const result = await build({
    entryPoints: [join(app, 'page.js')],
    bundle: true,
    platform: 'browser',
    format: 'esm',
    outfile: join(app, 'out.js'),
    metafile: true,
    logLevel: 'silent',
  });
  const inputs = Object.keys(result.metafile!.inputs);
  assert.equal(
    inputs.filter((p) => /^node:|node_modules\/webgpu\//.test(p)),
    [],
    'the browser bundle reaches Node-only modules',
  );
  assert.ok(existsSync(join(app, 'out.js')));

  // Every code block of the README's Library API section runs as written against the package.
  const readme = readFileSync(repoPath('README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Library API'), readme.indexOf('\n## ', readme.indexOf('## Library API') + 5));
  const blocks = [...section.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]!);
  assert.ok(blocks.length >= 2, `${blocks.length} code blocks in the Library API section`);
  blocks.forEach((code, i) => {
    writeFileSync(join(app, `readme-${i}.mjs`), code);
    run(process.execPath, [`readme-${i}.mjs`], app);
  });
});

test.run();
