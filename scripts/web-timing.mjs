// Times the browser page on a real photo with a bundled model in headless Chromium (SwiftShader):
// loads the page's test hook twice (the second run has its pipelines compiled) and prints the
// stage timings. Usage: node scripts/web-timing.mjs [MODEL_URL] [IMAGE_URL] [PROPOSALS] [SCALES]
//   SCALES: comma-separated factors (default: the page's choice, which on a software adapter drops
//   the model's two largest scales; e.g. 0.1768,0.25,0.3536,0.5,0.7071,1 for mobile-coco's own six)
//   default: /models/mobile-coco/ on /assets/photos/000000062554.jpg, 20 proposals
import { bundle, serve, launchChromium } from './web.mjs';

const [model = '/models/mobile-coco/', image = '/assets/photos/000000062554.jpg', proposals = '20', scales] = process.argv.slice(2);
await bundle();
const server = await serve(0);
const port = server.address().port;
const browser = await launchChromium();
try {
  const page = await browser.newPage();
  page.on('pageerror', (e) => console.log('pageerror:', e.message));
  const url = `http://127.0.0.1:${port}/?test&model=${encodeURIComponent(model)}&image=${encodeURIComponent(image)}&proposals=${proposals}${scales ? `&scales=${scales}` : ''}`;
  for (const run of [1, 2]) {
    const t0 = Date.now();
    await page.goto(url);
    await page.waitForFunction(() => window.__deepmask?.done, null, { timeout: 900_000 });
    const r = await page.evaluate(() => window.__deepmask);
    if (r.error) throw new Error(r.error);
    const t = Object.entries(r.timings)
      .map(([k, v]) => `${k} ${(v / 1000).toFixed(2)} s`)
      .join(', ');
    console.log(
      `run ${run}: ${model} on ${image}: ${r.proposals.length} proposals; page load to done ${((Date.now() - t0) / 1000).toFixed(1)} s; ${t} (${r.adapter})`,
    );
  }
} finally {
  await browser.close();
  server.close();
}
