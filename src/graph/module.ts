// Modules hold named parameters in a stable order: their own fields in declaration order, nested
// modules (and arrays of them) recursively, named with dots as in PyTorch (`layers.0.weight`).
import { half as halfCopy } from './core.js';
import type { Runtime } from '../gpu/runtime.js';
import { Tensor, keep } from './tensor.js';

/** Marks a tensor as a trainable parameter that outlives every scope. */
export function parameter(t: Tensor): Tensor {
  t.requiresGrad = true;
  t.isParameter = true;
  return keep(t);
}

/** A plain object used as a named collection of modules (`{ '0': conv, '3': fire }`). */
const isRecord = (v: unknown): v is Record<string, unknown> => !!v && Object.getPrototypeOf(v) === Object.prototype;

export interface HostTensor {
  shape: number[];
  data: Float32Array;
}

export class Module {
  training = true;

  /** Parameters with their dotted names, in declaration order. */
  namedParameters(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    const visit = (v: unknown, name: string): void => {
      if (v instanceof Tensor) {
        if (v.isParameter) out.push([name, v]);
      } else if (v instanceof Module) {
        out.push(...v.namedParameters(`${name}.`));
      } else if (Array.isArray(v)) {
        v.forEach((x, i) => visit(x, `${name}.${i}`));
      } else if (isRecord(v)) {
        for (const [k, x] of Object.entries(v)) visit(x, `${name}.${k}`);
      }
    };
    for (const [k, v] of Object.entries(this)) visit(v, `${prefix}${k}`);
    return out;
  }

  parameters(): Tensor[] {
    return this.namedParameters().map(([, t]) => t);
  }

  /**
   * Writes each parameter's dotted name into the tensor (`heads.maskOut.weight`), so that errors
   * and optimizer state name it. Called by top-level models once built; returns this.
   */
  nameParameters(): this {
    for (const [name, p] of this.namedParameters()) p.name = name;
    return this;
  }

  /** The runtime that holds the parameters. */
  get rt(): Runtime {
    const p = this.parameters()[0];
    if (!p) throw new Error(`${this.constructor.name} has no parameters, so no runtime`);
    return p.rt;
  }

  /** Frees every parameter and its gradient; the module cannot be used afterwards. */
  dispose(): void {
    for (const p of this.parameters()) {
      p.grad?.dispose();
      p.grad = null;
      p.dispose();
    }
  }

  /** Child modules, recursively, this one first. */
  modules(): Module[] {
    const out: Module[] = [this];
    const visit = (v: unknown): void => {
      if (v instanceof Module) out.push(...v.modules());
      else if (Array.isArray(v)) v.forEach(visit);
      else if (isRecord(v)) Object.values(v).forEach(visit);
    };
    for (const v of Object.values(this)) visit(v);
    return out;
  }

  /** Training mode (dropout active) or evaluation mode. */
  train(on = true): this {
    for (const m of this.modules()) m.training = on;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  zeroGrad(): void {
    for (const p of this.parameters()) {
      p.grad?.dispose();
      p.grad = null;
    }
  }

  /**
   * Inference with f16 weights: every parameter of two or more dimensions becomes an f16 copy
   * (half the memory and weight traffic; conv2d and linear still compute in f32); biases stay f32.
   * The module can no longer be trained or loaded into (it can still be exported).
   */
  half(): this {
    for (const [, p] of this.namedParameters()) {
      if (p.dtype === 'f32' && p.shape.length >= 2) p.replaceStorage(halfCopy(p));
    }
    return this;
  }

  parameterCount(): number {
    return this.parameters().reduce((n, p) => n + p.size, 0);
  }

  /** Reads every parameter back to the host, by name. */
  async exportState(): Promise<Map<string, HostTensor>> {
    const out = new Map<string, HostTensor>();
    for (const [name, p] of this.namedParameters()) out.set(name, { shape: [...p.shape], data: await p.read() });
    return out;
  }

  /**
   * Loads parameters by name. Every parameter must be present with its exact shape unless
   * `partial` is set; extra names are errors either way (they usually mean a wrong file).
   */
  loadState(state: Map<string, HostTensor>, opts: { partial?: boolean; source?: string } = {}): void {
    const where = opts.source ? `${opts.source}: ` : '';
    const params = new Map(this.namedParameters());
    for (const name of state.keys()) {
      if (!params.has(name)) throw new Error(`${where}unexpected tensor '${name}': the model has no such parameter`);
    }
    for (const [name, p] of params) {
      const s = state.get(name);
      if (!s) {
        if (opts.partial) continue;
        throw new Error(`${where}missing tensor '${name}' (expected shape [${p.shape.join(', ')}])`);
      }
      if (s.shape.join() !== p.shape.join()) {
        throw new Error(`${where}tensor '${name}' has shape [${s.shape.join(', ')}], expected [${p.shape.join(', ')}]`);
      }
      if (p.dtype !== 'f32') throw new Error(`${where}tensor '${name}': the model holds it as ${p.dtype} (load weights before half())`);
      p.rt.write(p.view(), s.data);
    }
  }
}
