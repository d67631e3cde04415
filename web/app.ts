// The demo page: the library from src/ (the same engine, shaders and model code as in Node),
// bundled by scripts/web.mjs. `?test` runs one inference with the bundled tiny model and exposes
// its proposals as window.__deepmask for the browser test.
import {
  BatchMaker, DEFAULT_TRAIN, DeepMask, Rng, Trainer, decodeImage, drawProposals, generateScenes, importModel, init, parseModelConfig,
  PatchSampler, propose, renderSample, rle, type Proposal, type Renderer, type RgbImage, type Runtime, type Timings,
} from '../src/index.js';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const status = (s: string) => ($('status').textContent = s);
const trainStatus = (s: string) => ($('trainStatus').textContent = s);

let rt: Runtime;
let model: DeepMask | null = null;
let modelSource = '';
let image: RgbImage | null = null;
let proposals: Proposal[] = [];
let timings: Timings | null = null;

declare global {
  interface Window {
    __deepmask?: { done: boolean; error?: string; adapter?: string; proposals?: { score: number; size: [number, number]; counts: string }[]; timings?: Timings; shown?: number };
  }
}

async function fetchBytes(url: string): Promise<Uint8Array> {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return new Uint8Array(await r.arrayBuffer());
}

function dispose(m: DeepMask | null) {
  if (m) for (const p of m.parameters()) p.dispose();
}

async function loadWeightsFromUrl(base: string): Promise<void> {
  if (modelSource === base) return;
  status(`loading weights from ${base}...`);
  const cfgText = new TextDecoder().decode(await fetchBytes(`${base}config.json`));
  const weights = await fetchBytes(`${base}model.safetensors`);
  dispose(model);
  model = importModel(parseModelConfig(cfgText, `${base}config.json`), weights, `${base}model.safetensors`);
  modelSource = base;
  status(`model: ${model.config.preset} (${(model.parameterCount() / 1e6).toFixed(2)} M parameters) from ${base}`);
}

async function loadWeightsFromFiles(files: FileList): Promise<void> {
  const cfg = [...files].find((f) => f.name.endsWith('.json')), w = [...files].find((f) => f.name.endsWith('.safetensors'));
  if (!cfg || !w) throw new Error('choose a config.json and a model.safetensors');
  dispose(model);
  model = importModel(parseModelConfig(await cfg.text(), cfg.name), new Uint8Array(await w.arrayBuffer()), w.name);
  modelSource = `files:${w.name}`;
  status(`model: ${model.config.preset} from ${w.name}`);
}

function show(canvas: HTMLCanvasElement, img: RgbImage, props: Proposal[], n: number) {
  canvas.width = img.width;
  canvas.height = img.height;
  const rgba = drawProposals(img, props, n);
  canvas.getContext('2d')!.putImageData(new ImageData(new Uint8ClampedArray(rgba), img.width, img.height), 0, 0);
}

function render() {
  if (!image) return;
  const n = Number(($('topN') as HTMLInputElement).value);
  $('topNValue').textContent = String(n);
  show($('view') as HTMLCanvasElement, image, proposals, n);
  $('list').innerHTML = proposals
    .slice(0, n)
    .map((p, i) => `<div>#${i + 1} score ${p.score.toFixed(3)} box ${p.bbox.map((v) => Math.round(v)).join(',')}</div>`)
    .join('');
  if (timings) {
    const rows = Object.entries(timings).map(([k, v]) => `<tr><th>${k}</th><td>${v.toFixed(1)} ms</td></tr>`);
    $('timings').innerHTML = rows.join('');
  }
  if (window.__deepmask) window.__deepmask.shown = $('list').children.length;
}

async function runInference(count = 50): Promise<void> {
  if (!model || !image) return;
  status('proposing...');
  const r = await propose(model, image, { proposals: count, timeStages: true });
  proposals = r.proposals;
  timings = r.timings;
  status(`${r.windows} windows scored, ${proposals.length} proposals in ${r.timings.total.toFixed(0)} ms${r.notice ? ` (${r.notice})` : ''}`);
  render();
}

async function setImage(bytes: Uint8Array, name: string) {
  image = decodeImage(bytes, name);
  proposals = [];
  timings = null;
  ($('run') as HTMLButtonElement).disabled = false;
  show($('view') as HTMLCanvasElement, image, [], 0);
  status(`${name}: ${image.width}x${image.height}`);
}

async function chosenWeights() {
  const sel = ($('weights') as HTMLSelectElement).value;
  if (sel !== 'files') await loadWeightsFromUrl(sel);
}

function wireInference() {
  ($('imageFile') as HTMLInputElement).onchange = async (e) => {
    const f = (e.target as HTMLInputElement).files?.[0];
    if (f) await setImage(new Uint8Array(await f.arrayBuffer()), f.name);
  };
  const drop = $('drop');
  drop.ondragover = (e) => {
    e.preventDefault();
    drop.classList.add('over');
  };
  drop.ondragleave = () => drop.classList.remove('over');
  drop.ondrop = async (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    const f = e.dataTransfer?.files[0];
    if (f) await setImage(new Uint8Array(await f.arrayBuffer()), f.name);
  };
  $('sample').onclick = async () => setImage(await fetchBytes('/assets/scene.png'), 'scene.png');
  ($('weights') as HTMLSelectElement).onchange = async (e) => {
    if ((e.target as HTMLSelectElement).value === 'files') $('weightFiles').click();
  };
  ($('weightFiles') as HTMLInputElement).onchange = async (e) => {
    const files = (e.target as HTMLInputElement).files;
    if (files) await loadWeightsFromFiles(files).catch((err) => status(String(err)));
  };
  $('run').onclick = async () => {
    try {
      await chosenWeights();
      await runInference();
    } catch (err) {
      status(`error: ${(err as Error).message}`);
    }
  };
  ($('topN') as HTMLInputElement).oninput = render;
}

// ---- training in the page -------------------------------------------------------------------------

function rgbOf(rgba: Uint8Array, width: number, height: number): RgbImage {
  const data = new Float32Array(width * height * 3);
  for (let i = 0; i < width * height; i++) for (let c = 0; c < 3; c++) data[i * 3 + c] = rgba[i * 4 + c]! / 255;
  return { width, height, data };
}

function drawCurve(points: [number, number][], total: number) {
  const c = $('curve') as HTMLCanvasElement, g = c.getContext('2d')!;
  g.fillStyle = '#fff';
  g.fillRect(0, 0, c.width, c.height);
  if (points.length < 2) return;
  const ys = points.map(([, y]) => y), lo = Math.min(...ys), hi = Math.max(...ys);
  g.strokeStyle = '#c43';
  g.beginPath();
  points.forEach(([x, y], i) => {
    const px = 30 + (x / total) * (c.width - 40), py = c.height - 20 - ((y - lo) / (hi - lo || 1)) * (c.height - 40);
    if (i) g.lineTo(px, py);
    else g.moveTo(px, py);
  });
  g.stroke();
  g.fillStyle = '#333';
  g.fillText(`loss ${hi.toFixed(3)}`, 4, 14);
  g.fillText(`${lo.toFixed(3)}`, 4, c.height - 6);
}

let trained: DeepMask | null = null;
let stopTraining = false;

async function train() {
  const steps = Number(($('steps') as HTMLInputElement).value);
  ($('train') as HTMLButtonElement).disabled = true;
  ($('stop') as HTMLButtonElement).disabled = false;
  stopTraining = false;
  trainStatus('generating 80 synthetic scenes...');
  await new Promise((r) => setTimeout(r, 0));
  const scenes = generateScenes({ images: 80, seed: 7 });
  const images = new Map(scenes.images.map((im) => [im.id, rgbOf(im.rgba, im.width, im.height)]));
  dispose(trained);
  trained = new DeepMask('tiny', { seed: 3 });
  const m = trained;
  const rng = new Rng(5);
  const sampler = new PatchSampler(scenes.coco, m.config, rng);
  const render: Renderer = async (specs, anns) => specs.map((s, i) => renderSample(images.get(s.imageId)!, s, anns[i], m.config, m.config.normalization));
  const maker = new BatchMaker(sampler, render, m.config);
  const points: [number, number][] = [];
  const t0 = performance.now();
  const trainer = new Trainer(
    m, maker, sampler, rng,
    { ...DEFAULT_TRAIN, steps, batch: 16, lrSchedule: [[0, 0.01]], logEvery: 5, validateEvery: 1e9, checkpointEvery: 1e9 },
    {
      onLog: (e) => {
        points.push([e.step, e.loss]);
        drawCurve(points, steps);
        trainStatus(`step ${e.step}/${steps}  loss ${e.loss.toFixed(4)}  ${e.samplesPerSec.toFixed(1)} windows/s`);
      },
      shouldStop: () => stopTraining,
    },
  );
  await trainer.run();
  trainer.dispose();
  trainStatus(`trained ${trainer.step} steps in ${((performance.now() - t0) / 1000).toFixed(0)} s; loss ${points.at(-1)?.[1].toFixed(4) ?? '-'}`);
  ($('train') as HTMLButtonElement).disabled = false;
  ($('stop') as HTMLButtonElement).disabled = true;
  ($('tryIt') as HTMLButtonElement).disabled = false;
  await tryIt();
}

async function tryIt() {
  if (!trained) return;
  const scene = generateScenes({ images: 1, seed: Math.floor(Math.random() * 1e6), firstId: 99999 }).images[0]!;
  const img = rgbOf(scene.rgba, scene.width, scene.height);
  const r = await propose(trained, img, { proposals: 20 });
  show($('trainView') as HTMLCanvasElement, img, r.proposals, 6);
}

function wireTraining() {
  $('train').onclick = () => train().catch((e) => trainStatus(`error: ${(e as Error).message}`));
  $('stop').onclick = () => (stopTraining = true);
  $('tryIt').onclick = () => tryIt();
}

// ---- start --------------------------------------------------------------------------------------

async function main() {
  const test = new URLSearchParams(location.search).has('test');
  if (test) window.__deepmask = { done: false };
  if (!('gpu' in navigator)) {
    $('nogpu').style.display = 'block';
    $('adapter').textContent = 'no WebGPU';
    if (test) window.__deepmask = { done: true, error: 'no WebGPU' };
    return;
  }
  try {
    rt = await init();
  } catch (e) {
    $('nogpu').style.display = 'block';
    $('nogpu').textContent = (e as Error).message;
    if (test) window.__deepmask = { done: true, error: (e as Error).message };
    return;
  }
  $('adapter').textContent = `adapter: ${rt.adapter.description}${rt.f16 ? ' (shader-f16)' : ''}`;
  wireInference();
  wireTraining();
  if (test) {
    try {
      // ?test runs tiny on the sample scene; &model=URL&image=URL&proposals=N time other pairs.
      const q = new URLSearchParams(location.search);
      const modelUrl = q.get('model') ?? '/models/tiny-synth/', imageUrl = q.get('image') ?? '/assets/scene.png';
      ($('weights') as HTMLSelectElement).value = modelUrl;
      await loadWeightsFromUrl(modelUrl);
      await setImage(await fetchBytes(imageUrl), imageUrl.split('/').pop()!);
      await runInference(Number(q.get('proposals') ?? 20));
      window.__deepmask = {
        done: true,
        adapter: rt.adapter.description,
        proposals: proposals.map((p) => ({ score: p.score, ...rle.toCocoRle(p.rle) })),
        timings: timings!,
        shown: $('list').children.length,
      };
    } catch (e) {
      window.__deepmask = { done: true, error: (e as Error).stack ?? String(e) };
    }
  }
}

void main();
