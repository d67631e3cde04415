// `npm run bench:refine`: a refining model with and without its SharpMask refinement, side by side in
// one run (the same trunk, heads, windows and ranking; only the masks differ), on the fixed
// validation photos of ../shared/data/coco-subset-2017 and ../shared/data/coco-person-2017 (no
// shipped model trained on them): COCO mask and box AR@10/100/1000, mask recall at IoU 0.5, 0.75 and
// 0.85 with 100 proposals, as the model infers (its config's NMS) and with no NMS (the paper's);
// the time of one whole propose() on 640x480 photos (the two alternated); a click after encode();
// and pictures of validation photos, refined beside coarse, in docs/.
// Writes bench/refine.json and a section of bench/RESULTS.md.
//
//   node dist/bench/refine.js [--model models/mobile-coco] [--sets DIR,DIR] [--limit N]
//                             [--time-photos K] [--rounds R] [--clicks N] [--viz N]
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { init } from '../src/index.js';
import { parseCoco, type CocoDataset } from '../src/data/coco.js';
import { decodeImage, resizeRgb, type RgbImage } from '../src/data/image.js';
import { evaluate, IOU_THRESHOLDS, type Detection } from '../src/eval/cocoeval.js';
import { encode, propose, type Proposal } from '../src/infer/proposals.js';
import { toCocoResults, toRgba } from '../src/infer/results.js';
import { annToRle, decodeMask, iou } from '../src/data/rle.js';
import { drawOverlay } from '../src/data/draw.js';
import { encodePng } from '../src/data/png.js';
import { loadModel } from '../src/model/files.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    sets: { type: 'string' },
    limit: { type: 'string' },
    'time-photos': { type: 'string' },
    rounds: { type: 'string' },
    clicks: { type: 'string' },
    viz: { type: 'string' },
  },
});
const modelDir = values.model ?? 'models/mobile-coco';
const setDirs = (values.sets ?? '../shared/data/coco-subset-2017,../shared/data/coco-person-2017').split(',');
const limit = values.limit ? Number(values.limit) : Infinity;
const timePhotos = Number(values['time-photos'] ?? 5),
  rounds = Number(values.rounds ?? 3),
  clicks = Number(values.clicks ?? 40),
  vizCount = Number(values.viz ?? 3);
const PROPOSALS = 1000;

const rt = await init();
const model = loadModel(modelDir);
if (!model.refine) throw new Error(`${modelDir}: this model does not refine its masks (no config.refine)`);
console.log(`adapter: ${rt.adapter.description}; model ${modelDir}`);
const load = (file: string): RgbImage => decodeImage(readFileSync(file), file);
const VARIANTS = [
  { name: 'coarse (refinement off)', refine: false },
  { name: 'refined', refine: true },
] as const;

// The proposals as the model infers them (its config's NMS, chosen on the coarse masks), and none.
const SETTINGS = [
  { name: `its NMS (${model.config.inference?.nms ?? 1})`, nms: undefined },
  { name: 'no NMS', nms: 1 },
] as const;

interface SetResult {
  set: string;
  photos: number;
  objects: number;
  /** By setting name, then variant name. */
  settings: Record<
    string,
    Record<string, { segm: Record<string, number>; bbox: Record<string, number>; recall100: Record<string, number>; msPerPhoto: number }>
  >;
}

/** AR and the recall at single IoU thresholds (100 proposals, all areas) of proposals per photo. */
function scores(gt: CocoDataset, byImage: Map<number, Proposal[]>) {
  const dts = [...byImage].flatMap(([id, ps]) => toCocoResults(id, ps)) as unknown as Detection[];
  const imgIds = [...byImage.keys()];
  const segm = evaluate(gt.images, gt.annotations, dts, { iouType: 'segm', maxDets: [10, 100, 1000], imgIds });
  const bbox = evaluate(gt.images, gt.annotations, dts, { iouType: 'bbox', maxDets: [10, 100, 1000], imgIds });
  const at = (t: number) => segm.recall[IOU_THRESHOLDS.findIndex((x) => Math.abs(x - t) < 1e-9)]![0]![1]!;
  return { segm: segm.AR, bbox: bbox.AR, recall100: { '0.5': at(0.5), '0.75': at(0.75), '0.85': at(0.85) } };
}

const results: SetResult[] = [];
const pictures: string[] = [];
for (const dir of setDirs) {
  const gt = parseCoco(readFileSync(join(dir, 'instances.json'), 'utf8'), join(dir, 'instances.json'));
  const valIds = new Set(JSON.parse(readFileSync(join(dir, 'val-ids.json'), 'utf8')) as number[]);
  const photos = gt.images
    .filter((im) => valIds.has(im.id))
    .sort((a, b) => a.id - b.id)
    .slice(0, limit);
  const lists = SETTINGS.map(() => VARIANTS.map(() => new Map<number, Proposal[]>()));
  const ms = SETTINGS.map(() => VARIANTS.map(() => 0));
  for (const [i, im] of photos.entries()) {
    const img = load(join(dir, 'images', im.file_name));
    for (const [k, v] of VARIANTS.entries()) {
      const enc = await encode(model, img, { refine: v.refine });
      for (const [j, st] of SETTINGS.entries()) {
        const r = await enc.everything({ proposals: PROPOSALS, ...(st.nms === undefined ? {} : { nms: st.nms }) });
        ms[j]![k]! += r.timings.total - enc.timings.total; // after encoding
        lists[j]![k]!.set(im.id, r.proposals);
      }
      enc.dispose();
    }
    process.stderr.write(`\r${dir}: ${i + 1}/${photos.length} photos`);
  }
  process.stderr.write('\n');
  const name = dir.split('/').filter(Boolean).pop()!;
  const res: SetResult = { set: name, photos: photos.length, objects: gt.annotations.filter((a) => valIds.has(a.image_id) && !a.iscrowd).length, settings: {} };
  SETTINGS.forEach((st, j) => {
    res.settings[st.name] = {};
    VARIANTS.forEach((v, k) => (res.settings[st.name]![v.name] = { ...scores(gt, lists[j]![k]!), msPerPhoto: ms[j]![k]! / photos.length }));
  });
  results.push(res);
  const byVariant = lists[0]!; // the pictures show the proposals as the model infers them

  // Pictures: for the largest objects of a few photos, the best of each variant's top 100 (by mask IoU).
  mkdirSync('docs', { recursive: true });
  const shown = photos.filter((im) => gt.annotations.some((a) => a.image_id === im.id && !a.iscrowd && a.area > 6000)).slice(0, vizCount);
  for (const im of shown) {
    const img = load(join(dir, 'images', im.file_name));
    const objs = gt.annotations
      .filter((a) => a.image_id === im.id && !a.iscrowd)
      .sort((a, b) => b.area - a.area)
      .slice(0, 4);
    const panels = VARIANTS.map((_, k) => {
      const top = byVariant[k]!.get(im.id)!.slice(0, 100);
      const masks = objs.map((a) => {
        const g = annToRle(a.segmentation, im.height, im.width);
        const ious = iou(
          top.map((p) => p.rle),
          [g],
          [false],
        ).map((row) => row[0]!);
        return decodeMask(top[ious.indexOf(Math.max(...ious))]!.rle);
      });
      return drawOverlay(toRgba(img), img.width, img.height, masks, { alpha: 0.5 });
    });
    // Side by side: coarse left, refined right, a white gap between.
    const W = img.width,
      H = img.height,
      gap = 8,
      out = new Uint8Array((2 * W + gap) * H * 4).fill(255);
    panels.forEach((p, k) => {
      for (let y = 0; y < H; y++) out.set(p.subarray(y * W * 4, (y + 1) * W * 4), (y * (2 * W + gap) + k * (W + gap)) * 4);
    });
    const file = `docs/sharpmask-${name}-${im.id}.png`;
    writeFileSync(file, encodePng(out, 2 * W + gap, H));
    pictures.push(file);
  }
}

// Time of one whole propose() (100 proposals), the variants alternated on 640x480-class photos,
// after one untimed pass each (pipelines compile on first use).
const subset = setDirs[0]!;
const gt0 = parseCoco(readFileSync(join(subset, 'instances.json'), 'utf8'), join(subset, 'instances.json'));
const val0 = new Set(JSON.parse(readFileSync(join(subset, 'val-ids.json'), 'utf8')) as number[]);
const timed = gt0.images.filter((im) => val0.has(im.id) && im.width === 640 && im.height === 480).slice(0, timePhotos);
const times = VARIANTS.map(() => [] as number[]);
const warm = resizeRgb(load(join(subset, 'images', timed[0]!.file_name)), 160, 120);
for (const v of VARIANTS) await propose(model, warm, { refine: v.refine });
for (let r = 0; r < rounds; r++) {
  for (const im of timed) {
    const img = load(join(subset, 'images', im.file_name));
    for (const [k, v] of VARIANTS.entries()) {
      const t0 = performance.now();
      await propose(model, img, { refine: v.refine });
      times[k]!.push(performance.now() - t0);
    }
  }
}
const median = (v: number[]) => v.slice().sort((a, b) => a - b)[Math.floor(v.length / 2)]!;
const proposeMs = times.map(median);

// Clicks: at() after encode(), at the centres of the validation objects of the timed photos.
const clickMs = VARIANTS.map(() => [] as number[]);
for (const im of timed) {
  const img = load(join(subset, 'images', im.file_name));
  const pts = gt0.annotations.filter((a) => a.image_id === im.id && !a.iscrowd).map((a) => [a.bbox[0]! + a.bbox[2]! / 2, a.bbox[1]! + a.bbox[3]! / 2]);
  for (const [k, v] of VARIANTS.entries()) {
    const enc = await encode(model, img, { refine: v.refine });
    await enc.at(pts[0]![0]!, pts[0]![1]!); // warm
    for (const [x, y] of pts.slice(0, Math.ceil(clicks / timed.length))) {
      const t0 = performance.now();
      await enc.at(x!, y!);
      clickMs[k]!.push(performance.now() - t0);
    }
    enc.dispose();
  }
}

const f = (v: number | undefined) => (v === undefined ? '-' : v.toFixed(3));
const ratio = (a: number | undefined, b: number | undefined) => (a !== undefined && b ? `${(a / b).toFixed(2)}x` : '-');
const rows: string[] = [];
for (const r of results)
  for (const st of SETTINGS) {
    const by = r.settings[st.name]!;
    const [c, s] = [by[VARIANTS[0].name]!, by[VARIANTS[1].name]!];
    for (const [name, v] of [
      [VARIANTS[0].name, c],
      [VARIANTS[1].name, s],
    ] as const) {
      rows.push(
        `| ${r.set} (${r.photos} photos, ${r.objects} objects) | ${st.name} | ${name} | ${f(v.segm['AR@10'])} | ${f(v.segm['AR@100'])} | ${f(v.segm['AR@1000'])} | ${f(v.recall100['0.5'])} / ${f(v.recall100['0.75'])} / ${f(v.recall100['0.85'])} | ${f(v.bbox['AR@10'])} / ${f(v.bbox['AR@100'])} / ${f(v.bbox['AR@1000'])} |`,
      );
    }
    rows.push(
      `| | | refined / coarse | ${ratio(s.segm['AR@10'], c.segm['AR@10'])} | ${ratio(s.segm['AR@100'], c.segm['AR@100'])} | ${ratio(s.segm['AR@1000'], c.segm['AR@1000'])} | ${ratio(s.recall100['0.5'], c.recall100['0.5'])} / ${ratio(s.recall100['0.75'], c.recall100['0.75'])} / ${ratio(s.recall100['0.85'], c.recall100['0.85'])} | ${ratio(s.bbox['AR@10'], c.bbox['AR@10'])} / ${ratio(s.bbox['AR@100'], c.bbox['AR@100'])} / ${ratio(s.bbox['AR@1000'], c.bbox['AR@1000'])} |`,
    );
  }
const date = new Date().toISOString().slice(0, 10);
const md = [
  '<!-- refine -->',
  '## SharpMask refinement: refined against coarse masks',
  '',
  `Made by \`npm run bench:refine\` on ${rt.adapter.description}, ${date}: \`${modelDir}\` with its refinement and`,
  'without it (`refine: false`: the same trunk, heads, windows and ranking; only the masks differ), on the',
  'validation photos (`val-ids.json`) of each data set, which no shipped model trained on; 1000 proposals',
  "per photo, as the model infers them (`propose()` and `deepmask infer` with its config's mask NMS, the",
  'survivors chosen on the coarse masks, as the issue measured the coarse model) and with no NMS (the',
  "paper's). `coco-person-2017` labels one person per photo, so its figures are person recall.",
  '',
  '| data set | proposals | masks | mask AR@10 | AR@100 | AR@1000 | mask recall@100 at IoU .5 / .75 / .85 | box AR@10 / 100 / 1000 |',
  '| --- | --- | --- | --- | --- | --- | --- | --- |',
  ...rows,
  '',
  `Time of one whole \`propose()\` (pyramid to RLE, 100 proposals), median of ${times[0]!.length} runs over ${timed.length} photos of 640x480,`,
  `the two alternated: coarse ${(proposeMs[0]! / 1000).toFixed(2)} s, refined ${(proposeMs[1]! / 1000).toFixed(2)} s (**${(proposeMs[1]! / proposeMs[0]!).toFixed(2)}x**).`,
  `A click (\`at()\` after \`encode()\`, 3 masks), median of ${clickMs[1]!.length}: coarse ${median(clickMs[0]!).toFixed(0)} ms, refined ${median(clickMs[1]!).toFixed(0)} ms.`,
  '',
  `Pictures (coarse left, refined right; each of the largest objects' best mask among the top 100): ${pictures.map((p) => `\`${p}\``).join(', ')}.`,
  '<!-- /refine -->',
].join('\n');
const report = {
  adapter: rt.adapter.description,
  date,
  model: modelDir,
  sets: results,
  proposeMs: { coarse: proposeMs[0], refined: proposeMs[1], runs: times },
  clickMs: { coarse: median(clickMs[0]!), refined: median(clickMs[1]!) },
  pictures,
};
writeFileSync('bench/refine.json', `${JSON.stringify(report, null, 2)}\n`);
const resultsMd = existsSync('bench/RESULTS.md') ? readFileSync('bench/RESULTS.md', 'utf8') : '# Benchmark results\n';
const marked = /<!-- refine -->[\s\S]*<!-- \/refine -->/;
writeFileSync('bench/RESULTS.md', marked.test(resultsMd) ? resultsMd.replace(marked, md) : `${resultsMd.trimEnd()}\n\n${md}\n`);
console.log(md);
rt.destroy();
process.exit(0);
