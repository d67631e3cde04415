import { existsSync, readFileSync } from 'node:fs';
import { parseCoco } from '../data/coco.js';
import { arAuc, evaluate, formatTable, type Detection } from '../eval/cocoeval.js';
import { withNegativeValues, parse, str, UsageError } from './args.js';
import type { Command } from './command.js';

const usage = `Usage: deepmask eval --gt instances.json --results results.json [--json] [--max-dets 10,100,1000]

Class-agnostic Average Recall with COCOeval's semantics (useCats 0, IoU 0.50:0.05:0.95, crowd
regions ignored, area ranges from the ground truth's area): AR@10/100/1000 for segm and bbox,
AR small/medium/large at the largest maxDets, and the AUC over proposal counts.
Only images that have results are evaluated.`;

export const evalCommand: Command = {
  summary: 'Average Recall of proposals against COCO-format ground truth',
  usage,
  async run(argv) {
    const spec = { gt: { type: 'string' }, results: { type: 'string' }, json: { type: 'boolean' }, 'max-dets': { type: 'string' } } as const;
    const { values: v } = parse(withNegativeValues(argv, spec), spec, usage);
    const gtPath = str(v.gt),
      resPath = str(v.results);
    if (!gtPath || !resPath) throw new UsageError(`--gt and --results are required\n\n${usage}`);
    for (const p of [gtPath, resPath]) if (!existsSync(p)) throw new UsageError(`${p}: not found`);
    const maxDets = maxDetsOption(str(v['max-dets']));
    const gt = parseCoco(readFileSync(gtPath, 'utf8'), gtPath);
    let dts: Detection[];
    try {
      dts = JSON.parse(readFileSync(resPath, 'utf8')) as Detection[];
    } catch (e) {
      throw new Error(`${resPath}: not valid JSON (${(e as Error).message})`);
    }
    if (!Array.isArray(dts)) throw new Error(`${resPath}: expected a JSON array of COCO results`);
    dts.forEach((d, i) => checkResult(d, i, resPath));
    const imgIds = [...new Set(dts.map((d) => d.image_id))].filter((id) => gt.imageById.has(id));
    if (!imgIds.length) throw new Error(`${resPath}: no result refers to an image of ${gtPath} (check image ids; see deepmask infer --coco)`);
    const results = (['segm', 'bbox'] as const).map((iouType) => evaluate(gt.images, gt.annotations, dts, { iouType, maxDets, imgIds }));
    const auc = Object.fromEntries((['segm', 'bbox'] as const).map((iouType) => [iouType, arAuc(gt.images, gt.annotations, dts, { iouType, imgIds })]));
    if (v.json) {
      console.log(
        JSON.stringify(
          { images: imgIds.length, proposals: dts.length, segm: { ...results[0]!.AR, AUC: auc.segm }, bbox: { ...results[1]!.AR, AUC: auc.bbox } },
          null,
          2,
        ),
      );
    } else {
      console.log(`${imgIds.length} images, ${dts.length} proposals`);
      console.log(formatTable(results));
      console.log(`AUC (AR over 1..1000 proposals, log scale): segm ${auc.segm!.toFixed(3)}, bbox ${auc.bbox!.toFixed(3)}`);
    }
  },
};

/** --max-dets: a comma-separated list of proposal counts, each an integer from 1 to 100000. */
export function maxDetsOption(v: string | undefined): number[] {
  if (v === undefined) return [10, 100, 1000];
  const list = v.split(',').map((x) => (x.trim() === '' ? NaN : Number(x)));
  if (!list.every((n) => Number.isInteger(n) && n >= 1 && n <= 100000))
    throw new UsageError(`--max-dets must be a comma-separated list of integers from 1 to 100000 (e.g. 10,100,1000), got '${v}'`);
  return list;
}

/** A result must be a COCO result with a mask or a box; the error names the file and the entry. */
function checkResult(d: unknown, i: number, source: string): void {
  const fail = (msg: string): never => {
    throw new Error(`${source}: entry ${i}: ${msg}`);
  };
  if (typeof d !== 'object' || d === null || Array.isArray(d))
    fail(`expected a COCO result {image_id, score, segmentation or bbox}, got ${JSON.stringify(d)?.slice(0, 60)}`);
  const r = d as Record<string, unknown>;
  if (!Number.isInteger(r.image_id)) fail(`image_id must be an integer, got ${JSON.stringify(r.image_id)}`);
  if (typeof r.score !== 'number' || !Number.isFinite(r.score)) fail(`score must be a finite number, got ${JSON.stringify(r.score)}`);
  const seg = r.segmentation as { size?: unknown; counts?: unknown } | undefined;
  if (seg !== undefined) {
    const okSize = Array.isArray(seg?.size) && seg.size.length === 2 && seg.size.every((n) => Number.isInteger(n) && (n as number) >= 0);
    if (!okSize || !(typeof seg.counts === 'string' || Array.isArray(seg.counts)))
      fail(`segmentation must be RLE {size: [h, w], counts}, got ${JSON.stringify(seg)?.slice(0, 60)}`);
  }
  const bbox = r.bbox;
  if (bbox !== undefined && !(Array.isArray(bbox) && bbox.length === 4 && bbox.every((n) => typeof n === 'number' && Number.isFinite(n))))
    fail(`bbox must be [x, y, w, h], got ${JSON.stringify(bbox)}`);
  if (seg === undefined && bbox === undefined) fail('has neither segmentation nor bbox');
}
