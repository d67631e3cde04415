// The demo page as a tool: the library from src/ (the same engine, shaders and model code as in Node),
// bundled by scripts/web.mjs. Load a photo (a sample is shown on first load; any image the browser
// decodes), click an object to get its mask (the image is encoded once, each click only computes the
// masks it returns), shift-click to add points, right- or alt-click for a point to leave out, drag a
// box around an object, Undo (Ctrl+Z), choose among the alternatives, hover for a preview, or propose
// every object; progress per stage with elapsed time, Cancel, visible errors, downloads (overlay PNG,
// the chosen mask as a PNG and as a cut-out with transparency, COCO results JSON, a model trained in
// the page).
//
// Test hook: `?test&model=URL&image=URL&proposals=N[&scales=a,b,...]` loads the model and image and
// proposes N masks (none with proposals=0), then sets window.__deepmask.done; every prompt on the
// picture afterwards (real mouse clicks and drags, driven by the browser test) appends its result to
// window.__deepmask.clicks, every hover preview to .previews, every chosen alternative to .chosen.
import {
  BatchMaker,
  DEFAULT_TRAIN,
  DeepMask,
  Rng,
  Trainer,
  exportModel,
  generateScenes,
  imageFromInput,
  inferenceDefaults,
  init,
  load,
  nms,
  PatchSampler,
  propose,
  renderSample,
  rle,
  toCocoResults,
  drawOverlay,
  toRgba,
  type ImageEncoding,
  type InferProgress,
  type LoadProgress,
  type Proposal,
  type Renderer,
  type RgbImage,
  type Runtime,
  type Segmenter,
  type Selection,
  type Timings,
} from '../src/index.js';
import { drawMasks, inkOn, labelFor, overlayColor, placeLabels, type Rgb } from '../src/data/draw.js';
import { browserNoWebGPUMessage } from '../src/gpu/no-adapter.js';

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const button = (id: string) => $<HTMLButtonElement>(id);
const status = (s: string) => ($('status').textContent = s);
const trainStatus = (s: string) => ($('trainStatus').textContent = s);

type PageMask = { score: number; size: [number, number]; counts: string };
type Box = [number, number, number, number];
type ClickRecord = { points: [number, number][]; negative: [number, number][]; box: Box | null; masks: PageMask[]; selection: PageMask & { mode: string } };

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
      /** Hover previews: the pointer's pixel, the mask, and the query's time. */
      previews?: (PageMask & { point: [number, number]; ms: number })[];
      /** Alternatives chosen from the list, in order. */
      chosen?: PageMask[];
      /** Encodings run (a hover preview must not add one). */
      encodes?: number;
      /** The model download's last progress event. */
      download?: { loaded: number; total?: number };
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
/** Points to leave out (right- or alt-click) and the box dragged around the object, with `points` the prompt of click mode. */
let negative: [number, number][] = [];
let box: Box | null = null;
/** The prompts applied in click mode, the current one last: Undo goes back one. */
let history: Prompt[] = [];
let selection: Selection | null = null;
let hovered = -1;
let busy: AbortController | null = null;
const maskCache = new WeakMap<Proposal, Uint8Array>();
let encodes = 0;
let lastLoad: LoadProgress | null = null;

/** What a click-mode query asks: points on the object, points to leave out, a box around it. */
type Prompt = { points: [number, number][]; negative: [number, number][]; box: Box | null };

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
  if (e.stage === 'compile') return 'compiling GPU kernels (the first run in this browser takes longer)…';
  const names: Record<Exclude<InferProgress['stage'], 'compile'>, string> = {
    trunk: 'trunk',
    heads: 'dense heads',
    scores: 'reading objectness',
    masks: 'masks',
    paste: 'pasting masks',
    rle: 'encoding masks',
  };
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
    await previewRun?.catch(() => undefined); // a hover query in flight ends first (it sees `busy` and stops)
    dropPreview();
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
  button('clear').disabled = !!busy || (!points.length && !box && !selection && !proposals.length);
  const hasMasks = mode === 'click' ? !!selection : proposals.length > 0;
  button('dlPng').disabled = !image;
  button('dlCoco').disabled = !hasMasks;
  button('dlMask').disabled = button('dlCutout').disabled = !(mode === 'click' && selection);
  button('undo').disabled = !!busy || !history.length;
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
  const seg = await load(url, { signal, onProgress: (e) => progress(loadText((lastLoad = e))) });
  setSegmenter(seg, url);
  return seg;
}

function setSegmenter(seg: Segmenter, key: string) {
  dropEncoding();
  segmenter?.dispose();
  segmenter = seg;
  segmenterKey = key;
  const c = seg.config;
  $('modelInfo').textContent =
    `model: ${c.preset} (${(seg.model.parameterCount() / 1e6).toFixed(2)} M parameters) from ${key.startsWith('files:') ? key.slice(6) : key}; pyramid ${chosenScales()
      .map((s) => s.toFixed(2))
      .join(', ')}${c.refine ? `; masks refined to ${c.inputSize}x${c.inputSize} per window (SharpMask)` : `; coarse ${c.maskSize}x${c.maskSize} masks`}`;
  const sharp = $<HTMLInputElement>('sharp');
  sharp.disabled = !c.refine;
  sharp.checked = !!c.refine;
}

function dropEncoding() {
  encoding?.dispose();
  encoding = null;
  encodingKey = '';
}

/** What the current encoding must have been made with: the model, the image, the pyramid, sharp masks. */
const wantedEncodingKey = () => `${segmenterKey}|${imageVersion}|${chosenScales().join(',')}|${$<HTMLInputElement>('sharp').checked}`;

async function ensureEncoding(signal: AbortSignal): Promise<ImageEncoding> {
  const seg = await ensureModel(signal);
  const scales = chosenScales();
  const refine = $<HTMLInputElement>('sharp').checked;
  const key = wantedEncodingKey();
  if (encoding && encodingKey === key) return encoding;
  dropEncoding();
  progress('encoding the image');
  encodes++;
  if (window.__deepmask) window.__deepmask.encodes = encodes;
  encoding = await seg.encode(image!, { scales, refine, timeStages: true, signal, onProgress: (e) => progress(`encoding: ${stageText(e)}`) });
  encodingKey = key;
  timings = encoding.timings;
  return encoding;
}

// ---- drawing --------------------------------------------------------------------------------------

const maskOf = (p: Proposal | { rle: Proposal['rle'] }) => {
  let m = maskCache.get(p as Proposal);
  if (!m) {
    m = rle.decodeMask(p.rle); // row-major, as drawMasks takes it
    maskCache.set(p as Proposal, m);
  }
  return m;
};

/** The entries of the list: the top-N proposals, or the click's masks. */
function listed(): Proposal[] {
  if (mode === 'click') {
    if (!selection) return [];
    // The alternatives keep their places when one is chosen; parts of the selection that are not among them come first.
    return selection.masks.filter((q) => !clickAlternatives.some((p) => sameWindow(p, q))).concat(clickAlternatives);
  }
  return proposals.slice(0, Number($<HTMLInputElement>('topN').value));
}
let clickAlternatives: Proposal[] = [];
const sameWindow = (p: Proposal, q: Proposal) => p.scale === q.scale && p.cell[0] === q.cell[0] && p.cell[1] === q.cell[1];
const inSelection = (p: Proposal) => !!selection?.masks.some((q) => sameWindow(p, q));

/** Redraws the picture and rebuilds the list (a hover redraws only the picture). */
function render() {
  if (!image) return;
  $('topNValue').textContent = $<HTMLInputElement>('topN').value;
  const entries = listed();
  redraw(entries);
  renderList(entries);
  if (timings)
    $('timings').innerHTML = Object.entries(timings)
      .map(([k, v]) => `<tr><th>${k}</th><td>${v.toFixed(1)} ms</td></tr>`)
      .join('');
  if (window.__deepmask) window.__deepmask.shown = $('list').children.length;
  syncButtons();
}

function drawPicture(entries: Proposal[]) {
  const canvas = $<HTMLCanvasElement>('view');
  if (!image) return;
  const { width: W, height: H } = image;
  const n = Number($<HTMLInputElement>('topN').value);
  const colour = (i: number): Rgb => overlayColor(i);
  // Drawn masks with their rank (1-based, in the list), best first: distinct ones only (mask NMS 0.5).
  // A hovered entry is drawn strongly over the others, which fade to bare tints (and lose their labels).
  const base =
    mode === 'click'
      ? selection
        ? [{ p: selection as Proposal | Selection, rank: 1 }]
        : []
      : nms(entries, 0.5, n).map((p) => ({ p: p as Proposal | Selection, rank: entries.indexOf(p) + 1 }));
  const hot = hovered >= 0 && entries[hovered] ? { p: entries[hovered]! as Proposal | Selection, rank: hovered + 1 } : null;
  const ranked = (ds: typeof base) => ds.map((d) => ({ mask: maskOf(d.p as Proposal), color: colour(d.rank - 1) }));
  let rgba = drawMasks(toRgba(image), W, H, ranked(base), hot ? { fillAlpha: 0.12, outlineWidth: 0 } : {});
  if (hot) rgba = drawMasks(rgba, W, H, ranked([hot]), { fillAlpha: 0.5 });
  const drawn = hot ? [hot] : base;
  canvas.width = W;
  canvas.height = H;
  const g = canvas.getContext('2d')!;
  g.putImageData(new ImageData(new Uint8ClampedArray(rgba), W, H), 0, 0);
  // Ranks and scores, placed as in --viz pictures: in rank order, none covering another.
  const fs = Math.max(11, Math.round(Math.max(W, H) / 45));
  g.font = `bold ${fs}px system-ui, sans-serif`;
  g.textBaseline = 'top';
  const labels = drawn.map(({ p, rank }) =>
    mode === 'click' && hovered < 0 ? `${(p as Selection).mode === 'union' ? 'union' : '#1'} ${p.score.toFixed(2)}` : `#${rank} ${p.score.toFixed(2)}`,
  );
  const widths = labels.map((l) => Math.ceil(g.measureText(l).width) + 6);
  const spots = placeLabels(
    W,
    H,
    drawn.map(({ p }, j) => labelFor(maskOf(p as Proposal), W, H, widths[j]!, fs + 4)),
  );
  drawn.forEach(({ rank }, j) => {
    const spot = spots[j];
    if (!spot) return; // no free place: left out rather than cover a better one's label
    const c = colour(rank - 1),
      ink = inkOn(c);
    g.fillStyle = `rgb(${c[0]}, ${c[1]}, ${c[2]})`;
    g.fillRect(spot[0], spot[1], widths[j]!, fs + 4);
    g.fillStyle = `rgb(${ink[0]}, ${ink[1]}, ${ink[2]})`;
    g.fillText(labels[j]!, spot[0] + 3, spot[1] + 2);
  });
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
    const tag = mode === 'click' ? (inSelection(p) ? (selection!.mode === 'union' ? 'part' : 'chosen') : 'alternative (click to choose)') : '';
    div.innerHTML = `<span class="swatch" style="background: rgb(${r}, ${g}, ${b})"></span>#${i + 1} score ${p.score.toFixed(3)} box ${p.bbox.map((v) => Math.round(v)).join(',')} ${tag}`;
    if (mode === 'click') {
      div.classList.toggle('chosen', inSelection(p));
      div.onclick = () => choose(p);
    }
    div.onmouseenter = () => {
      hovered = i;
      div.classList.add('hover');
      redraw(entries);
    };
    div.onmouseleave = () => {
      hovered = -1;
      div.classList.remove('hover');
      redraw(entries);
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
    negative = [];
    box = null;
    history = [];
    selection = null;
    proposals = r.proposals;
    timings = r.timings;
    status(
      `${r.windows} windows scored, ${proposals.length} proposals${r.notice ? ` (${r.notice})` : ''}; click an object for its mask, shift-click to add points`,
    );
    render();
  });
}

/** A single proposal as the selection. */
const selectionOf = (p: Proposal): Selection => ({ rle: p.rle, bbox: p.bbox, area: p.area, score: p.score, mode: 'one', masks: [p] });
const pageMask = (p: { score: number; rle: Proposal['rle'] }): PageMask => ({ score: p.score, ...rle.toCocoRle(p.rle) });
const boxCentre = ([x, y, w, h]: Box): [number, number] => [x + w / 2, y + h / 2];

function promptText(p: Prompt): string {
  const n = (k: number, what: string) => (k ? `${k} ${what}${k > 1 ? 's' : ''}` : '');
  return [n(p.points.length, 'point'), n(p.negative.length, 'point') && `${n(p.negative.length, 'point')} left out`, p.box ? 'a box' : '']
    .filter(Boolean)
    .join(', ');
}

/**
 * Answers a prompt from the encoding: several points are a selection (Segmenter.select), one point or
 * a box the best mask at() gives; points to leave out and the box go to both. The alternatives are
 * at()'s masks at the last point (or the box's centre). On success `nextHistory` becomes the history.
 */
async function ask(next: Prompt, nextHistory: Prompt[]): Promise<void> {
  if (!image) return;
  await job(`mask for ${promptText(next)}`, async (signal) => {
    const enc = await ensureEncoding(signal);
    progress('masks at the prompt');
    const opts = { signal, ...(next.negative.length ? { negative: next.negative } : {}), ...(next.box ? { box: next.box } : {}) };
    const [ax, ay] = next.points.at(-1) ?? boxCentre(next.box!);
    const sel = next.points.length ? await segmenter!.select(enc, next.points, opts) : null;
    const alternatives = await enc.at(Math.min(image!.width - 1, Math.max(0, ax)), Math.min(image!.height - 1, Math.max(0, ay)), { ...opts, count: 3 });
    if (!sel && !alternatives.length) throw new Error('no window of the pyramid is near this box: draw it over the picture');
    mode = 'click';
    ({ points, negative, box } = next);
    history = nextHistory;
    selection = sel ?? selectionOf(alternatives[0]!);
    clickAlternatives = alternatives;
    hovered = -1;
    const what = promptText(next);
    status(
      selection.mode === 'one'
        ? `the best mask for ${what}: score ${selection.score.toFixed(3)}, ${selection.area} px (shift-click adds a point, right- or alt-click leaves one out, drag a box; click an alternative in the list to choose it)`
        : `the union of each point's mask (no single mask covers all ${next.points.length} points and agrees with them), ${selection.area} px`,
    );
    render();
    if (window.__deepmask) {
      (window.__deepmask.clicks ??= []).push({
        points: next.points,
        negative: next.negative,
        box: next.box,
        masks: alternatives.map(pageMask),
        selection: { ...pageMask(selection), mode: selection.mode },
      });
    }
  }).catch((e) => {
    if (window.__deepmask) (window.__deepmask.clickErrors ??= []).push(String(e));
  });
}

const NOTHING: Prompt = { points: [], negative: [], box: null };
/** The prompt on the picture now (nothing outside click mode). */
const currentPrompt = (): Prompt => (mode === 'click' && (points.length || box) ? { points, negative, box } : NOTHING);
/** The history after `current` is replaced by a new prompt (the last 50 are kept). */
const pushed = (current: Prompt) => [...history, current].slice(-50);

/** A click: a new prompt, or (shift) one more point on the object, or (right, alt) one more point to leave out. */
function clickAt(x: number, y: number, kind: 'new' | 'add' | 'exclude'): void {
  const current = currentPrompt();
  if (kind === 'exclude') {
    if (current === NOTHING) return void status('a point to leave out needs a mask first: click the object, or drag a box around it');
    return void ask({ ...current, negative: [...negative, [x, y]] }, pushed(current));
  }
  void ask(
    kind === 'add' && current !== NOTHING ? { ...current, points: [...points, [x, y]] } : { points: [[x, y]], negative: [], box: null },
    pushed(current),
  );
}

/** Back to the prompt before the last one: asked again from the encoding, or nothing selected. */
function undo(): void {
  if (busy || !history.length) return;
  const previous = history.at(-1)!;
  if (previous !== NOTHING && (previous.points.length || previous.box)) return void ask(previous, history.slice(0, -1));
  history = history.slice(0, -1);
  ({ points, negative, box } = NOTHING);
  selection = null;
  clickAlternatives = [];
  mode = 'all';
  status('nothing selected (undone)');
  render();
}

/** An alternative from the list becomes the selection (what is drawn and exported). */
function choose(p: Proposal): void {
  if (mode !== 'click' || busy || (selection?.mode === 'one' && inSelection(p))) return;
  selection = selectionOf(p);
  status(`chose the mask of score ${p.score.toFixed(3)}, ${p.area} px: the downloads give this one`);
  render();
  if (window.__deepmask) (window.__deepmask.chosen ??= []).push(pageMask(p));
}

// ---- overlays: the hover preview, the prompt's points and box, the box being dragged ---------------

/** The latest pointer pixel waiting for a preview, the query in flight, and the preview shown. */
let previewWanted: [number, number] | null = null;
let previewRun: Promise<void> | null = null;
let preview: Proposal | null = null;
/** Bumped by every prompt: a preview asked before it is stale. */
let promptEpoch = 0;
/** A box being dragged (image pixels), and whether the pointer moved far enough to be a drag. */
let drag: { from: [number, number]; to: [number, number]; screen: [number, number]; moved: boolean } | null = null;
let swallowClick = false;
/** At most this often a preview query: on a software adapter one takes tens of ms. */
const PREVIEW_MS = 80;

function dropPreview(): void {
  promptEpoch++;
  previewWanted = null;
  if (preview) {
    preview = null;
    redraw();
  }
}

/** Hover: the mask under the pointer from the current encoding (never an encoding of its own), one query at a time, the latest position. */
function previewAt(x: number, y: number): void {
  if (busy || !encoding || encodingKey !== wantedEncodingKey()) return;
  previewWanted = [x, y];
  previewRun ??= (async () => {
    try {
      while (previewWanted && !busy && encoding && encodingKey === wantedEncodingKey()) {
        const at = previewWanted,
          epoch = promptEpoch;
        previewWanted = null;
        const t0 = performance.now();
        const [m] = await encoding.at(at[0], at[1], { count: 1 });
        const ms = performance.now() - t0;
        if (!m || busy || epoch !== promptEpoch) continue;
        preview = m;
        redraw();
        if (window.__deepmask) (window.__deepmask.previews ??= []).push({ point: at, ms, ...pageMask(m) });
        await new Promise((ok) => setTimeout(ok, Math.max(0, PREVIEW_MS - ms)));
      }
    } catch {
      // the encoding was replaced under the query: the next move asks again
    } finally {
      previewRun = null;
    }
  })();
}

/** The picture (drawPicture) with the page's overlays over it. */
function redraw(entries: Proposal[] = listed()): void {
  drawPicture(entries);
  drawOverlays();
}

function drawOverlays(): void {
  if (!image) return;
  const { width: W, height: H } = image;
  const g = $<HTMLCanvasElement>('view').getContext('2d')!;
  if (preview && !drag) {
    // The preview: a light wash over the mask's pixels.
    const m = maskOf(preview),
      px = g.getImageData(0, 0, W, H),
      d = px.data;
    for (let i = 0; i < W * H; i++) if (m[i]) for (let c = 0; c < 3; c++) d[i * 4 + c] = Math.round(d[i * 4 + c]! * 0.55 + [80, 200, 255][c]! * 0.45);
    g.putImageData(px, 0, 0);
  }
  const r = Math.max(4, Math.round(Math.max(W, H) / 110));
  g.lineWidth = Math.max(2, r / 3);
  const lw = g.lineWidth;
  // A box: a dark edge under a coloured line, visible on any photo.
  const rect = ([x, y, w, h]: Box, colour: string) => {
    [
      ['#000', lw + 2],
      [colour, lw],
    ].forEach(([c, width]) => {
      g.strokeStyle = c as string;
      g.lineWidth = width as number;
      g.strokeRect(x + 0.5, y + 0.5, w - 1, h - 1);
    });
  };
  if (mode === 'click' && box) rect(box, '#3c3');
  if (drag?.moved) rect(boxOf(drag), '#fff');
  if (mode !== 'click') return;
  // Points on the object: green with a plus; points left out: red with a minus.
  const marker = ([x, y]: [number, number], colour: string, plus: boolean) => {
    g.beginPath();
    g.arc(x + 0.5, y + 0.5, r, 0, 2 * Math.PI);
    g.fillStyle = colour;
    g.fill();
    g.strokeStyle = '#fff';
    g.stroke();
    g.beginPath();
    g.moveTo(x + 0.5 - r / 2, y + 0.5);
    g.lineTo(x + 0.5 + r / 2, y + 0.5);
    if (plus) {
      g.moveTo(x + 0.5, y + 0.5 - r / 2);
      g.lineTo(x + 0.5, y + 0.5 + r / 2);
    }
    g.stroke();
  };
  g.lineWidth = lw;
  for (const p of points) marker(p, '#1a1', true);
  for (const p of negative) marker(p, '#d22', false);
}

const boxOf = (d: { from: [number, number]; to: [number, number] }): Box => {
  const x = Math.min(d.from[0], d.to[0]),
    y = Math.min(d.from[1], d.to[1]);
  return [x, y, Math.abs(d.to[0] - d.from[0]) + 1, Math.abs(d.to[1] - d.from[1]) + 1];
};

// ---- exports of the chosen mask ------------------------------------------------------------------

function pngOf(rgba: Uint8ClampedArray<ArrayBuffer>, width: number, height: number): Promise<Blob> {
  const c = document.createElement('canvas');
  [c.width, c.height] = [width, height];
  c.getContext('2d')!.putImageData(new ImageData(rgba, width, height), 0, 0);
  return new Promise((ok, fail) => c.toBlob((b) => (b ? ok(b) : fail(new Error('the browser could not encode the PNG'))), 'image/png'));
}

/** The chosen mask at the image's size: white on black. */
function maskPng(sel: Selection): Promise<Blob> {
  const { width: W, height: H } = image!;
  const m = maskOf(sel),
    out = new Uint8ClampedArray(W * H * 4);
  for (let i = 0; i < W * H; i++) out.set(m[i] ? [255, 255, 255, 255] : [0, 0, 0, 255], i * 4);
  return pngOf(out, W, H);
}

/** The photo's pixels under the chosen mask, cut to its box, transparent elsewhere. */
function cutoutPng(sel: Selection): Promise<Blob> {
  const { width: W } = image!;
  const [bx, by, bw, bh] = sel.bbox.map(Math.round) as Box;
  if (!(bw > 0 && bh > 0)) return Promise.reject(new Error('the chosen mask is empty: nothing to cut out'));
  const m = maskOf(sel),
    rgba = toRgba(image!),
    out = new Uint8ClampedArray(bw * bh * 4);
  for (let y = 0; y < bh; y++)
    for (let x = 0; x < bw; x++) {
      const i = (by + y) * W + bx + x;
      if (m[i]) out.set([rgba[i * 4]!, rgba[i * 4 + 1]!, rgba[i * 4 + 2]!, 255], (y * bw + x) * 4);
    }
  return pngOf(out, bw, bh);
}

/** Any image the browser decodes (PNG and JPEG in JS with EXIF orientation; WebP, GIF, AVIF, BMP by createImageBitmap). */
async function setImage(bytes: Uint8Array, name: string): Promise<void> {
  let img: RgbImage;
  try {
    img = await imageFromInput(bytes, { source: name });
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
  dropPreview();
  proposals = [];
  selection = null;
  points = [];
  negative = [];
  box = null;
  history = [];
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

/** The sample shown or loading: choosing it again (say while the first-load one arrives) changes nothing. */
let sampleUrl = '';

async function loadSample(url: string): Promise<void> {
  if (!url || url === sampleUrl) return;
  sampleUrl = url;
  $<HTMLSelectElement>('sample').value = url;
  try {
    await setImage(await fetchBytes(url), url.split('/').pop()!);
  } catch (err) {
    sampleUrl = '';
    showError((err as Error).message);
  }
}

function wireInference() {
  $<HTMLInputElement>('imageFile').onchange = async (e) => {
    const f = (e.target as HTMLInputElement).files?.[0];
    sampleUrl = '';
    if (f) await setImage(await fileBytes(f), f.name);
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
    sampleUrl = '';
    if (f) await setImage(await fileBytes(f), f.name);
  };
  $<HTMLSelectElement>('sample').onchange = (e) => void loadSample((e.target as HTMLSelectElement).value);
  $<HTMLSelectElement>('weights').onchange = (e) => {
    if ((e.target as HTMLSelectElement).value === 'files') $('weightFiles').click();
  };
  $<HTMLInputElement>('weightFiles').onchange = async (e) => {
    const files = [...((e.target as HTMLInputElement).files ?? [])];
    const cfg = files.find((f) => f.name.endsWith('.json')),
      w = files.find((f) => f.name.endsWith('.safetensors'));
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
    negative = [];
    box = null;
    history = [];
    selection = null;
    proposals = [];
    mode = 'all';
    render();
  };
  $<HTMLInputElement>('topN').oninput = render;
  const view = $<HTMLCanvasElement>('view');
  // Image pixel under the pointer: the content box (the border excluded; offsetX is measured from the
  // border in some browsers); null outside the picture unless clamped.
  const pixelAt = (e: MouseEvent, clamp = false): [number, number] | null => {
    if (!image) return null;
    const r = view.getBoundingClientRect();
    let x = Math.floor(((e.clientX - r.left - view.clientLeft) / view.clientWidth) * image.width);
    let y = Math.floor(((e.clientY - r.top - view.clientTop) / view.clientHeight) * image.height);
    if (clamp) [x, y] = [Math.min(image.width - 1, Math.max(0, x)), Math.min(image.height - 1, Math.max(0, y))];
    return x < 0 || y < 0 || x >= image.width || y >= image.height ? null : [x, y];
  };
  view.onclick = (e) => {
    if (swallowClick) return void (swallowClick = false); // the end of a box drag
    const p = pixelAt(e);
    if (p) clickAt(...p, e.altKey ? 'exclude' : e.shiftKey ? 'add' : 'new');
  };
  view.oncontextmenu = (e) => {
    e.preventDefault();
    const p = pixelAt(e);
    if (p) clickAt(...p, 'exclude');
  };
  // A drag draws a box: DeepMask's windows are boxes, and at() finds the one nearest it.
  view.onmousedown = (e) => {
    const p = e.button === 0 && !busy ? pixelAt(e) : null;
    drag = p ? { from: p, to: p, screen: [e.clientX, e.clientY], moved: false } : null;
  };
  window.addEventListener('mousemove', (e) => {
    if (drag) {
      drag.to = pixelAt(e, true)!;
      drag.moved ||= Math.hypot(e.clientX - drag.screen[0], e.clientY - drag.screen[1]) > 6;
      if (drag.moved) redraw();
      return;
    }
    if (e.target !== view) return;
    const p = pixelAt(e);
    if (p) previewAt(...p);
  });
  window.addEventListener('mouseup', () => {
    const d = drag;
    drag = null;
    if (!d?.moved) return;
    swallowClick = true;
    setTimeout(() => (swallowClick = false), 0); // the click that ends a drag comes before this
    const b = boxOf(d);
    void ask({ points: [], negative: [], box: b }, [{ points: [], negative: [], box: b }]);
  });
  view.onmouseleave = () => {
    if (!drag) dropPreview();
  };
  button('undo').onclick = undo;
  window.addEventListener('keydown', (e) => {
    const typing = e.target instanceof HTMLInputElement || e.target instanceof HTMLSelectElement || e.target instanceof HTMLTextAreaElement;
    if ((e.ctrlKey || e.metaKey) && !e.shiftKey && e.key.toLowerCase() === 'z' && !typing) {
      e.preventDefault();
      undo();
    }
  });
  button('dlPng').onclick = () => view.toBlob((b) => b && download(`${stem()}-masks.png`, b), 'image/png');
  button('dlMask').onclick = () =>
    selection &&
    void maskPng(selection).then(
      (b) => download(`${stem()}-mask.png`, b),
      (e: Error) => showError(e.message),
    );
  button('dlCutout').onclick = () =>
    selection &&
    void cutoutPng(selection).then(
      (b) => download(`${stem()}-cutout.png`, b),
      (e: Error) => showError(e.message),
    );
  button('dlCoco').onclick = () => {
    const ps: Proposal[] =
      mode === 'click' && selection
        ? [{ ...selection.masks[0]!, rle: selection.rle, bbox: selection.bbox, area: selection.area, score: selection.score }]
        : proposals;
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
  const c = $<HTMLCanvasElement>('curve'),
    g = c.getContext('2d')!;
  g.fillStyle = '#fff';
  g.fillRect(0, 0, c.width, c.height);
  if (pts.length < 2) return;
  const ys = pts.map(([, y]) => y),
    lo = Math.min(...ys),
    hi = Math.max(...ys);
  g.strokeStyle = '#c43';
  g.beginPath();
  pts.forEach(([x, y], i) => {
    const px = 30 + (x / total) * (c.width - 40),
      py = c.height - 20 - ((y - lo) / (hi - lo || 1)) * (c.height - 40);
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
    m,
    maker,
    sampler,
    rng,
    { ...DEFAULT_TRAIN, steps, batch: 16, lrSchedule: [[0, 0.01]], logEvery: 5, validateEvery: 1e9, checkpointEvery: 1e9 },
    {
      onLog: (e) => {
        pts.push([e.step, e.loss]);
        drawCurve(pts, steps);
        trainStatus(
          `step ${e.step}/${steps}  loss ${e.loss.toFixed(4)}  ${e.samplesPerSec.toFixed(1)} windows/s  ${((performance.now() - t0) / 1000).toFixed(0)} s`,
        );
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
  const rgba = drawOverlay(
    toRgba(img),
    img.width,
    img.height,
    top.map((p) => maskOf(p)),
  );
  c.getContext('2d')!.putImageData(new ImageData(new Uint8ClampedArray(rgba), img.width, img.height), 0, 0);
}

/** The trained model's two files, as `deepmask infer --weights DIR` and load() read them. */
async function downloadTrained() {
  if (!trained) return;
  const { weights, config } = await exportModel(trained, {
    training: { where: 'the deepmask-webgpu page', steps: Number($<HTMLInputElement>('steps').value) },
  });
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
  $('adapter').textContent =
    `adapter: ${[a.vendor, a.architecture, a.description].filter(Boolean).join(' / ')}${rt.f16 ? ' (shader-f16)' : ''}${software ? ' — a software adapter: the CPU runs the shaders (registers promoted for SwiftShader)' : ''}`;
  wireInference();
  wireTraining();
  syncButtons();
  // A photo to click on at once (the model downloads at the first click).
  if (!test) return void loadSample($<HTMLSelectElement>('sample').options[1]!.value);
  try {
    // ?test runs tiny on the sample scene; &model=URL&image=URL&proposals=N time other pairs.
    const modelUrl = q.get('model') ?? '/models/tiny-synth/',
      imageUrl = q.get('image') ?? '/assets/scene.png';
    const weights = $<HTMLSelectElement>('weights');
    if (![...weights.options].some((o) => o.value === modelUrl)) weights.add(new Option(modelUrl, modelUrl));
    weights.value = modelUrl;
    await setImage(await fetchBytes(imageUrl), imageUrl.split('/').pop()!);
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
      encodes,
      ...(lastLoad ? { download: { loaded: lastLoad.loaded, ...(lastLoad.total !== undefined ? { total: lastLoad.total } : {}) } } : {}),
    };
  } catch (e) {
    window.__deepmask = { done: true, error: (e as Error).stack ?? String(e) };
  }
}

void main();
