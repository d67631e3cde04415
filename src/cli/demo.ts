// The engine demo: trains a small MLP on the GPU to separate two interleaved spirals and draws its
// decision regions as a PNG. It exercises the whole engine: kernels, autograd, SGD, scopes.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { init, Linear, Module, noGrad, ops, Rng, scope, SGD, Tensor } from '../index.js';
import { encodePng } from '../data/png.js';
import { intOption, parse, str } from './args.js';
import { Progress } from './progress.js';
import type { Command } from './main.js';

const usage = `Usage: deepmask demo [--out DIR] [--steps N]

  --out DIR    where to write decision.png (default runs/demo)
  --steps N    training steps (default 1500)`;

class MLP extends Module {
  layers: Linear[];
  constructor(rng: Rng) {
    super();
    this.layers = [new Linear(2, 64, { rng, relu: true }), new Linear(64, 64, { rng, relu: true }), new Linear(64, 1, { rng })];
  }
  forward(x: Tensor): Tensor {
    return this.layers.reduce((h, l) => l.forward(h), x);
  }
}

function spirals(n: number, rng: Rng): { xs: number[]; ys: number[] } {
  const xs: number[] = [], ys: number[] = [];
  for (let i = 0; i < n; i++) {
    const cls = i % 2, t = rng.uniform(0.25, 1) * 3 * Math.PI, r = t / (3 * Math.PI);
    const a = t + cls * Math.PI;
    xs.push(r * Math.cos(a) + rng.normal() * 0.02, r * Math.sin(a) + rng.normal() * 0.02);
    ys.push(cls ? 1 : -1);
  }
  return { xs, ys };
}

export const demoCommand: Command = {
  summary: 'train a small network on the GPU and draw what it learned',
  usage,
  async run(argv) {
    const { values } = parse(argv, { out: { type: 'string' }, steps: { type: 'string' } }, usage);
    const out = str(values.out) ?? 'runs/demo';
    const steps = intOption(values.steps, 'steps', 1500);
    const rt = await init();
    console.log(`adapter: ${rt.adapter.description}`);
    const rng = new Rng(1);
    const N = 512;
    const data = spirals(N, rng);
    const x = Tensor.from(data.xs, [N, 2]), y = Tensor.from(data.ys, [N, 1]);
    const w = Tensor.from(new Float32Array(N).fill(1 / N), [N, 1]);
    const model = new MLP(rng);
    const opt = new SGD(model.parameters(), { lr: 0.2, momentum: 0.9 });
    const progress = new Progress(steps);
    let loss = NaN;
    for (let step = 1; step <= steps; step++) {
      const l = scope(() => {
        opt.zeroGrad();
        const l = ops.softMarginLoss(model.forward(x), y, w);
        l.backward();
        opt.step();
        return l;
      });
      if (step % 100 === 0 || step === steps) {
        loss = await l.item();
        progress.update(step, step * N, { loss });
      }
      l.dispose();
    }
    progress.done();

    // Decision regions on a 256x256 grid, with the training points on top.
    const S = 256;
    const grid: number[] = [];
    for (let r = 0; r < S; r++) for (let c = 0; c < S; c++) grid.push((c / (S - 1)) * 2.4 - 1.2, 1.2 - (r / (S - 1)) * 2.4);
    const logits = noGrad(() => model.forward(Tensor.from(grid, [S * S, 2])));
    const z = await logits.read();
    const rgba = new Uint8Array(S * S * 4);
    for (let i = 0; i < S * S; i++) {
      const p = 1 / (1 + Math.exp(-z[i]!));
      rgba.set([Math.round(240 - 140 * p), Math.round(200 - 40 * Math.abs(p - 0.5)), Math.round(100 + 140 * p), 255], i * 4);
    }
    let correct = 0;
    const train = await noGrad(() => model.forward(x)).read();
    for (let i = 0; i < N; i++) {
      if (Math.sign(train[i]!) === data.ys[i]) correct++;
      const c = Math.round(((data.xs[2 * i]! + 1.2) / 2.4) * (S - 1)), r = Math.round(((1.2 - data.xs[2 * i + 1]!) / 2.4) * (S - 1));
      for (const [dr, dc] of [[0, 0], [0, 1], [1, 0], [1, 1]] as const) {
        const rr = r + dr, cc = c + dc;
        if (rr >= 0 && rr < S && cc >= 0 && cc < S) rgba.set(data.ys[i]! > 0 ? [20, 40, 160, 255] : [180, 40, 20, 255], (rr * S + cc) * 4);
      }
    }
    mkdirSync(out, { recursive: true });
    const file = join(out, 'decision.png');
    writeFileSync(file, encodePng(rgba, S, S));
    console.log(`final loss ${loss.toFixed(4)}, training accuracy ${((100 * correct) / N).toFixed(1)}%`);
    console.log(`wrote ${file}`);
    rt.destroy();
  },
};
