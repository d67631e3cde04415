// Splitting work past the storage binding limit, in one place: sub-views of a binding (offset
// aligned down, size clamped to the buffer) and the chunk plans of every op that splits (the
// runtime's item splits, matmul windows, conv weight taps and weight-gradient image chunks, the
// trunk's image strips).
import type { BufferView } from './runtime.js';

export const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
export const lcm = (a: number, b: number): number => (a / gcd(a, b)) * b;

/** The binding limits a plan needs (a Runtime's `limits`). */
export interface BindingLimits {
  maxBindingBytes: number;
  storageAlign: number;
}

/**
 * The bytes [start, start + bytes) of a view as a bindable view: its offset aligned down to
 * `align` and its size rounded up to 16 bytes but never past the view's end. `skip` is how many
 * bytes the wanted range starts into the returned view (0 when `start` is aligned).
 */
export function subView(v: BufferView, start: number, bytes: number, align: number): { view: BufferView; skip: number } {
  const at = v.offset + start;
  const offset = at - (at % align);
  const size = Math.min(Math.ceil((at + bytes - offset) / 16) * 16, v.offset + v.size - offset);
  return { view: { buffer: v.buffer, offset, size }, skip: at - offset };
}

/**
 * Items per chunk when items of `per[i]` bytes each (one entry per binding that is split) are
 * bound a chunk at a time: the most that fit every binding under the limit, a multiple of
 * `quantum` (a broadcast operand's period) and of whatever keeps each chunk's offset aligned.
 * All `items` when they fit unsplit. Throws, naming `what`, when not even one aligned chunk fits.
 */
export function planChunks(what: string, items: number, per: readonly number[], limits: BindingLimits, quantum = 1): number {
  const limit = limits.maxBindingBytes,
    align = limits.storageAlign;
  if (per.every((b) => b * items <= limit)) return items;
  let q = quantum,
    fit = Infinity;
  for (const b of per) {
    if (b > limit) throw new Error(`${what}: one item is ${b} bytes, over the ${limit}-byte storage binding limit; use smaller images (or tiles)`);
    q = lcm(q, align / gcd(b, align)); // chunk offsets stay aligned
    fit = Math.min(fit, Math.floor(limit / b));
  }
  const chunk = Math.floor(fit / q) * q;
  if (chunk === 0) throw new Error(`${what}: cannot split into aligned chunks under the ${limit}-byte binding limit (quantum ${q} items)`);
  return Math.min(chunk, items);
}

/**
 * The largest size from `n` down, halving (rounding up), whose `bytes` fit one binding; 0 when
 * not even 1 fits. For splits whose cost is not linear in the size (strips with margins, GEMM
 * windows whose partial sums grow with the number of pieces).
 */
export function halveToFit(n: number, bytes: (size: number) => number, limit: number): number {
  let s = n;
  while (s > 1 && bytes(s) > limit) s = Math.ceil(s / 2);
  return bytes(s) <= limit ? s : 0;
}
