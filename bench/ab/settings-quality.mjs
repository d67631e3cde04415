// usage (from the repository root, after node scripts/build.mjs):
//   node bench/ab/settings-quality.mjs train|val [PHOTOS] [MODEL] [OFFSET] [T,T,...] [NMS,NMS,...]
// Diagnostic for issue 14: mask and box AR@10 / AR@100 of the whole pipeline as `deepmask infer` runs
// it (the model's pyramid and re-ranking, then NMS keeping the best 100 of the top 1000) for every
// pair of mask threshold T and NMS threshold (1 = none), from one encoding per photo. 'train': every
// 8th training photo from OFFSET (5 unless given); 'val': the held-out photos.
// Measured 2026-11-28, mobile-coco, 40 training photos at offsets 5 and 2, mask AR@100 averaged over
// both: T 0.2 / NMS 0.7 (the defaults before) 0.154; T 0.3 / 0.7 0.170; T 0.4 / 0.6 0.169;
// T 0.4 / 0.7 0.172; T 0.4 / 0.8 0.173 (the best; AR@10 0.103 / 0.100, box AR@100 0.207 / 0.267 at
// the two offsets); T 0.4 / none 0.171; T 0.3 / 0.8 0.169. Shipped: T 0.4, NMS 0.8.
import { setup, encode, toCocoResults } from './masks-on-cpu.mjs';
const { nms } = await import(`${process.cwd()}/dist/src/infer/results.js`);
const which = process.argv[2];
const { model, photos, load, ar } = await setup(which, Number(process.argv[3] ?? 40), Number(process.argv[5] ?? 5), process.argv[4]);
const list = (k, d) => (process.argv[k] ? process.argv[k].split(',').map(Number) : d);
const Ts = list(6, [0.2, 0.3, 0.4]), nmsAt = list(7, [0.6, 0.7, 0.8, 1]);
const dts = {};
const t0 = performance.now();
for (const [n, im] of photos.entries()) {
  const enc = await encode(model, load(im));
  for (const T of Ts) {
    const r = await enc.everything({ threshold: T, proposals: 1000 });
    for (const t of nmsAt) (dts[`T ${T} nms ${t}`] ??= []).push(...toCocoResults(im.id, t < 1 ? nms(r.proposals, t, 100) : r.proposals.slice(0, 100)));
  }
  enc.dispose();
  process.stderr.write(`\r${n + 1}/${photos.length} ${((performance.now() - t0) / 1000).toFixed(0)} s`);
}
process.stderr.write('\n');
for (const [name, d] of Object.entries(dts)) {
  const m = ar(d), b = ar(d, 'bbox');
  console.log(`${which} ${name.padEnd(16)} mask AR@10 ${m['AR@10'].toFixed(4)} AR@100 ${m['AR@100'].toFixed(4)}  box AR@10 ${b['AR@10'].toFixed(4)} AR@100 ${b['AR@100'].toFixed(4)}`);
}
process.exit(0);
