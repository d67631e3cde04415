import { existsSync, readFileSync } from 'node:fs';
import { parseCoco } from '../data/coco.js';
import { arAuc, evaluate, formatTable, type Detection } from '../eval/cocoeval.js';
import { parse, str, UsageError } from './args.js';
import type { Command } from './main.js';

const usage = `Usage: deepmask eval --gt instances.json --results results.json [--json] [--max-dets 10,100,1000]

Class-agnostic Average Recall with COCOeval's semantics (useCats 0, IoU 0.50:0.05:0.95, crowd
regions ignored, area ranges from the ground truth's area): AR@10/100/1000 for segm and bbox,
AR small/medium/large at the largest maxDets, and the AUC over proposal counts.
Only images that have results are evaluated.`;

export const evalCommand: Command = {
  summary: 'Average Recall of proposals against COCO-format ground truth',
  usage,
  async run(argv) {
    const { values: v } = parse(argv, { gt: { type: 'string' }, results: { type: 'string' }, json: { type: 'boolean' }, 'max-dets': { type: 'string' } }, usage);
    const gtPath = str(v.gt), resPath = str(v.results);
    if (!gtPath || !resPath) throw new UsageError(`--gt and --results are required\n\n${usage}`);
    for (const p of [gtPath, resPath]) if (!existsSync(p)) throw new UsageError(`${p}: not found`);
    const gt = parseCoco(readFileSync(gtPath, 'utf8'), gtPath);
    let dts: Detection[];
    try {
      dts = JSON.parse(readFileSync(resPath, 'utf8')) as Detection[];
    } catch (e) {
      throw new Error(`${resPath}: not valid JSON (${(e as Error).message})`);
    }
    if (!Array.isArray(dts)) throw new Error(`${resPath}: expected a JSON array of COCO results`);
    const imgIds = [...new Set(dts.map((d) => d.image_id))].filter((id) => gt.imageById.has(id));
    if (!imgIds.length) throw new Error(`${resPath}: no result refers to an image of ${gtPath} (check image ids; see deepmask infer --coco)`);
    const maxDets = str(v['max-dets']) ? str(v['max-dets'])!.split(',').map(Number) : [10, 100, 1000];
    const results = (['segm', 'bbox'] as const).map((iouType) => evaluate(gt.images, gt.annotations, dts, { iouType, maxDets, imgIds }));
    const auc = Object.fromEntries((['segm', 'bbox'] as const).map((iouType) => [iouType, arAuc(gt.images, gt.annotations, dts, { iouType, imgIds })]));
    if (v.json) {
      console.log(JSON.stringify({ images: imgIds.length, proposals: dts.length, segm: { ...results[0]!.AR, AUC: auc.segm }, bbox: { ...results[1]!.AR, AUC: auc.bbox } }, null, 2));
    } else {
      console.log(`${imgIds.length} images, ${dts.length} proposals`);
      console.log(formatTable(results));
      console.log(`AUC (AR over 1..1000 proposals, log scale): segm ${auc.segm!.toFixed(3)}, bbox ${auc.bbox!.toFixed(3)}`);
    }
  },
};
