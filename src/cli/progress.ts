// One-line progress for long work: step, loss, throughput and ETA, rewritten in place on a TTY.
import type { InferProgress } from '../infer/proposals.js';
export class Progress {
  private lastLen = 0;
  /** Steps done before this process began (a resumed run): shown in the count, not in the rate or ETA. */
  from = 0;

  constructor(
    private readonly total: number,
    private readonly unit = 'samples',
    private readonly label = 'step',
    private readonly out: NodeJS.WriteStream = process.stderr,
    /** When the work began (performance.now()), for the rate and ETA. */
    private readonly start = performance.now(),
  ) {}

  /** `done` of `total` steps finished, `items` processed so far (for the rate). */
  update(done: number, items: number, fields: Record<string, string | number> = {}): void {
    const secs = (performance.now() - this.start) / 1000;
    const eta = done > 0 ? (secs / done) * (this.total - done) : NaN;
    const extra = Object.entries(fields).map(([k, v]) => `${k} ${typeof v === 'number' ? fmt(v) : v}`);
    this.show([`${this.label} ${this.from + done}/${this.from + this.total}`, ...extra, rateText(items, secs, this.unit), `ETA ${clock(eta)}`].join('  '));
  }

  /** Where item `index` (0-based) is within its own work: "image 1/1  trunk 3/6 (scale 0.354)". */
  stage(index: number, text: string): void {
    this.show(`${this.label} ${index + 1}/${this.total}  ${text}`);
  }

  private show(line: string): void {
    if (this.out.isTTY) {
      this.out.write(`\r${line.padEnd(this.lastLen)}`);
      this.lastLen = line.length;
    } else {
      this.out.write(`${line}\n`);
    }
  }

  done(): void {
    if (this.out.isTTY && this.lastLen) this.out.write('\n');
  }
}

/** An inference stage for Progress.stage(): "trunk 3/6 (scale 0.354)", or the first inference's compiling. */
export function stageLine(e: InferProgress): string {
  if (e.stage === 'compile') return COMPILE_LINE;
  return `${e.stage} ${e.done}/${e.total}${e.scale ? ` (scale ${+e.scale.toFixed(3)})` : ''}`;
}

/** What a process's first inference says while its GPU kernels compile. */
export const COMPILE_LINE = 'compiling GPU kernels (a first run on a machine only: about 20 s on a 2-core CPU)…';

/** Throughput that reads sensibly at any speed: "12.5 images/s", or "4.2 s/image" below one a second. */
export function rateText(items: number, secs: number, unit: string): string {
  if (!(items > 0) || !(secs > 0)) return `- ${unit}/s`;
  const rate = items / secs;
  return rate >= 1 ? `${rate.toFixed(1)} ${unit}/s` : `${(secs / items).toFixed(1)} s/${unit.replace(/s$/, '')}`;
}

const fmt = (v: number): string => (Math.abs(v) >= 100 || Number.isInteger(v) ? String(v) : v.toPrecision(4));

export function clock(secs: number): string {
  if (!Number.isFinite(secs)) return '--:--';
  const s = Math.round(secs);
  const h = Math.floor(s / 3600),
    m = Math.floor((s % 3600) / 60),
    r = s % 60;
  return h ? `${h}:${String(m).padStart(2, '0')}:${String(r).padStart(2, '0')}` : `${m}:${String(r).padStart(2, '0')}`;
}
