// usage: node bench/ab/paired-ops.mjs DIST_A DIST_B [OPTIONS_A OPTIONS_B]
// Paired A/B through the public ops API: two builds (e.g. a worktree of an older commit after
// `node scripts/build.mjs`), or one build twice with different RuntimeOptions given as JSON
// (e.g. dist dist '{"shareLoads":false}' '{}'), each its own runtime, alternated.
const [distA, distB, optsA = '{}', optsB = '{}'] = process.argv.slice(2);
const builds = [];
for (const [d, o] of [[distA, optsA], [distB, optsB]]) {
  // One after the other: two devices created at once can crash lavapipe.
  const m = await import(new URL(`${d}/src/index.js`, `file://${process.cwd()}/`).href);
  builds.push({ m, rt: await m.Runtime.create(JSON.parse(o)), name: d });
}
const rnd = (n) => Float32Array.from({ length: n }, (_, i) => ((i * 2654435761) % 1000) / 1000 - 0.5);
const cases = {
  'matmul 512': (m) => { const a = m.Tensor.from(rnd(512 * 512), [512, 512]), b = m.Tensor.from(rnd(512 * 512), [512, 512]); return () => m.noGrad(() => m.ops.matmul(a, b)).dispose(); },
  'matmul 1024': (m) => { const a = m.Tensor.from(rnd(1024 * 1024), [1024, 1024]), b = m.Tensor.from(rnd(1024 * 1024), [1024, 1024]); return () => m.noGrad(() => m.ops.matmul(a, b)).dispose(); },
  'conv 56x56x256->256': (m) => { const x = m.Tensor.from(rnd(56 * 56 * 256), [1, 56, 56, 256]), w = m.Tensor.from(rnd(9 * 256 * 256), [3, 3, 256, 256]); return () => m.noGrad(() => m.ops.conv2d(x, w, null, { pad: 1 })).dispose(); },
  'pointwise 160x112x128->128': (m) => { const x = m.Tensor.from(rnd(160 * 112 * 128), [1, 160, 112, 128]), w = m.Tensor.from(rnd(128 * 128), [1, 1, 128, 128]); return () => m.noGrad(() => m.ops.conv2d(x, w, null)).dispose(); },
  'pointwise 40x28x512->512': (m) => { const x = m.Tensor.from(rnd(40 * 28 * 512), [1, 40, 28, 512]), w = m.Tensor.from(rnd(512 * 512), [1, 1, 512, 512]); return () => m.noGrad(() => m.ops.conv2d(x, w, null)).dispose(); },
  'conv 28x28x512->512': (m) => { const x = m.Tensor.from(rnd(28 * 28 * 512), [1, 28, 28, 512]), w = m.Tensor.from(rnd(9 * 512 * 512), [3, 3, 512, 512]); return () => m.noGrad(() => m.ops.conv2d(x, w, null, { pad: 1 })).dispose(); },
};
for (const [name, make] of Object.entries(cases)) {
  const runs = builds.map((b) => { b.m.setRuntime(b.rt); return make(b.m); });
  const t = builds.map(() => []);
  for (let r = 0; r < 8; r++) {
    const order = r % 2 ? [1, 0] : [0, 1];
    for (const k of order) {
      const b = builds[k]; b.m.setRuntime(b.rt);
      runs[k](); await b.rt.sync();
      const s = performance.now(); runs[k](); await b.rt.sync(); t[k].push(performance.now() - s);
    }
  }
  const med = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];
  console.log(`${name}: base ${med(t[0]).toFixed(1)} ms, now ${med(t[1]).toFixed(1)} ms, now/base ${(med(t[1]) / med(t[0])).toFixed(3)}`);
}
process.exit(0);
