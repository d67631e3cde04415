// Tensors: a shape and GPU storage (f32; f16 packed two per word for inference weights; u32/i32
// for auxiliary data such as argmax indices).
// Storage is pooled and reference-counted so reshapes share it. Lifetimes are explicit: dispose(),
// or a scope() that disposes everything created inside it except what it returns or keep()s.
import type { BufferView, Runtime } from '../gpu/runtime.js';
import { backward, type Node } from './autograd.js';
import { packHalves, unpackHalves } from './half.js';

export type DType = 'f32' | 'f16' | 'u32' | 'i32';
/** The device a tensor lives on, as upper layers (model, inference) name it without reaching into gpu/. */
export type { Runtime };

export const bytesOf = (dtype: DType, n: number): number => (dtype === 'f16' ? Math.ceil(n / 2) * 4 : n * 4);

/** Reference-counted pooled GPU memory shared by a tensor and its reshaped aliases. */
class Storage {
  refs = 1;
  constructor(
    readonly rt: Runtime,
    readonly buffer: GPUBuffer,
    readonly bytes: number,
  ) {}
  release(): void {
    if (--this.refs === 0) this.rt.free(this.buffer);
  }
}

let defaultRuntime: Runtime | null = null;

/** Sets the runtime that tensor constructors use when none is given. */
export function setRuntime(rt: Runtime | null): void {
  defaultRuntime = rt;
}

export function getRuntime(): Runtime {
  if (!defaultRuntime) throw new Error('no runtime: call `await init()` (or setRuntime) before creating tensors');
  return defaultRuntime;
}

// ---- scopes ------------------------------------------------------------------------------------

const scopes: Set<Tensor>[] = [];

function collect(v: unknown, into: Set<Tensor>): void {
  if (v instanceof Tensor) into.add(v);
  else if (Array.isArray(v)) for (const x of v) collect(x, into);
  else if (v && typeof v === 'object') for (const x of Object.values(v)) collect(x, into);
}

/**
 * Whether a tensor of this shape and dtype fits one storage binding of `rt` (128 MiB on most
 * devices). Work past it goes in pieces (stripRows, sliceRows); above the graph, sizes are asked
 * this way, by shape, never in bytes.
 */
export function fits(shape: readonly number[], dtype: DType = 'f32', rt: Runtime = getRuntime()): boolean {
  return rt.fits(bytesOf(dtype, numel(shape)));
}

/** Waits until the GPU has finished the work recorded so far (stage timings; not needed for reads). */
export async function settled(rt: Runtime = getRuntime()): Promise<void> {
  await rt.sync();
}

/**
 * Runs `fn` and disposes every tensor created inside it, except those in its result (moved to the
 * enclosing scope) and those passed to keep(). `fn` must be synchronous: no readbacks inside.
 */
export function scope<T>(fn: () => T): T {
  const mine = new Set<Tensor>();
  scopes.push(mine);
  let result: T;
  try {
    result = fn();
  } finally {
    scopes.pop();
  }
  const survivors = new Set<Tensor>();
  collect(result, survivors);
  const outer = scopes[scopes.length - 1];
  for (const t of mine) {
    if (survivors.has(t)) outer?.add(t);
    else t.dispose();
  }
  return result;
}

/** Exempts tensors from every enclosing scope (parameters, optimizer state, leaf gradients). */
export function keep<T extends Tensor>(t: T): T {
  for (const s of scopes) s.delete(t);
  return t;
}

// ---- tensor ------------------------------------------------------------------------------------

/** A shape as errors print it: [2, 3, 4]. */
export const shapeStr = (s: readonly number[]): string => `[${s.join(', ')}]`;
export const numel = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

export class Tensor {
  readonly shape: readonly number[];
  readonly size: number;
  /** Set by ops when any input requires grad; null for leaves and results computed without grad. */
  node: Node | null = null;
  grad: Tensor | null = null;
  requiresGrad = false;
  /** Marks module parameters (see Module.parameters()). */
  isParameter = false;
  name = '';
  private storage: Storage | null;

  private constructor(
    readonly rt: Runtime,
    shape: readonly number[],
    private precision: DType,
    storage: Storage,
  ) {
    for (const d of shape) if (!Number.isInteger(d) || d < 0) throw new Error(`invalid shape [${shape.join(', ')}]`);
    this.shape = Object.freeze([...shape]);
    this.size = numel(shape);
    this.storage = storage;
    scopes[scopes.length - 1]?.add(this);
  }

  /** Uninitialised storage for `shape`. */
  static empty(shape: readonly number[], opts: { rt?: Runtime; dtype?: DType; label?: string } = {}): Tensor {
    const rt = opts.rt ?? getRuntime();
    const dtype = opts.dtype ?? 'f32';
    const bytes = Math.max(4, bytesOf(dtype, numel(shape)));
    return new Tensor(rt, shape, dtype, new Storage(rt, rt.alloc(bytes, opts.label), bytes));
  }

  /** Uploads host data. */
  static from(data: ArrayLike<number>, shape: readonly number[], opts: { rt?: Runtime; dtype?: DType } = {}): Tensor {
    const dtype = opts.dtype ?? 'f32';
    if (data.length !== numel(shape)) throw new Error(`data has ${data.length} values but shape [${shape.join(', ')}] needs ${numel(shape)}`);
    const t = Tensor.empty(shape, { ...opts, dtype });
    const arr =
      dtype === 'f32' ? Float32Array.from(data) : dtype === 'f16' ? packHalves(data) : dtype === 'u32' ? Uint32Array.from(data) : Int32Array.from(data);
    if (arr.length > 0) t.rt.write(t.binding(), arr);
    return t;
  }

  get dtype(): DType {
    return this.precision;
  }

  get disposed(): boolean {
    return this.storage === null;
  }

  get bytes(): number {
    return bytesOf(this.dtype, this.size);
  }

  /**
   * The tensor's bytes as a kernel binding (rounded up to 16 bytes; pooled buffers have room).
   * Kernels read f32 (or integer) elements: an f16 tensor is refused here and bound with halfView()
   * by the few ops that read packed halves.
   */
  view(): BufferView {
    if (this.dtype === 'f16')
      throw new Error(`${this.name || 'tensor'} [${this.shape.join(', ')}] is f16: only conv2d and linear take f16 weights, for inference (no gradients)`);
    return this.binding();
  }

  /** The packed halves of an f16 tensor as a kernel binding. */
  halfView(): BufferView {
    if (this.dtype !== 'f16') throw new Error(`halfView() is for f16 tensors; this one is ${this.dtype}`);
    return this.binding();
  }

  private binding(): BufferView {
    const s = this.live();
    return { buffer: s.buffer, offset: 0, size: Math.min(s.buffer.size, Math.max(16, Math.ceil(this.bytes / 16) * 16)) };
  }

  /** A tensor of another shape over the same storage (no copy). */
  alias(shape: readonly number[] = this.shape): Tensor {
    if (numel(shape) !== this.size) throw new Error(`cannot view [${this.shape.join(', ')}] as [${shape.join(', ')}]`);
    const s = this.live();
    s.refs++;
    return new Tensor(this.rt, shape, this.dtype, s);
  }

  /**
   * Takes over the storage and dtype of `src` (same shape), which is disposed: a parameter changes
   * precision in place (half()) and keeps its identity, name and module field.
   */
  replaceStorage(src: Tensor): void {
    if (src.shape.join() !== this.shape.join())
      throw new Error(`replaceStorage: [${src.shape.join(', ')}] does not match ${this.name || 'tensor'} [${this.shape.join(', ')}]`);
    const s = src.live();
    s.refs++;
    src.dispose();
    this.live().release();
    this.storage = s;
    this.precision = src.precision;
    this.grad?.dispose();
    this.grad = null;
  }

  /** Shares storage when this tensor's storage has no other user. */
  get exclusive(): boolean {
    return this.live().refs === 1;
  }

  async read(): Promise<Float32Array> {
    if (this.dtype !== 'f32' && this.dtype !== 'f16') throw new Error(`read() is for float tensors; this one is ${this.dtype} (use readInts())`);
    if (this.size === 0) return new Float32Array(0);
    const bytes = await this.rt.read(this.binding(), this.bytes);
    return this.dtype === 'f16' ? unpackHalves(new Uint32Array(bytes), this.size) : new Float32Array(bytes);
  }

  async readInts(): Promise<Uint32Array | Int32Array> {
    if (this.dtype === 'f32' || this.dtype === 'f16') throw new Error(`readInts() is for u32 and i32 tensors; this one is ${this.dtype} (use read())`);
    const buf = await this.rt.read(this.view(), this.bytes);
    return this.dtype === 'i32' ? new Int32Array(buf) : new Uint32Array(buf);
  }

  /** Reads a one-element tensor as a number. */
  async item(): Promise<number> {
    if (this.size !== 1) throw new Error(`item() needs one element, this tensor has ${this.size}`);
    return (await this.read())[0]!;
  }

  /** Releases the storage (shared storage is freed with its last user); idempotent. */
  dispose(): void {
    if (!this.storage) return;
    this.storage.release();
    this.storage = null;
    this.node = null;
    for (const s of scopes) s.delete(this);
  }

  /** Backpropagates from this tensor (a one-element loss unless `grad` is given) into every leaf's `.grad`. */
  backward(grad?: Tensor): void {
    backward(this, grad);
  }

  /** The same storage, cut from the graph. */
  detach(): Tensor {
    return this.alias();
  }

  toString(): string {
    return `Tensor[${this.shape.join(', ')}]${this.dtype === 'f32' ? '' : ` ${this.dtype}`}${this.requiresGrad ? ' grad' : ''}`;
  }

  private live(): Storage {
    if (!this.storage) throw new Error(`${this.name || 'tensor'} [${this.shape.join(', ')}] used after dispose()`);
    return this.storage;
  }
}
