// Reverse-mode autodiff in micrograd's shape, at tensor level: every op records one Node with a
// backward closure; backward() visits the graph once in reverse topological order and accumulates.
import { accumulate, fill, map, MapOp } from '../kernels/elementwise.js';
import { keep, scope, Tensor } from './tensor.js';

export interface Node {
  op: string;
  inputs: readonly Tensor[];
  /**
   * Gradients of the inputs given the output's gradient `g`, exactly one per input (null where none
   * flows). It runs in a scope: temporaries it creates are freed, and the engine owns what it
   * returns (new tensors or `g` itself).
   */
  backward(g: Tensor): readonly (Tensor | null)[];
  /** Op-private tensors kept for backward (argmax indices, dropout masks): freed after it runs. */
  saved?: readonly Tensor[];
}

let gradEnabled = true;

export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Runs `fn` with graph recording off. */
export function withoutGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

/** Inference: no graph is recorded and every tensor `fn` creates is freed except its result. */
export function noGrad<T>(fn: () => T): T {
  return scope(() => withoutGrad(fn));
}

/** Attaches a backward node to `out` when grad is on and some input requires it; returns `out`. */
export function record(out: Tensor, op: string, inputs: readonly Tensor[], backward: Node['backward'], saved?: readonly Tensor[]): Tensor {
  if (gradEnabled && inputs.some((t) => t.requiresGrad)) {
    const f16 = inputs.find((t) => t.dtype === 'f16');
    if (f16) throw new Error(`${op}: ${f16.name || 'an input'} is f16, which has no gradients; f16 weights are for inference (run under noGrad())`);
    out.requiresGrad = true;
    out.node = saved ? { op, inputs, backward, saved } : { op, inputs, backward };
  } else if (saved) {
    for (const s of saved) s.dispose();
  }
  return out;
}

export function filled(like: Tensor, value: number): Tensor {
  const t = Tensor.empty(like.shape, { rt: like.rt });
  fill(t.rt, t.view(), t.size, value);
  return t;
}

function copyOf(t: Tensor): Tensor {
  const c = Tensor.empty(t.shape, { rt: t.rt });
  t.rt.copy(t.view(), c.view(), t.bytes);
  return c;
}

function sum2(a: Tensor, b: Tensor): Tensor {
  const out = Tensor.empty(a.shape, { rt: a.rt });
  map(a.rt, { op: MapOp.ADD, out: out.view(), n: a.size, a: a.view(), b: b.view(), alpha: 1, beta: 1 });
  return out;
}

function topoOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const seen = new Set<Tensor>();
  const stack: [Tensor, boolean][] = [[root, false]];
  while (stack.length) {
    const [t, expanded] = stack.pop()!;
    if (expanded) {
      order.push(t);
      continue;
    }
    if (seen.has(t)) continue;
    seen.add(t);
    stack.push([t, true]);
    for (const i of t.node?.inputs ?? []) if (i.requiresGrad && !seen.has(i)) stack.push([i, false]);
  }
  return order; // inputs before the tensors computed from them
}

export function backward(root: Tensor, seed?: Tensor): void {
  if (!root.requiresGrad) throw new Error('backward(): nothing in this graph requires grad');
  if (!seed && root.size !== 1) throw new Error(`backward() without a gradient needs a one-element tensor, got [${root.shape.join(', ')}]`);
  if (seed && seed.size !== root.size) throw new Error(`backward(): gradient has ${seed.size} elements, tensor has ${root.size}`);
  const order = topoOrder(root);
  const grads = new Map<Tensor, Tensor>();
  withoutGrad(() => {
    grads.set(root, seed ? seed.alias(root.shape) : filled(root, 1));
    for (let i = order.length - 1; i >= 0; i--) {
      const t = order[i]!;
      const g = grads.get(t);
      if (!g) continue;
      grads.delete(t);
      const node = t.node;
      if (!node) {
        toLeaf(t, g);
        continue;
      }
      const gs = scope(() => node.backward(g));
      if (gs.length !== node.inputs.length) {
        for (const gi of gs) if (gi && gi !== g) gi.dispose();
        throw new Error(`backward of ${node.op}: returned ${gs.length} gradients for ${node.inputs.length} inputs`);
      }
      node.inputs.forEach((input, j) => {
        let gi = gs[j];
        if (!gi) return;
        if (gi === g) gi = g.alias(input.shape);
        if (!input.requiresGrad) return gi.dispose();
        if (gi.size !== input.size)
          throw new Error(
            `backward of ${node.op}: gradient for input ${j}${input.name ? ` (${input.name})` : ''} has ${gi.size} elements, input has ${input.size}`,
          );
        const prev = grads.get(input);
        if (!prev) return void grads.set(input, gi);
        grads.set(input, sum2(prev, gi));
        prev.dispose();
        gi.dispose();
      });
      g.dispose();
      for (const s of node.saved ?? []) s.dispose();
      t.node = null; // the graph is consumed, as in PyTorch without retain_graph
    }
  });
}

/** Accumulates into a leaf's .grad, which outlives every scope and never shares storage. */
function toLeaf(t: Tensor, g: Tensor): void {
  if (t.grad && !t.grad.disposed) {
    accumulate(t.rt, t.grad.view(), t.size, g.view());
    g.dispose();
    return;
  }
  let own = g.exclusive ? g : copyOf(g);
  if (own !== g) g.dispose();
  if (own.shape.join() !== t.shape.join()) {
    const reshaped = own.alias(t.shape);
    own.dispose();
    own = reshaped;
  }
  t.grad = keep(own);
}
