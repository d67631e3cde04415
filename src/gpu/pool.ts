// GPU buffers from a pool keyed by (usage, size bucket). A released buffer goes back to its free
// list only once every command that used it has been submitted: until then it may still be
// written by pending work, and a queue.writeBuffer to a reused buffer would overtake it.

/** WebGPU usage bits (spec values), so the engine needs no runtime globals. */
export const Usage = {
  MAP_READ: 0x1,
  COPY_SRC: 0x4,
  COPY_DST: 0x8,
  UNIFORM: 0x40,
  STORAGE: 0x80,
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
}

export class BufferPool {
  private readonly free = new Map<string, GPUBuffer[]>();
  private pending: GPUBuffer[] = [];
  private readonly stats: PoolStats = { allocatedBytes: 0, inUseBytes: 0, peakAllocatedBytes: 0, peakInUseBytes: 0, buffers: 0 };

  constructor(
    private readonly device: GPUDevice,
    private readonly maxBufferSize: number,
  ) {}

  acquire(kind: BufferKind, bytes: number, label?: string): GPUBuffer {
    const size = bucketSize(bytes);
    if (size > this.maxBufferSize) {
      throw new Error(`buffer of ${bytes} bytes exceeds the device's maxBufferSize (${this.maxBufferSize})${label ? ` for ${label}` : ''}`);
    }
    const usage = USAGE[kind];
    const list = this.free.get(`${usage}:${size}`);
    let buffer = list?.pop();
    if (!buffer) {
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
    for (const list of this.free.values()) {
      for (const b of list) {
        this.stats.allocatedBytes -= b.size;
        this.stats.buffers--;
        b.destroy();
      }
    }
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
    let list = this.free.get(key);
    if (!list) this.free.set(key, (list = []));
    list.push(buffer);
  }
}
