import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { init } from '../index.js';
import { decodeImage } from '../data/image.js';
import { encodePng } from '../data/png.js';
import { parseCoco } from '../data/coco.js';
import { loadModel } from '../model/files.js';
import { defaultScales, propose, scalesFromRange, type Timings } from '../infer/proposals.js';
import { drawProposals, nms, toCocoResults } from '../infer/results.js';
import { bundledModel } from '../model/bundled.js';
import { intOption, numOption, parse, str, UsageError } from './args.js';
import { Progress } from './progress.js';
import type { Command } from './main.js';

const usage = `Usage: deepmask infer IMAGE_OR_DIR... --out DIR [--weights DIR] [--proposals N] [--scales MIN:MAX:STEP]
                      [--threshold P] [--f16] [--viz] [--viz-top K] [--coco instances.json]

Class-agnostic object-mask proposals for PNG/JPEG images (files or folders).

  --weights DIR     a model folder (config.json + model.safetensors); default: the bundled
                    squeeze model trained on COCO photos
  --out DIR         writes results.json (COCO results: image_id, category_id 1, score, RLE
                    segmentation, bbox) and, with --viz, viz/<image>.png
  --proposals N     proposals per image (default 100; COCO's AR@1000 needs 1000)
  --scales A:B:S    pyramid scales 2^A .. 2^B in steps of 2^S (default: the paper's, for the preset)
  --threshold P     mask probability threshold (default 0.2)
  --f16             weights held as f16 on the GPU (half the weight memory; f32 arithmetic)
  --viz             draw the top proposals on each image (near-duplicates skipped)   --viz-top K (default 10)
  --nms T           drop proposals whose mask IoU with a better one exceeds T (default: none,
                    as in the paper; AR is computed on the raw ranking)
  --coco FILE       take image ids from a COCO file (by file name), for \`deepmask eval\`;
                    otherwise numeric file names give the id (000000008193.jpg -> 8193)`;

const IMAGE = /\.(png|jpe?g)$/i;

function listImages(inputs: string[]): string[] {
  const out: string[] = [];
  for (const p of inputs) {
    if (!existsSync(p)) throw new UsageError(`${p}: no such file or folder`);
    if (statSync(p).isDirectory()) out.push(...readdirSync(p).filter((f) => IMAGE.test(f)).sort().map((f) => join(p, f)));
    else out.push(p);
  }
  if (!out.length) throw new UsageError(`no PNG or JPEG images in ${inputs.join(', ')}`);
  return out;
}

export const inferCommand: Command = {
  summary: 'propose object masks for images (COCO results JSON, optional pictures)',
  usage,
  async run(argv) {
    const { values: v, positionals } = parse(
      argv,
      { weights: { type: 'string' }, out: { type: 'string' }, proposals: { type: 'string' }, scales: { type: 'string' }, threshold: { type: 'string' }, f16: { type: 'boolean' }, viz: { type: 'boolean' }, 'viz-top': { type: 'string' }, coco: { type: 'string' }, nms: { type: 'string' } },
      usage,
    );
    const out = str(v.out);
    if (!out) throw new UsageError(`--out is required\n\n${usage}`);
    if (!positionals.length) throw new UsageError(`give at least one image or folder\n\n${usage}`);
    const files = listImages(positionals);
    const ids = new Map<string, number>();
    if (str(v.coco)) for (const im of parseCoco(readFileSync(str(v.coco)!, 'utf8'), str(v.coco)!).images) ids.set(basename(im.file_name), im.id);
    const rt = await init();
    const weights = str(v.weights) ?? bundledModel();
    const model = loadModel(weights);
    if (v.f16) model.half();
    let scales = defaultScales(model);
    if (str(v.scales)) {
      const [a, b, s] = str(v.scales)!.split(':').map(Number);
      if (![a, b, s].every(Number.isFinite)) throw new UsageError(`--scales must be MIN:MAX:STEP in log2 units, e.g. -2:1:0.5`);
      scales = scalesFromRange(a!, b!, s!);
    }
    const proposals = intOption(v.proposals, 'proposals', 100), threshold = numOption(v.threshold, 'threshold', 0.2), vizTop = intOption(v['viz-top'], 'viz-top', 10);
    const nmsAt = numOption(v.nms, 'nms', 1);
    console.log(`adapter: ${rt.adapter.description}; model: ${weights} (${model.config.preset}); ${files.length} image(s), ${scales.length} scales`);
    mkdirSync(out, { recursive: true });
    if (v.viz) mkdirSync(join(out, 'viz'), { recursive: true });
    // Results are streamed: one COCO results array, written as proposals come.
    const fd = openSync(join(out, 'results.json'), 'w');
    writeSync(fd, '[');
    let first = true, next = 1;
    const usedIds = new Map<string, number>();
    const total: Timings = { pyramid: 0, trunk: 0, heads: 0, topN: 0, masks: 0, paste: 0, rle: 0, total: 0 };
    const progress = new Progress(files.length, 'images', 'image');
    try {
      for (const [i, file] of files.entries()) {
        const name = basename(file);
        const numeric = /^\d+$/.test(basename(name, extname(name))) ? Number(basename(name, extname(name))) : undefined;
        const id = ids.get(name) ?? numeric ?? next++;
        usedIds.set(name, id);
        let img;
        try {
          img = decodeImage(readFileSync(file), file);
        } catch (e) {
          console.warn(`\nwarning: skipping ${(e as Error).message}`);
          continue;
        }
        const r = await propose(model, img, { proposals, scales, threshold });
        if (nmsAt < 1) r.proposals = nms(r.proposals, nmsAt);
        if (r.notice) console.warn(`\nnote: ${file}: ${r.notice}`);
        for (const k of Object.keys(total) as (keyof Timings)[]) total[k] += r.timings[k];
        for (const res of toCocoResults(id, r.proposals)) {
          writeSync(fd, `${first ? '\n' : ',\n'}${JSON.stringify(res)}`);
          first = false;
        }
        if (v.viz) writeFileSync(join(out, 'viz', `${basename(name, extname(name))}.png`), encodePng(drawProposals(img, r.proposals, vizTop), img.width, img.height));
        progress.update(i + 1, i + 1, { ms: Math.round(r.timings.total) });
      }
    } finally {
      writeSync(fd, '\n]\n');
      closeSync(fd);
      progress.done();
    }
    writeFileSync(join(out, 'image-ids.json'), JSON.stringify(Object.fromEntries(usedIds), null, 1));
    const n = files.length;
    console.log(`mean per image: ${(total.total / n).toFixed(0)} ms (pyramid ${(total.pyramid / n).toFixed(0)}, trunk+heads ${((total.trunk + total.heads) / n).toFixed(0)}, top-N ${(total.topN / n).toFixed(0)}, masks ${(total.masks / n).toFixed(0)}, paste ${(total.paste / n).toFixed(0)}, RLE ${(total.rle / n).toFixed(0)})`);
    console.log(`wrote ${join(out, 'results.json')}${v.viz ? ` and ${join(out, 'viz')}/` : ''}`);
    rt.destroy();
  },
};
