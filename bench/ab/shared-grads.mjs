// usage: node bench/ab/shared-grads.mjs  (after node scripts/build.mjs)
// GPU time of conv2d's input and weight gradients (3x3, batch 1, VGG shapes) without and with shared loads
// (RuntimeOptions.shareLoads), two profiled runtimes in one process, 3 steps each after a warm-up.
const builds = [];
for (const o of ['{"shareLoads":false,"profile":true}', '{"profile":true}']) { const m = await import(new URL('../../dist/src/index.js', import.meta.url).href); builds.push({ m, rt: await m.Runtime.create(JSON.parse(o)) }); }
const rnd = (n) => Float32Array.from({ length: n }, (_, i) => ((i * 2654435761) % 1000) / 1000 - 0.5);
for (const [H, C] of [[56, 256], [28, 512], [112, 128]]) {
  const res = [];
  for (const b of builds) {
    const { m, rt } = b; m.setRuntime(rt);
    const x = m.Tensor.from(rnd(H * H * C), [1, H, H, C]), w = m.Tensor.from(rnd(9 * C * C), [3, 3, C, C]);
    x.requiresGrad = true; w.requiresGrad = true;
    const step = () => m.scope(() => { const y = m.ops.conv2d(x, w, null, { pad: 1 }); y.backward(m.Tensor.from(rnd(y.size), y.shape)); });
    step(); await rt.sync(); await rt.profile();
    for (let r = 0; r < 3; r++) step();
    await rt.sync();
    const rows = await rt.profile();
    const ms = (k) => rows.filter((r) => r.kernel.startsWith(k)).reduce((s, r) => s + r.ms, 0) / 3;
    res.push([ms('conv2d.backward_input'), ms('conv2d.backward_weight')]);
  }
  const gf = (ms) => (2 * H * H * C * C * 9 / ms / 1e6).toFixed(1);
  for (const [k, name] of [[0, 'dX'], [1, 'dW']]) {
    const [own, shared] = [res[0][k], res[1][k]];
    console.log(`${name} ${H}x${H}x${C}->${C}: own ${own.toFixed(1)} ms (${gf(own)} GFLOP/s), shared ${shared.toFixed(1)} ms (${gf(shared)}), ${(shared / own).toFixed(2)}x`);
  }
}
process.exit(0);
