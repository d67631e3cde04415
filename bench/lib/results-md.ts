// bench/RESULTS.md: every bench/results/<adapter>.json as markdown tables, so that runs on
// different machines sit side by side.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

interface Doc {
  adapter: { description: string };
  date: string;
  node: string;
  lpNumThreads: string | null;
  sections: Record<string, { name: string; unit: string; ours: number; peer?: number; ratio?: number; detail?: Record<string, number | string> }[]>;
}

const f = (v: unknown): string =>
  typeof v !== 'number'
    ? String(v ?? '-')
    : Math.abs(v) >= 100
      ? v.toFixed(0)
      : Math.abs(v) >= 10
        ? v.toFixed(1)
        : Math.abs(v) >= 1
          ? v.toFixed(2)
          : v.toFixed(3);

export function writeResultsMd(dir = 'bench/results', out = 'bench/RESULTS.md'): void {
  const docs = readdirSync(dir)
    .filter((n) => n.endsWith('.json'))
    .sort()
    .map((n) => [n, JSON.parse(readFileSync(join(dir, n), 'utf8')) as Doc] as const);
  const lines = [
    '# Benchmark results',
    '',
    'Made by `npm run bench` (one file per adapter in `bench/results/`). "peer" is',
    '`@tensorflow/tfjs-backend-webgpu` on the same adapter in the same process; "ours/peer" is how',
    'many times faster ours is. Lavapipe figures move by ±10-15% run to run.',
    '',
  ];
  for (const [name, d] of docs) {
    lines.push(
      `## ${d.adapter.description}`,
      '',
      `\`${name}\`, ${d.date.slice(0, 10)}, Node ${d.node}${d.lpNumThreads ? `, LP_NUM_THREADS=${d.lpNumThreads}` : ''}`,
      '',
    );
    for (const [title, rows] of Object.entries(d.sections)) {
      const keys = [...new Set(rows.flatMap((r) => Object.keys(r.detail ?? {})))];
      lines.push(`### ${title}`, '', `| | unit | ours | peer | ours/peer | ${keys.join(' | ')} |`, `|---|---|---|---|---|${keys.map(() => '---').join('|')}|`);
      for (const r of rows)
        lines.push(
          `| ${r.name} | ${r.unit} | ${f(r.ours)} | ${f(r.peer)} | ${r.ratio ? `${r.ratio.toFixed(2)}x` : '-'} | ${keys.map((k) => f(r.detail?.[k])).join(' | ')} |`,
        );
      lines.push('');
    }
  }
  // Other benches own marked sections of the same file (`<!-- models -->`, `<!-- refine -->` ...): carry them over.
  const marked = existsSync(out) ? [...readFileSync(out, 'utf8').matchAll(/<!-- ([a-z-]+) -->[\s\S]*?<!-- \/\1 -->/g)].map((m) => m[0]) : [];
  writeFileSync(out, marked.length ? `${lines.join('\n').trimEnd()}\n\n${marked.join('\n\n')}\n` : lines.join('\n'));
}
