// usage (from the repository root, after node scripts/build.mjs):
//   node bench/ab/rerank-quality.mjs train|val [PHOTOS] [MODEL] [OFFSET] [T,T,...] [POOL,POOL,...] [POWER,POWER,...]
// Diagnostic for issue 14: mask AR@10 / AR@100 of the top 100 when the top POOL windows by
// objectness are re-ranked by objectness x confidence^POWER, where a mask's confidence is the mean
// probability of its pixels above the threshold (the pixels it claims), for several pools, powers and
// mask thresholds. 'train': every 8th training photo (from OFFSET, 5 unless given: not the photos any earlier choice
// was made on); 'val': the held-out photos. Masks are pasted on the CPU with the paste kernel's sampling.
import { setup, encode, toCocoResults, toBbox, logit, sig, rankedWindows, windowOf, paste } from './masks-on-cpu.mjs';
const which = process.argv[2];
const { model, photos, load, ar } = await setup(which, Number(process.argv[3] ?? 32), Number(process.argv[5] ?? 5), process.argv[4]);
const M = model.config.maskSize;
const variants = {};
const t0 = performance.now();
const list = (k, d) => (process.argv[k] ? process.argv[k].split(',').map(Number) : d);
const Ts = list(6, [0.2, 0.3, 0.4]), pools = list(7, [100, 300, 1000]), powers = list(8, [0, 0.5, 1, 2, 3]);
for (const [n, im] of photos.entries()) {
  const enc = await encode(model, load(im));
  const top = rankedWindows(enc).slice(0, 1000);
  const lt = enc['rankedMasks'](top); const L = await lt.read(); lt.dispose();
  const H = enc.height, W = enc.width;
  const rles = new Map();
  const rleOf = (i, T) => { const k = `${i},${T}`; if (!rles.has(k)) rles.set(k, paste(L, i * M * M, M, windowOf(model, enc, top[i]), W, H, logit(T))); return rles.get(k); };
  for (const T of Ts) {
    const conf = top.map((_, i) => { let s = 0, k = 0; for (let j = i * M * M; j < (i + 1) * M * M; j++) if (L[j] >= logit(T)) { s += sig(L[j]); k++; } return k ? s / k : 0; });
    for (const pool of pools) for (const a of powers) {
      if (a === 0 && pool !== 100) continue;
      const score = (i) => sig(top[i].score) * conf[i] ** a;
      const idx = [...Array(Math.min(pool, top.length)).keys()].sort((x, y) => score(y) - score(x) || x - y).slice(0, 100);
      (variants[`T${T} pool ${pool} conf^${a}`] ??= []).push(...toCocoResults(im.id, idx.map((i) => { const rle = rleOf(i, T); return { score: score(i), rle, bbox: toBbox(rle) }; })));
    }
  }
  enc.dispose();
  process.stderr.write(`\r${n + 1}/${photos.length} ${((performance.now() - t0) / 1000).toFixed(0)} s`);
}
process.stderr.write('\n');
for (const [name, dts] of Object.entries(variants)) {
  const a = ar(dts);
  console.log(`${which} ${name.padEnd(26)} AR@10 ${a['AR@10'].toFixed(4)} AR@100 ${a['AR@100'].toFixed(4)}`);
}
process.exit(0);
