// One-line progress for long work: step, loss, throughput and ETA, rewritten in place on a TTY.
export class Progress {
  private lastLen = 0;

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
    const rate = items / Math.max(secs, 1e-9);
    const eta = done > 0 ? (secs / done) * (this.total - done) : NaN;
    const extra = Object.entries(fields).map(([k, v]) => `${k} ${typeof v === 'number' ? fmt(v) : v}`);
    const line = [`${this.label} ${done}/${this.total}`, ...extra, `${rate.toFixed(1)} ${this.unit}/s`, `ETA ${clock(eta)}`].join('  ');
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

const fmt = (v: number): string => (Math.abs(v) >= 100 || Number.isInteger(v) ? String(v) : v.toPrecision(4));

export function clock(secs: number): string {
  if (!Number.isFinite(secs)) return '--:--';
  const s = Math.round(secs);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  return h ? `${h}:${String(m).padStart(2, '0')}:${String(r).padStart(2, '0')}` : `${m}:${String(r).padStart(2, '0')}`;
}
