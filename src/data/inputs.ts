// Node only: the deterministic list of images a run covers (folders and files, a manifest of paths,
// or a COCO instances file), their stable image ids, and the shard of that list one process takes.
// Every process of a sharded run builds the same whole list, so that positions and ids agree.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, extname, isAbsolute, join, posix } from 'node:path';
import { parseCoco } from './coco.js';

export const IMAGE_FILE = /\.(png|jpe?g)$/i;

export interface InputImage {
  /** The image's name within its input (folder-relative path, manifest line or COCO file_name). */
  key: string;
  /** Where to read it on this machine. */
  path: string;
  id: number;
  /** Index in the list sorted by key. */
  position: number;
  /** With a COCO file: its width and height for this image, which the decoded pixels must have
   *  (results of another size are refused by eval). */
  size?: [number, number];
}

/**
 * How ids were given: from a COCO file; the number in every file name (000000008193.jpg -> 8193) when
 * all names are distinct numbers; otherwise 1 + the position in the list sorted by key.
 */
export type IdRule = 'coco' | 'file-number' | 'sorted-position';

export interface InputList {
  images: InputImage[];
  rule: IdRule;
  /** sha256 of the sorted keys and ids: equal lists, equal fingerprints (checked by merge). */
  fingerprint: string;
}

export interface InputSpec {
  /** Image files and folders (folders are read one level deep, PNG and JPEG files only). */
  paths?: string[];
  /** A text file with one image path per line (blank lines and lines starting with # ignored). */
  manifest?: string;
  /** A COCO instances file: the images to process when no paths or manifest are given, else the ids. */
  coco?: string;
  /** Root of relative paths in the manifest or the COCO file (default: the manifest's folder; for a
   *  COCO file, its images/ subfolder). */
  images?: string;
}

/** Keys use forward slashes and no `.` segments, so that they are the same on every machine. */
function toKey(p: string): string {
  if (!/\\|\/\/|(^|\/)\.\.?(\/|$)/.test(p)) return p; // already normal (the common case, a million times)
  return posix.normalize(p.split('\\').join('/')).replace(/^\.\//, '');
}

/** A relative key that stays inside its root (a COCO file_name of ../../x is refused). */
function insideRoot(key: string, source: string): string {
  if (isAbsolute(key) || key === '..' || key.startsWith('../')) throw new Error(`${source}: image path '${key}' leaves the images folder`);
  return key;
}

export function listInputs(spec: InputSpec): InputList {
  let entries: { key: string; path: string; id?: number; size?: [number, number] }[];
  let rule: IdRule | undefined;
  const paths = spec.paths ?? [];
  const coco = spec.coco ? parseCoco(readFileSync(spec.coco, 'utf8'), spec.coco) : undefined;
  if (spec.manifest) {
    const root = spec.images ?? dirname(spec.manifest);
    entries = readFileSync(spec.manifest, 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'))
      .map((line) => (isAbsolute(line) ? { key: toKey(line), path: line } : { key: toKey(line), path: join(root, line) }));
    if (!entries.length) throw new Error(`${spec.manifest}: no image paths (one path per line)`);
  } else if (paths.length) {
    entries = [];
    for (const p of paths) {
      // One input: keys relative to it (portable across mounts); several: paths as given.
      const prefix = paths.length === 1 ? '' : `${toKey(p)}/`;
      if (statSync(p).isDirectory()) {
        for (const f of readdirSync(p)) if (IMAGE_FILE.test(f) && statSync(join(p, f)).isFile()) entries.push({ key: prefix + f, path: join(p, f) });
      } else entries.push({ key: paths.length === 1 ? basename(p) : toKey(p), path: p });
    }
    if (!entries.length) throw new Error(`no PNG or JPEG images in ${paths.join(', ')}`);
  } else if (coco) {
    const root = spec.images ?? join(dirname(spec.coco!), 'images');
    entries = coco.images.map((im) => {
      const key = insideRoot(toKey(im.file_name), spec.coco!);
      return { key, path: join(root, key), id: im.id, size: [im.width, im.height] as [number, number] };
    });
    if (!entries.length) throw new Error(`${spec.coco}: no images`);
    rule = 'coco';
  } else throw new Error('no input: give image files or folders, --manifest FILE or --coco FILE');

  entries.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  for (let i = 1; i < entries.length; i++) {
    if (entries[i]!.key === entries[i - 1]!.key)
      throw new Error(`two inputs have the name '${entries[i]!.key}' (${entries[i - 1]!.path} and ${entries[i]!.path}); give each image once`);
  }

  if (coco && rule !== 'coco') {
    // Ids from the COCO file, matched by file name (the full key first, then the base name).
    const byName = new Map<string, (typeof coco.images)[number]>();
    for (const im of coco.images) byName.set(toKey(im.file_name), im);
    for (const im of coco.images) if (!byName.has(basename(im.file_name))) byName.set(basename(im.file_name), im);
    const missing: string[] = [];
    for (const e of entries) {
      const im = byName.get(e.key) ?? byName.get(basename(e.key));
      if (!im) missing.push(e.key);
      else [e.id, e.size] = [im.id, [im.width, im.height]];
    }
    if (missing.length)
      throw new Error(
        `${spec.coco}: ${missing.length} input image(s) are not in this COCO file (${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', ...' : ''}); drop --coco or give only its images`,
      );
    rule = 'coco';
  }
  if (!rule) {
    const numbers = entries.map((e) => {
      const stem = basename(e.key, extname(e.key));
      return /^\d{1,15}$/.test(stem) ? Number(stem) : NaN;
    });
    const distinct = numbers.every((n) => n >= 0) && new Set(numbers).size === numbers.length;
    rule = distinct ? 'file-number' : 'sorted-position';
    entries.forEach((e, i) => (e.id = distinct ? numbers[i]! : i + 1));
  }
  if (rule === 'coco') {
    const seen = new Map<number, string>();
    for (const e of entries) {
      const other = seen.get(e.id!);
      if (other !== undefined) throw new Error(`${spec.coco}: '${other}' and '${e.key}' have the same image id ${e.id}`);
      seen.set(e.id!, e.key);
    }
  }
  const hash = createHash('sha256');
  for (const e of entries) hash.update(`${e.key}\t${e.id}\n`);
  return {
    images: entries.map((e, position) => ({ key: e.key, path: e.path, id: e.id!, position, ...(e.size ? { size: e.size } : {}) })),
    rule,
    fingerprint: hash.digest('hex'),
  };
}

/**
 * Shard `index` of `count`: every image whose position ≡ index (mod count). Strided rather than
 * contiguous, so that shards balance when the cost varies along the sorted list (folders of large
 * and small images); merge interleaves them back.
 */
export function shardImages<T extends { position: number }>(images: T[], index: number, count: number): T[] {
  return images.filter((im) => im.position % count === index);
}

/** Images in shard `index` of `count` over `total` images. */
export function shardSize(total: number, index: number, count: number): number {
  return index < total ? Math.ceil((total - index) / count) : 0;
}
