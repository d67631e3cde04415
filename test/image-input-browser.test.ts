// imageFromInput() in a real browser (headless Chromium, no WebGPU needed): canvases, ImageBitmap,
// OffscreenCanvas, <img>, ImageData and WebP (decoded by the browser) give the same pixels; the
// bundle is the library's own image-input module, built for the browser as the page's is.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync } from 'node:fs';
import { repoPath, skipped } from './lib/shared.js';

const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

type Got = Record<string, { width: number; height: number; corners: number[][] } | { error: string }>;

test('browser inputs (canvas, ImageBitmap, OffscreenCanvas, <img>, ImageData, WebP bytes and Blob, PNG bytes) become the same RgbImage', async () => {
  if (!existsSync(CHROMIUM)) {
    skipped(`no Chromium at ${CHROMIUM}; npm test installs Debian's chromium, or set CHROMIUM`);
    return;
  }
  const { build } = await import('esbuild');
  const out = await build({
    entryPoints: [repoPath('src/data/image-input.ts')],
    bundle: true,
    format: 'iife',
    globalName: 'imageInput',
    platform: 'browser',
    target: 'es2022',
    write: false,
    logLevel: 'error',
  });
  const code = out.outputFiles[0]!.text;
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'] });
  let got: Got;
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.setContent('<!doctype html><body></body>');
    await page.addScriptTag({ content: code });
    got = await page.evaluate(async () => {
      const { imageFromInput } = (window as unknown as { imageInput: typeof import('../src/data/image-input.js') }).imageInput;
      // A 40x30 picture of four flat quadrants: red, green / blue, white.
      const W = 40,
        H = 30;
      const canvas = document.createElement('canvas');
      [canvas.width, canvas.height] = [W, H];
      const g = canvas.getContext('2d')!;
      const fill = (c: string, x: number, y: number) => ((g.fillStyle = c), g.fillRect(x, y, W / 2, H / 2));
      fill('#ff0000', 0, 0);
      fill('#00ff00', W / 2, 0);
      fill('#0000ff', 0, H / 2);
      fill('#ffffff', W / 2, H / 2);
      const sample = (img: { width: number; height: number; data: Float32Array }) => ({
        width: img.width,
        height: img.height,
        corners: [
          [0.25, 0.25],
          [0.75, 0.25],
          [0.25, 0.75],
          [0.75, 0.75],
        ].map(([fx, fy]) => {
          const i = (Math.floor(fy! * img.height) * img.width + Math.floor(fx! * img.width)) * 3;
          return [...img.data.subarray(i, i + 3)].map((v) => Math.round(v * 255));
        }),
      });
      const blob = (type: string) => new Promise<Blob>((ok) => canvas.toBlob((b) => ok(b!), type, 1));
      const webp = await blob('image/webp'),
        png = await blob('image/png');
      const el = new Image();
      el.src = URL.createObjectURL(png);
      const off = new OffscreenCanvas(W, H);
      off.getContext('2d')!.drawImage(canvas, 0, 0);
      const inputs: Record<string, () => Promise<unknown>> = {
        canvas: async () => canvas,
        bitmap: () => createImageBitmap(canvas),
        offscreen: async () => off,
        img: async () => el,
        imageData: async () => g.getImageData(0, 0, W, H),
        webpBytes: async () => new Uint8Array(await webp.arrayBuffer()),
        webpBlob: async () => webp,
        pngBytes: async () => new Uint8Array(await png.arrayBuffer()),
      };
      const res: Record<string, unknown> = {};
      for (const [k, make] of Object.entries(inputs)) {
        try {
          res[k] = sample(await imageFromInput((await make()) as never));
        } catch (e) {
          res[k] = { error: (e as Error).message };
        }
      }
      return res as Got;
    });
    assert.equal(errors, [], 'no page errors');
  } finally {
    await browser.close();
  }
  const want = {
    width: 40,
    height: 30,
    corners: [
      [255, 0, 0],
      [0, 255, 0],
      [0, 0, 255],
      [255, 255, 255],
    ],
  };
  for (const [k, v] of Object.entries(got)) {
    assert.not.ok('error' in v, `${k}: ${'error' in v ? v.error : ''}`);
    const s = v as typeof want;
    assert.equal([s.width, s.height], [want.width, want.height], `${k}: size`);
    // WebP at quality 1 is near-lossless on flat colours: allow a few levels.
    s.corners.forEach((c, i) =>
      c.forEach((x, ch) => assert.ok(Math.abs(x - want.corners[i]![ch]!) <= 4, `${k}: quadrant ${i} is ${c}, want ${want.corners[i]}`)),
    );
  }
  assert.equal(Object.keys(got).sort(), ['bitmap', 'canvas', 'imageData', 'img', 'offscreen', 'pngBytes', 'webpBlob', 'webpBytes']);
});

test.run();
