// Worker thread of the Node data loader: reads and decodes images (kept in an LRU cache) and renders
// training windows, off the thread that drives the GPU.
import { parentPort, workerData } from 'node:worker_threads';
import { readFileSync } from 'node:fs';
import { decodeImage, type RgbImage } from './image.js';
import { renderSample, type Geometry, type SampleAnnotation, type SampleSpec } from './sampler.js';
import type { InputNormalization } from '../model/presets.js';

export interface RenderJob {
  id: number;
  /** size: [width, height] the annotation file gives the image. */
  items: { file: string; size?: [number, number]; spec: SampleSpec; ann?: SampleAnnotation }[];
}

export type RenderReply =
  { id: number; results: ({ input: Float32Array; target: Float32Array | null } | { error: string; file: string })[] } | { id: number; fatal: string };

const { geo, norm, cacheBytes } = workerData as { geo: Geometry; norm: InputNormalization; cacheBytes: number };
const cache = new Map<string, RgbImage>();
let cached = 0;

function load(file: string): RgbImage {
  const hit = cache.get(file);
  if (hit) {
    cache.delete(file); // most recently used last
    cache.set(file, hit);
    return hit;
  }
  const img = decodeImage(readFileSync(file), file);
  cache.set(file, img);
  cached += img.data.byteLength;
  for (const [k, v] of cache) {
    if (cached <= cacheBytes || k === file) break;
    cache.delete(k);
    cached -= v.data.byteLength;
  }
  return img;
}

parentPort!.on('message', (job: RenderJob) => {
  try {
    const transfer: ArrayBuffer[] = [];
    const results = job.items.map(({ file, size, spec, ann }) => {
      let r: ReturnType<typeof renderSample>;
      try {
        const img = load(file);
        // Masks are drawn at the annotated size: an image of another size would not line up with them.
        if (size && (img.width !== size[0] || img.height !== size[1])) {
          throw new Error(`the image is ${img.width}x${img.height} on disk but ${size[0]}x${size[1]} in the annotation file`);
        }
        r = renderSample(img, spec, ann, geo, norm);
      } catch (e) {
        const msg = (e as Error).message;
        return { error: msg.startsWith(`${file}: `) ? msg.slice(file.length + 2) : msg, file }; // the file is named by the caller
      }
      transfer.push(r.input.buffer as ArrayBuffer);
      if (r.target) transfer.push(r.target.buffer as ArrayBuffer);
      return r;
    });
    parentPort!.postMessage({ id: job.id, results } satisfies RenderReply, transfer);
  } catch (e) {
    parentPort!.postMessage({ id: job.id, fatal: (e as Error).stack ?? String(e) } satisfies RenderReply);
  }
});
