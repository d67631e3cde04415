// The demo page as a tool: the library from src/ (the same engine, shaders and model code as in Node),
// bundled by scripts/web.mjs. Load a photo, click an object to get its mask (the image is encoded
// once, each click only computes the masks it returns), shift-click to add points, or propose every
// object; progress per stage with elapsed time, Cancel, visible errors, downloads (overlay PNG, COCO
// results JSON, a model trained in the page).
//
// Test hook: `?test&model=URL&image=URL&proposals=N[&scales=a,b,...]` loads the model and image and
// proposes N masks (none with proposals=0), then sets window.__deepmask.done; every click on the
// picture afterwards (a real mouse click, driven by the browser test) appends its result to
// window.__deepmask.clicks.
import {
  BatchMaker, DEFAULT_TRAIN, DeepMask, Rng, Trainer, decodeImage, exportModel, generateScenes, inferenceDefaults, init, load, nms,
  PatchSampler, propose, renderSample, rle, toCocoResults, drawOverlay, toRgba,
  type ImageEncoding, type InferProgress, type LoadProgress, type Proposal, type Renderer, type RgbImage, type Runtime, type Segmenter, type Selection, type Timings,
} from '../src/index.js';
import { overlayColor, type Rgb } from '../src/data/draw.js';
import { browserNoWebGPUMessage } from '../src/gpu/no-adapter.js';

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const button = (id: string) => $<HTMLButtonElement>(id);
const status = (s: string) => ($('status').textContent = s);
const trainStatus = (s: string) => ($('trainStatus').textContent = s);

type PageMask = { score: number; size: [number, number]; counts: string };
type ClickRecord = { points: [number, number][]; masks: PageMask[]; selection: PageMask & { mode: string } };

declare global {
  interface Window {
    __deepmask?: {
      done: boolean;
      error?: string;
      adapter?: string;
      proposals?: PageMask[];
      timings?: Timings;
      shown?: number;
      model?: string;
      clicks?: ClickRecord[];
      clickErrors?: string[];
    };
  }
}

// ---- state ----------------------------------------------------------------------------------------

let rt: Runtime;
let software = false;
let segmenter: Segmenter | null = null;
let segmenterKey = '';
let image: RgbImage | null = null;
let imageName = '';
let imageVersion = 0;
let encoding: ImageEncoding | null = null;
let encodingKey = '';
/** What is drawn: every object (propose), or the masks of the clicks. */
let mode: 'all' | 'click' = 'all';
let proposals: Proposal[] = [];
let timings: Timings | null = null;
let points: [number, number][] = [];
let selection: Selection | null = null;
let hovered = -1;
let busy: AbortController | null = null;
const maskCache = new WeakMap<Proposal, Uint8Array>();

// ---- errors, progress, busy ---------------------------------------------------------------------

function showError(msg: string) {
  const e = $('error');
  e.textContent = msg;
  e.style.display = msg ? 'block' : 'none';
}

const isAbort = (e: unknown) => (e as Error)?.name === 'AbortError';
const mb = (n: number) => (n / 1e6).toFixed(1);

let progressText = '';
let progressStart = 0;
let ticker: ReturnType<typeof setInterval> | null = null;
function progress(s: string) {
  progressText = s;
  renderProgress();
}
function renderProgress() {
  const el = $('progress');
  el.textContent = busy ? `${progressText} · ${((performance.now() - progressStart) / 1000).toFixed(1)} s` : progressText;
}

function stageText(e: InferProgress): string {
  const names: Record<InferProgress['stage'], string> = { trunk: 'trunk', heads: 'dense heads', scores: 'reading objectness', masks: 'masks', paste: 'pasting masks', rle: 'encoding masks' };
  return e.scale !== undefined ? `${names[e.stage]} scale ${e.done}/${e.total} (×${e.scale.toFixed(2)}) done` : `${names[e.stage]} done`;
}

function loadText(e: LoadProgress): string {
  return `${e.fromCache ? 'reading the model from the cache' : 'downloading the model'}: ${mb(e.loaded)}${e.total ? ` / ${mb(e.total)}` : ''} MB`;
}

/** Runs one job at a time: the propose button is disabled and Cancel enabled while it runs. */
async function job<T>(label: string, fn: (signal: AbortSignal) => Promise<T>): Promise<T | undefined> {
  if (busy) {
    status('busy: wait for the current job or cancel it');
    return undefined;
  }
  showError('');
  busy = new AbortController();
  progressStart = performance.now();
  progress(label);
  ticker = setInterval(renderProgress, 200);
  syncButtons();
  const t0 = performance.now();
  try {
    const r = await fn(busy.signal);
    progress(`${label}: done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    return r;
  } catch (e) {
    if (isAbort(e)) progress(`${label}: cancelled after ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    else {
      progress(`${label}: failed`);
      showError(`${label} failed: ${(e as Error).message}`);
      throw e;
    }
    return undefined;
  } finally {
    clearInterval(ticker!);
    busy = null;
    renderProgress();
    syncButtons();
  }
}

function syncButtons() {
  button('run').disabled = !!busy || !image;
  button('cancel').disabled = !busy;
  button('clear').disabled = !!busy || (!points.length && !proposals.length);
  const hasMasks = mode === 'click' ? !!selection : proposals.length > 0;
  button('dlPng').disabled = !image;
  button('dlCoco').disabled = !hasMasks;
}

// ---- the model ------------------------------------------------------------------------------------

/** A software adapter (SwiftShader, llvmpipe/lavapipe, WARP): the CPU runs the shaders. */
function isSoftware(a: { vendor: string; architecture: string; description: string }): boolean {
  return /swiftshader|llvmpipe|lavapipe|softpipe|warp|basic render|software/i.test(`${a.vendor} ${a.architecture} ${a.description}`);
}

function chosenModelUrl(): string {
  const v = $<HTMLSelectElement>('weights').value;
  return v === 'auto' ? '/models/mobile-coco/' : v;
}

/** The pyramid: the model's own (on SwiftShader the default model takes ~15 s a photo with its six scales), or the test hook's. */
function chosenScales(): number[] {
  if (!segmenter) return [];
  const q = new URLSearchParams(location.search).get('scales');
  if (q) return q.split(',').map(Number);
  return inferenceDefaults(segmenter.model).scales;
}

async function ensureModel(signal: AbortSignal): Promise<Segmenter> {
  const sel = $<HTMLSelectElement>('weights').value;
  if (sel === 'files') {
    if (!segmenter || !segmenterKey.startsWith('files:')) throw new Error('choose a config.json and a model.safetensors (weights: from files)');
    return segmenter;
  }
  const url = chosenModelUrl();
  if (segmenter && segmenterKey === url) return segmenter;
  const seg = await load(url, { signal, onProgress: (e) => progress(loadText(e)) });
  setSegmenter(seg, url);
  return seg;
}

function setSegmenter(seg: Segmenter, key: string) {
  dropEncoding();
  segmenter?.dispose();
  segmenter = seg;
  segmenterKey = key;
  const c = seg.config;
  $('modelInfo').textContent = `model: ${c.preset} (${(seg.model.parameterCount() / 1e6).toFixed(2)} M parameters) from ${key.startsWith('files:') ? key.slice(6) : key}; pyramid ${chosenScales().map((s) => s.toFixed(2)).join(', ')}${c.refine ? `; masks refined to ${c.inputSize}x${c.inputSize} per window (SharpMask)` : `; coarse ${c.maskSize}x${c.maskSize} masks`}`;
  const sharp = $<HTMLInputElement>('sharp');
  sharp.disabled = !c.refine;
  sharp.checked = !!c.refine;
}

function dropEncoding() {
  encoding?.dispose();
  encoding = null;
  encodingKey = '';
}

async function ensureEncoding(signal: AbortSignal): Promise<ImageEncoding> {
  const seg = await ensureModel(signal);
  const scales = chosenScales();
  const refine = $<HTMLInputElement>('sharp').checked;
  const key = `${segmenterKey}|${imageVersion}|${scales.join(',')}|${refine}`;
  if (encoding && encodingKey === key) return encoding;
  dropEncoding();
  progress('encoding the image');
  encoding = await seg.encode(image!, { scales, refine, timeStages: true, signal, onProgress: (e) => progress(`encoding: ${stageText(e)}`) });
  encodingKey = key;
  timings = encoding.timings;
  return encoding;
}

// ---- drawing --------------------------------------------------------------------------------------

const maskOf = (p: Proposal | { rle: Proposal['rle'] }) => {
  let m = maskCache.get(p as Proposal);
  if (!m) {
    m = rle.decodeMask(p.rle); // row-major, as drawOverlay takes it
    maskCache.set(p as Proposal, m);
  }
  return m;
};

/** The entries of the list: the top-N proposals, or the click's masks. */
function listed(): Proposal[] {
  if (mode === 'click') {
    if (!selection) return [];
    const same = (p: Proposal, q: Proposal) => p.scale === q.scale && p.cell[0] === q.cell[0] && p.cell[1] === q.cell[1];
    return selection.masks.concat(clickAlternatives.filter((p) => !selection!.masks.some((q) => same(p, q))));
  }
  return proposals.slice(0, Number($<HTMLInputElement>('topN').value));
}
let clickAlternatives: Proposal[] = [];

/** Redraws the picture and rebuilds the list (a hover redraws only the picture). */
function render() {
  if (!image) return;
  $('topNValue').textContent = $<HTMLInputElement>('topN').value;
  const entries = listed();
  drawPicture(entries);
  renderList(entries);
  if (timings) $('timings').innerHTML = Object.entries(timings).map(([k, v]) => `<tr><th>${k}</th><td>${v.toFixed(1)} ms</td></tr>`).join('');
  if (window.__deepmask) window.__deepmask.shown = $('list').children.length;
  syncButtons();
}

function drawPicture(entries: Proposal[]) {
  const canvas = $<HTMLCanvasElement>('view');
  if (!image) return;
  const n = Number($<HTMLInputElement>('topN').value);
  const colour = (i: number): Rgb => overlayColor(i);
  // Drawn masks with their rank (1-based, in the list): distinct ones only (mask NMS 0.5), best on top.
  // A hovered entry is drawn strongly over the others, which fade (and lose their labels).
  const base = mode === 'click' ? (selection ? [{ p: selection as Proposal | Selection, rank: 1 }] : []) : nms(entries, 0.5, n).map((p) => ({ p: p as Proposal | Selection, rank: entries.indexOf(p) + 1 }));
  const hot = hovered >= 0 && entries[hovered] ? { p: entries[hovered]! as Proposal | Selection, rank: hovered + 1 } : null;
  const ordered = [...base].reverse();
  let rgba = drawOverlay(toRgba(image), image.width, image.height, ordered.map((d) => maskOf(d.p as Proposal)), {
    colors: ordered.map((d) => colour(d.rank - 1)),
    alpha: hot ? 0.15 : 0.45,
    outline: !hot,
  });
  if (hot) rgba = drawOverlay(rgba, image.width, image.height, [maskOf(hot.p as Proposal)], { colors: [colour(hot.rank - 1)], alpha: 0.6 });
  const drawn = hot ? [hot] : base;
  canvas.width = image.width;
  canvas.height = image.height;
  const g = canvas.getContext('2d')!;
  g.putImageData(new ImageData(new Uint8ClampedArray(rgba), image.width, image.height), 0, 0);
  // Scores and ranks on the picture, at each drawn mask's box corner.
  const fs = Math.max(11, Math.round(Math.max(image.width, image.height) / 45));
  g.font = `bold ${fs}px system-ui, sans-serif`;
  g.textBaseline = 'top';
  for (const { p, rank } of drawn) {
    const [x, y] = p.bbox;
    const label = mode === 'click' && hovered < 0 ? `${(p as Selection).mode === 'union' ? 'union' : '#1'} ${p.score.toFixed(2)}` : `#${rank} ${p.score.toFixed(2)}`;
    const w = g.measureText(label).width + 6;
    const [r, gg, b] = colour(rank - 1);
    g.fillStyle = `rgba(${r}, ${gg}, ${b}, 0.9)`;
    const lx = Math.min(Math.max(0, x), image.width - w), ly = Math.min(Math.max(0, y), image.height - fs - 4);
    g.fillRect(lx, ly, w, fs + 4);
    g.fillStyle = '#000';
    g.fillText(label, lx + 3, ly + 2);
  }
  // The clicked points.
  for (const [px, py] of points) {
    g.beginPath();
    g.arc(px + 0.5, py + 0.5, Math.max(4, fs / 3), 0, 2 * Math.PI);
    g.fillStyle = '#fff';
    g.fill();
    g.lineWidth = 2;
    g.strokeStyle = '#d22';
    g.stroke();
  }
}

function renderList(entries: Proposal[]) {
  const list = $('list');
  list.innerHTML = '';
  entries.forEach((p, i) => {
    const div = document.createElement('div');
    const [r, g, b] = overlayColor(i);
    const tag = mode === 'click' ? (selection?.masks.includes(p) ? (selection.mode === 'union' ? 'part' : 'chosen') : 'alternative') : '';
    div.innerHTML = `<span class="swatch" style="background: rgb(${r}, ${g}, ${b})"></span>#${i + 1} score ${p.score.toFixed(3)} box ${p.bbox.map((v) => Math.round(v)).join(',')} ${tag}`;
    div.onmouseenter = () => {
      hovered = i;
      div.classList.add('hover');
      drawPicture(entries);
    };
    div.onmouseleave = () => {
      hovered = -1;
      div.classList.remove('hover');
      drawPicture(entries);
    };
    list.appendChild(div);
  });
}

// ---- actions --------------------------------------------------------------------------------------

async function proposeAll(count = 50): Promise<void> {
  if (!image) return;
  await job('proposing every object', async (signal) => {
    const enc = await ensureEncoding(signal);
    const r = await segmenter!.everything(enc, { proposals: count, signal, onProgress: (e) => progress(stageText(e)) });
    mode = 'all';
    points = [];
    selection = null;
    proposals = r.proposals;
    timings = r.timings;
    status(`${r.windows} windows scored, ${proposals.length} proposals${r.notice ? ` (${r.notice})` : ''}; click an object for its mask, shift-click to add points`);
    render();
  });
}

async function clickAt(x: number, y: number, add: boolean): Promise<void> {
  if (!image) return;
  const next: [number, number][] = add && mode === 'click' ? [...points, [x, y]] : [[x, y]];
  await job(next.length > 1 ? `selecting with ${next.length} points` : `mask at (${x}, ${y})`, async (signal) => {
    const enc = await ensureEncoding(signal);
    progress('masks at the click');
    const sel = await segmenter!.select(enc, next, { signal });
    const alternatives = await segmenter!.at(enc, x, y, { count: 3, signal });
    mode = 'click';
    points = next;
    selection = sel;
    clickAlternatives = alternatives;
    hovered = -1;
    status(
      sel.mode === 'one'
        ? `the best mask covering ${next.length > 1 ? `all ${next.length} points` : 'the click'}: score ${sel.score.toFixed(3)}, ${sel.area} px (shift-click to add points; hover the list for alternatives)`
        : `the union of each point's mask (no single mask covers all ${next.length} points and agrees with them), ${sel.area} px`,
    );
    render();
    if (window.__deepmask) {
      const cm = (p: { score: number; rle: Proposal['rle'] }) => ({ score: p.score, ...rle.toCocoRle(p.rle) });
      (window.__deepmask.clicks ??= []).push({ points: next, masks: alternatives.map(cm), selection: { ...cm(sel), mode: sel.mode } });
    }
  }).catch((e) => {
    window.__deepmask && (window.__deepmask.clickErrors ??= []).push(String(e));
  });
}

function setImage(bytes: Uint8Array, name: string) {
  let img: RgbImage;
  try {
    img = decodeImage(bytes, name);
  } catch (e) {
    showError((e as Error).message);
    status('');
    return;
  }
  showError('');
  image = img;
  imageName = name;
  imageVersion++;
  dropEncoding();
  proposals = [];
  selection = null;
  points = [];
  timings = null;
  mode = 'all';
  $('timings').innerHTML = '';
  status(`${name}: ${image.width}x${image.height}. Click an object for its mask, or propose every object.`);
  render();
}

function download(name: string, data: Blob) {
  const a = document.createElement('a');
  a.href = URL.createObjectURL(data);
  a.download = name;
  document.body.appendChild(a);
  a.click();
  setTimeout(() => {
    URL.revokeObjectURL(a.href);
    a.remove();
  }, 1000);
}

const stem = () => imageName.replace(/\.[^.]*$/, '') || 'image';
const imageId = () => Number(/\d+/.exec(imageName)?.[0] ?? 1) || 1;

async function fetchBytes(url: string): Promise<Uint8Array> {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return new Uint8Array(await r.arrayBuffer());
}

async function fileBytes(f: File): Promise<Uint8Array> {
  return new Uint8Array(await f.arrayBuffer());
}

function wireInference() {
  $<HTMLInputElement>('imageFile').onchange = async (e) => {
    const f = (e.target as HTMLInputElement).files?.[0];
    if (f) setImage(await fileBytes(f), f.name);
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
    if (f) setImage(await fileBytes(f), f.name);
  };
  $<HTMLSelectElement>('sample').onchange = async (e) => {
    const url = (e.target as HTMLSelectElement).value;
    if (!url) return;
    try {
      setImage(await fetchBytes(url), url.split('/').pop()!);
    } catch (err) {
      showError((err as Error).message);
    }
  };
  $<HTMLSelectElement>('weights').onchange = (e) => {
    if ((e.target as HTMLSelectElement).value === 'files') $('weightFiles').click();
  };
  $<HTMLInputElement>('weightFiles').onchange = async (e) => {
    const files = [...((e.target as HTMLInputElement).files ?? [])];
    const cfg = files.find((f) => f.name.endsWith('.json')), w = files.find((f) => f.name.endsWith('.safetensors'));
    if (!cfg || !w) {
      showError('choose a config.json and a model.safetensors together');
      return;
    }
    await job(`loading ${w.name}`, async (signal) => {
      const seg = await load({ config: await cfg.text(), weights: await fileBytes(w) }, { signal });
      setSegmenter(seg, `files:${w.name}`);
    }).catch(() => undefined);
  };
  button('run').onclick = () => void proposeAll().catch(() => undefined);
  button('cancel').onclick = () => busy?.abort();
  button('clear').onclick = () => {
    points = [];
    selection = null;
    proposals = [];
    mode = 'all';
    render();
  };
  $<HTMLInputElement>('topN').oninput = render;
  const view = $<HTMLCanvasElement>('view');
  view.onclick = (e) => {
    if (!image) return;
    // The content box (the border excluded; offsetX is measured from the border in some browsers).
    const r = view.getBoundingClientRect();
    const x = Math.floor(((e.clientX - r.left - view.clientLeft) / view.clientWidth) * image.width);
    const y = Math.floor(((e.clientY - r.top - view.clientTop) / view.clientHeight) * image.height);
    if (x < 0 || y < 0 || x >= image.width || y >= image.height) return;
    void clickAt(x, y, e.shiftKey);
  };
  button('dlPng').onclick = () => view.toBlob((b) => b && download(`${stem()}-masks.png`, b), 'image/png');
  button('dlCoco').onclick = () => {
    const ps: Proposal[] = mode === 'click' && selection ? [{ ...selection.masks[0]!, rle: selection.rle, bbox: selection.bbox, area: selection.area, score: selection.score }] : proposals;
    download(`${stem()}-results.json`, new Blob([JSON.stringify(toCocoResults(imageId(), ps))], { type: 'application/json' }));
  };
}

// ---- training in the page -------------------------------------------------------------------------

function rgbOf(rgba: Uint8Array, width: number, height: number): RgbImage {
  const data = new Float32Array(width * height * 3);
  for (let i = 0; i < width * height; i++) for (let c = 0; c < 3; c++) data[i * 3 + c] = rgba[i * 4 + c]! / 255;
  return { width, height, data };
}

function drawCurve(pts: [number, number][], total: number) {
  const c = $<HTMLCanvasElement>('curve'), g = c.getContext('2d')!;
  g.fillStyle = '#fff';
  g.fillRect(0, 0, c.width, c.height);
  if (pts.length < 2) return;
  const ys = pts.map(([, y]) => y), lo = Math.min(...ys), hi = Math.max(...ys);
  g.strokeStyle = '#c43';
  g.beginPath();
  pts.forEach(([x, y], i) => {
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

function disposeModel(m: DeepMask | null) {
  if (m) for (const p of m.parameters()) p.dispose();
}

async function train() {
  const steps = Number($<HTMLInputElement>('steps').value);
  button('train').disabled = true;
  button('stop').disabled = false;
  button('dlModel').disabled = true;
  stopTraining = false;
  trainStatus('generating 80 synthetic scenes...');
  await new Promise((r) => setTimeout(r, 0));
  const scenes = generateScenes({ images: 80, seed: 7 });
  const images = new Map(scenes.images.map((im) => [im.id, rgbOf(im.rgba, im.width, im.height)]));
  disposeModel(trained);
  trained = new DeepMask('tiny', { seed: 3 });
  const m = trained;
  const rng = new Rng(5);
  const sampler = new PatchSampler(scenes.coco, m.config, rng);
  const renderer: Renderer = async (specs, anns) => specs.map((s, i) => renderSample(images.get(s.imageId)!, s, anns[i], m.config, m.config.normalization));
  const maker = new BatchMaker(sampler, renderer, m.config);
  const pts: [number, number][] = [];
  const t0 = performance.now();
  const trainer = new Trainer(
    m, maker, sampler, rng,
    { ...DEFAULT_TRAIN, steps, batch: 16, lrSchedule: [[0, 0.01]], logEvery: 5, validateEvery: 1e9, checkpointEvery: 1e9 },
    {
      onLog: (e) => {
        pts.push([e.step, e.loss]);
        drawCurve(pts, steps);
        trainStatus(`step ${e.step}/${steps}  loss ${e.loss.toFixed(4)}  ${e.samplesPerSec.toFixed(1)} windows/s  ${((performance.now() - t0) / 1000).toFixed(0)} s`);
      },
      shouldStop: () => stopTraining,
    },
  );
  try {
    await trainer.run();
  } finally {
    trainer.dispose();
    button('train').disabled = false;
    button('stop').disabled = true;
  }
  trainStatus(`trained ${trainer.step} steps in ${((performance.now() - t0) / 1000).toFixed(0)} s; loss ${pts.at(-1)?.[1].toFixed(4) ?? '-'}`);
  button('tryIt').disabled = false;
  button('dlModel').disabled = false;
  await tryIt();
}

async function tryIt() {
  if (!trained) return;
  const scene = generateScenes({ images: 1, seed: Math.floor(Math.random() * 1e6), firstId: 99999 }).images[0]!;
  const img = rgbOf(scene.rgba, scene.width, scene.height);
  const r = await propose(trained, img, { proposals: 20 });
  const c = $<HTMLCanvasElement>('trainView');
  c.width = img.width;
  c.height = img.height;
  const top = nms(r.proposals, 0.5, 6).reverse();
  const rgba = drawOverlay(toRgba(img), img.width, img.height, top.map((p) => maskOf(p)));
  c.getContext('2d')!.putImageData(new ImageData(new Uint8ClampedArray(rgba), img.width, img.height), 0, 0);
}

/** The trained model's two files, as `deepmask infer --weights DIR` and load() read them. */
async function downloadTrained() {
  if (!trained) return;
  const { weights, config } = await exportModel(trained, { training: { where: 'the deepmask-webgpu page', steps: Number($<HTMLInputElement>('steps').value) } });
  download('config.json', new Blob([`${JSON.stringify(config, null, 2)}\n`], { type: 'application/json' }));
  download('model.safetensors', new Blob([weights as Uint8Array<ArrayBuffer>], { type: 'application/octet-stream' }));
}

function wireTraining() {
  button('train').onclick = () => train().catch((e) => trainStatus(`error: ${(e as Error).message}`));
  button('stop').onclick = () => (stopTraining = true);
  button('tryIt').onclick = () => tryIt().catch((e) => trainStatus(`error: ${(e as Error).message}`));
  button('dlModel').onclick = () => downloadTrained().catch((e) => trainStatus(`error: ${(e as Error).message}`));
}

// ---- start --------------------------------------------------------------------------------------

async function main() {
  const q = new URLSearchParams(location.search);
  const test = q.has('test');
  if (test) window.__deepmask = { done: false };
  // Without WebGPU, or with no adapter, the header stops "looking" and the box says which browsers
  // and flags give WebGPU (init()'s NoAdapterError carries the same message).
  const noWebGPU = (msg: string) => {
    $('nogpu').style.display = 'block';
    $('nogpu').textContent = msg;
    $('adapter').textContent = 'no WebGPU adapter: see below';
    if (test) window.__deepmask = { done: true, error: msg };
  };
  const userAgent = navigator.userAgent;
  if (!('gpu' in navigator)) return noWebGPU(browserNoWebGPUMessage({ hasGpu: false, userAgent }));
  try {
    rt = await init();
  } catch (e) {
    const err = e as Error;
    return noWebGPU(err.name === 'NoAdapterError' ? err.message : `WebGPU could not start: ${err.message}`);
  }
  software = isSoftware(rt.adapter);
  const a = rt.adapter;
  $('adapter').textContent = `adapter: ${[a.vendor, a.architecture, a.description].filter(Boolean).join(' / ')}${rt.f16 ? ' (shader-f16)' : ''}${software ? ' — a software adapter: the CPU runs the shaders (registers promoted for SwiftShader)' : ''}`;
  wireInference();
  wireTraining();
  syncButtons();
  if (!test) return;
  try {
    // ?test runs tiny on the sample scene; &model=URL&image=URL&proposals=N time other pairs.
    const modelUrl = q.get('model') ?? '/models/tiny-synth/', imageUrl = q.get('image') ?? '/assets/scene.png';
    const weights = $<HTMLSelectElement>('weights');
    if (![...weights.options].some((o) => o.value === modelUrl)) weights.add(new Option(modelUrl, modelUrl));
    weights.value = modelUrl;
    setImage(await fetchBytes(imageUrl), imageUrl.split('/').pop()!);
    const n = Number(q.get('proposals') ?? 20);
    if (n > 0) await proposeAll(n);
    else await job('loading the model', (signal) => ensureModel(signal));
    if (!segmenter) throw new Error($('error').textContent || 'the model did not load');
    window.__deepmask = {
      done: true,
      adapter: `${a.vendor} / ${a.architecture} / ${a.description}`,
      model: segmenterKey,
      proposals: proposals.map((p) => ({ score: p.score, ...rle.toCocoRle(p.rle) })),
      timings: timings ?? undefined,
      shown: $('list').children.length,
      clicks: [],
    };
  } catch (e) {
    window.__deepmask = { done: true, error: (e as Error).stack ?? String(e) };
  }
}

void main();
