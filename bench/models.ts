// `npm run bench:models`: bundled models side by side on the fixed validation photos of
// ../shared/data/coco-subset-2017 (val-ids.json; no shipped model trained on them): COCO mask and box
// AR@10/100/1000 (+ small/medium/large), the time of one whole propose() on 640x480-class photos
// (models alternated in one process), each pyramid scale's contribution and cost, and what
// non-maximum suppression does to AR@10/100. Writes bench/models.json and a section of bench/RESULTS.md.
//
//   node dist/bench/models.js [--models models/squeeze-coco,models/mobile-coco] [--data DIR]
//                             [--limit N] [--time-photos K] [--reuse] [--results DIR=results.json,...]
// Proposals are cached per model in runs/bench-models/<name>/ (--reuse skips models already run);
// --results takes a model's proposals from a `deepmask infer --proposals 1000 --coco ...` run
// instead (then without the per-scale analysis, which needs each proposal's scale).
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parseArgs } from 'node:util';
import { init } from '../src/index.js';
import { parseCoco, type CocoDataset } from '../src/data/coco.js';
import { decodeImage, type RgbImage } from '../src/data/image.js';
import { evaluate, type Detection } from '../src/eval/cocoeval.js';
import { defaultScales, encode, inferenceDefaults, propose, type Proposal } from '../src/infer/proposals.js';
import { nms, toCocoResults, type CocoResult } from '../src/infer/results.js';
import { annToRle } from '../src/data/rle.js';
import type { DeepMask } from '../src/model/deepmask.js';
import { loadModel } from '../src/model/files.js';

const { values } = parseArgs({
  options: {
    models: { type: 'string' },
    data: { type: 'string' },
    limit: { type: 'string' },
    'time-photos': { type: 'string' },
    reuse: { type: 'boolean' },
    results: { type: 'string' },
  },
});
const modelDirs = (values.models ?? 'models/squeeze-coco,models/mobile-coco').split(',');
const dataDir = values.data ?? '../shared/data/coco-subset-2017';
const limit = values.limit ? Number(values.limit) : Infinity;
const timePhotos = values['time-photos'] ? Number(values['time-photos']) : 3;
const PROPOSALS = 1000;

const gt: CocoDataset = parseCoco(readFileSync(join(dataDir, 'instances.json'), 'utf8'), join(dataDir, 'instances.json'));
const valIds = new Set(JSON.parse(readFileSync(join(dataDir, 'val-ids.json'), 'utf8')) as number[]);
const photos = gt.images
  .filter((im) => valIds.has(im.id))
  .sort((a, b) => a.id - b.id)
  .slice(0, limit);
const rt = await init();
console.log(`adapter: ${rt.adapter.description}; ${photos.length} validation photos of ${dataDir}`);

interface Ranked {
  image: number;
  proposals: (Proposal & { scaleIndex: number })[];
  /** The top 100 with other mask thresholds (the same windows, pasted again from one encoding). */
  byThreshold?: Record<string, Proposal[]>;
}

const THRESHOLDS = [0.1, 0.3, 0.4, 0.5];

function load(file: string): RgbImage {
  return decodeImage(readFileSync(file), file);
}

/** Every photo's top proposals over the model's default pyramid (cached on disk as COCO results with scales). */
const given = new Map(
  (values.results ?? '')
    .split(',')
    .filter(Boolean)
    .map((e) => e.split('=') as [string, string]),
);

async function rank(dir: string, model: DeepMask): Promise<{ ranked: Ranked[]; ms: number }> {
  const cache = join('runs/bench-models', basename(dir), 'proposals.json');
  if (values.reuse && existsSync(cache)) return JSON.parse(readFileSync(cache, 'utf8')) as { ranked: Ranked[]; ms: number };
  const file = given.get(dir);
  if (file) {
    // A results file of a run still going or cut short lacks its closing bracket: read what is there.
    const text = readFileSync(file, 'utf8').trimEnd();
    const res = JSON.parse(text.endsWith(']') ? text : `${text.replace(/,$/, '')}]`) as (CocoResult & { score: number })[];
    const ranked = photos.map((im) => ({
      image: im.id,
      proposals: res
        .filter((r) => r.image_id === im.id)
        .sort((a, b) => b.score - a.score)
        .map((r) => ({
          score: r.score,
          objectness: r.score,
          rle: annToRle(r.segmentation, im.height, im.width),
          bbox: r.bbox,
          area: 0,
          scale: 0,
          window: [0, 0, 0] as [number, number, number],
          cell: [0, 0] as [number, number],
          scaleIndex: -1,
        })),
    }));
    // A run cut short covers the photos it finished (it writes them in order): compare on those.
    return { ranked: ranked.filter((r) => r.proposals.length), ms: NaN };
  }
  const scales = defaultScales(model);
  const ranked: Ranked[] = [];
  let ms = 0;
  for (const [i, im] of photos.entries()) {
    const enc = await encode(model, load(join(dataDir, 'images', im.file_name)));
    const r = await enc.everything({ proposals: PROPOSALS });
    ms += r.timings.total;
    const byThreshold: Record<string, Proposal[]> = {};
    for (const t of THRESHOLDS) byThreshold[t] = (await enc.everything({ proposals: 100, threshold: t })).proposals;
    enc.dispose();
    ranked.push({
      image: im.id,
      byThreshold,
      proposals: r.proposals.map((p) => ({ ...p, scaleIndex: scales.findIndex((s) => Math.abs(s - p.scale) < 1e-9) })),
    });
    process.stderr.write(`\r${basename(dir)}: ${i + 1}/${photos.length} photos, ${(ms / (i + 1) / 1000).toFixed(1)} s each`);
  }
  process.stderr.write('\n');
  mkdirSync(join('runs/bench-models', basename(dir)), { recursive: true });
  writeFileSync(cache, JSON.stringify({ ranked, ms }));
  return { ranked, ms };
}

function ar(ranked: Ranked[], keep: (p: Proposal & { scaleIndex: number }) => boolean = () => true, post: (ps: Proposal[]) => Proposal[] = (p) => p) {
  const dts: Detection[] = ranked.flatMap((r) => toCocoResults(r.image, post(r.proposals.filter(keep)))) as unknown as Detection[];
  const imgIds = ranked.map((r) => r.image);
  const out: Record<string, Record<string, number>> = {};
  for (const iouType of ['segm', 'bbox'] as const) out[iouType] = evaluate(gt.images, gt.annotations, dts, { iouType, maxDets: [10, 100, 1000], imgIds }).AR;
  return out as { segm: Record<string, number>; bbox: Record<string, number> };
}

const models = modelDirs.map((dir) => ({ dir, model: loadModel(dir) }));
const report: Record<string, unknown> = { adapter: rt.adapter.description, date: new Date().toISOString(), photos: photos.length, data: dataDir };
const rows: string[] = [];
const fullRows: string[] = [];

// Time of one whole propose() (pyramid to RLE, 100 proposals), models alternated on the same photos,
// after one untimed pass per model on a small image (pipelines compile on first use).
const timing = new Map<string, number[]>();
const timed = photos.filter((p) => p.width === 640 || p.height === 640).slice(0, timePhotos);
if (timed.length) {
  const small = load(join(dataDir, 'images', timed[0]!.file_name));
  for (const { model } of models) await propose(model, { width: 160, height: 120, data: small.data.subarray(0, 160 * 120 * 3) });
}
for (const im of timed) {
  const img = load(join(dataDir, 'images', im.file_name));
  for (const { dir, model } of models) {
    const r = await propose(model, img);
    timing.set(dir, [...(timing.get(dir) ?? []), r.timings.total]);
    process.stderr.write(`time ${basename(dir)} ${im.file_name}: ${(r.timings.total / 1000).toFixed(2)} s\n`);
  }
}
const median = (v: number[] | undefined) => (v?.length ? v.slice().sort((a, b) => a - b)[Math.floor(v.length / 2)]! : NaN);

const results: Record<string, unknown> = {};
const rankings = new Map<string, Ranked[]>();
for (const { dir, model } of models) {
  // A cached ranking made over more scales than the model's defaults now hold is restricted to those:
  // exact for AR@10 and AR@100 (the top 100 come from the other scales' top 1000), a lower bound at 1000.
  const scales = defaultScales(model);
  const ranked = (await rank(dir, model)).ranked.map((r) => ({
    ...r,
    proposals:
      r.proposals[0]?.scaleIndex === -1
        ? r.proposals
        : r.proposals
            .filter((p) => scales.some((s) => Math.abs(s - p.scale) < 1e-9))
            .map((p) => ({ ...p, scaleIndex: scales.findIndex((s) => Math.abs(s - p.scale) < 1e-9) })),
    byThreshold:
      r.byThreshold &&
      Object.fromEntries(Object.entries(r.byThreshold).map(([t, ps]) => [t, ps.filter((p) => scales.some((s) => Math.abs(s - p.scale) < 1e-9))])),
  }));
  rankings.set(dir, ranked);
}
// Every model is compared on the photos all of them have proposals for.
const common = new Set(photos.map((p) => p.id).filter((id) => [...rankings.values()].every((r) => r.some((x) => x.image === id))));
report.comparedPhotos = common.size;
for (const { dir, model } of models) {
  const scales = defaultScales(model);
  const everything = rankings.get(dir)!;
  const ranked = everything.filter((r) => common.has(r.image));
  const all = ar(ranked);
  if (everything.length > ranked.length) {
    const full = ar(everything);
    fullRows.push(
      `| ${basename(dir)} (${model.config.preset}), all ${everything.length} photos | ${f(full.segm['AR@10'])} | ${f(full.segm['AR@100'])} | ${f(full.segm['AR@1000'])} | ${f(full.segm['AR_small@1000'])} / ${f(full.segm['AR_medium@1000'])} / ${f(full.segm['AR_large@1000'])} | ${f(full.bbox['AR@10'])} | ${f(full.bbox['AR@100'])} | ${f(full.bbox['AR@1000'])} | | | |`,
    );
    (report as Record<string, unknown>)[`${dir} on all photos`] = full;
  }
  // Each scale's contribution: AR with that scale's windows removed from the global ranking (the same
  // as a pyramid without it for AR@10/100, since the top 100 are refilled from the other scales' top 1000).
  const perScale =
    ranked[0]!.proposals[0]?.scaleIndex === -1
      ? []
      : scales.map((s, k) => {
          const without = ar(ranked, (p) => p.scaleIndex !== k);
          return {
            scale: +s.toFixed(3),
            share: ranked.reduce((n, r) => n + r.proposals.slice(0, 100).filter((p) => p.scaleIndex === k).length, 0) / (100 * ranked.length),
            lossSegm100: all.segm['AR@100']! - without.segm['AR@100']!,
            lossBbox100: all.bbox['AR@100']! - without.bbox['AR@100']!,
          };
        });
  const withNms = Object.fromEntries(
    [0.5, 0.7, 0.8].map((t) => [
      t,
      ar(
        ranked,
        () => true,
        (ps) => nms(ps, t, 100),
      ),
    ]),
  );
  const thresholds = ranked[0]!.byThreshold
    ? Object.fromEntries(
        THRESHOLDS.map((t) => [t, ar(ranked.map((r) => ({ image: r.image, proposals: r.byThreshold![t]!.map((p) => ({ ...p, scaleIndex: 0 })) })))]),
      )
    : {};
  // What `deepmask infer` writes by default: the model's own NMS (if any) keeping the best 100 of the
  // top 1000; the NMS rows above already hold it for the usual thresholds.
  const ownNms = inferenceDefaults(model).nms;
  const asInfer =
    ownNms < 1
      ? (withNms[ownNms] ??
        ar(
          ranked,
          () => true,
          (ps) => nms(ps, ownNms, 100),
        ))
      : ar(
          ranked,
          () => true,
          (ps) => ps.slice(0, 100),
        );
  results[dir] = {
    preset: model.config.preset,
    scales: scales.map((s) => +s.toFixed(3)),
    msPerPhoto: median(timing.get(dir)),
    AR: all,
    asInfer: { nms: ownNms, AR: asInfer },
    perScale,
    nms: withNms,
    thresholds,
  };
  rows.push(
    `| ${basename(dir)} (${model.config.preset}) | ${f(all.segm['AR@10'])} | ${f(all.segm['AR@100'])} | ${f(all.segm['AR@1000'])} | ${f(all.segm['AR_small@1000'])} / ${f(all.segm['AR_medium@1000'])} / ${f(all.segm['AR_large@1000'])} | ${f(all.bbox['AR@10'])} | ${f(all.bbox['AR@100'])} | ${f(all.bbox['AR@1000'])} | ${f(asInfer.segm['AR@10'])} / ${f(asInfer.segm['AR@100'])} | ${f(asInfer.bbox['AR@10'])} / ${f(asInfer.bbox['AR@100'])} | ${Number.isNaN(median(timing.get(dir))) ? '-' : `${(median(timing.get(dir)) / 1000).toFixed(2)} s`} |`,
  );
}
function inferenceDefaultsOf(dir: string): number {
  return inferenceDefaults(models.find((m) => m.dir === dir)!.model).threshold;
}
const sign = (v: number): string => `${v >= 0 ? '+' : ''}${v.toFixed(3)}`;
function f(v: number | undefined): string {
  return v === undefined ? '-' : v.toFixed(3);
}
report.models = results;

const md = [
  '<!-- models -->',
  '## Bundled models on the validation photos',
  '',
  `Made by \`npm run bench:models\` on ${rt.adapter.description}, ${report.date!.toString().slice(0, 10)}: ${common.size} photos of`,
  '`coco-subset-2017` listed in `val-ids.json` (no shipped model trained on them), 1000 proposals per photo,',
  'each model\'s default pyramid, threshold and re-ranking, no NMS. "As infer": the 100 proposals that',
  "`deepmask infer` writes by default (the model's own mask NMS, if its config has one, keeping the best",
  '100 of the top 1000). Time: one whole `propose()` (pyramid to RLE, 100',
  `proposals), median over ${timed.length} photo(s) of 640 px, the models alternated in one process.`,
  '',
  '| model | mask AR@10 | AR@100 | AR@1000 | AR S / M / L @1000 | box AR@10 | AR@100 | AR@1000 | as infer: mask AR@10 / 100 | box AR@10 / 100 | time / photo |',
  '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ...rows,
  ...fullRows,
  '',
  ...models.flatMap(({ dir }) => {
    const r = results[dir] as {
      perScale: { scale: number; share: number; lossSegm100: number; lossBbox100: number }[];
      nms: Record<string, { segm: Record<string, number>; bbox: Record<string, number> }>;
      thresholds: Record<string, { segm: Record<string, number>; bbox: Record<string, number> }>;
    };
    return [
      ...(r.perScale.length
        ? [
            `${basename(dir)}: each scale's share of the top 100 and the change of AR@100 without it (mask / box): ` +
              r.perScale.map((s) => `${s.scale}: ${(100 * s.share).toFixed(0)}%, ${sign(-s.lossSegm100)} / ${sign(-s.lossBbox100)}`).join('; ') +
              '.',
          ]
        : []),
      `${basename(dir)}: with mask NMS, mask AR@10 / AR@100: ` +
        Object.entries(r.nms)
          .map(([t, a]) => `IoU ${t}: ${f(a.segm['AR@10'])} / ${f(a.segm['AR@100'])}`)
          .join('; ') +
        '.',
      ...(Object.keys(r.thresholds).length
        ? [
            `${basename(dir)}: mask AR@10 / AR@100 by mask threshold (default ${inferenceDefaultsOf(dir)}): ` +
              Object.entries(r.thresholds)
                .map(([t, a]) => `${t}: ${f(a.segm['AR@10'])} / ${f(a.segm['AR@100'])}`)
                .join('; ') +
              '.',
          ]
        : []),
      '',
    ];
  }),
  '<!-- /models -->',
].join('\n');
writeFileSync('bench/models.json', `${JSON.stringify(report, null, 2)}\n`);
const resultsMd = existsSync('bench/RESULTS.md') ? readFileSync('bench/RESULTS.md', 'utf8') : '# Benchmark results\n';
const marked = /<!-- models -->[\s\S]*<!-- \/models -->/;
writeFileSync('bench/RESULTS.md', marked.test(resultsMd) ? resultsMd.replace(marked, md) : `${resultsMd.trimEnd()}\n\n${md}\n`);
console.log(md);
rt.destroy();
process.exit(0);
