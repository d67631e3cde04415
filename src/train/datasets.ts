// Node only: the data sets a training run reads, each an annotation file with its image folder, its
// held-out image ids, and whether it is complete or labels positives only. A positives-only set
// (partial labels: e.g. only the people of each photo are outlined) gives positive windows and mask
// targets, never negatives: a window on one of its unlabelled objects would be taught as background.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseCoco, type CocoDataset } from '../data/coco.js';
import { Rng } from '../graph/random.js';

export interface DataSetSpec {
  /** COCO-format instances file. */
  data: string;
  /** Folder holding the images it names. */
  images: string;
  /** JSON array of image ids held out (never trained on); default: a seeded tenth of the images. */
  valIds?: string;
  /** Only some objects of each image are labelled: a source of positives, never of negatives. */
  positivesOnly?: boolean;
}

export interface DataSet {
  spec: DataSetSpec;
  coco: CocoDataset;
  /** Held-out image ids. */
  valIds: Set<number>;
  /** Images named in the file that are missing from the folder (skipped). */
  missing: number;
}

/** A data set's images by (set, id): ids are only unique within one annotation file. */
export interface SetImage {
  set: number;
  id: number;
  file: string;
  width: number;
  height: number;
  val: boolean;
}

/**
 * Reads and checks each data set before any work: the files exist, the annotations parse, the
 * held-out ids are a JSON array of integers, and some image of each set is on disk.
 */
export function loadDataSets(specs: readonly DataSetSpec[], seed: number): DataSet[] {
  if (!specs.length) throw new Error('no data set given (--data and --images)');
  const seen = new Set<string>();
  return specs.map((spec) => {
    const key = resolve(spec.data);
    if (seen.has(key)) throw new Error(`${spec.data}: given twice`);
    seen.add(key);
    if (!existsSync(spec.data)) throw new Error(`${spec.data}: annotation file not found`);
    if (!existsSync(spec.images) || !statSync(spec.images).isDirectory()) throw new Error(`${spec.images}: image folder not found`);
    const coco = parseCoco(readFileSync(spec.data, 'utf8'), spec.data);
    let valIds: Set<number>;
    if (spec.valIds) {
      if (!existsSync(spec.valIds)) throw new Error(`${spec.valIds}: held-out id file not found`);
      let ids: unknown;
      try {
        ids = JSON.parse(readFileSync(spec.valIds, 'utf8'));
      } catch (e) {
        throw new Error(`${spec.valIds}: not valid JSON (${(e as Error).message}); expected an array of image ids`);
      }
      if (!Array.isArray(ids) || !ids.every((x) => Number.isInteger(x))) throw new Error(`${spec.valIds}: expected a JSON array of integer image ids`);
      valIds = new Set(ids as number[]);
      const known = new Set(coco.images.map((im) => im.id));
      const unknown = [...valIds].filter((id) => !known.has(id));
      if (unknown.length === valIds.size) throw new Error(`${spec.valIds}: none of its ${valIds.size} ids is an image of ${spec.data}`);
    } else {
      const order = coco.images.map((im) => im.id).sort((a, b) => a - b);
      const rng = new Rng(seed);
      for (let i = order.length - 1; i > 0; i--) {
        const j = rng.int(i + 1);
        [order[i], order[j]] = [order[j]!, order[i]!];
      }
      valIds = new Set(order.slice(0, Math.max(1, Math.round(order.length * 0.1))));
    }
    const missing = coco.images.filter((im) => !existsSync(join(spec.images, im.file_name))).length;
    if (missing === coco.images.length)
      throw new Error(`${spec.images}: none of the ${coco.images.length} images named in ${spec.data} is there (e.g. ${coco.images[0]?.file_name})`);
    return { spec, coco, valIds, missing };
  });
}

/** Every image of the sets that is on disk, set by set in file order. */
export function setImages(sets: readonly DataSet[]): SetImage[] {
  return sets.flatMap((s, set) =>
    s.coco.images
      .map((im) => ({ set, id: im.id, file: join(s.spec.images, im.file_name), width: im.width, height: im.height, val: s.valIds.has(im.id) }))
      .filter((im) => existsSync(im.file)),
  );
}
