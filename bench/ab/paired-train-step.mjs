// usage: node bench/ab/paired-train-step.mjs [PRESET] [BATCH] [OPTIONS_A OPTIONS_B]  (after node scripts/build.mjs)
// One training step (forward, joint loss, backward) of a DeepMask preset on random data, as the
// `model` bench makes it, on two runtimes of this build with different RuntimeOptions (default:
// shareLoads off, then the defaults), alternated in one process; prints the medians and B/A.
const [preset = 'tiny', batchArg = '32', optsA = '{"shareLoads":false}', optsB = '{}'] = process.argv.slice(2);
const m = await import(new URL('../../dist/src/index.js', import.meta.url).href);
const B = Number(batchArg);
const sides = [];
for (const o of [optsA, optsB]) {
  const rt = await m.Runtime.create(JSON.parse(o));
  m.setRuntime(rt);
  const model = new m.DeepMask(preset);
  const rng = new m.Rng(0);
  const { inputSize: S, gtSize: G } = model.config;
  const r = (n, f) => Float32Array.from({ length: n }, f);
  const x = m.Tensor.from(r(B * S * S * 3, () => rng.uniform(-2, 2)), [B, S, S, 3]);
  const t = {
    masks: m.Tensor.from(r(B * G * G, () => (rng.next() < 0.3 ? 1 : -1)), [B, G, G, 1]),
    maskWeights: m.Tensor.from(r(B * G * G, () => 1 / (G * G)), [B, G, G, 1]),
    scores: m.Tensor.from(r(B, () => (rng.next() < 0.5 ? 1 : -1)), [B, 1]),
    scoreWeights: m.Tensor.from(r(B, () => 1 / 32), [B, 1]),
  };
  model.train();
  const step = () => {
    const l = m.scope(() => { const l = model.loss(model.forward(x), t); l.backward(); return l; });
    l.dispose();
    model.zeroGrad();
  };
  sides.push({ rt, step });
}
const times = [[], []];
for (let i = 0; i < 9; i++) {
  for (const k of i % 2 ? [1, 0] : [0, 1]) {
    const s = sides[k];
    m.setRuntime(s.rt);
    const t0 = performance.now();
    s.step();
    await s.rt.sync();
    if (i > 0) times[k].push(performance.now() - t0); // the first round compiles
  }
}
const med = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];
console.log(`${preset} batch ${B}, one training step: A ${optsA} ${med(times[0]).toFixed(0)} ms, B ${optsB} ${med(times[1]).toFixed(0)} ms, B/A ${(med(times[1]) / med(times[0])).toFixed(3)}`);
process.exit(0);
