// usage: node bench/ab/paired-propose.mjs DIST_A DIST_B MODEL_DIR PHOTO [ROUNDS]
// (DIST_A: an older build, e.g. `git worktree add /tmp/head COMMIT`, node_modules linked in, `node scripts/build.mjs`)
// Paired A/B of one whole propose() (pyramid to RLE, the model's defaults): two builds, each on its
// own runtime, alternated on the same decoded photo; prints per-round times, the medians, the
// submissions per call, the peak GPU memory in use and whether the two builds' proposals agree (identical RLEs, else mask IoU).
const [A, B, modelDir, photo, roundsArg] = process.argv.slice(2);
if (!photo) throw new Error('usage: node bench/ab/paired-propose.mjs DIST_A DIST_B MODEL_DIR PHOTO [ROUNDS]');
const rounds = Number(roundsArg ?? 6);
const builds = [];
for (const d of [A, B]) {
  const m = await import(new URL(`${d}/src/node.js`, `file://${process.cwd()}/`).href);
  const rt = await m.init();
  m.setRuntime(rt);
  builds.push({ m, rt, name: d, model: m.loadModel(modelDir) });
}
const image = await builds[1].m.imageFromInput(photo);
console.log(`${photo}: ${image.width}x${image.height}, model ${modelDir}`);
const once = async (b) => {
  b.m.setRuntime(b.rt);
  const s0 = b.rt.counters.submits, t0 = performance.now();
  const r = await b.m.propose(b.model, image);
  return { ms: performance.now() - t0, submits: b.rt.counters.submits - s0, r };
};
for (const b of builds) await once(b); // compile and warm up
const t = [[], []], last = [];
for (let i = 0; i < rounds; i++) {
  for (const k of i % 2 ? [1, 0] : [0, 1]) {
    const o = await once(builds[k]);
    t[k].push(o.ms);
    last[k] = o;
  }
}
const med = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];
for (const k of [0, 1]) console.log(`${k ? 'B' : 'A'} ${builds[k].name}: ${t[k].map((x) => x.toFixed(0)).join(' ')} ms, median ${med(t[k]).toFixed(0)} ms, ${last[k].submits} submissions, peak GPU memory in use ${(builds[k].rt.memory().peakInUseBytes / 2 ** 20).toFixed(0)} MiB`);
console.log(`B/A median ${(med(t[1]) / med(t[0])).toFixed(3)}, A/B ${(med(t[0]) / med(t[1])).toFixed(2)}x`);
const [pa, pb] = [last[0].r.proposals, last[1].r.proposals];
const same = pa.filter((p, i) => pb[i] && JSON.stringify(p.rle) === JSON.stringify(pb[i].rle)).length;
const ious = pa.map((p, i) => (pb[i] ? builds[1].m.rle.iou([p.rle], [pb[i].rle], [false])[0][0] : 0));
console.log(`proposals ${pa.length} vs ${pb.length}: ${same} identical RLEs at the same rank; mean IoU at the same rank ${(ious.reduce((a, x) => a + x, 0) / Math.max(1, ious.length)).toFixed(4)}, min ${Math.min(...ious).toFixed(4)}`);
process.exit(0);
