// Launcher for shaders/paste.wgsl.
import { kernel, ceilDiv } from '../gpu/kernel.js';
import type { BufferView, Runtime } from '../gpu/runtime.js';

type PasteParams = { words: number; n: number; m: number; threshold: number };

const pasteKernel = kernel<PasteParams>({
  shader: 'paste',
  entry: 'paste',
  workgroups: (p) => ceilDiv(p.words, 64),
  sizes: (p) => ({ logits: p.n * p.m * p.m, boxes: p.n * 4, windows: p.n * 4, bits: p.words }),
});

/** Resamples, thresholds and bit-packs n masks into their boxes (see shaders/paste.wgsl). */
export function pasteMasks(
  rt: Runtime,
  a: { logits: BufferView; boxes: BufferView; windows: BufferView; bits: BufferView; n: number; m: number; words: number; threshold: number },
): void {
  rt.run(pasteKernel, {
    params: { words: a.words, n: a.n, m: a.m, threshold: a.threshold },
    bind: { logits: a.logits, boxes: a.boxes, windows: a.windows, bits: a.bits },
  });
}
