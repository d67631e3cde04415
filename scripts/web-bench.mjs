// `node scripts/web-bench.mjs [--only matmul,conv,mobilenet] [--quick] [--no-peer] [--promote on|off]`: runs the kernel
// benches in headless Chromium (WebGPU on SwiftShader), ours beside tfjs-webgpu on the page's adapter,
// and prints the same tables as `npm run bench`.
import { build } from 'esbuild';
import { browserOnly, launchChromium } from './web.mjs';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: { only: { type: 'string' }, quick: { type: 'boolean' }, 'no-peer': { type: 'boolean' }, promote: { type: 'string' } },
});
if (values.promote && !['on', 'off'].includes(values.promote)) throw new Error(`--promote must be on or off, got '${values.promote}'`);
const dir = mkdtempSync(join(tmpdir(), 'deepmask-webbench-'));
await build({
  entryPoints: [join(root, 'bench/web/entry.ts')],
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  outfile: join(dir, 'bench.js'),
  logLevel: 'warning',
  plugins: [browserOnly],
});
writeFileSync(join(dir, 'index.html'), '<!doctype html><script type="module" src="bench.js"></script>');
const server = createServer(async (req, res) => {
  const name = new URL(req.url, 'http://x').pathname === '/' ? 'index.html' : 'bench.js';
  res.writeHead(200, { 'content-type': name.endsWith('.js') ? 'text/javascript' : 'text/html' }).end(await readFile(join(dir, name)));
});
await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
const { printSection } = await import(join(root, 'dist/bench/lib/report.js'));
const browser = await launchChromium();
try {
  const page = await browser.newPage();
  page.on('console', (m) => console.log(`page: ${m.text()}`));
  page.on('pageerror', (e) => console.log(`pageerror: ${e.message}`));
  const q = new URLSearchParams();
  if (values.only) q.set('only', values.only);
  if (values.quick) q.set('quick', '');
  if (values['no-peer']) q.set('no-peer', '');
  if (values.promote) q.set('promote', values.promote === 'on' ? '1' : '0');
  await page.goto(`http://127.0.0.1:${server.address().port}/?${q}`);
  await page.waitForFunction(() => window.__bench?.done, null, { timeout: 0 });
  const r = await page.evaluate(() => window.__bench);
  console.log(`adapter: ${r.adapter} (headless Chromium)`);
  for (const s of r.sections) printSection(s, 'tfjs-webgpu');
  if (r.error) throw new Error(r.error.slice(0, 2000));
} finally {
  await browser.close();
  server.close();
}
