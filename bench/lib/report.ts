// Prints side-by-side tables and collects the same figures for bench/results/<adapter>.json.
export interface Row {
  name: string;
  /** Our figure and the peer's, in `unit`. */
  ours: number;
  peer?: number;
  unit: 'GFLOP/s' | 'ms' | 'samples/s' | 'MiB';
  /** Extra columns, e.g. milliseconds beside GFLOP/s. */
  detail?: Record<string, number | string>;
}

export interface Section {
  title: string;
  rows: Row[];
  notes?: string[];
}

const higherIsBetter = (u: Row['unit']): boolean => u === 'GFLOP/s' || u === 'samples/s';

/** How many times better ours is than the peer (>1 means faster), whatever the unit. */
export function ratio(r: Row): number | undefined {
  if (r.peer === undefined || !r.peer || !r.ours) return undefined;
  return higherIsBetter(r.unit) ? r.ours / r.peer : r.peer / r.ours;
}

const f = (v: number | undefined): string => (v === undefined ? '-' : Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2));

export function printSection(s: Section, peerName: string): void {
  const detailKeys = [...new Set(s.rows.flatMap((r) => Object.keys(r.detail ?? {})))];
  const header = ['', 'unit', 'ours', peerName, 'ours/peer', ...detailKeys];
  const body = s.rows.map((r) => [
    r.name,
    r.unit,
    f(r.ours),
    f(r.peer),
    ratio(r) === undefined ? '-' : `${ratio(r)!.toFixed(2)}x`,
    ...detailKeys.map((k) => (typeof r.detail?.[k] === 'number' ? f(r.detail[k] as number) : String(r.detail?.[k] ?? '-'))),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  console.log(`\n${s.title}`);
  console.log(line(header));
  for (const row of body) console.log(line(row));
  for (const n of s.notes ?? []) console.log(`  ${n}`);
}
