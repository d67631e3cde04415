// Node data loader: renders training windows in worker threads, so that image decoding and
// resampling keep ahead of the GPU.
import { Worker } from 'node:worker_threads';
import { join } from 'node:path';
import type { InputNormalization } from '../model/presets.js';
import type { Geometry, Renderer, SampleAnnotation, SampleSpec } from './sampler.js';
import type { RenderJob, RenderReply } from './render-worker.js';

export interface LoaderOptions {
  imagesDir: string;
  /** image id -> file name inside imagesDir */
  files: Map<number, string>;
  /** image id -> [width, height] from the annotation file: an image of another size on disk is skipped. */
  sizes?: Map<number, [number, number]>;
  geo: Geometry;
  norm: InputNormalization;
  workers?: number;
  /** Decoded-image cache, in MiB, shared out between the workers. */
  cacheMB?: number;
}

export class WorkerLoader {
  private readonly workers: Worker[];
  private readonly waiting = new Map<number, { resolve: (r: RenderReply) => void; reject: (e: Error) => void }>();
  private nextId = 0;
  private closing = false;

  constructor(private readonly opts: LoaderOptions) {
    const n = Math.max(1, opts.workers ?? 1);
    const cacheBytes = ((opts.cacheMB ?? 768) * 2 ** 20) / n;
    this.workers = Array.from({ length: n }, () => {
      const w = new Worker(new URL('./render-worker.js', import.meta.url), { workerData: { geo: opts.geo, norm: opts.norm, cacheBytes } });
      w.on('message', (r: RenderReply) => {
        const p = this.waiting.get(r.id);
        this.waiting.delete(r.id);
        p?.resolve(r);
      });
      w.on('error', (e) => this.failAll(new Error(`data loader worker failed: ${e.message}`)));
      // A worker that ends on its own (out of memory, killed) must not leave a batch waiting forever.
      w.on('exit', (code) => !this.closing && this.failAll(new Error(`data loader worker exited (code ${code})`)));
      return w;
    });
  }

  /** Renders windows, spread over the workers; failures (unreadable images) come back as errors. */
  readonly render: Renderer = async (specs: SampleSpec[], anns: (SampleAnnotation | undefined)[]) => {
    const per = Math.ceil(specs.length / this.workers.length);
    const parts = this.workers.map((w, k) => {
      const items = specs
        .slice(k * per, (k + 1) * per)
        .map((spec, i) => ({ file: this.file(spec.imageId), size: this.opts.sizes?.get(spec.imageId), spec, ann: anns[k * per + i] }));
      if (items.length === 0) return Promise.resolve([]);
      const id = this.nextId++;
      return new Promise<RenderReply>((resolve, reject) => {
        this.waiting.set(id, { resolve, reject });
        w.postMessage({ id, items } satisfies RenderJob);
      }).then((r) => {
        if ('fatal' in r) throw new Error(`data loader worker failed: ${r.fatal}`);
        return r.results;
      });
    });
    return (await Promise.all(parts)).flat();
  };

  private file(imageId: number): string {
    const f = this.opts.files.get(imageId);
    if (!f) throw new Error(`no file for image ${imageId}`);
    return join(this.opts.imagesDir, f);
  }

  private failAll(e: Error): void {
    for (const p of this.waiting.values()) p.reject(e);
    this.waiting.clear();
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
