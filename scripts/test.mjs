// The suite in two targets, run from the built tree (dist/test):
//   unit  in-process tests of the kernels, graph, model, data, inference and evaluation: a kernel
//         change is checked without starting a browser, a CLI or npm;
//   e2e   the product from outside: CLI commands in subprocesses, the page in Chromium, the packed
//         tarball, whole training runs and sharded runs.
// `node scripts/test.mjs [unit|e2e|all] [uvu options]`; `npm test` runs all, `npm run test:unit` and
// `npm run test:e2e` one each. A test file is unit unless it is named in E2E below.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const E2E = [
  'browser', // the page in Chromium
  'image-input-browser', // image inputs in Chromium
  'package-files', // what `npm pack` ships
  'package-install', // the tarball installed into an empty project
  'package-types', // the tarball's types under TS 5 and 7, and require()
  'first-minute', // a newcomer's first commands (setup, infer --point)
  'gpu-check', // scripts/gpu-check.sh
  'disk', // CLI runs on a full disk
  'scale', // sharded CLI runs and merge
  'inputs-hostile', // hostile files and options through the CLI
  'robustness', // CLI failures, cancels and resumes
  'train-heads', // train-heads runs through the CLI
  'train-refine', // train-refine runs through the CLI
  'e2e', // train, infer and eval end to end
];

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dir = join(root, 'dist/test');
const [target = 'all', ...rest] = process.argv.slice(2);
if (!['unit', 'e2e', 'all'].includes(target)) {
  console.error(`scripts/test.mjs: target must be unit, e2e or all, got '${target}'`);
  process.exit(2);
}
if (!existsSync(dir)) {
  console.error(`scripts/test.mjs: ${dir} does not exist; build first (node scripts/build.mjs)`);
  process.exit(2);
}
// A file named here that no longer exists would silently move its tests to the unit target.
const files = new Set(
  readdirSync(dir)
    .filter((f) => f.endsWith('.test.js'))
    .map((f) => f.slice(0, -'.test.js'.length)),
);
// A test deleted or renamed in test/ leaves its old build in dist/test, which would still run.
const stale = [...files].filter((n) => !existsSync(join(root, 'test', `${n}.test.ts`)));
if (stale.length) {
  console.error(
    `scripts/test.mjs: dist/test holds builds of tests that test/ no longer has: ${stale.join(', ')}; remove them (rm dist/test/NAME.test.*) or rebuild from scratch (rm -rf dist && node scripts/build.mjs)`,
  );
  process.exit(2);
}
const missing = E2E.filter((n) => !files.has(n));
if (missing.length) {
  console.error(`scripts/test.mjs: E2E names test files that do not exist: ${missing.join(', ')}`);
  process.exit(2);
}
const names = target === 'all' ? [...files] : [...files].filter((n) => E2E.includes(n) === (target === 'e2e'));
const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const pattern = `^(${names.map(escape).join('|')})\\.test\\.js$`;
// uvu's CLI (its package.json is not exported: found from its main module, dist/index.js).
const uvu = join(dirname(createRequire(import.meta.url).resolve('uvu')), '..', 'bin.js');
const r = spawnSync(process.execPath, [uvu, dir, pattern, ...rest], { stdio: 'inherit', cwd: root });
process.exit(r.status ?? 1);
