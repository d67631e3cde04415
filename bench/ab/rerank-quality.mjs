// usage (from the repository root, after node scripts/build.mjs): node bench/ab/rerank-quality.mjs train|val [PHOTOS] [MODEL]
// Diagnostic for issue 14: mask AR@10 / AR@100 of the top 100 when the top POOL windows by
// objectness are re-ranked by objectness x confidence^POWER, where a mask's confidence is the mean
// probability of its pixels above the threshold (the pixels it claims), for several pools, powers and
// mask thresholds. 'train': every 8th training photo (offset 5, so not the photos any earlier choice
// was made on); 'val': the held-out photos. Masks are pasted on the CPU with the paste kernel's sampling.
import { readFileSync } from 'node:fs';
const m = await import(`${process.cwd()}/dist/src/node.js`);
const { parseCoco } = await import(`${process.cwd()}/dist/src/data/coco.js`);
const { encodeMask, toBbox } = await import(`${process.cwd()}/dist/src/data/rle.js`);
const { encode } = await import(`${process.cwd()}/dist/src/infer/proposals.js`);
const { evaluate } = await import(`${process.cwd()}/dist/src/eval/cocoeval.js`);
const { toCocoResults } = await import(`${process.cwd()}/dist/src/infer/results.js`);
const rt = await m.init(); m.setRuntime(rt);
const dir = '../shared/data/coco-subset-2017';
const gt = parseCoco(readFileSync(`${dir}/instances.json`, 'utf8'), 'instances.json');
const val = new Set(JSON.parse(readFileSync(`${dir}/val-ids.json`, 'utf8')));
const which = process.argv[2];
const photos = gt.images.filter((im) => (which === 'val') === val.has(im.id)).sort((a, b) => a.id - b.id).filter((_, i) => which === 'val' || i % 8 === 5).slice(0, Number(process.argv[3] ?? 32));
const model = m.loadModel(process.argv[4] ?? 'models/mobile-coco');
const { inputSize: S, stride, maskSize: M } = model.config;
const logit = (p) => Math.log(p / (1 - p));
const sig = (x) => 1 / (1 + Math.exp(-x));
const windowOf = (enc, c) => { const s = enc.scales[c.scale] / enc['f']; return { wx: (stride * c.c - S / 2) / s, wy: (stride * c.r - S / 2) / s, side: S / s }; };
function sample(L, off, u, v) {
  u = Math.min(Math.max(u, 0), M - 1); v = Math.min(Math.max(v, 0), M - 1);
  const u0 = Math.floor(u), v0 = Math.floor(v), u1 = Math.min(u0 + 1, M - 1), v1 = Math.min(v0 + 1, M - 1), tu = u - u0, tv = v - v0;
  const a = L[off + v0 * M + u0], b = L[off + v0 * M + u1], c = L[off + v1 * M + u0], d = L[off + v1 * M + u1];
  return (a + (b - a) * tu) * (1 - tv) + (c + (d - c) * tu) * tv;
}
function paste(L, row, win, W, H, T) {
  const bits = new Uint8Array(W * H), sc = M / win.side;
  const x0 = Math.max(0, Math.floor(win.wx)), x1 = Math.min(W, Math.ceil(win.wx + win.side));
  const y0 = Math.max(0, Math.floor(win.wy)), y1 = Math.min(H, Math.ceil(win.wy + win.side));
  for (let x = x0; x < x1; x++) { const u = (x + 0.5 - win.wx) * sc - 0.5; for (let y = y0; y < y1; y++) if (sample(L, row * M * M, u, (y + 0.5 - win.wy) * sc - 0.5) >= T) bits[y * W + x] = 1; }
  return encodeMask(bits, H, W);
}
const variants = {};
const t0 = performance.now();
const pools = [100, 300, 1000], powers = [0, 0.5, 1, 2, 3], Ts = [0.2, 0.3, 0.4];
for (const [n, im] of photos.entries()) {
  const enc = await encode(model, m.decodeImage(readFileSync(`${dir}/images/${im.file_name}`), im.file_name));
  const all = [];
  enc['maps'].forEach((mp, k) => { for (let r = 0; r < mp.rows; r++) for (let c = 0; c < mp.cols; c++) all.push({ score: mp.scores[r * mp.cols + c], scale: k, r, c }); });
  all.sort((a, b) => b.score - a.score || a.scale - b.scale || a.r - b.r || a.c - b.c);
  const top = all.slice(0, 1000);
  const lt = enc['rankedMasks'](top); const L = await lt.read(); lt.dispose();
  const H = enc.height, W = enc.width;
  const rles = new Map();
  const rleOf = (i, T) => { const k = `${i},${T}`; if (!rles.has(k)) rles.set(k, paste(L, i, windowOf(enc, top[i]), W, H, logit(T))); return rles.get(k); };
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
  const a = evaluate(gt.images, gt.annotations, dts, { iouType: 'segm', maxDets: [10, 100], imgIds: photos.map((p) => p.id) }).AR;
  console.log(`${which} ${name.padEnd(26)} AR@10 ${a['AR@10'].toFixed(4)} AR@100 ${a['AR@100'].toFixed(4)}`);
}
process.exit(0);
