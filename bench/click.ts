// Click latency: the default model (models/mobile-coco) encodes one 640x480 photo once, then answers
// clicks with at(x, y) and the whole picture with everything(). `node dist/bench/run.js --only click
// --no-peer` (target: a click in <= 100 ms on the 2-core lavapipe machine, <= 5 ms on a real GPU).
import { readFileSync } from 'node:fs';
import { decodeImage, type RgbImage } from '../src/data/image.js';
import { encode } from '../src/infer/proposals.js';
import { bundledModel, bundledPhotos } from '../src/model/bundled.js';
import { loadModel } from '../src/model/files.js';
import type { BenchContext } from './run.js';
import type { Row, Section } from './lib/report.js';

/** The 640x480 middle of the bundled photo 000000403385.jpg (640x511), or the first photo resized. */
export function clickPhoto(): { img: RgbImage; name: string } {
  const dir = bundledPhotos();
  const path = `${dir}/000000403385.jpg`;
  const full = decodeImage(readFileSync(path), path);
  const top = Math.floor((full.height - 480) / 2);
  const data = full.data.slice(top * full.width * 3, (top + 480) * full.width * 3);
  return { img: { width: 640, height: 480, data }, name: '000000403385.jpg, rows ' + `${top}-${top + 479}` };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Clicks on a 3x3 grid over the image (the middles of its ninths). */
export const CLICKS: [number, number][] = [1, 3, 5].flatMap((fy) =>
  [1, 3, 5].map((fx): [number, number] => [Math.round((fx * 640) / 6), Math.round((fy * 480) / 6)]),
);

export async function clickBench({ rt, quick }: BenchContext): Promise<Section> {
  const model = loadModel(bundledModel());
  const { img, name } = clickPhoto();
  const rows: Row[] = [];
  // The first encoding compiles the pipelines; the second is the figure.
  const tEnc: number[] = [];
  let enc = await encode(model, img);
  for (let k = 0; k < (quick ? 1 : 2); k++) {
    enc.dispose();
    const t0 = performance.now();
    enc = await encode(model, img);
    tEnc.push(performance.now() - t0);
  }
  rows.push({
    name: 'encode 640x480 (pyramid, trunk, dense heads, score readback)',
    ours: Math.min(...tEnc),
    unit: 'ms',
    detail: { windows: enc.windows, scales: enc.scales.length },
  });

  // Clicks: one warm-up (mask-head and paste pipelines), then each grid point `reps` times.
  await enc.at(CLICKS[4]![0], CLICKS[4]![1]);
  const reps = quick ? 1 : 3;
  const clicks: number[] = [];
  for (let r = 0; r < reps; r++) {
    for (const [x, y] of CLICKS) {
      const t0 = performance.now();
      await enc.at(x, y);
      clicks.push(performance.now() - t0);
    }
  }
  rows.push({ name: 'click: at(x, y), 3 masks, min', ours: Math.min(...clicks), unit: 'ms', detail: { clicks: clicks.length } });
  rows.push({ name: 'click: at(x, y), 3 masks, median', ours: median(clicks), unit: 'ms', detail: { clicks: clicks.length, max: Math.max(...clicks) } });

  // The model's ranking (mobile-coco re-ranks its best 1000 windows by mask confidence) and objectness alone.
  for (const [what, rerank] of [
    ['top 100 re-ranked from 1000 (the default)', undefined],
    ['top 100 by objectness (--rerank off)', false],
  ] as const) {
    const every: number[] = [];
    let stages = '';
    for (let r = 0; r < (quick ? 1 : 3); r++) {
      const t0 = performance.now();
      const res = await enc.everything({ timeStages: r === 0, ...(rerank === false ? { rerank } : {}) });
      const ms = performance.now() - t0;
      if (r === 0) stages = `masks ${res.timings.masks.toFixed(0)}, paste ${res.timings.paste.toFixed(0)}, RLE ${res.timings.rle.toFixed(0)} ms`;
      else every.push(ms); // the first run waits at each stage (timeStages) and warms up
    }
    if (!every.length) every.push(NaN);
    rows.push({ name: `everything(): ${what}, masks, paste, RLE (after encoding), median`, ours: median(every), unit: 'ms', detail: { stages } });
  }
  enc.dispose();
  for (const p of model.parameters()) p.dispose();
  void rt;
  return { title: `Click latency (mobile-coco, ${name})`, rows };
}
