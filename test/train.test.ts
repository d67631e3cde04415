import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Linear, Module, ops, Rng, scope, SGD, Tensor } from '../src/index.js';
import { assertClose } from './lib/check.js';
import { rt } from './lib/gpu.js';

test('SGD follows Torch optim.sgd: weight decay, v = g on the first step, then momentum', async () => {
  for (const momentum of [0, 0.9]) {
    const lr = 0.1,
      wd = 0.01;
    const theta = [0.5, -1, 2, 0.25, 3];
    const p = Tensor.from(theta, [5]);
    p.requiresGrad = true;
    const opt = new SGD([p], { lr, momentum, weightDecay: wd });
    const ref = [...theta];
    const v = [0, 0, 0, 0, 0];
    for (let step = 0; step < 4; step++) {
      const g = theta.map((_, i) => Math.sin(step * 5 + i));
      p.grad = Tensor.from(g, [5]);
      opt.step();
      for (let i = 0; i < 5; i++) {
        let gi = g[i]! + wd * ref[i]!;
        if (momentum !== 0) {
          v[i] = step === 0 ? gi : momentum * v[i]! + gi;
          gi = v[i]!;
        }
        ref[i] = ref[i]! - lr * gi;
      }
      opt.zeroGrad();
    }
    assertClose(await p.read(), ref, `sgd momentum=${momentum}`, 1e-6);
    opt.dispose();
    p.dispose();
  }
});

class MLP extends Module {
  layers: Linear[];
  constructor(rng: Rng) {
    super();
    this.layers = [new Linear(2, 32, { rng, relu: true }), new Linear(32, 32, { rng, relu: true }), new Linear(32, 1, { rng })];
  }
  forward(x: Tensor): Tensor {
    return this.layers.reduce((h, l) => l.forward(h), x);
  }
}

test('a small MLP trains to near-zero loss; memory stays flat across steps', async () => {
  const rng = new Rng(3);
  const N = 128;
  const xs: number[] = [],
    ys: number[] = [];
  for (let i = 0; i < N; i++) {
    const a = rng.uniform(-1, 1),
      b = rng.uniform(-1, 1);
    xs.push(a, b);
    ys.push(a * a + b * b < 0.45 ? 1 : -1);
  }
  const x = Tensor.from(xs, [N, 2]);
  const y = Tensor.from(ys, [N, 1]);
  const w = Tensor.from(new Float32Array(N).fill(1 / N), [N, 1]);
  const model = new MLP(rng);
  assert.is(
    model
      .namedParameters()
      .map(([n]) => n)
      .join(),
    'layers.0.weight,layers.0.bias,layers.1.weight,layers.1.bias,layers.2.weight,layers.2.bias',
  );
  const opt = new SGD(model.parameters(), { lr: 0.3, momentum: 0.9 });
  const losses: number[] = [];
  let baseline = -1;
  const readEvery = 100;
  for (let step = 1; step <= 400; step++) {
    const loss = scope(() => {
      opt.zeroGrad();
      const l = ops.softMarginLoss(model.forward(x), y, w);
      l.backward();
      opt.step();
      return l;
    });
    if (step % readEvery === 0) losses.push(await loss.item()); // the only readback
    loss.dispose();
    if (step === 2) {
      rt.flush(); // the open batch holds its uniform buffer until submitted
      baseline = rt.memory().inUseBytes;
    }
    if (step > 2 && step % readEvery === 0) assert.is(rt.memory().inUseBytes, baseline, `in-use bytes at step ${step}`);
  }
  assert.ok(losses[0]! > losses[losses.length - 1]!, `loss decreases: ${losses.map((l) => l.toFixed(4)).join(' ')}`);
  assert.ok(losses[losses.length - 1]! < 0.01, `final loss ${losses[losses.length - 1]} < 0.01`);
  opt.dispose();
  model.zeroGrad();
  for (const t of [x, y, w, ...model.parameters()]) t.dispose();
});

test.run();
