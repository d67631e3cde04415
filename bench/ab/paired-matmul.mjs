// usage: node bench/ab/paired-matmul.mjs DIST_A DIST_B [OPTIONS_A OPTIONS_B]  (SHAPES=MxKxN,... to choose)
// ops.matmul at the shipped model's GEMM shapes, two builds (or one build with two RuntimeOptions JSONs)
// alternated in one process, 12 rounds of two products each; prints medians, GFLOP/s and B/A.
const [distA, distB, optsA = '{}', optsB = '{}'] = process.argv.slice(2);
const builds = [];
for (const [d, o] of [[distA, optsA], [distB, optsB]]) {
  const m = await import(new URL(`${d}/src/index.js`, `file://${process.cwd()}/`).href);
  builds.push({ m, rt: await m.Runtime.create(JSON.parse(o)) });
}
const rnd = (n) => Float32Array.from({ length: n }, (_, i) => ((i * 2654435761) % 1000) / 1000 - 0.5);
const shapes = (process.env.SHAPES ?? '1850x512x512,29600x128x128,118400x32x64,1131x512x512,512x512x512').split(',').map((s) => s.split('x').map(Number));
for (const [M, K, N] of shapes) {
  const runs = builds.map((b) => { b.m.setRuntime(b.rt); const a = b.m.Tensor.from(rnd(M * K), [M, K]), w = b.m.Tensor.from(rnd(K * N), [K, N]); return () => b.m.noGrad(() => b.m.ops.matmul(a, w)).dispose(); });
  const t = [[], []];
  for (let r = 0; r < 12; r++) for (const k of r % 2 ? [1, 0] : [0, 1]) { const b = builds[k]; b.m.setRuntime(b.rt); runs[k](); await b.rt.sync(); const s = performance.now(); runs[k](); runs[k](); await b.rt.sync(); t[k].push((performance.now() - s) / 2); }
  const med = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];
  console.log(`${M}x${K}x${N}: A ${med(t[0]).toFixed(1)} ms (${(2 * M * N * K / med(t[0]) / 1e6).toFixed(1)} GFLOP/s), B ${med(t[1]).toFixed(1)} ms (${(2 * M * N * K / med(t[1]) / 1e6).toFixed(1)}), B/A ${(med(t[1]) / med(t[0])).toFixed(3)}`);
}
process.exit(0);
