import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, extname, join, resolve } from 'node:path';
import { init } from '../index.js';
import { decodeImageBytes } from '../data/image-input.js';
import type { RgbImage } from '../data/image.js';
import { encodePng } from '../data/png.js';
import { listInputs, shardImages, type InputList } from '../data/inputs.js';
import { CONFIG_FILE, loadModel, stageFile, WEIGHTS_FILE, writeFileAtomic, type StagedFile } from '../model/files.js';
import { parseModelConfig } from '../model/weights.js';
import { encode, inferenceDefaults, propose, scalesFromRange, type InferProgress, type Proposal, type Rerank, type Timings } from '../infer/proposals.js';
import { drawProposals, toCocoResults, vizNames } from '../infer/results.js';
import {
  finishedRun,
  identityDiff,
  idLine,
  idsWriter,
  ListWriter,
  lockFolder,
  modelSha256,
  prepareRunDir,
  RESULTS_FILE,
  RUN_FILE,
  shardDirName,
  SUCCESS_FILE,
  type RunIdentity,
  type RunRecord,
} from '../infer/shards.js';
import { bundledModel } from '../model/bundled.js';
import { withNegativeValues, parse, rangedOption, str, UsageError } from './args.js';
import { Progress, stageLine } from './progress.js';
import type { Command } from './command.js';

const usage = `Usage: deepmask infer IMAGE_OR_DIR... --out DIR [options]
       deepmask infer IMAGE --point X,Y [--point X,Y ...] --out DIR
       deepmask infer --manifest FILE --out DIR [--images ROOT] [options]
       deepmask infer --coco instances.json --out DIR [--images ROOT] [options]

Class-agnostic object-mask proposals for PNG/JPEG images (files or folders, one level deep).
A JPEG's EXIF orientation is applied (phone photos upright), except with --coco, whose
annotations are in the pixels as stored.

  --weights DIR     a model folder (config.json + model.safetensors); default: the bundled
                    mobile model trained on COCO photos (models/mobile-coco)
  --out DIR         writes results.json (COCO results: image_id, category_id 1, score, RLE
                    segmentation, bbox), ids.json (every input's image id), run.json (model,
                    settings, adapter, counts, skipped files, time) and last a _SUCCESS marker;
                    results go to a temporary file renamed at the end. With --viz, viz/<image>.png
  --proposals N     proposals per image, 1 to 100000 (default: the model's, 100 unless its
                    config.json says otherwise; COCO's AR@1000 needs 1000)
  --scales A:B:S    pyramid scales 2^A .. 2^B in steps of 2^S; A, B in [-8, 8], at most 64 scales
                    (default: the model's config.json, else the paper's for the preset)
  --threshold P     mask probability threshold, in (0, 1) (default: the model's, else 0.2)
  --nms T           drop proposals whose mask IoU with a better one exceeds T, in (0, 1],
                    keeping the best N of a ten times longer ranking, chosen on the coarse masks
                    (a refining model refines only the survivors); default: the model's;
                    mobile-coco uses 0.8, chosen on training photos for AR@100; 1 = none, as in the paper)
  --rerank P:A|off  rank the best P windows by objectness x confidence^A, a mask's confidence being
                    the mean probability of the pixels it claims; P from 1 to 100000, A >= 0
                    (default: the model's; mobile-coco's was chosen on training photos; off:
                    objectness alone, as in the paper)
  --point X,Y       a click on the one image given (exactly one image file: a folder, several
                    images, a manifest or a COCO file are refused): results.json holds the best
                    masks at that point, best first, each with "point" (several --point allowed;
                    encoded once; --proposals sets how many per point, default 3). A point must
                    lie inside the image (checked before any work). With --viz, viz/<image>.png
                    shows the best mask at each point, numbered in --point order, and the points
                    marked
  --polygons        also write each mask as COCO polygons ("polygons": [[x1,y1,x2,y2,...],...])
                    beside its RLE: outlines of its 4-connected parts, holes filled, simplified
                    (Douglas-Peucker) to --polygon-vertices in all, 3 to 100000 (default 64)
  --no-refine       a refining model's coarse masks (56x56 per window, no SharpMask refinement:
                    faster, blobbier outlines); the bundled model refines by default
  --f16             weights held as f16 on the GPU (half the weight memory; f32 arithmetic)
  --viz             draw the top proposals on each image as outlines over light fills,
                    labelled with rank and score, no label covering another (near-duplicates
                    skipped)   --viz-top K (default 10); pictures are named
                    viz/<input name without extension, folders joined by __>.png, and
                    inputs that would share a name keep their extension (x.jpg and x.png:
                    viz/x.jpg.png and viz/x.png.png)
  A run that fails or is interrupted before writing anything removes the output folder it created.

Inputs and image ids:
  --manifest FILE   one image path per line (blank lines and # comments ignored); relative paths
                    are read from --images ROOT (default: the manifest's folder)
  --coco FILE       a COCO instances file: alone, its images are the input (read from --images
                    ROOT, default: images/ beside the file); with images or a manifest, only
                    their ids come from it (by file name). A lone *.json argument is the same.
                    An image whose size is not the file's width x height is skipped (named,
                    counted as an unreadable one), so that eval accepts the results.
  Without a COCO file, ids are the numbers in the file names when all are distinct numbers
  (000000008193.jpg -> 8193), else 1 + the position in the list sorted by name. ids.json says
  which rule was used.

Large runs (see docs/SCALE.md):
  --shard I/N       process only shard I of N (0-based): images at sorted positions ≡ I (mod N);
                    writes DIR/shard-0000I-of-0000N/; \`deepmask merge\` joins the shards
  --shards N        the same, with I from JOB_COMPLETION_INDEX (Kubernetes Indexed Jobs) or
                    AWS_BATCH_JOB_ARRAY_INDEX (AWS Batch array jobs)
  --force           redo a finished run (otherwise a rerun with the same settings does nothing,
                    and one with other settings is refused)
  --allow-skips     exit 0 when some (not all) images could not be read (still counted); a shard
                    none of whose images can be read still finishes, empty, its skips recorded
  A second process writing into the same output folder (e.g. the same shard) is refused (lock
  file). Nothing is put in place until results, ids and run record are all written in full and
  synced: on a write error (a full disk) the previous files are left as they were, with no _SUCCESS.

Exit status: 0 done (or already done); 1 an image could not be read (skipped, counted in run.json),
nothing could be processed, a file could not be written or the folder is in use; 2 a usage error
(checked before any work); 130/143 interrupted.`;

const SHARD_ENV = ['JOB_COMPLETION_INDEX', 'AWS_BATCH_JOB_ARRAY_INDEX'] as const;

/** --shard I/N, or --shards N with I from the environment; undefined for an unsharded run. */
export function shardOption(
  shard: string | undefined,
  shards: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): { index: number; count: number } | undefined {
  let count: number | undefined;
  if (shards !== undefined) count = rangedOption(shards, 'shards', 1, { min: 1, max: 1e6, integer: true });
  if (shard !== undefined) {
    const m = /^(\d+)\/(\d+)$/.exec(shard);
    const [i, n] = m ? [Number(m[1]), Number(m[2])] : [NaN, NaN];
    if (!(n >= 1 && n <= 1e6 && i < n)) throw new UsageError(`--shard must be I/N with N from 1 to 1000000 and I from 0 to N-1, got '${shard}'`);
    if (count !== undefined && count !== n) throw new UsageError(`--shard ${shard} and --shards ${shards} disagree on the number of shards`);
    return { index: i, count: n };
  }
  if (count === undefined) return undefined;
  const found = SHARD_ENV.filter((k) => env[k] !== undefined && env[k] !== '');
  if (!found.length) throw new UsageError(`--shards ${count} needs the shard index: --shard I/${count}, or ${SHARD_ENV.join(' or ')} in the environment`);
  const values = found.map((k) => env[k]!);
  if (new Set(values).size > 1) throw new UsageError(`${found.map((k) => `${k}=${env[k]}`).join(' and ')} disagree; set one`);
  const index = Number(values[0]);
  if (!(/^\d+$/.test(values[0]!) && index < count))
    throw new UsageError(`${found[0]}=${values[0]} is not a shard index from 0 to ${count - 1} (--shards ${count})`);
  return { index, count };
}

/** --scales MIN:MAX:STEP in log2 units, within the ranges the usage states. */
export function scalesOption(v: string): number[] {
  const parts = v.split(':');
  const nums = parts.map((p) => (p.trim() === '' ? NaN : Number(p)));
  if (parts.length !== 3 || !nums.every(Number.isFinite)) throw new UsageError(`--scales must be MIN:MAX:STEP in log2 units (e.g. -2:1:0.5), got '${v}'`);
  const [a, b, s] = nums as [number, number, number];
  if (a < -8 || b > 8 || a > 8 || b < -8) throw new UsageError(`--scales: MIN and MAX must be in [-8, 8] (scales 2^-8 to 2^8), got '${v}'`);
  if (!(s > 0)) throw new UsageError(`--scales: STEP must be > 0, got '${v}'`);
  if (b < a) throw new UsageError(`--scales: MAX must be at least MIN, got '${v}'`);
  const n = Math.floor((b - a) / s + 1e-9) + 1;
  if (n > 64) throw new UsageError(`--scales '${v}' gives ${n} scales; at most 64 are allowed (a STEP of at least ${+((b - a) / 63).toPrecision(3)})`);
  return scalesFromRange(a, b, s);
}

/** --rerank POOL:POWER, or off (null). */
export function rerankOption(v: string): Rerank | null {
  if (v.trim() === 'off') return null;
  const parts = v.split(':');
  const [pool, power] = parts.map((p) => (p.trim() === '' ? NaN : Number(p)));
  if (parts.length !== 2 || !(Number.isInteger(pool) && pool! >= 1 && pool! <= 100000) || !(Number.isFinite(power) && power! >= 0)) {
    throw new UsageError(`--rerank must be POOL:POWER (a window count from 1 to 100000 and a power >= 0, e.g. 1000:1) or off, got '${v}'`);
  }
  return { pool: pool!, power: power! };
}

export const inferCommand: Command = {
  summary: 'propose object masks for images (COCO results JSON, optional pictures; shards for large runs)',
  usage,
  async run(argv) {
    // A run that fails before writing anything leaves no empty output folder it created itself.
    const folder: OutFolder = {};
    try {
      await inferRun(argv, folder);
    } finally {
      if (!folder.wrote && folder.out) removeEmptyFolders(folder.out, folder.created);
    }
  },
};

/** The output folder of a run: where it is, the first folder the run created for it, whether anything was written. */
interface OutFolder {
  out?: string;
  created?: string | undefined;
  wrote?: boolean;
}

/** Removes `out` (and viz/ in it) and the folders above it up to `created`, each only when empty. */
function removeEmptyFolders(out: string, created: string | undefined): void {
  if (created === undefined) return; // the folder was there before the run
  try {
    rmdirSync(join(out, 'viz'));
  } catch {
    // absent, or it holds pictures: then out is not empty either
  }
  const top = resolve(created);
  for (let d = resolve(out); ; d = dirname(d)) {
    try {
      rmdirSync(d);
    } catch {
      return; // not empty: something was written, or another shard shares the parent
    }
    if (d === top || dirname(d) === d) return;
  }
}

/** Marks clicked points on an RGBA picture: a white disc with a dark ring and centre. */
export function markPoints(rgba: Uint8Array, width: number, height: number, points: [number, number][]): void {
  const r = Math.max(4, Math.round(Math.min(width, height) / 60));
  for (const [px, py] of points) {
    const cx = Math.floor(px),
      cy = Math.floor(py);
    for (let y = Math.max(0, cy - r); y <= Math.min(height - 1, cy + r); y++) {
      for (let x = Math.max(0, cx - r); x <= Math.min(width - 1, cx + r); x++) {
        const d = Math.hypot(x - cx, y - cy);
        if (d > r) continue;
        const v = d > r - 1.5 || d < 1.5 ? 0 : 255;
        rgba.set([v, v, v, 255], 4 * (y * width + x));
      }
    }
  }
}

async function inferRun(argv: string[], folder: OutFolder): Promise<void> {
  {
    const t00 = performance.now(),
      started = new Date().toISOString();
    const spec = {
      weights: { type: 'string' },
      out: { type: 'string' },
      proposals: { type: 'string' },
      scales: { type: 'string' },
      threshold: { type: 'string' },
      f16: { type: 'boolean' },
      'no-refine': { type: 'boolean' },
      viz: { type: 'boolean' },
      'viz-top': { type: 'string' },
      coco: { type: 'string' },
      nms: { type: 'string' },
      manifest: { type: 'string' },
      images: { type: 'string' },
      shard: { type: 'string' },
      shards: { type: 'string' },
      force: { type: 'boolean' },
      'allow-skips': { type: 'boolean' },
      point: { type: 'string', multiple: true },
      rerank: { type: 'string' },
      polygons: { type: 'boolean' },
      'polygon-vertices': { type: 'string' },
    } as const;
    const { values: v, positionals } = parse(withNegativeValues(argv, spec), spec, usage);

    // Every option is checked before any work.
    const outRoot = str(v.out);
    if (!outRoot) throw new UsageError(`--out is required\n\n${usage}`);
    // NaN: not given, the model's config.json chooses (inferenceDefaults).
    const proposalsArg = rangedOption(v.proposals, 'proposals', NaN, { min: 1, max: 100000, integer: true });
    const thresholdArg = rangedOption(v.threshold, 'threshold', NaN, { min: 0, max: 1, minOpen: true, maxOpen: true });
    const nmsArg = rangedOption(v.nms, 'nms', NaN, { min: 0, max: 1, minOpen: true });
    const polygonVertices = rangedOption(v['polygon-vertices'], 'polygon-vertices', 64, { min: 3, max: 100000, integer: true });
    if (v['polygon-vertices'] !== undefined && !v.polygons) throw new UsageError('--polygon-vertices needs --polygons');
    const polygons = v.polygons ? { maxVertices: polygonVertices } : undefined;
    const vizTop = rangedOption(v['viz-top'], 'viz-top', 10, { min: 1, max: 1000, integer: true });
    const scalesArg = str(v.scales) !== undefined ? scalesOption(str(v.scales)!) : undefined;
    const rerankArg = str(v.rerank) !== undefined ? rerankOption(str(v.rerank)!) : undefined;
    const points = ((v.point as string[] | undefined) ?? []).map((p) => {
      const xy = p.split(',').map((q) => (q.trim() === '' ? NaN : Number(q)));
      if (xy.length !== 2 || !xy.every((c) => Number.isFinite(c) && c >= 0))
        throw new UsageError(`--point must be X,Y in image pixels (two numbers >= 0), got '${p}'`);
      return xy as [number, number];
    });
    if (points.length && (positionals.length !== 1 || v.shard || v.shards))
      throw new UsageError('--point answers clicks on one image: give exactly one image (and no shards)');
    const shard = shardOption(str(v.shard), str(v.shards));
    let coco = str(v.coco);
    const manifest = str(v.manifest),
      imagesRoot = str(v.images);
    let paths = positionals;
    if (paths.length === 1 && extname(paths[0]!).toLowerCase() === '.json' && !coco && !manifest) [coco, paths] = [paths[0], []];
    if (manifest && paths.length) throw new UsageError(`give images or folders, or --manifest, not both`);
    if (!paths.length && !manifest && !coco) throw new UsageError(`give at least one image or folder, --manifest FILE or --coco FILE\n\n${usage}`);
    if (imagesRoot && paths.length)
      throw new UsageError(`--images sets the root of a manifest's or COCO file's paths; with image or folder arguments, leave it out`);
    for (const [p, what] of [
      ...paths.map((p) => [p, 'image or folder'] as const),
      [manifest, '--manifest'],
      [coco, '--coco'],
      [imagesRoot, '--images'],
    ] as const) {
      if (p !== undefined && !existsSync(p)) throw new UsageError(`${what} ${p}: no such file or folder`);
    }
    const weights = str(v.weights) ?? bundledModel();
    for (const f of [CONFIG_FILE, WEIGHTS_FILE])
      if (!existsSync(join(weights, f))) throw new UsageError(`--weights ${weights}: no ${f} there (a model folder holds ${CONFIG_FILE} and ${WEIGHTS_FILE})`);
    const config = parseModelConfig(readFileSync(join(weights, CONFIG_FILE), 'utf8'), join(weights, CONFIG_FILE)).model;

    const input: InputList = listInputs({ paths, manifest, coco, images: imagesRoot });
    let pointImage: RgbImage | undefined;
    if (points.length) {
      // One point is one click on one picture; a folder or a COCO file would apply it to every image.
      if (input.images.length !== 1)
        throw new UsageError(
          `--point answers clicks on one image: give exactly one image file, not ${paths.length ? `${paths[0]} (a folder of ${input.images.length} images)` : `${coco ?? manifest} (${input.images.length} images)`}`,
        );
      // Decoded now, so a point outside the picture is refused before any work, like every usage error.
      const im = input.images[0]!;
      try {
        pointImage = await decodeImageBytes(readFileSync(im.path), im.path, { exif: !coco });
      } catch {
        // unreadable: the loop below skips it, named and counted, as without --point
      }
      for (const [x, y] of points) {
        if (pointImage && !(x < pointImage.width && y < pointImage.height)) {
          throw new UsageError(
            `--point ${x},${y} is outside ${im.path}, which is ${pointImage.width}x${pointImage.height} pixels (X below ${pointImage.width}, Y below ${pointImage.height})`,
          );
        }
      }
    }
    const { index, count } = shard ?? { index: 0, count: 1 };
    const mine = shardImages(input.images, index, count);
    // Picture names from the whole list (by position), so x.jpg and x.png never share one, in any shard.
    const vizName = v.viz ? vizNames(input.images.map((im) => im.key)) : [];
    const out = shard ? join(outRoot, shardDirName(index, count)) : outRoot;
    const defaults = inferenceDefaults({ config });
    const scales = scalesArg ?? defaults.scales;
    const proposals = Number.isNaN(proposalsArg) ? defaults.proposals : proposalsArg;
    const threshold = Number.isNaN(thresholdArg) ? defaults.threshold : thresholdArg;
    const nmsAt = Number.isNaN(nmsArg) ? defaults.nms : nmsArg;
    const rerank = rerankArg === undefined ? defaults.rerank : rerankArg;
    const identity: RunIdentity = {
      model: { preset: config.preset, sha256: modelSha256(weights) },
      settings: {
        proposals,
        scales,
        threshold,
        nms: nmsAt,
        ...(rerank ? { rerank } : {}),
        f16: !!v.f16,
        ...(v['no-refine'] ? { refine: false } : {}),
        ...(polygons ? { polygons: polygonVertices } : {}),
      },
      input: { images: input.images.length, fingerprint: input.fingerprint, rule: input.rule },
      shards: count,
    };
    const what = shard ? `shard ${index}/${count}` : 'run';

    // One process at a time writes an output folder: two on one shard removed each other's
    // temporary files (a raw ENOENT on rename) or both reported success. Taken before the check for
    // a finished run, so a process that comes after one that finished finds it finished.
    folder.out = out;
    folder.created = mkdirSync(out, { recursive: true });
    const unlock = lockFolder(out, `infer (${what})`);
    let writing = false; // from then on the writing's own finally releases the lock
    try {
      // A finished run with the same identity is not redone; one with another is not overwritten.
      const done = v.force ? undefined : finishedRun(out);
      if (done) {
        const diff = identityDiff(identity, done.identity);
        if (diff.length)
          throw new UsageError(`${out} holds a finished ${what} with other settings (${diff.join('; ')}); use another --out, or --force to replace it`);
        const skipped = done.skipped.length;
        console.log(
          `${what} already complete in ${out} (${done.processed} of ${done.images} images, finished ${done.finished}); nothing to do (--force redoes it)`,
        );
        if (skipped) {
          console.warn(`${skipped} image(s) were skipped (listed in ${join(out, RUN_FILE)})`);
          if (!v['allow-skips']) process.exitCode = 1;
        }
        return;
      }
      prepareRunDir(out);
      writing = true;
    } finally {
      if (!writing) unlock();
    }

    if (v.viz) mkdirSync(join(out, 'viz'), { recursive: true });
    const rt = await init().catch((e: unknown) => {
      unlock();
      throw e;
    });
    const results = new ListWriter(join(out, RESULTS_FILE));
    const ids = idsWriter(out, input.rule);
    // Ctrl-C and SIGTERM stop after the current image; the temporary results are removed.
    let stop: NodeJS.Signals | undefined;
    const onSignal = (sig: NodeJS.Signals) => {
      if (stop) process.exit(sig === 'SIGTERM' ? 143 : 130);
      stop = sig;
    };
    process.on('SIGINT', onSignal).on('SIGTERM', onSignal);
    let runFile: StagedFile | undefined;
    try {
      const model = loadModel(weights);
      if (v.f16) model.half();
      console.log(
        `adapter: ${rt.adapter.description}; model: ${weights} (${config.preset}); ${what}: ${mine.length} of ${input.images.length} image(s), ${scales.length} scales; ids: ${input.rule}`,
      );
      const total: Timings = { pyramid: 0, trunk: 0, heads: 0, topN: 0, masks: 0, refine: 0, paste: 0, rle: 0, total: 0 };
      const skipped: RunRecord['skipped'] = [];
      const progress = new Progress(mine.length, 'images', 'image');
      // Stages of one image (the pyramid's scales through the trunk and heads, then the masks): shown
      // for a lone image, where a photo takes seconds, and on a terminal, where the line is rewritten.
      const showStages = mine.length === 1 || process.stderr.isTTY;
      // The first run's compiling (about 20 s on a 2-core CPU with lavapipe) is shown whatever the number of images.
      const onProgress = (i: number) => (e: InferProgress) => {
        if (showStages || e.stage === 'compile') progress.stage(i, stageLine(e));
      };
      const tLoop = performance.now();
      let processed = 0;
      const clicks = { encode: 0, masks: 0 }; // --point: the one encoding, and the masks at the points
      try {
        for (const [i, im] of mine.entries()) {
          if (stop) break;
          ids.add(idLine({ position: im.position, id: im.id, file: im.key }));
          let img;
          try {
            // EXIF orientation is applied (phone photos upright) except for COCO inputs, whose
            // annotations and sizes are those of the pixels as stored.
            img = pointImage ?? (await decodeImageBytes(readFileSync(im.path), im.path, { exif: !coco }));
          } catch (e) {
            const error = (e as Error).message.replace(`${im.path}: `, '');
            console.warn(`\nwarning: skipping ${im.path}: ${error}`);
            skipped.push({ file: im.key, error });
            continue;
          }
          if (im.size && (img.width !== im.size[0] || img.height !== im.size[1])) {
            // Masks of another size than the COCO file's would make eval refuse the whole results
            // file; skipped and counted like an unreadable image, so what is written evaluates.
            const error = `decoded size ${img.width}x${img.height} differs from the COCO file's ${im.size[0]}x${im.size[1]} (width x height) for image ${im.id}`;
            console.warn(`\nwarning: skipping ${im.path}: ${error}`);
            skipped.push({ file: im.key, error });
            continue;
          }
          if (points.length) {
            // Clicks: encode once, then the best masks at each point (best first), tagged with it.
            const enc = await encode(model, img, { scales, refine: !v['no-refine'], onProgress: onProgress(i) });
            const best: Proposal[] = []; // the best mask at each point, for --viz
            try {
              for (const k of Object.keys(total) as (keyof Timings)[]) total[k] += enc.timings[k];
              clicks.encode += enc.timings.total;
              const t0 = performance.now();
              for (const [x, y] of points) {
                const masks = await enc.at(x, y, {
                  count: Number.isNaN(proposalsArg) ? 3 : proposals,
                  threshold,
                  rerank: rerank ?? false,
                  ...(polygons ? { polygons } : {}),
                });
                if (masks[0]) best.push(masks[0]);
                for (const res of toCocoResults(im.id, masks)) results.add(JSON.stringify({ ...res, point: [x, y] }));
              }
              clicks.masks += performance.now() - t0;
            } finally {
              enc.dispose();
            }
            if (v.viz) {
              const picture = drawProposals(img, best, best.length, 1);
              markPoints(picture, img.width, img.height, points);
              writeFileSync(join(out, 'viz', vizName[im.position]!), encodePng(picture, img.width, img.height));
            }
            processed++;
            progress.update(i + 1, i + 1, { ms: Math.round(enc.timings.total) });
            continue;
          }
          const r = await propose(model, img, {
            proposals,
            scales,
            threshold,
            nms: nmsAt,
            rerank: rerank ?? false,
            refine: !v['no-refine'],
            ...(polygons ? { polygons } : {}),
            onProgress: onProgress(i),
          });
          if (r.notice) console.warn(`\nnote: ${im.path}: ${r.notice}`);
          for (const k of Object.keys(total) as (keyof Timings)[]) total[k] += r.timings[k];
          for (const res of toCocoResults(im.id, r.proposals)) results.add(JSON.stringify(res));
          if (v.viz) writeFileSync(join(out, 'viz', vizName[im.position]!), encodePng(drawProposals(img, r.proposals, vizTop), img.width, img.height));
          processed++;
          progress.update(i + 1, i + 1, { ms: Math.round(r.timings.total) });
        }
      } finally {
        progress.done();
      }
      if (stop) {
        results.abort();
        ids.abort();
        console.error(`interrupted (${stop}) after ${processed} of ${mine.length} images; nothing written: rerun the same command to redo this ${what}`);
        process.exitCode = stop === 'SIGTERM' ? 143 : 130;
        return;
      }
      // A shard still finishes, empty, with its skips recorded: merge needs every shard of the run.
      if (mine.length && !processed && !shard) {
        results.abort();
        ids.abort();
        throw new Error(
          `none of the ${mine.length} image(s) of this ${what} could be read (first: ${skipped[0]!.file}: ${skipped[0]!.error}); nothing written`,
        );
      }
      const imageSeconds = (performance.now() - tLoop) / 1000;
      // Results, ids and the run record are all on disk (written in full, synced) before any is
      // put in place, so a full disk leaves the previous files as they were; the marker comes last.
      results.finish();
      ids.finish();
      const record: RunRecord = {
        format: 'deepmask-infer-run/1',
        identity,
        shard: { index, count },
        model_path: weights,
        adapter: rt.adapter.description,
        host: hostname(),
        images: mine.length,
        processed,
        skipped,
        proposals: results.count,
        started,
        finished: new Date().toISOString(),
        seconds: +((performance.now() - t00) / 1000).toFixed(3),
        image_seconds: +imageSeconds.toFixed(3),
      };
      runFile = stageFile(join(out, RUN_FILE), `${JSON.stringify(record, null, 1)}\n`);
      results.commit();
      ids.commit();
      runFile.commit();
      writeFileAtomic(join(out, SUCCESS_FILE), `${record.finished}\n`);
      folder.wrote = true;
      const n = Math.max(1, processed);
      if (points.length) {
        console.log(
          `${points.length} point(s) on ${processed} image: encoded once in ${clicks.encode.toFixed(0)} ms (pyramid+trunk+heads ${(total.pyramid + total.trunk + total.heads).toFixed(0)}), ${results.count} masks at the points in ${clicks.masks.toFixed(0)} ms; ${(imageSeconds * 1000).toFixed(0)} ms with decoding and writing`,
        );
      } else
        console.log(
          `mean per image: ${(total.total / n).toFixed(0)} ms (pyramid+trunk+heads ${((total.pyramid + total.trunk + total.heads) / n).toFixed(0)}, top-N ${(total.topN / n).toFixed(0)}, masks ${(total.masks / n).toFixed(0)}, paste ${(total.paste / n).toFixed(0)}, RLE ${(total.rle / n).toFixed(0)}); ${((imageSeconds * 1000) / n).toFixed(0)} ms with decoding and writing`,
        );
      console.log(
        `wrote ${join(out, RESULTS_FILE)} (${results.count} proposals for ${processed} images), ids.json, run.json${v.viz ? ` and ${join(out, 'viz')}/` : ''}`,
      );
      if (skipped.length) {
        console.warn(`${skipped.length} of ${mine.length} image(s) could not be read and were skipped (listed in ${join(out, RUN_FILE)})`);
        if (!v['allow-skips']) process.exitCode = 1;
      }
    } finally {
      process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
      results.abort();
      ids.abort();
      runFile?.abort();
      rt.destroy();
      unlock();
    }
  }
}
