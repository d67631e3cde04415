// The data loader on its own: windows rendered per second (decoding, resampling, targets) in worker
// threads, for the squeeze preset on the COCO photos when present, else the tiny preset on synthetic
// scenes. It must outpace the trainer's samples/s (the deepmask and model sections).
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseCoco } from '../src/data/coco.js';
import { WorkerLoader } from '../src/data/loader.js';
import { PatchSampler } from '../src/data/sampler.js';
import { Rng } from '../src/graph/random.js';
import { presetConfig } from '../src/model/presets.js';
import { BatchMaker } from '../src/train/batches.js';
import { writeSynth } from '../src/data/synth-files.js';
import { generateScenes } from '../src/data/synth.js';
import type { BenchContext } from './run.js';
import type { Section } from './lib/report.js';

export async function loaderBench({ quick }: BenchContext): Promise<Section> {
  const rows: Section['rows'] = [];
  // The synthetic scenes `npm start` and the tests train on: drawn and PNG-encoded on the host.
  const t0 = performance.now();
  const scenes = generateScenes({ images: 100 });
  const ms = performance.now() - t0;
  const kib = scenes.images.reduce((s, i) => s + i.png.length, 0) / scenes.images.length / 1024;
  // COCO parsing stays lazy (masks are rasterised when a window needs them): 100k polygon annotations.
  const poly = Array.from({ length: 40 }, (_, i) => (i % 2 ? 4 + 3 * Math.sin(i) : 5 + 4 * Math.cos(i)));
  const big = {
    images: [1, 2, 3].map((id) => ({ id, file_name: `${id}.jpg`, width: 640, height: 480 })),
    categories: [{ id: 1, name: 'a' }],
    annotations: Array.from({ length: 100_000 }, (_, i) => ({
      id: i + 1,
      image_id: 1 + (i % 3),
      category_id: 1,
      iscrowd: 0,
      area: 1,
      bbox: [0, 0, 1, 1],
      segmentation: [poly],
    })),
  };
  const p0 = performance.now();
  parseCoco(big, 'bench');
  rows.push({
    name: 'COCO annotations parsed (polygons, not rasterised)',
    unit: 'samples/s',
    ours: (100_000 * 1000) / (performance.now() - p0),
    detail: { annotations: 100_000 },
  });
  rows.push({
    name: 'synthetic scenes generated (drawn, PNG-encoded)',
    unit: 'samples/s',
    ours: (100 * 1000) / ms,
    detail: { size: '256x192', 'KiB per PNG': Number(kib.toFixed(1)), objects: scenes.coco.annotations.length },
  });
  const coco = '../shared/data/coco-tiny-train2017';
  const synth = join(mkdtempSync(join(tmpdir(), 'deepmask-bench-')), 'synth');
  writeSynth(synth, { images: 100, seed: 1 });
  const sets: [string, string, string][] = [['tiny', join(synth, 'instances.json'), join(synth, 'images')]];
  if (existsSync(coco)) sets.push(['squeeze', join(coco, 'instances.json'), join(coco, 'images')]);
  for (const [preset, data, images] of sets) {
    const cfg = presetConfig(preset);
    const ds = parseCoco(readFileSync(data, 'utf8'), data);
    for (const workers of quick ? [1] : [1, 2]) {
      const loader = new WorkerLoader({
        imagesDir: images,
        files: new Map(ds.images.map((im) => [im.id, im.file_name])),
        geo: cfg,
        norm: cfg.normalization,
        workers,
      });
      const maker = new BatchMaker(new PatchSampler(ds, cfg, new Rng(1)), loader.render, cfg);
      await maker.make(32, 'joint'); // warm the image caches
      const t0 = performance.now();
      let n = 0;
      while (performance.now() - t0 < 3000) n += (await maker.make(32, 'joint')).n;
      const rate = (n * 1000) / (performance.now() - t0);
      rows.push({
        name: `${preset} windows, ${workers} worker${workers > 1 ? 's' : ''}`,
        unit: 'samples/s',
        ours: rate,
        detail: { window: cfg.inputSize, 'ground truth': cfg.gtSize },
      });
      await loader.close();
    }
  }
  return { title: 'data loader alone (decode, crop and resample, targets; cached images)', rows };
}
