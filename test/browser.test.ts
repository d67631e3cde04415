// The same engine in a real browser: headless Chromium (WebGPU on SwiftShader) loads the demo page,
// which proposes masks for the bundled test scene with the bundled tiny model; the page's masks
// must equal a Node run's and the page must show them.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { decodeImage, propose, rle } from '../src/index.js';
import { loadModel } from '../src/model/files.js';
import { repoPath } from './lib/shared.js';
import type * as Web from '../scripts/web.mjs';
import './lib/gpu.js';

const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const FLAGS = ['--no-sandbox', '--enable-unsafe-webgpu', '--enable-features=Vulkan', '--disable-quic', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

type PageProposal = { score: number; size: [number, number]; counts: string };

test('the demo page in headless Chromium proposes the same masks as Node and shows them', async () => {
  if (!existsSync(CHROMIUM)) {
    console.log(`  (skipped: no Chromium at ${CHROMIUM}; npm test installs Debian's chromium, or set CHROMIUM)`);
    return;
  }
  // scripts/web.mjs sits beside dist/, not inside it: import it by URL from the compiled test.
  const { bundle, serve } = (await import(new URL('../../scripts/web.mjs', import.meta.url).href)) as typeof Web;
  await bundle();
  const server = await serve(0);
  const port = (server.address() as AddressInfo).port;
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS });
  let page: { error?: string; adapter?: string; proposals?: PageProposal[]; shown?: number };
  try {
    const tab = await browser.newPage();
    const errors: string[] = [];
    tab.on('pageerror', (e) => errors.push(e.message));
    await tab.goto(`http://127.0.0.1:${port}/?test`);
    await tab.waitForFunction(() => (window as unknown as { __deepmask?: { done: boolean } }).__deepmask?.done, null, { timeout: 240_000 });
    page = await tab.evaluate(() => (window as unknown as { __deepmask: typeof page }).__deepmask);
    assert.equal(errors, [], 'no page errors');
  } finally {
    await browser.close();
    server.close();
  }
  assert.not.ok(page.error, `the page failed: ${page.error}`);
  console.log(`    browser adapter: ${page.adapter}`);

  const model = loadModel(repoPath('models/tiny-synth'));
  const img = decodeImage(readFileSync(repoPath('web/assets/scene.png')), 'scene.png');
  const node = (await propose(model, img, { proposals: 20 })).proposals;
  const theirs = page.proposals!;
  assert.is(theirs.length, node.length);
  // Same masks: identical RLE, or IoU >= 0.99 where a float ulp flips a pixel; scores agree.
  theirs.forEach((p, i) => {
    const ours = node[i]!;
    assert.ok(Math.abs(p.score - ours.score) < 1e-3, `score ${i}: ${p.score} vs ${ours.score}`);
    const a = rle.annToRle({ size: p.size, counts: p.counts }, img.height, img.width);
    const iou = p.counts === rle.toCocoRle(ours.rle).counts ? 1 : rle.iou([a], [ours.rle], [false])[0]![0]!;
    assert.ok(iou >= 0.99, `proposal ${i}: IoU ${iou} between the browser's mask and Node's`);
  });
  assert.is(page.shown, 10, 'the page lists the top 10 proposals');
  model.dispose();
});

test.run();
