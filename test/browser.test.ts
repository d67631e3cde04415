// The same engine in a real browser: headless Chromium (WebGPU on SwiftShader) loads the demo page.
// 1. It proposes masks for the bundled test scene with the bundled tiny model; the page's masks must
//    equal a Node run's and the page must show them.
// 2. The page as a tool: a real mouse click inside an object of a scene returns a mask that covers
//    the point and matches the object; a shift-click on a second object adds it; Cancel stops a job;
//    a bad file is a visible error; a second visit reads the model from the Cache API, not the network.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { decodeImage, propose, rle } from '../src/index.js';
import { generateScenes } from '../src/data/synth.js';
import { loadModel } from '../src/model/files.js';
import { repoPath, skipped } from './lib/shared.js';
import type * as Web from '../scripts/web.mjs';
import './lib/gpu.js';

const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const FLAGS = ['--no-sandbox', '--enable-unsafe-webgpu', '--enable-features=Vulkan', '--disable-quic', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

type PageMask = { score: number; size: [number, number]; counts: string };
type PageState = { done: boolean; error?: string; adapter?: string; proposals?: PageMask[]; shown?: number; clicks?: { points: number[][]; masks: PageMask[]; selection: PageMask & { mode: string } }[]; clickErrors?: string[] };
type Browser = Awaited<ReturnType<typeof import('playwright-core')['chromium']['launchPersistentContext']>>;

/** Bundles the page, serves it (with `files`) and opens headless Chromium on a fresh profile. */
async function withBrowser(files: Record<string, Uint8Array>, fn: (b: Browser, origin: string, requests: string[]) => Promise<void>): Promise<boolean> {
  if (!existsSync(CHROMIUM)) {
    skipped(`no Chromium at ${CHROMIUM}; npm test installs Debian's chromium, or set CHROMIUM`);
    return false;
  }
  // scripts/web.mjs sits beside dist/, not inside it: import it by URL from the compiled test.
  const { bundle, serve } = (await import(new URL('../../scripts/web.mjs', import.meta.url).href)) as typeof Web;
  await bundle();
  const requests: string[] = [];
  const server: Server = await serve(0, { files, onRequest: (p) => requests.push(p) });
  const port = (server.address() as AddressInfo).port;
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), 'deepmask-browser-')), { executablePath: CHROMIUM, headless: true, args: FLAGS });
  try {
    await fn(browser, `http://127.0.0.1:${port}`, requests);
  } finally {
    await browser.close();
    server.close();
  }
  return true;
}

type Page = Awaited<ReturnType<Browser['newPage']>>;
const state = (tab: Page) => tab.evaluate(() => (window as unknown as { __deepmask: PageState }).__deepmask);

test('the demo page in headless Chromium proposes the same masks as Node and shows them', async () => {
  let page: PageState = { done: false };
  const ran = await withBrowser({}, async (browser, origin) => {
    const tab = await browser.newPage();
    const errors: string[] = [];
    tab.on('pageerror', (e) => errors.push(e.message));
    await tab.goto(`${origin}/?test`);
    await tab.waitForFunction(() => (window as unknown as { __deepmask?: { done: boolean } }).__deepmask?.done, null, { timeout: 240_000 });
    page = await state(tab);
    assert.equal(errors, [], 'no page errors');
  });
  if (!ran) return;
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

test('the page as a tool: a click inside an object returns its mask, shift-click adds one, cancel, errors, the cached model', async () => {
  // A scene the tiny model never saw, with its ground truth: the two objects farthest apart among the
  // three largest (tiny's pyramid cannot see the smallest shapes at their size).
  const scenes = generateScenes({ images: 1, seed: 77 });
  const scene = scenes.images[0]!;
  const anns = scenes.coco.annotations.filter((a) => a.image_id === scene.id).sort((a, b) => b.area - a.area);
  const gts = anns.map((a) => rle.annToRle(a.segmentation, scene.height, scene.width));
  const A = insidePoint(gts[0]!);
  const bIndex = [1, 2].filter((i) => gts[i]).sort((i, j) => dist(insidePoint(gts[j]!), A) - dist(insidePoint(gts[i]!), A))[0]!;
  const B = insidePoint(gts[bIndex]!);
  const t0 = Date.now();
  await withBrowser({ '/test/scene.png': scene.png }, async (browser, origin, requests) => {
    const tab = await browser.newPage();
    const errors: string[] = [];
    tab.on('pageerror', (e) => errors.push(e.message));
    const url = `${origin}/?test&model=/models/tiny-synth/&image=/test/scene.png&proposals=0`;
    await tab.goto(url);
    await tab.waitForFunction(() => (window as unknown as { __deepmask?: { done: boolean } }).__deepmask?.done, null, { timeout: 120_000 });
    const first = await state(tab);
    assert.not.ok(first.error, `the page failed: ${first.error}`);
    // A real mouse click at image pixel (x, y): page coordinates of the canvas's content box.
    const clickAt = async ([x, y]: [number, number], shift = false) => {
      const box = await tab.evaluate(() => {
        const v = document.getElementById('view')!, r = v.getBoundingClientRect();
        return { left: r.left + v.clientLeft, top: r.top + v.clientTop, w: v.clientWidth, h: v.clientHeight };
      });
      if (shift) await tab.keyboard.down('Shift');
      await tab.mouse.click(box.left + ((x + 0.5) * box.w) / scene.width, box.top + ((y + 0.5) * box.h) / scene.height);
      if (shift) await tab.keyboard.up('Shift');
    };
    const clicks = async () => (await state(tab)).clicks?.length ?? 0;

    // A bad file: a visible error, and the picture stays.
    await tab.setInputFiles('#imageFile', { name: 'notes.png', mimeType: 'image/png', buffer: Buffer.from('not an image') });
    // The file is read and decoded asynchronously: wait (bounded) for the page to react.
    await tab.waitForFunction(() => getComputedStyle(document.getElementById('error')!).display !== 'none', null, { timeout: 15_000 }).catch(() => {});
    const error = await tab.evaluate(() => ({ text: document.getElementById('error')!.textContent, shown: getComputedStyle(document.getElementById('error')!).display !== 'none' }));
    assert.ok(error.shown, 'the error is shown on the page');
    assert.match(error.text ?? '', /notes\.png: cannot decode image/);

    // A click, cancelled at once: the job stops, nothing is recorded, the buttons come back.
    await clickAt(A);
    const during = await tab.evaluate(() => ({ run: (document.getElementById('run') as HTMLButtonElement).disabled, cancel: (document.getElementById('cancel') as HTMLButtonElement).disabled }));
    assert.equal(during, { run: true, cancel: false }, 'propose disabled and cancel enabled while busy');
    await tab.click('#cancel');
    await tab.waitForFunction(() => (document.getElementById('cancel') as HTMLButtonElement).disabled, null, { timeout: 60_000 });
    const progress = await tab.evaluate(() => document.getElementById('progress')!.textContent ?? '');
    console.log(`    after cancel: ${progress}`);
    assert.match(progress, /cancelled after/);
    assert.is(await clicks(), 0);

    // The click again: the mask covers the point and is the object's.
    await clickAt(A);
    await tab.waitForFunction(() => ((window as unknown as { __deepmask: PageState }).__deepmask.clicks?.length ?? 0) >= 1 || (window as unknown as { __deepmask: PageState }).__deepmask.clickErrors?.length, null, { timeout: 60_000 });
    let s = await state(tab);
    assert.not.ok(s.clickErrors?.length, String(s.clickErrors));
    const one = s.clicks![0]!;
    assert.equal(one.points, [A]);
    const mask = rle.annToRle(one.selection, scene.height, scene.width);
    assert.ok(rle.contains(mask, ...A), `the mask covers the clicked point (${A})`);
    const iouA = rle.iou([mask], [gts[0]!], [false])[0]![0]!;
    console.log(`    click at (${A}): score ${one.selection.score.toFixed(3)}, IoU with the object ${iouA.toFixed(3)}`);
    assert.ok(iouA >= 0.5, `IoU ${iouA} with the clicked object`);
    assert.ok(one.masks.length >= 1 && rle.contains(rle.annToRle(one.masks[0]!, scene.height, scene.width), ...A), 'the first alternative covers the point too');
    // The picture: the mask is drawn where it is (tinted pixels inside, the photo untouched outside),
    // away from the click's marker and the label at the box's corner.
    const [bx, by] = rle.toBbox(mask);
    const clear = (x: number, y: number) => dist([x, y], A) > 12 && !(x < bx + 80 && y < by + 30 && x >= bx - 2 && y >= by - 2);
    const pick = (inside: boolean): [number, number][] => {
      const all: [number, number][] = [];
      for (let y = 0; y < scene.height; y += 3) for (let x = 0; x < scene.width; x += 3) if (rle.contains(mask, x, y) === inside && clear(x, y) && (!inside || (rle.contains(mask, x + 2, y) && rle.contains(mask, x - 2, y) && rle.contains(mask, x, y + 2) && rle.contains(mask, x, y - 2)))) all.push([x, y]);
      return Array.from({ length: 20 }, (_, i) => all[Math.floor((i * all.length) / 20)]!);
    };
    const pixel = ([x, y]: [number, number]) => tab.evaluate(([x, y]) => Array.from((document.getElementById('view') as HTMLCanvasElement).getContext('2d')!.getImageData(x!, y!, 1, 1).data.slice(0, 3)), [x, y]);
    const photo = ([x, y]: [number, number]) => Array.from(scene.rgba.subarray((y * scene.width + x) * 4, (y * scene.width + x) * 4 + 3));
    for (const p of pick(false)) assert.equal(await pixel(p), photo(p), `outside the mask (${p}) the photo is untouched`);
    for (const p of pick(true)) {
      const tint = (await pixel(p)).map((v, i) => Math.abs(v - photo(p)[i]!));
      assert.ok(Math.max(...tint) >= 8, `inside the mask (${p}) the pixel is tinted (${tint})`);
    }

    // Shift-click on a second object: the selection covers both points.
    await clickAt(B, true);
    await tab.waitForFunction(() => ((window as unknown as { __deepmask: PageState }).__deepmask.clicks?.length ?? 0) >= 2 || (window as unknown as { __deepmask: PageState }).__deepmask.clickErrors?.length, null, { timeout: 60_000 });
    s = await state(tab);
    assert.not.ok(s.clickErrors?.length, String(s.clickErrors));
    const two = s.clicks![1]!;
    assert.equal(two.points, [A, B]);
    const both = rle.annToRle(two.selection, scene.height, scene.width);
    assert.ok(rle.contains(both, ...A) && rle.contains(both, ...B), `the selection (${two.selection.mode}) covers both points`);
    console.log(`    shift-click at (${B}): ${two.selection.mode}, ${rle.area(both)} px (objects ${rle.area(gts[0]!)} + ${rle.area(gts[bIndex]!)})`);

    // The list and the picture: hovering an entry redraws; downloads are offered.
    const listed = await tab.evaluate(() => document.querySelectorAll('#list > div').length);
    assert.ok(listed >= 1);
    await tab.hover('#list > div');
    const [png, coco] = await Promise.all([tab.waitForEvent('download'), tab.click('#dlPng')]).then(async ([d]) => [d, await Promise.all([tab.waitForEvent('download'), tab.click('#dlCoco')]).then(([e]) => e)]);
    assert.match(png.suggestedFilename(), /scene-masks\.png$/);
    const results = JSON.parse(readFileSync((await coco.path())!, 'utf8')) as { segmentation: PageMask; score: number }[];
    assert.is(results.length, 1);
    assert.is(results[0]!.segmentation.counts, two.selection.counts, 'the COCO file holds the selection');

    // A second visit reads the model from the Cache API: no new request for the weights.
    const weightRequests = () => requests.filter((p) => p.endsWith('/tiny-synth/model.safetensors')).length;
    assert.is(weightRequests(), 1);
    await tab.goto(url);
    await tab.waitForFunction(() => (window as unknown as { __deepmask?: { done: boolean } }).__deepmask?.done, null, { timeout: 120_000 });
    assert.not.ok((await state(tab)).error);
    assert.is(weightRequests(), 1, 'the second visit downloads no weights');
    assert.equal(errors, [], 'no page errors');
  });
  console.log(`    the page-as-a-tool test took ${((Date.now() - t0) / 1000).toFixed(1)} s`);
});

const dist = (p: [number, number], q: [number, number]) => Math.hypot(p[0] - q[0], p[1] - q[1]);


/** The mask's pixel nearest its box centre. */
function insidePoint(m: { counts: number[]; h: number; w: number }): [number, number] {
  const [bx, by, bw, bh] = rle.toBbox(m as Parameters<typeof rle.toBbox>[0]);
  const cx = bx + bw / 2, cy = by + bh / 2;
  let best: [number, number] = [0, 0], d = Infinity;
  for (let x = bx; x < bx + bw; x++) for (let y = by; y < by + bh; y++) {
    const e = (x - cx) ** 2 + (y - cy) ** 2;
    if (e < d && rle.contains(m, x, y)) [d, best] = [e, [x, y]];
  }
  return best;
}

test.run();
