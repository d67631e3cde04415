// usage (from the repository root, after node scripts/build.mjs): node bench/ab/ensemble-quality.mjs train|val [PHOTOS] [MODEL]
// Diagnostic for issue 14: mask AR of the top 100 when each proposal's 56x56 mask is the mean of its
// own and its neighbouring windows' masks (the same object seen 16 px shifted, or at the next scale),
// resampled into the proposal's window, and when the top 1000 are re-ranked by mask confidence.
// Masks are pasted on the CPU here with the paste kernel's sampling, for every variant alike.
// Measured 2026-11-28 on 32 training photos (every 8th, offset 3), mobile-coco: own masks at threshold
// 0.2: AR@100 0.1559; the 3x3 same-scale neighbours averaged 0.150-0.156, with the next scales'
// 0.139-0.158; re-ranked (objectness x confidence) 0.1657 own vs 0.1645-0.1698 averaged. Averaging
// neighbours' masks does not pay (not built); the re-ranking does (built: config inference.rerank).
import { setup, encode, toCocoResults, toBbox, logit, sig, rankedWindows, windowOf, sample, paste } from './masks-on-cpu.mjs';
const which = process.argv[2];
const { model, photos, load, ar } = await setup(which, Number(process.argv[3] ?? 24), 3, process.argv[4]);
const { stride, maskSize: M } = model.config;

/** The proposal's 56x56 mask as the mean (of logits or probabilities) of its windows' masks resampled into its own window. */
function ensembled(L, rows, wins, self, mode) {
  const out = new Float32Array(M * M), w0 = wins[0];
  for (let v = 0; v < M; v++) for (let u = 0; u < M; u++) {
    const x = w0.wx + ((u + 0.5) * w0.side) / M, y = w0.wy + ((v + 0.5) * w0.side) / M;
    let sum = 0, n = 0;
    for (let j = 0; j < rows.length; j++) {
      const w = wins[j];
      const uu = ((x - w.wx) * M) / w.side - 0.5, vv = ((y - w.wy) * M) / w.side - 0.5;
      if (uu < -0.5 || vv < -0.5 || uu > M - 0.5 || vv > M - 0.5) continue;
      const wt = j === 0 ? self : 1;
      const l = sample(L, rows[j] * M * M, M, uu, vv);
      sum += wt * (mode === 'prob' ? sig(l) : l); n += wt;
    }
    out[v * M + u] = mode === 'prob' ? logit(Math.min(Math.max(sum / n, 1e-6), 1 - 1e-6)) : sum / n;
  }
  return out;
}
const variants = {}; // name -> detections
const add = (name, image, ps) => (variants[name] ??= []).push(...toCocoResults(image, ps));
const t0 = performance.now();
for (const [n, im] of photos.entries()) {
  const enc = await encode(model, load(im));
  const maps = enc['maps'];
  const top = rankedWindows(enc).slice(0, 1000);
  let lt = enc['rankedMasks'](top); const L0 = await lt.read(); lt.dispose();
  const qIn = top.map((_, i) => { let s = 0, k = 0; for (let j = i * M * M; j < (i + 1) * M * M; j++) if (L0[j] > logit(0.2)) { s += sig(L0[j]); k++; } return k ? s / k : 0; });
  const orders = {
    obj: top.map((_, i) => i).slice(0, 100),
    rerank: top.map((_, i) => i).sort((a, b) => sig(top[b].score) * qIn[b] - sig(top[a].score) * qIn[a] || a - b).slice(0, 100),
  };
  // Neighbours of every chosen window: same scale 3x3, and the nearest cell at the scales next to it.
  const need = new Map(); const key = (c) => `${c.scale},${c.r},${c.c}`;
  const chosen = [...new Set([...orders.obj, ...orders.rerank])];
  const neigh = new Map();
  for (const i of chosen) {
    const c = top[i]; const same = [c], cross = [];
    for (let dr = -1; dr <= 1; dr++) for (let dc = -1; dc <= 1; dc++) {
      if (!dr && !dc) continue; const r = c.r + dr, cc = c.c + dc, mp = maps[c.scale];
      if (r >= 0 && cc >= 0 && r < mp.rows && cc < mp.cols) same.push({ scale: c.scale, r, c: cc });
    }
    const { wx, wy, side } = windowOf(model, enc, c); const cx = wx + side / 2, cy = wy + side / 2;
    for (const k of [c.scale - 1, c.scale + 1]) {
      if (k < 0 || k >= maps.length) continue; const s = enc.scales[k] / enc['f'], mp = maps[k];
      const r = Math.round((cy * s) / stride), cc = Math.round((cx * s) / stride);
      if (r >= 0 && cc >= 0 && r < mp.rows && cc < mp.cols) cross.push({ scale: k, r, c: cc });
    }
    neigh.set(i, { same, cross });
    for (const x of [...same, ...cross]) if (!need.has(key(x))) need.set(key(x), need.size);
  }
  const list = [...need.keys()].map((k) => { const [scale, r, c] = k.split(',').map(Number); return { scale, r, c, score: 0 }; });
  lt = enc['rankedMasks'](list); const L = await lt.read(); lt.dispose();
  const H = enc.height, W = enc.width;
  const make = (idx, kind, mode, self, T) => idx.map((i) => {
    const { same, cross } = neigh.get(i);
    const set = kind === 'own' ? [same[0]] : kind === 'same4' ? same.filter((x) => Math.abs(x.r - same[0].r) + Math.abs(x.c - same[0].c) <= 1) : kind === 'same' ? same : kind === 'cross' ? [same[0], ...cross] : [...same, ...cross];
    const mask = ensembled(L, set.map((x) => need.get(key(x))), set.map((x) => windowOf(model, enc, x)), self, mode);
    const win = windowOf(model, enc, top[i]);
    const rle = paste(mask, 0, M, win, W, H, T);
    return { score: sig(top[i].score) * (idx === orders.rerank ? qIn[i] : 1), rle, bbox: toBbox(rle) };
  });
  for (const [oname, idx] of Object.entries(orders)) {
    for (const T of [0.2, 0.3]) {
      add(`${oname} own T${T}`, im.id, make(idx, 'own', 'logit', 1, logit(T)));
      for (const kind of ['same4', 'same', 'cross', 'all']) for (const mode of ['logit', 'prob']) add(`${oname} ${kind} ${mode} T${T}`, im.id, make(idx, kind, mode, 1, logit(T)));
      add(`${oname} same logit self2 T${T}`, im.id, make(idx, 'same', 'logit', 2, logit(T)));
    }
  }
  enc.dispose();
  process.stderr.write(`\r${n + 1}/${photos.length} ${((performance.now() - t0) / 1000).toFixed(0)} s`);
}
process.stderr.write('\n');
for (const [name, dts] of Object.entries(variants)) {
  const a = ar(dts);
  console.log(`${which} ${name.padEnd(28)} AR@10 ${a['AR@10'].toFixed(4)} AR@100 ${a['AR@100'].toFixed(4)}`);
}
process.exit(0);
