// The kernel benches in a browser page: the same bench modules as `npm run bench`, ours and
// tfjs-webgpu on the page's own adapter (in headless Chromium: SwiftShader). Driven by
// scripts/web-bench.mjs, which reads `window.__bench` when `done` is set.
import { init } from '../../src/index.js';
import type { BenchContext } from '../run.js';
import type { Section } from '../lib/report.js';
import { tfjsPeer, type Peer } from '../lib/tfjs-peer.js';
import { matmulBench } from '../matmul.js';
import { convBench } from '../conv.js';
import { mobilenetBench } from '../mobilenet.js';

type Out = { done: boolean; adapter?: string; sections: Section[]; error?: string; log: string[] };
const out: Out = { done: false, sections: [], log: [] };
(window as unknown as { __bench: Out }).__bench = out;

async function browserPeer(): Promise<Peer> {
  const tf = await import('@tensorflow/tfjs-core');
  await import('@tensorflow/tfjs-backend-webgpu');
  return tfjsPeer(tf);
}

const benches: Record<string, (ctx: BenchContext) => Promise<Section | Section[]>> = { matmul: matmulBench, conv: convBench, mobilenet: mobilenetBench };
try {
  const q = new URLSearchParams(location.search);
  const only = (q.get('only') ?? 'matmul,conv,mobilenet').split(',');
  // ?promote=0 compiles kernels as written (no register promotion), for a before/after in one browser.
  const rt = await init(q.has('promote') ? { promoteRegisters: q.get('promote') !== '0' } : {});
  out.adapter = `${rt.adapter.description}, register promotion ${rt.promoteRegisters ? 'on' : 'off'}`;
  const peer = q.has('no-peer') ? null : await browserPeer();
  for (const name of only) {
    const run = benches[name];
    if (!run) throw new Error(`unknown bench '${name}'`);
    const s = await run({ rt, peer, quick: q.has('quick') });
    out.sections.push(...(Array.isArray(s) ? s : [s]));
  }
} catch (e) {
  out.error = (e as Error).stack ?? String(e);
}
out.done = true;
