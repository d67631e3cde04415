// Wall-clock timing: warm up (pipeline compiles), then repeat until both a minimum count and a
// minimum duration are reached; report the median, which resists lavapipe's ±10-15% noise.
export interface Timing {
  ms: number;
  reps: number;
}

export interface TimeOptions {
  warmup?: number;
  minReps?: number;
  minMs?: number;
  maxReps?: number;
}

export async function time(run: () => unknown, sync: () => Promise<void>, o: TimeOptions = {}): Promise<Timing> {
  for (let i = 0; i < (o.warmup ?? 1); i++) {
    await run();
    await sync();
  }
  const samples: number[] = [];
  const t0 = performance.now();
  while (samples.length < (o.maxReps ?? 50) && (samples.length < (o.minReps ?? 3) || performance.now() - t0 < (o.minMs ?? 1500))) {
    const s = performance.now();
    await run();
    await sync();
    samples.push(performance.now() - s);
  }
  samples.sort((a, b) => a - b);
  return { ms: samples[Math.floor(samples.length / 2)]!, reps: samples.length };
}

export const gflops = (flops: number, ms: number): number => flops / ms / 1e6;
