// Batches of training windows: sampler decisions rendered by a Renderer (worker threads in Node,
// in-page in a browser). A window whose image cannot be decoded is replaced by another window,
// the image is never sampled again, and the skip is reported once.
import type { PatchSampler, RenderedSample, Renderer, SampleSpec } from '../data/sampler.js';

export type { Renderer, RenderResult } from '../data/sampler.js';

export type BatchKind = 'joint' | 'mask' | 'score';

export interface Batch {
  /** 'joint': positives and negatives, both losses; 'mask': positives, mask loss; 'score': score loss. */
  kind: BatchKind;
  n: number;
  /** Normalised windows [n, S, S, 3]. */
  inputs: Float32Array;
  /** Mask targets [n, G, G] of ±1 (all -1 for negatives, whose mask weight is 0). */
  targets: Float32Array;
  /** Objectness labels [n] of ±1. */
  labels: Float32Array;
  specs: SampleSpec[];
}

export class BatchMaker {
  /** Images skipped because they could not be read, with the reason. */
  readonly skipped = new Map<string, string>();

  constructor(
    private readonly sampler: PatchSampler,
    private readonly render: Renderer,
    private readonly size: { inputSize: number; gtSize: number },
    private readonly onSkip: (file: string, error: string) => void = () => {},
  ) {}

  async make(n: number, kind: BatchKind): Promise<Batch> {
    return this.renderAll(this.sampler.batch(n, kind), kind);
  }

  /** Renders fixed decisions (e.g. a validation set), replacing windows on unreadable images. */
  async renderAll(initial: SampleSpec[], kind: BatchKind = 'joint'): Promise<Batch> {
    const S = this.size.inputSize,
      G = this.size.gtSize,
      n = initial.length;
    const specs = [...initial];
    const done: (RenderedSample | null)[] = new Array(n).fill(null);
    let todo = specs.map((_, i) => i);
    while (todo.length > 0) {
      const results = await this.render(
        todo.map((i) => specs[i]!),
        todo.map((i) => (specs[i]!.annId !== undefined ? this.sampler.annotation(specs[i]!.annId!) : undefined)),
      );
      const retry: number[] = [];
      results.forEach((r, k) => {
        const i = todo[k]!;
        if ('error' in r) {
          if (!this.skipped.has(r.file)) {
            this.skipped.set(r.file, r.error);
            this.onSkip(r.file, r.error);
          }
          this.sampler.exclude(specs[i]!.imageId);
          specs[i] = specs[i]!.label > 0 ? this.sampler.positive() : this.sampler.negative();
          retry.push(i);
        } else done[i] = r;
      });
      todo = retry;
    }
    const inputs = new Float32Array(n * S * S * 3),
      targets = new Float32Array(n * G * G).fill(-1),
      labels = new Float32Array(n);
    done.forEach((r, i) => {
      inputs.set(r!.input, i * S * S * 3);
      if (r!.target) targets.set(r!.target, i * G * G);
      labels[i] = specs[i]!.label;
    });
    return { kind, n, inputs, targets, labels, specs };
  }
}
