// The same engine in a real browser: headless Chromium (WebGPU on SwiftShader) loads the demo page.
// 1. It proposes masks for the bundled test scene with the bundled tiny model; the page's masks must
//    equal a Node run's and the page must show them.
// 2. The page as a tool: a real mouse click inside an object of a scene returns a mask that covers
//    the point and matches the object; a shift-click on a second object adds it; Ctrl+Z and the Undo
//    button take steps back; a right-click leaves a point out; a chosen alternative is what the mask
//    and cut-out PNGs hold; a dragged box gives the object's window; the pointer previews the mask
//    under it from the encoding; Cancel stops a job; a bad file is a visible error; the model download
//    has a total (Content-Length); a second visit reads the model from the Cache API, not the network;
//    a WebP file opens; the page opens on a sample photo.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { decodeImage, propose, rle } from '../src/index.js';
import { decodePng } from '../src/data/png.js';
import { generateScenes } from '../src/data/synth.js';
import { loadModel } from '../src/model/files.js';
import { repoPath, skipped } from './lib/shared.js';
import type * as Web from '../scripts/web.mjs';
import './lib/gpu.js';

const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

type PageMask = { score: number; size: [number, number]; counts: string };
type PageState = {
  done: boolean;
  error?: string;
  adapter?: string;
  proposals?: PageMask[];
  shown?: number;
  clickErrors?: string[];
  clicks?: { points: number[][]; negative: number[][]; box: number[] | null; masks: PageMask[]; selection: PageMask & { mode: string } }[];
  previews?: (PageMask & { point: number[]; ms: number })[];
  chosen?: PageMask[];
  encodes?: number;
  download?: { loaded: number; total?: number };
};
type Browser = Awaited<ReturnType<(typeof import('playwright-core'))['chromium']['launchPersistentContext']>>;

/** Bundles the page, serves it (with `files`) and opens headless Chromium on a fresh profile. */
async function withBrowser(files: Record<string, Uint8Array>, fn: (b: Browser, origin: string, requests: string[]) => Promise<void>): Promise<boolean> {
  if (!existsSync(CHROMIUM)) {
    skipped(`no Chromium at ${CHROMIUM}; npm test installs Debian's chromium, or set CHROMIUM`);
    return false;
  }
  // scripts/web.mjs sits beside dist/, not inside it: import it by URL from the compiled test.
  const { bundle, serve, launchChromium } = (await import(new URL('../../scripts/web.mjs', import.meta.url).href)) as typeof Web;
  await bundle();
  const requests: string[] = [];
  const server: Server = await serve(0, { files, onRequest: (p) => requests.push(p) });
  const port = (server.address() as AddressInfo).port;
  const browser = await launchChromium({ executablePath: CHROMIUM });
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

test('the page as a tool: click, shift-click, undo, a point left out, a dragged box, hover preview, a chosen alternative exported as mask and cut-out, cancel, errors, download total, the cached model, WebP, the sample photo', async () => {
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
    // The download had a total: the server sends Content-Length.
    const sizes = ['config.json', 'model.safetensors'].map((f) => readFileSync(repoPath(`models/tiny-synth/${f}`)).byteLength);
    assert.equal(first.download, { loaded: sizes[0]! + sizes[1]!, total: sizes[0]! + sizes[1]! }, 'the model download knows its total');
    // Page coordinates of image pixel (x, y): the canvas's content box.
    const onPage = async ([x, y]: [number, number]) => {
      const box = await tab.evaluate(() => {
        const v = document.getElementById('view')!;
        v.scrollIntoView({ block: 'nearest' }); // the mouse reaches only what is in the viewport
        const r = v.getBoundingClientRect();
        return { left: r.left + v.clientLeft, top: r.top + v.clientTop, w: v.clientWidth, h: v.clientHeight };
      });
      // Mouse events land on whole CSS pixels: the first whole one inside the image pixel (drawn 1:1 or larger).
      return [Math.ceil(box.left + (x * box.w) / scene.width), Math.ceil(box.top + (y * box.h) / scene.height)] as const;
    };
    // A real mouse click at image pixel (x, y).
    const clickAt = async (p: [number, number], shift = false, button: 'left' | 'right' = 'left') => {
      const [px, py] = await onPage(p);
      if (shift) await tab.keyboard.down('Shift');
      await tab.mouse.click(px, py, { button });
      if (shift) await tab.keyboard.up('Shift');
    };
    const clicks = async () => (await state(tab)).clicks?.length ?? 0;
    /** The n-th prompt's record, once the page has it. */
    const prompt = async (n: number) => {
      await tab.waitForFunction(
        (n) =>
          ((window as unknown as { __deepmask: PageState }).__deepmask.clicks?.length ?? 0) >= n ||
          (window as unknown as { __deepmask: PageState }).__deepmask.clickErrors?.length,
        n,
        { timeout: 60_000 },
      );
      const s = await state(tab);
      assert.not.ok(s.clickErrors?.length, String(s.clickErrors));
      return s.clicks![n - 1]!;
    };
    const maskOf = (m: PageMask) => rle.annToRle(m, scene.height, scene.width);

    // A bad file: a visible error, and the picture stays.
    await tab.setInputFiles('#imageFile', { name: 'notes.png', mimeType: 'image/png', buffer: Buffer.from('not an image') });
    // The file is read and decoded asynchronously: wait (bounded) for the page to react.
    await tab.waitForFunction(() => getComputedStyle(document.getElementById('error')!).display !== 'none', null, { timeout: 15_000 }).catch(() => {});
    const error = await tab.evaluate(() => ({
      text: document.getElementById('error')!.textContent,
      shown: getComputedStyle(document.getElementById('error')!).display !== 'none',
    }));
    assert.ok(error.shown, 'the error is shown on the page');
    assert.match(error.text ?? '', /notes\.png: (this browser )?cannot decode the image/);

    // A click, cancelled at once: the job stops, nothing is recorded, the buttons come back.
    await clickAt(A);
    const during = await tab.evaluate(() => ({
      run: (document.getElementById('run') as HTMLButtonElement).disabled,
      cancel: (document.getElementById('cancel') as HTMLButtonElement).disabled,
    }));
    assert.equal(during, { run: true, cancel: false }, 'propose disabled and cancel enabled while busy');
    await tab.click('#cancel');
    await tab.waitForFunction(() => (document.getElementById('cancel') as HTMLButtonElement).disabled, null, { timeout: 60_000 });
    const progress = await tab.evaluate(() => document.getElementById('progress')!.textContent ?? '');
    console.log(`    after cancel: ${progress}`);
    assert.match(progress, /cancelled after/);
    assert.is(await clicks(), 0);

    // The click again: the mask covers the point and is the object's.
    await clickAt(A);
    await tab.waitForFunction(
      () =>
        ((window as unknown as { __deepmask: PageState }).__deepmask.clicks?.length ?? 0) >= 1 ||
        (window as unknown as { __deepmask: PageState }).__deepmask.clickErrors?.length,
      null,
      { timeout: 60_000 },
    );
    let s = await state(tab);
    assert.not.ok(s.clickErrors?.length, String(s.clickErrors));
    const one = s.clicks![0]!;
    assert.equal(one.points, [A]);
    const mask = rle.annToRle(one.selection, scene.height, scene.width);
    assert.ok(rle.contains(mask, ...A), `the mask covers the clicked point (${A})`);
    const iouA = rle.iou([mask], [gts[0]!], [false])[0]![0]!;
    console.log(`    click at (${A}): score ${one.selection.score.toFixed(3)}, IoU with the object ${iouA.toFixed(3)}`);
    assert.ok(iouA >= 0.5, `IoU ${iouA} with the clicked object`);
    assert.ok(
      one.masks.length >= 1 && rle.contains(rle.annToRle(one.masks[0]!, scene.height, scene.width), ...A),
      'the first alternative covers the point too',
    );
    // The picture: the mask is drawn where it is (tinted pixels inside, the photo untouched outside),
    // away from the click's marker and the label at the box's corner.
    const [bx, by] = rle.toBbox(mask);
    const clear = (x: number, y: number) => dist([x, y], A) > 12 && !(x < bx + 80 && y < by + 30 && x >= bx - 2 && y >= by - 2);
    const pick = (inside: boolean): [number, number][] => {
      const all: [number, number][] = [];
      for (let y = 0; y < scene.height; y += 3)
        for (let x = 0; x < scene.width; x += 3)
          if (
            rle.contains(mask, x, y) === inside &&
            clear(x, y) &&
            (!inside || (rle.contains(mask, x + 2, y) && rle.contains(mask, x - 2, y) && rle.contains(mask, x, y + 2) && rle.contains(mask, x, y - 2)))
          )
            all.push([x, y]);
      return Array.from({ length: 20 }, (_, i) => all[Math.floor((i * all.length) / 20)]!);
    };
    const pixel = ([x, y]: [number, number]) =>
      tab.evaluate(
        ([x, y]) => Array.from((document.getElementById('view') as HTMLCanvasElement).getContext('2d')!.getImageData(x!, y!, 1, 1).data.slice(0, 3)),
        [x, y],
      );
    const photo = ([x, y]: [number, number]) => Array.from(scene.rgba.subarray((y * scene.width + x) * 4, (y * scene.width + x) * 4 + 3));
    for (const p of pick(false)) assert.equal(await pixel(p), photo(p), `outside the mask (${p}) the photo is untouched`);
    for (const p of pick(true)) {
      const tint = (await pixel(p)).map((v, i) => Math.abs(v - photo(p)[i]!));
      assert.ok(Math.max(...tint) >= 8, `inside the mask (${p}) the pixel is tinted (${tint})`);
    }

    // Shift-click on a second object: the selection covers both points.
    await clickAt(B, true);
    await tab.waitForFunction(
      () =>
        ((window as unknown as { __deepmask: PageState }).__deepmask.clicks?.length ?? 0) >= 2 ||
        (window as unknown as { __deepmask: PageState }).__deepmask.clickErrors?.length,
      null,
      { timeout: 60_000 },
    );
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
    const [png, coco] = await Promise.all([tab.waitForEvent('download'), tab.click('#dlPng')]).then(async ([d]) => [
      d,
      await Promise.all([tab.waitForEvent('download'), tab.click('#dlCoco')]).then(([e]) => e),
    ]);
    assert.match(png.suggestedFilename(), /scene-masks\.png$/);
    const results = JSON.parse(readFileSync((await coco.path())!, 'utf8')) as { segmentation: PageMask; score: number }[];
    assert.is(results.length, 1);
    assert.is(results[0]!.segmentation.counts, two.selection.counts, 'the COCO file holds the selection');

    // Ctrl+Z: back to the first click's selection, asked again from the encoding.
    const tq = Date.now();
    await tab.keyboard.press('Control+z');
    const undone = await prompt(3);
    assert.equal(undone.points, [A], 'Ctrl+Z takes the second point back');
    assert.is(undone.selection.counts, one.selection.counts, "the first click's mask again");
    console.log(`    undo: ${((Date.now() - tq) / 1000).toFixed(1)} s (a query from the encoding)`);

    // A right-click leaves a point out: a pixel of the mask that another mask at the click does not cover.
    const first3 = maskOf(one.selection);
    const N = one.masks
      .map(maskOf)
      .filter((m) => rle.contains(m, ...A))
      .flatMap((m) => {
        const [x0, y0, w, h] = rle.toBbox(first3);
        for (let y = y0; y < y0 + h; y++)
          for (let x = x0; x < x0 + w; x++)
            if (rle.contains(first3, x, y) && !rle.contains(m, x, y) && dist([x, y], A) > 12) return [[x, y] as [number, number]];
        return [];
      })[0];
    assert.ok(N, 'an alternative at the click leaves part of the mask out');
    await clickAt(N!, false, 'right');
    const excluded = await prompt(4);
    assert.equal([excluded.points, excluded.negative], [[A], [N]]);
    const without = maskOf(excluded.selection);
    assert.ok(!rle.contains(without, ...N!) && rle.contains(without, ...A), `the mask leaves ${N} out and still covers ${A}`);
    // The Undo button brings the point back.
    await tab.click('#undo');
    const back = await prompt(5);
    assert.equal([back.points, back.negative, back.selection.counts], [[A], [], one.selection.counts], 'Undo takes the left-out point back');

    // Choosing an alternative from the list: it is drawn, and it is what the downloads hold.
    const entries = await tab.evaluate(() => [...document.querySelectorAll('#list > div')].map((d) => d.textContent ?? ''));
    const alt = entries.findIndex((t) => /alternative/.test(t));
    assert.ok(alt >= 0, `an alternative is listed (${entries.join(' | ')})`);
    await tab.click(`#list > div:nth-child(${alt + 1})`);
    const chosen = (await state(tab)).chosen?.[0];
    assert.ok(chosen && chosen.counts !== back.selection.counts, 'a different mask is chosen');
    assert.match(await tab.evaluate((i) => document.querySelectorAll('#list > div')[i]!.textContent ?? '', alt), /chosen/);
    const saved = async (id: string) => {
      const [d] = await Promise.all([tab.waitForEvent('download'), tab.click(id)]);
      return { name: d.suggestedFilename(), png: decodePng(new Uint8Array(readFileSync((await d.path())!))) };
    };
    const chosenMask = maskOf(chosen!);
    const maskFile = await saved('#dlMask');
    assert.match(maskFile.name, /scene-mask\.png$/);
    assert.equal([maskFile.png.width, maskFile.png.height], [scene.width, scene.height]);
    let wrong = 0;
    for (let y = 0; y < scene.height; y++)
      for (let x = 0; x < scene.width; x++) if ((maskFile.png.rgba[(y * scene.width + x) * 4] === 255) !== rle.contains(chosenMask, x, y)) wrong++;
    assert.is(wrong, 0, 'the mask PNG is white exactly on the chosen mask');
    const cut = await saved('#dlCutout');
    const [cx, cy, cw, ch] = rle.toBbox(chosenMask);
    assert.equal([cut.png.width, cut.png.height], [cw, ch], "the cut-out is the mask's box");
    wrong = 0;
    for (let y = 0; y < ch; y++)
      for (let x = 0; x < cw; x++) {
        const o = (y * cw + x) * 4,
          i = ((cy + y) * scene.width + cx + x) * 4,
          inside = rle.contains(chosenMask, cx + x, cy + y);
        const ok = inside ? cut.png.rgba[o + 3] === 255 && [0, 1, 2].every((c) => cut.png.rgba[o + c] === scene.rgba[i + c]) : cut.png.rgba[o + 3] === 0;
        if (!ok) wrong++;
      }
    assert.is(wrong, 0, "the cut-out holds the photo's pixels under the mask, transparent elsewhere");

    // A box dragged around the object: the window nearest it gives the object's mask.
    const [gx, gy, gw, gh] = rle.toBbox(gts[0]!);
    await tab.mouse.move(...(await onPage([gx - 2, gy - 2])));
    await tab.mouse.down();
    await tab.mouse.move(...(await onPage([gx + gw + 1, gy + gh + 1])), { steps: 4 });
    await tab.mouse.up();
    const boxed = await prompt(6);
    assert.equal(boxed.points, []);
    assert.ok(boxed.box && Math.abs(boxed.box[0]! - (gx - 2)) <= 1 && Math.abs(boxed.box[2]! - (gw + 4)) <= 2, `the box ${boxed.box} is the one dragged`);
    const iouBox = rle.iou([maskOf(boxed.selection)], [gts[0]!], [false])[0]![0]!;
    console.log(`    box around the object: IoU ${iouBox.toFixed(3)}`);
    assert.ok(iouBox >= 0.5, `IoU ${iouBox} of the box's mask with the object`);
    assert.is(await clicks(), 6, 'the drag was not also a click');

    // Hover: the mask under the pointer, from the encoding (no new encoding), drawn over the picture.
    const encodes = (await state(tab)).encodes;
    const before = await pixel(B);
    await tab.mouse.move(...(await onPage(B)));
    await tab.waitForFunction(
      (b) => (window as unknown as { __deepmask: PageState }).__deepmask.previews?.some((p) => p.point[0] === b[0] && p.point[1] === b[1]),
      B,
      { timeout: 30_000 },
    );
    const pv = (await state(tab)).previews!.find((p) => p.point[0] === B[0] && p.point[1] === B[1])!;
    console.log(`    hover preview: ${pv.ms.toFixed(0)} ms a query`);
    assert.ok(rle.contains(maskOf(pv), ...B), 'the preview covers the pointer');
    assert.not.equal(await pixel(B), before, 'the preview is drawn');
    assert.is((await state(tab)).encodes, encodes, 'no new encoding');
    await tab.mouse.move(0, 0);
    assert.equal(await pixel(B), before, 'leaving the picture drops the preview');

    // A second visit reads the model from the Cache API: no new request for the weights.
    const weightRequests = () => requests.filter((p) => p.endsWith('/tiny-synth/model.safetensors')).length;
    assert.is(weightRequests(), 1);
    await tab.goto(url);
    await tab.waitForFunction(() => (window as unknown as { __deepmask?: { done: boolean } }).__deepmask?.done, null, { timeout: 120_000 });
    assert.not.ok((await state(tab)).error);
    assert.is(weightRequests(), 1, 'the second visit downloads no weights');

    // A WebP file opens (the browser decodes it).
    const webp = await tab.evaluate(async () => {
      const c = document.createElement('canvas');
      [c.width, c.height] = [48, 32];
      const g = c.getContext('2d')!;
      g.fillStyle = '#3a6';
      g.fillRect(0, 0, 48, 32);
      const b = await new Promise<Blob>((ok) => c.toBlob((b) => ok(b!), 'image/webp'));
      return [...new Uint8Array(await b.arrayBuffer())];
    });
    await tab.setInputFiles('#imageFile', { name: 'green.webp', mimeType: 'image/webp', buffer: Buffer.from(webp) });
    await tab.waitForFunction(() => /green\.webp: 48x32/.test(document.getElementById('status')!.textContent ?? ''), null, { timeout: 15_000 });
    assert.equal(
      await tab.evaluate(() => [(document.getElementById('view') as HTMLCanvasElement).width, (document.getElementById('view') as HTMLCanvasElement).height]),
      [48, 32],
    );

    // A plain visit opens on a sample photo, ready for a click (no model downloaded yet).
    const plain = await browser.newPage();
    plain.on('pageerror', (e) => errors.push(e.message));
    const weightsBefore = requests.length;
    await plain.goto(`${origin}/`);
    await plain.waitForFunction(() => /000000062554\.jpg: 640x428/.test(document.getElementById('status')!.textContent ?? ''), null, { timeout: 30_000 });
    assert.equal(
      await plain.evaluate(() => [
        (document.getElementById('view') as HTMLCanvasElement).width,
        (document.getElementById('sample') as HTMLSelectElement).value,
      ]),
      [640, '/assets/photos/000000062554.jpg'],
    );
    assert.not.ok(
      requests.slice(weightsBefore).some((p) => p.endsWith('.safetensors')),
      'no model is downloaded before a click',
    );
    assert.equal(errors, [], 'no page errors');
  });
  console.log(`    the page-as-a-tool test took ${((Date.now() - t0) / 1000).toFixed(1)} s`);
});

const dist = (p: [number, number], q: [number, number]) => Math.hypot(p[0] - q[0], p[1] - q[1]);

/** The mask's pixel nearest its box centre. */
function insidePoint(m: { counts: number[]; h: number; w: number }): [number, number] {
  const [bx, by, bw, bh] = rle.toBbox(m as Parameters<typeof rle.toBbox>[0]);
  const cx = bx + bw / 2,
    cy = by + bh / 2;
  let best: [number, number] = [0, 0],
    d = Infinity;
  for (let x = bx; x < bx + bw; x++)
    for (let y = by; y < by + bh; y++) {
      const e = (x - cx) ** 2 + (y - cy) ** 2;
      if (e < d && rle.contains(m, x, y)) [d, best] = [e, [x, y]];
    }
  return best;
}

test.run();
