// usage (from the repository root, after node scripts/build.mjs):
//   node bench/ab/scales-quality.mjs train|val [PHOTOS] [MODEL] [OFFSET] [A:B:S;A:B:S;...]
// Diagnostic for issue 14: mask and box AR@10 / AR@100 and the time of one whole propose() for
// several pyramids, everything else as the model's config.json says (threshold, re-ranking, and NMS
// as `deepmask infer` applies it: the best 100 survivors of the top 1000). 'train': every 8th
// training photo from OFFSET (5 unless given); 'val': the held-out photos. Pyramids alternate photo
// by photo in one process, so their times are comparable.
// Measured 2026-11-28 on 40 training photos (offset 5), mobile-coco: 2^-2.5..2^0 in half octaves (6
// scales) mask AR@10 / AR@100 0.107 / 0.142, box 0.131 / 0.215, 6.3 s a photo; thirds of an octave (8)
// 0.102 / 0.143, 0.125 / 0.214, 8.1 s; quarters (11) 0.107 / 0.142, 0.133 / 0.213, 10.2 s. A denser
// pyramid does not pay: the default stays at half octaves.
import { setup, toCocoResults } from './masks-on-cpu.mjs';
const { propose, inferenceDefaults, scalesFromRange } = await import(`${process.cwd()}/dist/src/infer/proposals.js`);
const { nms } = await import(`${process.cwd()}/dist/src/infer/results.js`);
const which = process.argv[2];
const { model, photos, load, ar } = await setup(which, Number(process.argv[3] ?? 40), Number(process.argv[5] ?? 5), process.argv[4]);
const pyramids = (process.argv[6] ?? '-2.5:0:0.5;-2.5:0:0.25').split(';');
const d = inferenceDefaults(model);
const dts = Object.fromEntries(pyramids.map((p) => [p, []])), ms = Object.fromEntries(pyramids.map((p) => [p, 0]));
for (const [n, im] of photos.entries()) {
  const img = load(im);
  for (const p of pyramids) {
    const t = performance.now();
    const r = await propose(model, img, { scales: scalesFromRange(...p.split(':').map(Number)), proposals: 10 * d.proposals });
    const kept = d.nms < 1 ? nms(r.proposals, d.nms, d.proposals) : r.proposals.slice(0, d.proposals);
    ms[p] += performance.now() - t;
    dts[p].push(...toCocoResults(im.id, kept));
  }
  process.stderr.write(`\r${n + 1}/${photos.length}`);
}
process.stderr.write('\n');
for (const p of pyramids) {
  const m = ar(dts[p]), b = ar(dts[p], 'bbox');
  console.log(`${which} scales ${p.padEnd(16)} (${scalesFromRange(...p.split(':').map(Number)).length}) mask AR@10 ${m['AR@10'].toFixed(4)} AR@100 ${m['AR@100'].toFixed(4)}  box AR@10 ${b['AR@10'].toFixed(4)} AR@100 ${b['AR@100'].toFixed(4)}  ${(ms[p] / photos.length / 1000).toFixed(2)} s/photo`);
}
process.exit(0);
