// GPU timestamps around every dispatch (one compute pass each), resolved at each submit and summed
// per kernel: Runtime.profile() for runtimes created with `profile: true`.
import { Usage, type BufferPool } from './pool.js';

/** Timestamp pairs around every dispatch, resolved at each submit and summed per kernel. */
export class Profiler {
  private readonly capacity = 1024;
  private readonly set: GPUQuerySet;
  private names: string[] = [];
  private readonly totals = new Map<string, { ns: number; n: number }>();
  private readonly pending: Promise<void>[] = [];
  private toRead: (() => Promise<void>)[] = [];

  constructor(
    private readonly device: GPUDevice,
    private readonly pool: BufferPool,
  ) {
    this.set = device.createQuerySet({ type: 'timestamp', count: this.capacity * 2 });
  }

  next(name: string): GPUComputePassTimestampWrites {
    if (this.names.length >= this.capacity) throw new Error('profiler: too many dispatches in one submit');
    const i = this.names.push(name) - 1;
    return { querySet: this.set, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 };
  }

  resolve(encoder: GPUCommandEncoder): void {
    if (!this.names.length) return;
    const bytes = this.names.length * 16;
    const resolved = this.device.createBuffer({ size: bytes, usage: Usage.QUERY_RESOLVE | Usage.COPY_SRC });
    const staging = this.pool.acquire('readback', bytes);
    encoder.resolveQuerySet(this.set, 0, this.names.length * 2, resolved, 0);
    encoder.copyBufferToBuffer(resolved, 0, staging, 0, bytes);
    const names = this.names;
    this.names = [];
    // Mapped only once the submit that fills it has been made.
    this.toRead.push(async () => {
      await staging.mapAsync(1, 0, bytes);
      const t = new BigUint64Array(staging.getMappedRange(0, bytes).slice(0));
      staging.unmap();
      this.pool.release(staging, false);
      resolved.destroy();
      names.forEach((n, i) => {
        const e = this.totals.get(n) ?? { ns: 0, n: 0 };
        e.ns += Number(t[2 * i + 1]! - t[2 * i]!);
        e.n++;
        this.totals.set(n, e);
      });
    });
  }

  submitted(): void {
    for (const read of this.toRead.splice(0)) this.pending.push(read());
  }

  async report(): Promise<{ kernel: string; ms: number; dispatches: number }[]> {
    await Promise.all(this.pending.splice(0));
    const out = [...this.totals].map(([kernel, e]) => ({ kernel, ms: e.ns / 1e6, dispatches: e.n })).sort((a, b) => b.ms - a.ms);
    this.totals.clear();
    return out;
  }
}
