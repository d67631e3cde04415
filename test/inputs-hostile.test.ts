// Hostile inputs to infer and training: twin image names, images whose size disagrees with their COCO
// file, and annotations whose box lies outside their image. Each is handled in a way the user is told.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encode as encodeJpeg } from 'jpeg-js';
import { writeSynth } from '../src/data/synth-files.js';
import { generateScenes } from '../src/data/synth.js';
import { decodeImage } from '../src/data/image.js';
import { decodePng } from '../src/data/png.js';
import { parseCoco, trainableAnnotations } from '../src/data/coco.js';
import { PatchSampler } from '../src/data/sampler.js';
import { Rng } from '../src/graph/random.js';
import { presetConfig } from '../src/model/presets.js';
import { runTraining } from '../src/train/run.js';
import { repoPath } from './lib/shared.js';
import { cli, warnings } from './lib/cli.js';
import './lib/gpu.js';

const dir = mkdtempSync(join(tmpdir(), 'deepmask-hostile-'));
const tiny = repoPath('models/tiny-synth');

test('infer --viz: x.jpg and x.png in one folder get distinct pictures (x.jpg.png, x.png.png); a unique name keeps x.png', () => {
  const scenes = generateScenes({ images: 3, seed: 31, width: 96, height: 80 }).images;
  const imgs = join(dir, 'twins');
  mkdirSync(imgs);
  writeFileSync(join(imgs, 'x.png'), scenes[0]!.png);
  writeFileSync(join(imgs, 'y.png'), scenes[2]!.png);
  // x.jpg: another scene, so the two pictures differ.
  const img = decodeImage(scenes[1]!.png);
  const rgba = new Uint8Array(img.width * img.height * 4);
  for (let i = 0; i < img.width * img.height; i++) rgba.set([...img.data.subarray(i * 3, i * 3 + 3)].map((v) => Math.round(v * 255)).concat(255), i * 4);
  writeFileSync(join(imgs, 'x.jpg'), new Uint8Array(encodeJpeg({ data: rgba, width: img.width, height: img.height }, 95).data));

  const out = join(dir, 'twins-out');
  const r = cli(['infer', imgs, '--weights', tiny, '--proposals', '5', '--viz', '--out', out]);
  assert.is(r.status, 0, r.err);
  assert.equal(readdirSync(join(out, 'viz')).sort(), ['x.jpg.png', 'x.png.png', 'y.png'], 'one picture per image, none overwritten');
  const a = readFileSync(join(out, 'viz', 'x.jpg.png')),
    b = readFileSync(join(out, 'viz', 'x.png.png'));
  assert.not.ok(a.equals(b), 'each picture is its own image');
  for (const p of [a, b]) assert.equal([decodePng(p).width, decodePng(p).height], [96, 80]);
  // The naming rule is in the usage text.
  assert.match(cli(['infer', '--help']).out, /x\.jpg\.png/);
});

test('infer --coco: an image whose decoded size differs from the COCO file is skipped, named with both sizes, counted; eval accepts the results', () => {
  const data = join(dir, 'sized');
  writeSynth(data, { images: 3, seed: 32, width: 96, height: 80 });
  const gt = join(data, 'instances.json');
  const coco = parseCoco(readFileSync(gt, 'utf8'), gt);
  const bad = coco.images[1]!;
  // The file on disk is another picture of 64x48: its results would not fit the COCO file's 96x80.
  const other = join(dir, 'other');
  writeSynth(other, { images: 1, seed: 33, width: 64, height: 48 });
  copyFileSync(join(other, 'images', readdirSync(join(other, 'images'))[0]!), join(data, 'images', bad.file_name));

  const out = join(dir, 'sized-out');
  const r = cli(['infer', '--coco', gt, '--weights', tiny, '--proposals', '5', '--out', out]);
  assert.is(r.status, 1, `a skipped image fails the run without --allow-skips\n${r.err}`);
  assert.match(r.err, new RegExp(`${bad.file_name.replace('.', '\\.')}.*64x48.*96x80`), "the warning names the image, its size and the COCO file's");
  const run = JSON.parse(readFileSync(join(out, 'run.json'), 'utf8')) as { processed: number; skipped: { file: string; error: string }[] };
  assert.is(run.processed, 2);
  assert.equal(
    run.skipped.map((s) => s.file),
    [bad.file_name],
  );
  assert.match(run.skipped[0]!.error, /64x48.*96x80/);
  const res = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as { image_id: number }[];
  assert.ok(res.length > 0 && res.every((d) => d.image_id !== bad.id), 'no results for the skipped image');
  const ev = cli(['eval', '--gt', gt, '--results', join(out, 'results.json'), '--json']);
  assert.is(ev.status, 0, ev.err);
  assert.is((JSON.parse(ev.out) as { images: number }).images, 2);

  // --allow-skips: the same, exit 0.
  const r2 = cli(['infer', '--coco', gt, '--weights', tiny, '--proposals', '5', '--allow-skips', '--out', join(dir, 'sized-out2')]);
  assert.is(r2.status, 0, r2.err);
  assert.match(r2.err, /64x48.*96x80/);
});

/** One 100x80 image, an object inside it and two whose boxes lie entirely outside it. */
function outsideData(): unknown {
  const poly = (x: number, y: number, w: number, h: number) => [[x, y, x + w, y, x + w, y + h, x, y + h]];
  return {
    images: [{ id: 1, file_name: 'a.png', width: 100, height: 80 }],
    annotations: [
      { id: 1, image_id: 1, category_id: 1, iscrowd: 0, area: 1200, bbox: [10, 10, 40, 30], segmentation: poly(10, 10, 40, 30) },
      { id: 2, image_id: 1, category_id: 1, iscrowd: 0, area: 400, bbox: [300, 200, 20, 20], segmentation: poly(300, 200, 20, 20) },
      { id: 3, image_id: 1, category_id: 1, iscrowd: 0, area: 400, bbox: [-50, 10, 30, 20], segmentation: poly(-50, 10, 30, 20) },
    ],
    categories: [{ id: 1, name: 'thing' }],
  };
}

test('an annotation whose box lies entirely outside its image: a warning names the file and how many; the sampler never trains on it', () => {
  const ds = parseCoco(outsideData(), 'outside.json');
  assert.equal(ds.warnings, ['outside.json: 2 annotations have a box entirely outside their image and are not trained on (annotation 2, annotation 3)']);
  assert.is(ds.annotations.length, 3, 'still in the dataset (eval keeps COCO semantics)');
  const sampler = new PatchSampler(ds, presetConfig('tiny'), new Rng(3));
  const drawn = new Set(sampler.batch(200, 'mask').map((s) => s.annId));
  assert.equal([...drawn], [1], 'only the object inside the image is a positive');
  assert.equal(
    sampler.annotationsOf(1).map((a) => a.id),
    [1],
  );
  // What train-heads and train-refine learn from (their windows come from these).
  assert.equal(
    trainableAnnotations(ds).map((a) => a.id),
    [1],
  );
  // Nothing else usable: the refusal says why.
  const only = outsideData() as { annotations: unknown[] };
  only.annotations.shift();
  assert.throws(() => new PatchSampler(parseCoco(only, 'o.json'), presetConfig('tiny'), new Rng(3)), /no annotation can serve as a positive.*2 .*outside/);
});

test('training warns once about annotations outside their image, naming the file and the count', async () => {
  const data = join(dir, 'train-outside');
  writeSynth(data, { images: 6, seed: 34, width: 96, height: 80 });
  const file = join(data, 'instances.json');
  const coco = JSON.parse(readFileSync(file, 'utf8')) as { images: { id: number }[]; annotations: { id: number }[] };
  const id = Math.max(...coco.annotations.map((a) => a.id)) + 1;
  coco.annotations.push({
    id,
    image_id: coco.images[0]!.id,
    category_id: 1,
    iscrowd: 0,
    area: 1600,
    bbox: [500, 500, 40, 40],
    segmentation: [[500, 500, 540, 500, 540, 540, 500, 540]],
  } as { id: number });
  writeFileSync(file, JSON.stringify(coco));
  const { lines } = await warnings(() =>
    runTraining({
      data: file,
      images: join(data, 'images'),
      preset: 'tiny',
      out: join(dir, 'train-outside-run'),
      holdOut: 2,
      valWindows: 2,
      batch: 2,
      steps: 1,
      lrSchedule: [[0, 0.01]],
      logEvery: 1,
      validateEvery: 1000,
      checkpointEvery: 1000,
    }),
  );
  const hits = lines.filter((l) => /entirely outside/.test(l));
  assert.is(hits.length, 1, lines.join('\n'));
  assert.match(
    hits[0]!,
    new RegExp(`${file.replaceAll('.', '\\.')}: 1 annotation has a box entirely outside its image and is not trained on \\(annotation ${id}\\)`),
  );
});

test.run();
