// Drives the page as a tool in headless Chromium (SwiftShader) and writes its screenshots to docs/:
// a click on an object of a bundled photo (docs/page-click.png), a shift-click on a second object
// (docs/page-shift-click.png), then every object proposed (docs/page-proposals.png) and a list entry
// hovered (docs/page-hover.png), with the default model as the page picks it for
// the adapter; prints each step's time. `--train` also trains 60 steps in the page
// (docs/page-training.png, a few minutes on SwiftShader).
// Usage: node scripts/web-screenshot.mjs [--train]
import { fileURLToPath } from 'node:url';
import { bundle, serve, launchChromium } from './web.mjs';

const doc = (name) => fileURLToPath(new URL(`../docs/${name}`, import.meta.url));
const PHOTO = '/assets/photos/000000062554.jpg';
const CLICK = [150, 250]; // the broccoli, in the photo's pixels
const SHIFT = [450, 120]; // the noodles

await bundle();
const server = await serve(0);
const port = server.address().port;
const browser = await launchChromium({ viewport: { width: 1280, height: 1000 } });
const text = (id) => page.evaluate((i) => document.getElementById(i).textContent, id);
const idle = () =>
  page.waitForFunction(() => document.getElementById('cancel').disabled && !document.getElementById('error').textContent, null, { timeout: 900_000 });
const page = await browser.newPage();
try {
  page.on('pageerror', (e) => console.log('pageerror:', e.message));
  await page.goto(`http://127.0.0.1:${port}/`);
  await page.waitForFunction(() => document.getElementById('adapter').textContent.startsWith('adapter'));
  console.log(await text('adapter'));
  await page.selectOption('#sample', PHOTO);
  await page.waitForFunction(() => /\d+x\d+/.test(document.getElementById('status').textContent));

  let t0 = Date.now();
  const box = await page.evaluate(() => {
    const v = document.getElementById('view'),
      r = v.getBoundingClientRect();
    return { left: r.left + v.clientLeft, top: r.top + v.clientTop, w: v.clientWidth, h: v.clientHeight, iw: v.width, ih: v.height };
  });
  await page.mouse.click(box.left + ((CLICK[0] + 0.5) * box.w) / box.iw, box.top + ((CLICK[1] + 0.5) * box.h) / box.ih);
  await page.waitForFunction(() => document.getElementById('cancel').disabled === false);
  await idle();
  console.log(`first click (model download, encoding, masks): ${((Date.now() - t0) / 1000).toFixed(1)} s; ${await text('progress')}`);
  console.log(await text('modelInfo'));
  console.log(await text('status'));
  await page.screenshot({ path: doc('page-click.png'), fullPage: true });

  // Shift-click on the noodles: a second point, on another object.
  t0 = Date.now();
  await page.keyboard.down('Shift');
  await page.mouse.click(box.left + ((SHIFT[0] + 0.5) * box.w) / box.iw, box.top + ((SHIFT[1] + 0.5) * box.h) / box.ih);
  await page.keyboard.up('Shift');
  await page.waitForFunction(() => document.getElementById('cancel').disabled === false);
  await idle();
  console.log(`shift-click: ${((Date.now() - t0) / 1000).toFixed(1)} s; ${await text('status')}`);
  await page.screenshot({ path: doc('page-shift-click.png'), fullPage: true });

  t0 = Date.now();
  await page.click('#run');
  await idle();
  console.log(`propose every object on the same encoding: ${((Date.now() - t0) / 1000).toFixed(1)} s; ${await text('progress')}`);
  const timings = await page.evaluate(() => [...document.querySelectorAll('#timings tr')].map((r) => r.textContent).join(' | '));
  console.log(`timings: ${timings}`);
  await page.screenshot({ path: doc('page-proposals.png'), fullPage: true });
  await page.hover('#list > div:nth-child(2)');
  await page.screenshot({ path: doc('page-hover.png'), fullPage: true });

  if (process.argv.includes('--train')) {
    await page.fill('#steps', '60');
    t0 = Date.now();
    await page.click('#train');
    await page.waitForFunction(() => /trained \d+ steps/.test(document.getElementById('trainStatus').textContent), null, { timeout: 900_000 });
    console.log('train:', await text('trainStatus'), `wall ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    await page.waitForTimeout(3000);
    await page.screenshot({ path: doc('page-training.png'), fullPage: true });
  }
} finally {
  await browser.close();
  server.close();
}
