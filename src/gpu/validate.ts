// The checks every dispatch passes before it is recorded: its bindings against the element counts
// the kernel's sizes() gives for these parameters, the binding limit and alignment, overlaps of a
// written binding, and its parameters against the uniform struct's fields. Each error names the kernel.
import type { Kernel, KernelInfo, Params, UniformField } from './kernel.js';
import type { Dispatch } from './runtime.js';

export function checkBindings<P extends Params>(
  k: Kernel<P>,
  info: KernelInfo,
  d: Dispatch<P>,
  limits: { maxBindingBytes: number; storageAlign: number },
): void {
  const sizes = k.sizes(d.params, d.constants ?? {});
  for (const name of Object.keys(d.bind)) {
    if (!info.storage.some((b) => b.name === name)) {
      throw new Error(`kernel ${k.name}: no storage binding named '${name}' (has ${info.storage.map((b) => b.name).join(', ')})`);
    }
  }
  const shapes = () => JSON.stringify({ ...d.params, ...d.constants });
  for (const b of info.storage) {
    const v = d.bind[b.name];
    if (!v) throw new Error(`kernel ${k.name}: binding '${b.name}' (@binding(${b.binding})) was not given a buffer`);
    const n = sizes[b.name];
    if (n === undefined) throw new Error(`kernel ${k.name}: its sizes() gives no element count for binding '${b.name}'`);
    const need = n * b.elementBytes;
    if (v.size < need) {
      throw new Error(
        `kernel ${k.name}: binding '${b.name}' (@binding(${b.binding}), ${b.typeName}) needs ${need} bytes ` +
          `(${n} elements) for ${shapes()}, but the buffer bound there has ${v.size} bytes`,
      );
    }
    if (v.size > limits.maxBindingBytes) {
      throw new Error(
        `kernel ${k.name}: binding '${b.name}' is ${v.size} bytes, over the ${limits.maxBindingBytes}-byte ` +
          `storage binding limit; the op must split its work`,
      );
    }
    if (v.offset % limits.storageAlign !== 0) {
      throw new Error(`kernel ${k.name}: binding '${b.name}' offset ${v.offset} is not a multiple of ${limits.storageAlign}`);
    }
  }
  // WebGPU forbids a writable binding that overlaps any other binding of the same dispatch.
  for (let i = 0; i < info.storage.length; i++) {
    for (let j = i + 1; j < info.storage.length; j++) {
      const a = info.storage[i]!,
        b = info.storage[j]!;
      if (!a.writable && !b.writable) continue;
      const va = d.bind[a.name]!,
        vb = d.bind[b.name]!;
      if (va.buffer === vb.buffer && va.offset < vb.offset + vb.size && vb.offset < va.offset + va.size) {
        throw new Error(`kernel ${k.name}: bindings '${a.name}' and '${b.name}' overlap in one buffer and one is written`);
      }
    }
  }
}

export function checkParams(k: Kernel<any>, fields: Map<string, UniformField>, params: Params): void {
  for (const name of Object.keys(params)) {
    if (!fields.has(name)) throw new Error(`kernel ${k.name}: parameter '${name}' is not a field of its uniform struct`);
  }
  for (const [name, f] of fields) {
    const v = params[name];
    if (v === undefined) throw new Error(`kernel ${k.name}: missing parameter '${name}'`);
    const ok =
      f.type === 'f32' ? Number.isFinite(v) : Number.isInteger(v) && (f.type === 'u32' ? v >= 0 && v <= 0xffffffff : v >= -0x80000000 && v <= 0x7fffffff);
    if (!ok) throw new Error(`kernel ${k.name}: parameter '${name}' = ${v} is not a valid ${f.type}`);
  }
}
