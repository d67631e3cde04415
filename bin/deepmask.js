#!/usr/bin/env node
// The `deepmask` command. The TypeScript is compiled to dist/ by `npm run build` (npm start does it).
import { existsSync } from 'node:fs';

const entry = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(entry)) {
  console.error('deepmask: dist/ is missing; run `npm run build` (or `npm start`) first');
  process.exit(1);
}
const { main, isUsageError } = await import(entry.href);
try {
  await main(process.argv.slice(2));
} catch (e) {
  if (isUsageError(e)) {
    console.error(`deepmask: ${e.message}`);
    process.exitCode = 2;
  } else {
    console.error(process.env.DEEPMASK_DEBUG ? e : `deepmask: ${e && e.message ? e.message : e}`);
    process.exitCode = 1;
  }
}
// After a failure nothing may keep the process alive (a worker thread, a device): exit regardless.
if (process.exitCode) setTimeout(() => process.exit(), 3000).unref();
