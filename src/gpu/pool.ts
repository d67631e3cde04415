// GPU buffers from a pool keyed by (usage, size bucket). A released buffer goes back to its free
// list only once every command that used it has been submitted: until then it may still be
// written by pending work, and a queue.writeBuffer to a reused buffer would overtake it. Free
// buffers are bounded: past `maxFreeBytes` (by default the larger of 64 MiB and the peak in use),
// the sizes used least recently are destroyed, so that a long run over images of many sizes keeps
// at most about twice its working set instead of one free list per size ever seen.
import type { GPUDevice, GPUBuffer } from './global-types.js'; // the globals, as declarations that check without WebGPU types

/** WebGPU usage bits (spec values), so the engine needs no runtime globals. */
export const Usage = {
  MAP_READ: 0x1,
  COPY_SRC: 0x4,
  COPY_DST: 0x8,
  UNIFORM: 0x40,
  STORAGE: 0x80,
  QUERY_RESOLVE: 0x200,
} as const;

export type BufferKind = 'storage' | 'uniform' | 'readback';

const USAGE: Record<BufferKind, number> = {
  storage: Usage.STORAGE | Usage.COPY_SRC | Usage.COPY_DST,
  uniform: Usage.UNIFORM | Usage.COPY_DST,
  readback: Usage.MAP_READ | Usage.COPY_DST,
};

/** Rounds up to a bucket: at least 256 bytes, then four steps per power of two (at most 25% slack). */
export function bucketSize(bytes: number): number {
  if (bytes <= 256) return 256;
  const p = 2 ** Math.floor(Math.log2(bytes));
  const step = p / 4;
  return Math.ceil(bytes / step) * step;
}

export interface PoolStats {
  /** Bytes of every GPU buffer the pool has created and not destroyed. */
  allocatedBytes: number;
  /** Bytes of buffers handed out and not yet released. */
  inUseBytes: number;
  peakAllocatedBytes: number;
  peakInUseBytes: number;
  buffers: number;
  /** Bytes of free buffers kept for reuse. */
  freeBytes: number;
}

export class BufferPool {
  private readonly free = new Map<string, GPUBuffer[]>();
  private pending: GPUBuffer[] = [];
  private readonly stats: PoolStats = { allocatedBytes: 0, inUseBytes: 0, peakAllocatedBytes: 0, peakInUseBytes: 0, buffers: 0, freeBytes: 0 };

  constructor(
    private readonly device: GPUDevice,
    private readonly maxBufferSize: number,
    /** Free bytes kept at most (default: the larger of 64 MiB and the peak bytes in use). */
    private readonly maxFreeBytes?: number,
  ) {}

  acquire(kind: BufferKind, bytes: number, label?: string): GPUBuffer {
    const size = bucketSize(bytes);
    if (size > this.maxBufferSize) {
      throw new Error(`buffer of ${bytes} bytes exceeds the device's maxBufferSize (${this.maxBufferSize})${label ? ` for ${label}` : ''}`);
    }
    const usage = USAGE[kind];
    const key = `${usage}:${size}`;
    const list = this.free.get(key);
    let buffer = list?.pop();
    if (buffer) {
      this.stats.freeBytes -= size;
      if (!list!.length) this.free.delete(key);
    } else {
      buffer = this.device.createBuffer({ size, usage, label: label ?? kind });
      this.stats.allocatedBytes += size;
      this.stats.buffers++;
      this.stats.peakAllocatedBytes = Math.max(this.stats.peakAllocatedBytes, this.stats.allocatedBytes);
    }
    this.stats.inUseBytes += size;
    this.stats.peakInUseBytes = Math.max(this.stats.peakInUseBytes, this.stats.inUseBytes);
    return buffer;
  }

  /** Returns a buffer; `inFlight` holds it back until `submitted()` (commands that use it are unsubmitted). */
  release(buffer: GPUBuffer, inFlight: boolean): void {
    this.stats.inUseBytes -= buffer.size;
    if (inFlight) this.pending.push(buffer);
    else this.putBack(buffer);
  }

  /** Called by the runtime right after a queue submit. */
  submitted(): void {
    for (const b of this.pending) this.putBack(b);
    this.pending = [];
  }

  /** Destroys every free buffer (buffers in use are untouched). */
  trim(): void {
    for (const list of this.free.values()) for (const b of list) this.destroy(b);
    this.free.clear();
  }

  snapshot(): PoolStats {
    return { ...this.stats };
  }

  resetPeaks(): void {
    this.stats.peakAllocatedBytes = this.stats.allocatedBytes;
    this.stats.peakInUseBytes = this.stats.inUseBytes;
  }

  private putBack(buffer: GPUBuffer): void {
    const key = `${buffer.usage}:${buffer.size}`;
    // Re-inserted so that the map's order is least recently returned first.
    const list = this.free.get(key) ?? [];
    this.free.delete(key);
    this.free.set(key, list);
    list.push(buffer);
    this.stats.freeBytes += buffer.size;
    const cap = this.maxFreeBytes ?? Math.max(64 * 2 ** 20, this.stats.peakInUseBytes);
    for (const [k, l] of this.free) {
      if (this.stats.freeBytes <= cap || k === key) break;
      while (l.length && this.stats.freeBytes > cap) this.destroy(l.pop()!);
      if (!l.length) this.free.delete(k);
    }
  }

  /** Destroys a free buffer (work already submitted that uses it still completes). */
  private destroy(b: GPUBuffer): void {
    this.stats.allocatedBytes -= b.size;
    this.stats.freeBytes -= b.size;
    this.stats.buffers--;
    b.destroy();
  }
}
