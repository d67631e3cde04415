// Drives the browser demo in headless Chromium (SwiftShader): runs tiny on the sample scene twice,
// trains 60 steps in the page, prints the stage timings and writes docs/browser-demo.png.
// Usage: node scripts/web-screenshot.mjs
import { chromium } from 'playwright-core';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundle, serve } from './web.mjs';
await bundle();
const out = fileURLToPath(new URL('../docs/browser-demo.png', import.meta.url));
const server = await serve(0);
const port = server.address().port;
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--enable-unsafe-webgpu', '--enable-features=Vulkan', '--disable-quic', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', `--user-data-dir=${mkdtempSync(join(tmpdir(), 'deepmask-shot-'))}`] });
const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
page.on('pageerror', (e) => console.log('pageerror:', e.message));
await page.goto(`http://127.0.0.1:${port}/`);
await page.waitForFunction(() => document.getElementById('adapter').textContent.startsWith('adapter'));
await page.selectOption('#weights', '/models/tiny-synth/');
await page.click('#sample');
await page.waitForFunction(() => !document.getElementById('run').disabled);
await page.click('#run');
await page.waitForFunction(() => document.getElementById('timings').children.length > 0 || document.querySelectorAll('#timings tr').length > 0, null, { timeout: 120000 });
await page.click('#run'); // a second run: pipelines compiled
await page.waitForTimeout(500);
await page.waitForFunction(() => /proposals in/.test(document.getElementById('status').textContent), null, { timeout: 120000 });
const timings = await page.evaluate(() => [...document.querySelectorAll('#timings tr')].map((r) => r.textContent));
console.log('inference timings (2nd run):', timings.join(' | '));
await page.fill('#steps', '60');
const t0 = Date.now();
await page.click('#train');
await page.waitForFunction(() => /trained \d+ steps/.test(document.getElementById('trainStatus').textContent), null, { timeout: 600000 });
console.log('train:', await page.evaluate(() => document.getElementById('trainStatus').textContent), 'wall', Date.now() - t0, 'ms');
await page.waitForTimeout(3000);
await page.screenshot({ path: out, fullPage: true });
await browser.close();
server.close();
