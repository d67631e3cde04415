// Masks pasted into an image: the one op between mask logits on the GPU and the masks people use.
// A kernel resamples each mask's logits bilinearly over its window, thresholds them and packs the
// window's box on the image (clipped to it) as bits, column-major, 32 rows a word; only those bits
// come back, and become COCO's uncompressed RLE here. The bit layout is this file's alone.
import { pasteMasks as pasteKernel } from '../kernels/paste.js';
import { sliceRows } from './rows.js';
import { fits, shapeStr, Tensor } from './tensor.js';

/** A mask's square window in the image's pixels: its top-left corner and side (it may reach past the image). */
export interface PasteWindow {
  x: number;
  y: number;
  side: number;
}

/** A binary mask over a whole image as column-major run lengths, a run of zeros first (COCO's uncompressed RLE). */
export interface MaskRuns {
  h: number;
  w: number;
  counts: number[];
}

/** A window's box on the image (the whole pixels it touches, clipped) and its first word in the bits. */
export interface PasteBox {
  x0: number;
  y0: number;
  w: number;
  h: number;
  first: number;
}

const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));

/**
 * Mask logits [n, m, m, 1] (or [n, m * m]), each resampled (bilinear, half-pixel) over its window,
 * set where the resampled logit is at least `logitThreshold`, on a width x height image: one
 * MaskRuns per window. Masks whose bits or logits would pass one storage binding are pasted in groups.
 * Not differentiable.
 */
export async function pasteMasks(
  logits: Tensor,
  windows: readonly PasteWindow[],
  image: { width: number; height: number },
  logitThreshold: number,
): Promise<MaskRuns[]> {
  const n = windows.length,
    rows = logits.shape[0] ?? 0;
  const m = Math.round(Math.sqrt(logits.size / Math.max(1, rows)));
  if (rows !== n || m * m * rows !== logits.size) throw new Error(`pasteMasks: logits ${shapeStr(logits.shape)} do not hold ${n} square masks`);
  const { width: W, height: H } = image;
  if (!(Number.isInteger(W) && Number.isInteger(H) && W >= 1 && H >= 1)) throw new Error(`pasteMasks: invalid image size ${W}x${H}`);
  if (!windows.every((w) => Number.isFinite(w.x) && Number.isFinite(w.y) && w.side > 0))
    throw new Error('pasteMasks: every window needs a finite position and a positive side');
  if (!Number.isFinite(logitThreshold)) throw new Error(`pasteMasks: the threshold must be finite, got ${logitThreshold}`);

  const boxes: PasteBox[] = windows.map((win) => {
    const x0 = clamp(Math.floor(win.x), 0, W),
      x1 = clamp(Math.ceil(win.x + win.side), 0, W);
    const y0 = clamp(Math.floor(win.y), 0, H),
      y1 = clamp(Math.ceil(win.y + win.side), 0, H);
    return { x0, y0, w: x1 - x0, h: y1 - y0, first: 0 };
  });
  const wordsOf = (b: PasteBox) => b.w * Math.ceil(b.h / 32);
  // Groups of consecutive masks whose bits and logits fit one binding each; each mask's first word within its group.
  const groups: { start: number; end: number; words: number }[] = [];
  for (let i = 0; i < n; i++) {
    const g = groups[groups.length - 1];
    const words = wordsOf(boxes[i]!);
    if (g && fits([g.words + words], 'u32', logits.rt) && fits([i + 1 - g.start, m * m], 'f32', logits.rt)) {
      boxes[i]!.first = g.words;
      g.words += words;
      g.end = i + 1;
    } else groups.push({ start: i, end: i + 1, words });
  }
  // Every group's kernel is submitted before the first read.
  const pending = groups.map((g) => {
    const bits = Tensor.empty([Math.max(1, g.words)], { rt: logits.rt, dtype: 'u32' });
    if (g.words === 0) return { g, bits };
    const part = g.start === 0 && g.end === n ? logits : sliceRows(logits, g.start, g.end);
    const box = new Uint32Array(4 * (g.end - g.start)),
      win = new Float32Array(4 * (g.end - g.start));
    for (let i = g.start; i < g.end; i++) {
      const b = boxes[i]!,
        w = windows[i]!;
      box.set([b.x0, b.y0, b.h, b.first], 4 * (i - g.start));
      win.set([w.x, w.y, w.side, 0], 4 * (i - g.start));
    }
    const boxT = Tensor.from(box, [box.length], { rt: logits.rt, dtype: 'u32' });
    const winT = Tensor.from(win, [win.length], { rt: logits.rt });
    pasteKernel(logits.rt, {
      logits: part.view(),
      boxes: boxT.view(),
      windows: winT.view(),
      bits: bits.view(),
      n: g.end - g.start,
      m,
      words: g.words,
      threshold: logitThreshold,
    });
    for (const t of [boxT, winT, ...(part === logits ? [] : [part])]) t.dispose();
    return { g, bits };
  });
  const out: MaskRuns[] = [];
  for (const { g, bits } of pending) {
    const words = g.words > 0 ? ((await bits.readInts()) as Uint32Array) : new Uint32Array(0);
    bits.dispose();
    for (let i = g.start; i < g.end; i++) out.push(bitsToRuns(words, boxes[i]!, H, W));
  }
  return out;
}

/**
 * The run lengths of one mask over an H x W image from its box's bits (column-major, `ceil(h / 32)`
 * words a column, bit b of a word the row 32 k + b), starting at word `box.first`.
 */
export function bitsToRuns(bits: Uint32Array, box: PasteBox, H: number, W: number): MaskRuns {
  const { x0, y0, w, h, first } = box;
  const counts: number[] = [];
  let value = 0,
    run = 0;
  const push = (v: number, n: number) => {
    if (n <= 0) return;
    if (v === value) run += n;
    else {
      counts.push(run);
      value = v;
      run = n;
    }
  };
  push(0, x0 * H);
  const perCol = Math.ceil(h / 32);
  for (let x = 0; x < w; x++) {
    push(0, y0);
    for (let k = 0; k < perCol; k++) {
      const word = bits[first + x * perCol + k]!;
      const nb = Math.min(32, h - 32 * k);
      if (word === 0) push(0, nb);
      else if (nb === 32 && word === 0xffffffff) push(1, 32);
      else for (let b = 0; b < nb; b++) push((word >>> b) & 1, 1);
    }
    push(0, H - y0 - h);
  }
  push(0, (W - x0 - w) * H);
  counts.push(run);
  return { h: H, w: W, counts };
}
