// COCO "instances" annotations (2014, 2017 and custom data in the same format): read once,
// validated, indexed. Universal (no node: imports): the caller hands over JSON text or an already
// parsed object plus a source name (usually the file path) that every message starts with.
//
// Structure is checked eagerly, so a broken custom file fails at load time with the source, the
// image or annotation id and the problem. Masks are rasterised lazily (annotationMask): COCO
// train has ~860k annotations and DeepMask samples only a few per batch (the paper §3.2; the official code's DataSampler.lua).

import { annToRle, area, countsFromString, toBbox, type RLE, type Segmentation } from './rle.js';

export interface CocoImage {
  id: number;
  file_name: string;
  width: number;
  height: number;
}

export interface CocoAnnotation {
  id: number;
  image_id: number;
  category_id: number;
  iscrowd: 0 | 1;
  area: number;
  bbox: [number, number, number, number];
  segmentation: Segmentation;
}

export interface CocoCategory {
  id: number;
  name: string;
}

export interface CocoDataset {
  source: string;
  images: CocoImage[];
  annotations: CocoAnnotation[];
  categories: CocoCategory[];
  imageById: Map<number, CocoImage>;
  /** Every image has an entry, possibly an empty list. */
  annotationsByImage: Map<number, CocoAnnotation[]>;
  /** Every listed category has an entry; category ids used by annotations but not listed get one too. */
  annotationsByCategory: Map<number, CocoAnnotation[]>;
  /** Non-fatal oddities found while loading, one line per kind (with the first few ids). */
  warnings: string[];
}

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

/** A short rendering of an offending value for messages (a 100k-point polygon must not flood them). */
function show(v: unknown): string {
  if (v === undefined) return 'nothing';
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    s = String(v);
  }
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

/**
 * True when a box [x, y, w, h] of positive size lies entirely outside its width x height image: no
 * pixel of the object is in the picture, so a window centred on it shows nothing of it (a converter's
 * offset or a box meant for another image). Empty boxes are not "outside": they are too small anyway.
 */
export function boxOutsideImage(bbox: readonly number[], width: number, height: number): boolean {
  const [x, y, w, h] = bbox as [number, number, number, number];
  return w > 0 && h > 0 && (x >= width || y >= height || x + w <= 0 || y + h <= 0);
}

/** The annotations a trainer may learn from: all but those whose box lies entirely outside their image (parseCoco warns of them). */
export function trainableAnnotations(ds: CocoDataset): CocoAnnotation[] {
  return ds.annotations.filter((a) => {
    const im = ds.imageById.get(a.image_id);
    return !im || !boxOutsideImage(a.bbox, im.width, im.height);
  });
}

const isId = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v);
const isPosInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v > 0;

/** Collects warnings by kind so 10k identical oddities become one line, not 10k. */
class Notes {
  private readonly kinds = new Map<string, string[]>();
  add(kind: string, who: string): void {
    let list = this.kinds.get(kind);
    if (!list) this.kinds.set(kind, (list = []));
    list.push(who);
  }
  lines(source: string): string[] {
    const out: string[] = [];
    for (const [kind, who] of this.kinds) {
      const first = who.slice(0, 5).join(', ');
      const more = who.length > 5 ? `, and ${who.length - 5} more` : '';
      out.push(`${source}: ${kind} (${first}${more})`);
    }
    return out;
  }
}

/**
 * Checks a segmentation's structure against its image without rasterising it, and returns it in
 * canonical form: polygons as a list of lists (a flat coordinate list is one polygon), RLE as is.
 * `fail` throws with the annotation's context.
 */
function checkSegmentation(seg: unknown, img: CocoImage, fail: (msg: string) => never, note: (kind: string) => void): Segmentation {
  if (Array.isArray(seg)) {
    if (seg.length === 0) fail('segmentation is an empty list (no polygons)');
    // Some converters write a single polygon without the outer list.
    const polys: unknown[] = typeof seg[0] === 'number' ? [seg] : seg;
    const kept: number[][] = [];
    let dropped = 0;
    polys.forEach((p, i) => {
      if (!Array.isArray(p)) fail(`segmentation polygon ${i} must be a list of coordinates [x0, y0, x1, y1, ...], got ${show(p)}`);
      for (let j = 0; j < p.length; j++) {
        const c = p[j];
        if (typeof c !== 'number' || !Number.isFinite(c)) fail(`segmentation polygon ${i}: coordinate ${j} must be a finite number, got ${show(c)}`);
      }
      if (p.length % 2 !== 0) fail(`segmentation polygon ${i} has an odd number of coordinates (${p.length}); it must be x, y pairs`);
      if (p.length < 6) dropped++;
      else kept.push(p as number[]);
    });
    if (kept.length === 0) {
      fail(
        `segmentation has no polygon with at least 3 points (6 coordinates); got ${polys.length} polygon(s) with ${polys.map((p) => (p as number[]).length).join(', ')} coordinates`,
      );
    }
    // A part with < 3 points has no area; drop it rather than reject the object (detectron2 does the
    // same), and because rle.ts, like pycocotools, would read a leading 4-number entry as a box.
    if (dropped > 0) note('polygons with fewer than 3 points dropped');
    return kept;
  }
  if (!isObj(seg)) fail(`segmentation must be a list of polygons or an RLE object {size: [h, w], counts}, got ${show(seg)}`);
  const { size, counts } = seg;
  if (!Array.isArray(size) || size.length !== 2 || !isId(size[0]) || !isId(size[1]) || size[0] < 0 || size[1] < 0) {
    fail(`RLE size must be [h, w] (two non-negative integers), got ${show(size)}`);
  }
  const [h, w] = size as [number, number];
  if (h !== img.height || w !== img.width) {
    const hint = h === img.width && w === img.height ? '; it looks transposed (RLE size is [h, w])' : '';
    fail(`RLE size [${h}, ${w}] does not match image ${img.id}'s [height, width] = [${img.height}, ${img.width}]${hint}`);
  }
  let sum = 0;
  if (typeof counts === 'string') {
    let decoded: number[];
    try {
      decoded = countsFromString(counts);
    } catch (e) {
      fail(`compressed RLE counts: ${(e as Error).message}`);
    }
    for (const c of decoded) sum += c;
  } else if (Array.isArray(counts)) {
    for (let i = 0; i < counts.length; i++) {
      const c = counts[i];
      if (typeof c !== 'number' || !Number.isSafeInteger(c) || c < 0) fail(`RLE counts[${i}] must be a non-negative integer, got ${show(c)}`);
      sum += c;
    }
  } else {
    fail(`RLE counts must be a string (compressed) or a list of run lengths (uncompressed), got ${show(counts)}`);
  }
  if (sum !== h * w) fail(`RLE counts sum to ${sum}, expected h*w = ${h}*${w} = ${h * w}`);
  return { size: [h, w], counts: counts as number[] | string };
}

function checkImages(raw: unknown[], source: string, notes: Notes): CocoImage[] {
  const images: CocoImage[] = new Array(raw.length);
  const seen = new Set<number>();
  const names = new Map<string, number>();
  for (let i = 0; i < raw.length; i++) {
    const r = raw[i];
    const where = isObj(r) && isId(r.id) ? `image ${r.id}` : `image at index ${i}`;
    const fail: (msg: string) => never = (msg) => {
      throw new Error(`${source}: ${where}: ${msg}`);
    };
    if (!isObj(r)) fail(`must be an object {id, file_name, width, height}, got ${show(r)}`);
    const o = r as Obj;
    if (!isId(o.id)) fail(`id must be an integer, got ${show(o.id)}`);
    if (typeof o.file_name !== 'string' || o.file_name === '') fail(`file_name must be a non-empty string, got ${show(o.file_name)}`);
    // The name is joined to the image folder: it must not lead out of it.
    const name = o.file_name as string;
    if (/^([/\\]|[A-Za-z]:)/.test(name) || name.split(/[/\\]/).includes('..'))
      fail(`file_name must be a path inside the image folder (relative, no '..'), got ${show(name)}`);
    if (!isPosInt(o.width)) fail(`width must be a positive integer, got ${show(o.width)}`);
    if (!isPosInt(o.height)) fail(`height must be a positive integer, got ${show(o.height)}`);
    const id = o.id as number;
    if (seen.has(id)) fail('duplicate image id (image ids must be unique)');
    seen.add(id);
    const file = o.file_name as string;
    const other = names.get(file);
    if (other !== undefined) notes.add(`images share a file_name`, `image ${id} and ${other}: ${file}`);
    else names.set(file, id);
    images[i] = { id, file_name: file, width: o.width as number, height: o.height as number };
  }
  return images;
}

function checkCategories(raw: unknown, source: string, notes: Notes): CocoCategory[] {
  if (raw === undefined) return []; // custom class-agnostic data may omit them
  if (!Array.isArray(raw)) throw new Error(`${source}: categories must be a list of {id, name} objects when present, got ${show(raw)}`);
  const cats: CocoCategory[] = [];
  const ids = new Set<number>();
  const names = new Map<string, number>();
  raw.forEach((r, i) => {
    const where = isObj(r) && isId(r.id) ? `category ${r.id}` : `category at index ${i}`;
    const fail: (msg: string) => never = (msg) => {
      throw new Error(`${source}: ${where}: ${msg}`);
    };
    if (!isObj(r)) fail(`must be an object {id, name}, got ${show(r)}`);
    const o = r as Obj;
    if (!isId(o.id)) fail(`id must be an integer, got ${show(o.id)}`);
    if (typeof o.name !== 'string') fail(`name must be a string, got ${show(o.name)}`);
    const id = o.id as number,
      name = o.name as string;
    // The classic custom-JSON mistake (deepmask issue #73): one id listed twice, which makes the
    // id -> name mapping ambiguous.
    if (ids.has(id)) fail(`duplicate category id (listed ${raw.filter((c) => isObj(c) && c.id === id).length} times; category ids must be unique)`);
    ids.add(id);
    const other = names.get(name);
    if (other !== undefined) notes.add(`categories share a name`, `${JSON.stringify(name)}: ${other} and ${id}`);
    else names.set(name, id);
    cats.push({ id, name });
  });
  return cats;
}

/**
 * Reads a COCO instances file (JSON text or the parsed object). Throws an Error naming `source`,
 * the offending image/annotation/category id and the problem; non-fatal oddities go to `warnings`.
 */
export function parseCoco(json: string | unknown, source: string): CocoDataset {
  let top: unknown = json;
  if (typeof json === 'string') {
    try {
      top = JSON.parse(json.charCodeAt(0) === 0xfeff ? json.slice(1) : json); // tolerate a BOM
    } catch (e) {
      throw new Error(`${source}: not valid JSON: ${(e as Error).message}`);
    }
  }
  if (Array.isArray(top)) {
    const hint = top.length > 0 && isObj(top[0]) && 'score' in top[0] ? ' (this looks like a results file: a list of detections)' : '';
    throw new Error(`${source}: expected a COCO instances object {images, annotations, categories}, got a list${hint}`);
  }
  if (!isObj(top)) throw new Error(`${source}: expected a COCO instances object {images, annotations, categories}, got ${show(top)}`);
  for (const key of ['images', 'annotations'] as const) {
    if (!Array.isArray(top[key])) throw new Error(`${source}: ${key} must be a list, got ${show(top[key])}`);
  }
  const notes = new Notes();
  const images = checkImages(top.images as unknown[], source, notes);
  const categories = checkCategories(top.categories, source, notes);
  const imageById = new Map(images.map((img) => [img.id, img]));
  const catIds = new Set(categories.map((c) => c.id));

  const raw = top.annotations as unknown[];
  const annotations: CocoAnnotation[] = new Array(raw.length);
  const annIds = new Set<number>();
  const outside: number[] = [];
  for (let i = 0; i < raw.length; i++) {
    const r = raw[i];
    const where = isObj(r) && isId(r.id) ? `annotation ${r.id}` : `annotation at index ${i}`;
    const fail: (msg: string) => never = (msg) => {
      throw new Error(`${source}: ${where}: ${msg}`);
    };
    if (!isObj(r)) fail(`must be an object {id, image_id, category_id, iscrowd, area, bbox, segmentation}, got ${show(r)}`);
    const o = r as Obj;
    if (!isId(o.id)) fail(`id must be an integer, got ${show(o.id)}`);
    const id = o.id as number;
    if (annIds.has(id)) fail('duplicate annotation id (annotation ids must be unique)');
    annIds.add(id);
    if (!isId(o.image_id)) fail(`image_id must be an integer, got ${show(o.image_id)}`);
    const img = imageById.get(o.image_id as number);
    if (!img) fail(`image_id ${o.image_id} is not in images`);
    if (!isId(o.category_id)) fail(`category_id must be an integer, got ${show(o.category_id)}`);
    let iscrowd: 0 | 1;
    if (o.iscrowd === 0 || o.iscrowd === false) iscrowd = 0;
    else if (o.iscrowd === 1 || o.iscrowd === true) iscrowd = 1;
    else if (o.iscrowd === undefined) {
      iscrowd = 0;
      notes.add('iscrowd missing, taken as 0', `annotation ${id}`);
    } else fail(`iscrowd must be 0, 1, true or false, got ${show(o.iscrowd)}`);
    if (!('segmentation' in o)) fail(`segmentation is missing${'caption' in o ? ' (this looks like a captions file, not instances)' : ''}`);
    const segmentation = checkSegmentation(o.segmentation, img, fail, (kind) => notes.add(kind, `annotation ${id}`));

    let bbox: [number, number, number, number] | undefined;
    if (o.bbox !== undefined) {
      const b = o.bbox;
      const ok = Array.isArray(b) && b.length === 4 && b.every((v) => typeof v === 'number' && Number.isFinite(v)) && b[2] >= 0 && b[3] >= 0;
      if (!ok) fail(`bbox must be [x, y, w, h] with w, h >= 0, got ${show(b)}`);
      bbox = [...(b as number[])] as [number, number, number, number];
    }
    let annArea: number | undefined;
    if (o.area !== undefined) {
      if (typeof o.area !== 'number' || !Number.isFinite(o.area) || o.area < 0) fail(`area must be a non-negative number, got ${show(o.area)}`);
      annArea = o.area as number;
    }
    const ann: CocoAnnotation = {
      id,
      image_id: img.id,
      category_id: o.category_id as number,
      iscrowd,
      area: annArea ?? 0,
      bbox: bbox ?? [0, 0, 0, 0],
      segmentation,
    };
    // Only incomplete annotations are rasterised here; complete ones stay lazy.
    if (annArea === undefined || bbox === undefined) {
      let rle: RLE;
      try {
        rle = annToRle(segmentation, img.height, img.width);
      } catch (e) {
        fail((e as Error).message);
      }
      if (annArea === undefined) {
        ann.area = area(rle);
        notes.add('area missing, computed from the mask', `annotation ${id}`);
      }
      if (bbox === undefined) {
        ann.bbox = toBbox(rle);
        notes.add('bbox missing, computed from the mask', `annotation ${id}`);
      }
    }
    // The model is class-agnostic, so an unknown category is worth a note, not a refusal.
    if (categories.length > 0 && !catIds.has(ann.category_id)) notes.add(`category_id ${ann.category_id} is not in categories`, `annotation ${id}`);
    // Kept (eval scores against the file as it is, like COCOeval); the training sampler drops it.
    if (boxOutsideImage(ann.bbox, img.width, img.height)) outside.push(id);
    annotations[i] = ann;
  }
  const warnings = notes.lines(source);
  if (outside.length) {
    // Counted in words: silently training on windows of empty image would teach wrong masks. First,
    // since training shows only the first few warnings.
    const n = outside.length,
      ids = outside
        .slice(0, 5)
        .map((a) => `annotation ${a}`)
        .join(', ');
    const what = n === 1 ? '1 annotation has a box entirely outside its image and is' : `${n} annotations have a box entirely outside their image and are`;
    warnings.unshift(`${source}: ${what} not trained on (${ids}${n > 5 ? `, and ${n - 5} more` : ''})`);
  }
  return index(source, images, annotations, categories, warnings);
}

/** Builds the lookup maps over already validated data. */
function index(source: string, images: CocoImage[], annotations: CocoAnnotation[], categories: CocoCategory[], warnings: string[]): CocoDataset {
  const imageById = new Map<number, CocoImage>();
  const annotationsByImage = new Map<number, CocoAnnotation[]>();
  for (const img of images) {
    imageById.set(img.id, img);
    annotationsByImage.set(img.id, []);
  }
  const annotationsByCategory = new Map<number, CocoAnnotation[]>();
  for (const c of categories) annotationsByCategory.set(c.id, []);
  for (const ann of annotations) {
    annotationsByImage.get(ann.image_id)!.push(ann);
    let list = annotationsByCategory.get(ann.category_id);
    if (!list) annotationsByCategory.set(ann.category_id, (list = []));
    list.push(ann);
  }
  return { source, images, annotations, categories, imageById, annotationsByImage, annotationsByCategory, warnings };
}

/** The annotation's mask at its image's size (polygons unioned, RLE taken as is), with cocoapi semantics. */
export function annotationMask(ds: CocoDataset, ann: CocoAnnotation): RLE {
  const img = ds.imageById.get(ann.image_id);
  if (!img) throw new Error(`${ds.source}: annotation ${ann.id}: image_id ${ann.image_id} is not in images`);
  try {
    return annToRle(ann.segmentation, img.height, img.width);
  } catch (e) {
    throw new Error(`${ds.source}: annotation ${ann.id}: ${(e as Error).message}`);
  }
}

/**
 * The dataset restricted to the given images (e.g. a train/validation split), re-indexed. Images
 * keep the original order; categories are kept whole. Loading warnings stay with the parent.
 */
export function subset(ds: CocoDataset, imageIds: Iterable<number>): CocoDataset {
  const keep = new Set<number>();
  for (const id of imageIds) {
    // A typo'd id in a split list would silently shrink the split; refuse it instead.
    if (!ds.imageById.has(id)) throw new Error(`${ds.source}: subset: image ${id} is not in the dataset`);
    keep.add(id);
  }
  const images = ds.images.filter((img) => keep.has(img.id));
  const annotations = ds.annotations.filter((a) => keep.has(a.image_id));
  return index(ds.source, images, annotations, ds.categories, []);
}

const plural = (n: number, one: string, many: string): string => `${n} ${n === 1 ? one : many}`;

/**
 * One line, e.g. "80 images, 705 objects (6 crowd) in 80 categories"; "in 50 of 80 categories" when
 * some listed categories have no objects, "(+2 not listed)" for category ids missing from the list.
 */
export function summary(ds: CocoDataset): string {
  let crowd = 0;
  const used = new Set<number>();
  for (const a of ds.annotations) {
    crowd += a.iscrowd;
    used.add(a.category_id);
  }
  const listed = new Set(ds.categories.map((c) => c.id));
  let cats: string;
  if (listed.size === 0) cats = plural(used.size, 'category', 'categories');
  else {
    let inList = 0;
    for (const id of used) if (listed.has(id)) inList++;
    cats = inList === listed.size ? plural(listed.size, 'category', 'categories') : `${inList} of ${plural(listed.size, 'category', 'categories')}`;
    if (used.size > inList) cats += ` (+${used.size - inList} not listed)`;
  }
  return `${plural(ds.images.length, 'image', 'images')}, ${plural(ds.annotations.length, 'object', 'objects')} (${crowd} crowd) in ${cats}`;
}
