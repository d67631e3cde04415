// The high-level API, in the habits of transformers.js `pipeline()` and tfjs-models `load()`:
//
//   const segmenter = await load(url, { onProgress, signal });   // or bytes; a folder via 'deepmask-webgpu/node'
//   const { proposals } = await segmenter.everything(image);      // every object, best first
//   const [mask] = await segmenter.at(image, x, y);               // the object under a click
//   segmenter.dispose();
//
// Universal (Node and the browser): URLs are fetched (and kept in the browser's Cache API so that a
// second visit does not download again), bytes are taken as they are. Reading a model folder is
// Node's business and lives in api-node.ts, reached through 'deepmask-webgpu/node'.
import { Runtime, type RuntimeOptions } from './gpu/runtime.js';
import { getRuntime, setRuntime } from './graph/tensor.js';
import type { DeepMask } from './model/deepmask.js';
import { importModel, parseModelConfig } from './model/weights.js';
import type { ImageInput } from './data/image-input.js';
import { area, contains, iou, merge, toBbox, type RLE } from './data/rle.js';
import {
  checkQuery,
  encode,
  propose,
  ImageEncoding,
  type EncodeOptions,
  type InferOptions,
  type InferResult,
  type PointOptions,
  type Proposal,
} from './infer/proposals.js';
import { abortError, checkAbort as checkLoadAbort } from './infer/abort.js';

/** Download or read progress, in bytes over the model's files (config.json, then model.safetensors). */
export interface LoadProgress {
  /** Bytes read so far over all files; never decreases. */
  loaded: number;
  /** Bytes of all files, when known (HTTP Content-Length, file sizes). */
  total?: number;
  /** The file being read. */
  file: string;
  /** The file comes from the browser's Cache API (no download). */
  fromCache: boolean;
}

export interface LoadOptions {
  onProgress?: (e: LoadProgress) => void;
  /** Stops loading: the promise rejects with an AbortError and nothing stays allocated. */
  signal?: AbortSignal;
  /** The WebGPU runtime to load onto; default: the current one (init()'s), else a new one. */
  runtime?: Runtime;
  /** Options for a runtime that load() creates. */
  runtimeOptions?: RuntimeOptions;
  /** Keep downloaded models in the Cache API under this name (default 'deepmask-webgpu-models'); false: never. */
  cache?: boolean | string;
  /** Hold the weights as f16 on the GPU (half the memory; inference only). */
  f16?: boolean;
}

/** A model given as its two files' contents (config.json as text, bytes or an object; model.safetensors). */
export interface ModelBytes {
  config: string | Uint8Array | ArrayBuffer | Record<string, unknown>;
  weights: Uint8Array | ArrayBuffer;
}

/** A model folder's URL (ending in '/', or the folder of a config.json URL), or the files' contents. */
export type ModelSource = string | URL | ModelBytes;

/** What a set of clicks selects: one mask that covers every point, else the union of each point's mask. */
export interface Selection {
  rle: RLE;
  bbox: [number, number, number, number];
  area: number;
  /** The chosen mask's score (Proposal.score); for a union, the lowest of its parts'. */
  score: number;
  /** 'one': a single proposal covers every point; 'union': each point's own mask, merged (see Segmenter.select). */
  mode: 'one' | 'union';
  /** The proposals the selection is made of (one, or one per point). */
  masks: Proposal[];
}

export const DEFAULT_CACHE = 'deepmask-webgpu-models';
const CONFIG = 'config.json',
  WEIGHTS = 'model.safetensors';

const checkAbort = (signal: AbortSignal | undefined): void => checkLoadAbort(signal, 'loading');

const toBytes = (b: Uint8Array | ArrayBuffer): Uint8Array => (b instanceof Uint8Array ? b : new Uint8Array(b));

/**
 * A loaded model, ready for images: everything() proposes every object, at() and select() answer
 * clicks, encode() runs the expensive part once for many clicks.
 */
export class Segmenter {
  private disposed = false;

  constructor(
    readonly model: DeepMask,
    /** Where the model came from (URL, folder or 'bytes'). */
    readonly source: string,
    private readonly ownedRuntime: Runtime | null = null,
  ) {}

  get runtime(): Runtime {
    return this.model.rt;
  }

  get config() {
    return this.model.config;
  }

  /** Runs the pyramid, trunk and dense heads once; the encoding answers everything() and at() (dispose it). */
  async encode(image: ImageInput, opts: EncodeOptions = {}): Promise<ImageEncoding> {
    this.check();
    return encode(this.model, image, opts);
  }

  /** The global top-N proposals (propose()'s result), from an image or an encoding. */
  async everything(image: ImageInput | ImageEncoding, opts: InferOptions & Pick<EncodeOptions, 'onProgress' | 'signal' | 'refine'> = {}): Promise<InferResult> {
    this.check();
    if (image instanceof ImageEncoding) return image.everything(opts);
    return propose(this.model, image, opts);
  }

  /** Masks for a click at (x, y) in image pixels, best first, those covering the point first. */
  async at(image: ImageInput | ImageEncoding, x: number, y: number, opts: PointOptions & EncodeOptions = {}): Promise<Proposal[]> {
    checkQuery(opts);
    return this.withEncoding(image, opts, (enc) => enc.at(x, y, opts));
  }

  /**
   * What several clicks select (a shift-click adds a point). A user who clicks the head and then the
   * legs of a person means the whole person; one who clicks a plate and then a glass means both. So:
   * each point's own mask (the best that covers it) and their union first; then the best proposal
   * that covers every point (from windows near each point and near their centroid) is the selection
   * if it agrees with that union (mask IoU >= 0.5: one object the points are parts of); otherwise the
   * union itself, as shift-click adds to a selection in image editors (a blob that also swallows the
   * table between two objects is not what was meant).
   */
  async select(image: ImageInput | ImageEncoding, points: [number, number][], opts: Omit<PointOptions, 'count'> & EncodeOptions = {}): Promise<Selection> {
    if (!Array.isArray(points) || !points.length) throw new Error('select() needs at least one point');
    checkQuery(opts);
    return this.withEncoding(image, opts, async (enc) => {
      const pool = new Map<string, Proposal>();
      const perPoint: Proposal[][] = [];
      const cx = points.reduce((s, p) => s + p[0], 0) / points.length,
        cy = points.reduce((s, p) => s + p[1], 0) / points.length;
      const queries = points.length > 1 ? [...points, [cx, cy] as [number, number]] : points;
      for (const [x, y] of queries) {
        const got = await enc.at(x, y, { ...opts, count: 8 });
        perPoint.push(got);
        for (const p of got) pool.set(`${p.scale}:${p.cell.join(',')}`, p);
      }
      const covers = (p: Proposal, [x, y]: [number, number]) => contains(p.rle, Math.floor(x), Math.floor(y));
      const own = points.map((pt, i) => perPoint[i]!.find((p) => covers(p, pt)) ?? perPoint[i]![0]!).filter((p): p is Proposal => !!p);
      const parts = [...new Set(own)];
      if (parts.length <= 1) return selection(parts, 'one');
      const union = merge(parts.map((p) => p.rle));
      const whole = [...pool.values()]
        .filter((p) => points.every((pt) => covers(p, pt)))
        .sort((a, b) => b.score - a.score)
        .find((p) => iou([p.rle], [union], [false])[0]![0]! >= 0.5);
      return whole ? selection([whole], 'one') : selection(parts, 'union');
    });
  }

  /** Frees the weights on the GPU (and the runtime, when load() created it). */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const p of this.model.parameters()) p.dispose();
    if (this.ownedRuntime) releaseRuntime(this.ownedRuntime);
  }

  private check(): void {
    if (this.disposed) throw new Error('this segmenter was disposed');
  }

  private async withEncoding<T>(image: ImageInput | ImageEncoding, opts: EncodeOptions, fn: (enc: ImageEncoding) => Promise<T>): Promise<T> {
    this.check();
    if (image instanceof ImageEncoding) return fn(image);
    const enc = await encode(this.model, image, opts);
    try {
      return await fn(enc);
    } finally {
      enc.dispose();
    }
  }
}

function selection(masks: Proposal[], mode: 'one' | 'union'): Selection {
  const rle = mode === 'one' ? masks[0]!.rle : merge(masks.map((m) => m.rle));
  const [x, y, w, h] = toBbox(rle);
  return { rle, bbox: [x, y, w, h], area: area(rle), score: Math.min(...masks.map((m) => m.score)), mode, masks };
}

// ---- loading -------------------------------------------------------------------------------------

/**
 * Runtimes that load() created, with how many segmenters use each: later loads share the first's,
 * and the last segmenter disposed destroys it (disposing one never breaks another).
 */
const loadedRuntimes = new Map<Runtime, number>();

/** The runtime to load onto: the given one, the current default, or a new one (shared by the segmenters load() makes). */
async function runtimeFor(opts: LoadOptions): Promise<{ rt: Runtime; owned: boolean }> {
  if (opts.runtime) return { rt: opts.runtime, owned: false };
  let rt: Runtime | null = null;
  try {
    rt = getRuntime();
  } catch {
    // none yet
  }
  if (rt && !loadedRuntimes.has(rt)) return { rt, owned: false }; // the caller's own (init())
  if (!rt) {
    rt = await Runtime.create(opts.runtimeOptions ?? {});
    setRuntime(rt);
  }
  loadedRuntimes.set(rt, (loadedRuntimes.get(rt) ?? 0) + 1);
  return { rt, owned: true };
}

/** One segmenter less on a runtime load() created; the last one destroys it. */
function releaseRuntime(rt: Runtime): void {
  const users = (loadedRuntimes.get(rt) ?? 1) - 1;
  if (users > 0) return void loadedRuntimes.set(rt, users);
  loadedRuntimes.delete(rt);
  rt.destroy();
  try {
    if (getRuntime() === rt) setRuntime(null);
  } catch {
    /* no default runtime */
  }
}

/**
 * Builds a segmenter from a model's two files. The weights go to the GPU only after every check
 * passed and the signal is still live; an abort after that frees them again.
 */
export async function segmenterFromFiles(
  config: ModelBytes['config'],
  weights: Uint8Array | ArrayBuffer,
  source: string,
  opts: LoadOptions = {},
): Promise<Segmenter> {
  checkAbort(opts.signal);
  const text =
    typeof config === 'string'
      ? config
      : config instanceof Uint8Array || config instanceof ArrayBuffer
        ? new TextDecoder().decode(toBytes(config))
        : JSON.stringify(config);
  const cfg = parseModelConfig(text, `${source}${source.endsWith('/') ? '' : '/'}${CONFIG}`);
  const { rt, owned } = await runtimeFor(opts);
  let model: DeepMask | null = null;
  try {
    checkAbort(opts.signal);
    const previous = (() => {
      try {
        return getRuntime();
      } catch {
        return null;
      }
    })();
    setRuntime(rt); // the model's tensors are made on the default runtime
    try {
      model = importModel(cfg, toBytes(weights), `${source}${source.endsWith('/') ? '' : '/'}${WEIGHTS}`);
    } finally {
      setRuntime(previous);
    }
    if (opts.f16) model.half();
    checkAbort(opts.signal);
    return new Segmenter(model, source, owned ? rt : null);
  } catch (e) {
    if (model) for (const p of model.parameters()) p.dispose();
    if (owned) releaseRuntime(rt);
    throw e;
  }
}

const isUrlString = (s: string) => /^(https?|blob|data):/i.test(s);

/** The folder URL of a model: itself when it ends in '/', else the folder of a `config.json` URL. */
function folderUrl(u: URL): URL {
  const href = u.href;
  if (href.endsWith('/')) return u;
  if (href.endsWith(`/${CONFIG}`) || href.endsWith(`/${WEIGHTS}`)) return new URL('./', u);
  return new URL(`${href}/`);
}

/**
 * Loads a model: from a URL (a folder holding config.json and model.safetensors; fetched with
 * progress, kept in the Cache API where the browser has one), or from its files' bytes. In the
 * browser a relative URL is resolved against the page, and with no source it is the page's
 * `models/mobile-coco/` (serve the package's models/ folder there). Folder paths and the bundled
 * default in Node: `load` from 'deepmask-webgpu/node'.
 */
export async function load(source?: ModelSource, opts: LoadOptions = {}): Promise<Segmenter> {
  checkAbort(opts.signal);
  if (source === null || (source !== undefined && typeof source !== 'string' && typeof source !== 'object')) {
    throw new Error(
      `load(): the source must be a model folder's URL or path, or its files as { config, weights }; got ${source === null ? 'null' : typeof source}`,
    );
  }
  if (source !== undefined && typeof source === 'object' && !(source instanceof URL)) {
    if (!('config' in source) || !('weights' in source)) throw new Error('load(): bytes must be given as { config, weights }');
    const total = toBytes(source.weights).byteLength;
    opts.onProgress?.({ loaded: total, total, file: WEIGHTS, fromCache: false });
    return segmenterFromFiles(source.config, source.weights, 'bytes', opts);
  }
  const base =
    typeof globalThis.location === 'object' && globalThis.location
      ? ((globalThis as { document?: { baseURI?: string } }).document?.baseURI ?? String(globalThis.location.href))
      : undefined;
  if (source === undefined) {
    if (!base) throw new Error("load(): give the model's URL or bytes; for a model folder or the bundled model in Node use `load` from 'deepmask-webgpu/node'");
    source = 'models/mobile-coco/';
  }
  const str = source instanceof URL ? source.href : source;
  if (!isUrlString(str) && !base)
    throw new Error(`load(): '${str}' is not an http(s) URL; to read a model folder in Node use \`load\` from 'deepmask-webgpu/node'`);
  const folder = folderUrl(new URL(str, base));
  const { config, weights } = await fetchModel(folder, opts);
  return segmenterFromFiles(config, weights, folder.href, opts);
}

interface CacheLike {
  match(url: string): Promise<Response | undefined>;
  put(url: string, r: Response): Promise<void>;
}

async function openCache(opts: LoadOptions): Promise<CacheLike | null> {
  if (opts.cache === false) return null;
  const storage = (globalThis as { caches?: { open(name: string): Promise<CacheLike> } }).caches;
  if (!storage) return null; // Node, insecure origins, workers without it
  try {
    return await storage.open(typeof opts.cache === 'string' ? opts.cache : DEFAULT_CACHE);
  } catch {
    return null; // e.g. an opaque origin refuses storage
  }
}

/** Fetches config.json and model.safetensors (or takes them from the cache) with byte progress. */
async function fetchModel(folder: URL, opts: LoadOptions): Promise<{ config: Uint8Array; weights: Uint8Array }> {
  const cache = await openCache(opts);
  const urls = [new URL(CONFIG, folder).href, new URL(WEIGHTS, folder).href];
  // Both responses first (their headers give the total), then the bodies in order.
  const responses = await Promise.all(
    urls.map(async (url) => {
      const hit = cache ? await cache.match(url).catch(() => undefined) : undefined;
      if (hit) return { url, r: hit, fromCache: true };
      const r = await fetch(url, { signal: opts.signal });
      if (!r.ok) throw new Error(`${url}: HTTP ${r.status}${r.statusText ? ` ${r.statusText}` : ''}`);
      return { url, r, fromCache: false };
    }),
  ).catch((e: Error) => {
    if (opts.signal?.aborted) throw abortError(opts.signal, 'loading');
    throw e;
  });
  const lengths = responses.map(({ r }) => Number(r.headers.get('content-length') ?? NaN));
  const total = lengths.every((n) => Number.isFinite(n) && n >= 0) ? lengths.reduce((a, b) => a + b, 0) : undefined;
  let loaded = 0;
  const bodies: Uint8Array[] = [];
  try {
    for (const { url, r, fromCache } of responses) {
      const file = url.slice(url.lastIndexOf('/') + 1);
      bodies.push(
        await readBody(r, opts.signal, (n) => {
          loaded += n;
          opts.onProgress?.({ loaded, ...(total !== undefined ? { total: Math.max(total, loaded) } : {}), file, fromCache });
        }),
      );
    }
  } catch (e) {
    for (const { r } of responses) if (!r.bodyUsed) await r.body?.cancel().catch(() => undefined);
    if (opts.signal?.aborted) throw abortError(opts.signal, 'loading');
    throw e;
  }
  const [config, weights] = bodies as [Uint8Array, Uint8Array];
  if (cache) {
    // Stored only once both files arrived whole and the config parses: a torn download is never kept.
    parseModelConfig(new TextDecoder().decode(config), urls[0]);
    await Promise.all(
      responses.map(({ url, fromCache }, i) =>
        fromCache
          ? undefined
          : cache
              .put(
                url,
                new Response(bodies[i]! as Uint8Array<ArrayBuffer>, {
                  headers: { 'content-type': i ? 'application/octet-stream' : 'application/json', 'content-length': String(bodies[i]!.byteLength) },
                }),
              )
              .catch(() => undefined),
      ),
    );
  }
  return { config, weights };
}

/** A response body with progress per chunk; the signal stops it between chunks. */
async function readBody(r: Response, signal: AbortSignal | undefined, progress: (n: number) => void): Promise<Uint8Array> {
  checkAbort(signal);
  if (!r.body) {
    const b = new Uint8Array(await r.arrayBuffer());
    progress(b.byteLength);
    return b;
  }
  const reader = r.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      checkAbort(signal);
      chunks.push(value);
      size += value.byteLength;
      progress(value.byteLength);
    }
  } finally {
    reader.releaseLock();
  }
  const out = new Uint8Array(size);
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.byteLength;
  }
  return out;
}
