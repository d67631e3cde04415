// `npm run bench [-- --only matmul,conv,click] [--quick] [--no-peer]`: our kernels and model side by side
// with tfjs-webgpu on the same adapter in the same process; figures also go to
// bench/results/<adapter>.json so that runs on different machines can be compared.
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { init, type Runtime } from '../src/index.js';
import { createPeer, type Peer } from './lib/peer.js';
import { printSection, ratio, type Section } from './lib/report.js';
import { writeResultsMd } from './lib/results-md.js';
import { matmulBench } from './matmul.js';
import { convBench } from './conv.js';
import { modelBench } from './model.js';
import { deepmaskBench } from './deepmask.js';
import { loaderBench } from './loader.js';
import { mobilenetBench } from './mobilenet.js';
import { clickBench } from './click.js';

export interface BenchContext {
  rt: Runtime;
  peer: Peer | null;
  quick: boolean;
}

const benches: Record<string, (ctx: BenchContext) => Promise<Section | Section[]>> = {
  matmul: matmulBench,
  conv: convBench,
  mobilenet: mobilenetBench,
  model: modelBench,
  deepmask: deepmaskBench,
  loader: loaderBench,
  click: clickBench,
};

const { values } = parseArgs({
  options: { only: { type: 'string' }, quick: { type: 'boolean' }, 'no-peer': { type: 'boolean' }, out: { type: 'string' } },
});
const only = values.only ? values.only.split(',') : Object.keys(benches);
for (const name of only) if (!benches[name]) throw new Error(`unknown bench '${name}' (have ${Object.keys(benches).join(', ')})`);

const rt = await init();
const needsPeer = only.some((n) => n !== 'loader' && n !== 'click');
const peer = values['no-peer'] || !needsPeer ? null : await createPeer();
console.log(`adapter: ${rt.adapter.description}${process.env.LP_NUM_THREADS ? ` (LP_NUM_THREADS=${process.env.LP_NUM_THREADS})` : ''}`);
console.log(`peer: ${peer ? peer.name : 'none'}; figures are medians of repeated runs`);

const results: Record<string, unknown> = {};
for (const name of only) {
  const out = await benches[name]!({ rt, peer, quick: !!values.quick });
  for (const s of Array.isArray(out) ? out : [out]) {
    printSection(s, peer?.name ?? 'peer');
    results[s.title] = s.rows.map((r) => ({ ...r, ratio: ratio(r) }));
  }
}

const file = values.out ?? `bench/results/${rt.adapter.slug}.json`;
mkdirSync('bench/results', { recursive: true });
type Rows = { name: string }[];
const previous = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as { sections?: Record<string, Rows> }) : {};
// A partial run (--only, --quick) replaces the rows it measured and keeps the others.
const sections: Record<string, Rows> = { ...(previous.sections ?? {}) };
for (const [title, rows] of Object.entries(results) as [string, Rows][]) {
  const merged = [...(sections[title] ?? [])];
  for (const r of rows) {
    const i = merged.findIndex((m) => m.name === r.name);
    if (i >= 0) merged[i] = r;
    else merged.push(r);
  }
  sections[title] = merged;
}
const doc = { adapter: rt.adapter, date: new Date().toISOString(), node: process.version, lpNumThreads: process.env.LP_NUM_THREADS ?? null, sections };
writeFileSync(file, `${JSON.stringify(doc, null, 2)}\n`);
writeResultsMd();
console.log(`\nwrote ${file} and bench/RESULTS.md`);
rt.destroy();
process.exit(0);
