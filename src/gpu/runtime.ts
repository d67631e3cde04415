// The runtime: one device, one shared command encoder and compute pass for consecutive dispatches,
// submitted in bounded batches and before any readback; pooled buffers; a pipeline cache keyed by
// kernel and override constants only (shapes travel in uniforms); and errors that name the kernel.
import { acquireDevice, type AdapterDescription, type DeviceOptions } from './device.js';
import { BufferPool, Usage, type PoolStats } from './pool.js';
import type { Constants, Kernel, KernelInfo, Params } from './kernel.js';
import { halveToFit, planChunks, subView } from './chunks.js';
import { Profiler } from './profiler.js';
import { promoteRegisters } from './unroll.js';
import { SHADERS_SUBGROUPS } from './shaders.gen.js';
import { checkBindings, checkParams } from './validate.js';
import type { GPUDevice, GPUBuffer } from './global-types.js'; // the globals, as declarations that check without WebGPU types

export interface RuntimeOptions extends DeviceOptions {
  /** Dispatches per queue submit (default 16, as tfjs and ONNX Runtime do). */
  submitEvery?: number;
  /** Engine cap on one storage binding, at most the device's; tests lower it to exercise splitting. */
  maxBindingBytes?: number;
  /** Submit after every dispatch inside an error scope, so a validation error names its exact kernel. */
  debug?: boolean;
  /** Time every dispatch with GPU timestamps (one compute pass each); see Runtime.profile(). */
  profile?: boolean;
  /**
   * Unroll kernels' register tiles into one variable per element before compiling (see unroll.ts).
   * Default: on SwiftShader only, whose compiler keeps small arrays in memory (a GEMM runs 9× faster
   * promoted); LLVM (lavapipe) and GPU drivers do this themselves, and would only compile longer.
   */
  promoteRegisters?: boolean;
  /**
   * Let the lanes of a subgroup share the loads of GEMM operands that all of them read (the `SHARE`
   * override of shaders/include/gemm.wgsl), on devices with subgroups of at least 4 lanes. Default:
   * on for lavapipe, where every storage load is a loop over the SIMD lanes (GEMMs run ~2x faster
   * sharing); off elsewhere until measured (on GPUs a load with one address is already one load).
   */
  shareLoads?: boolean;
  /** Bytes of freed buffers kept for reuse at most (default: the larger of 64 MiB and the peak in use). */
  maxFreeBytes?: number;
}

/** A byte range of a GPU buffer, as bound to a kernel. */
export interface BufferView {
  buffer: GPUBuffer;
  offset: number;
  size: number;
}

export interface Dispatch<P extends Params> {
  params: P;
  bind: Record<string, BufferView>;
  /** WGSL `override` values; each distinct set is its own pipeline. */
  constants?: Constants;
  /** How to split independent items (images, elements) over several dispatches past the binding limit. */
  split?: Split<P>;
}

/**
 * A kernel whose work is independent per item along a leading dimension can be dispatched in
 * chunks when a binding would exceed the storage binding limit: each chunk binds its items' range
 * of the split bindings (aligned offsets) and gets its own parameters.
 */
export interface Split<P extends Params = Params> {
  /** Items along the leading dimension (images, elements, row blocks). */
  items: number;
  /** Bytes per item of each binding indexed by item; other bindings are bound whole. */
  per: Record<string, number>;
  /** Chunks hold a multiple of this many items (e.g. a broadcast operand's period). */
  quantum?: number;
  /** Parameters for the chunk of `n` items starting at item `i0`. */
  chunk(i0: number, n: number): Partial<P>;
}

export class GPUFailure extends Error {
  override name = 'GPUFailure';
}

const UNIFORM_BATCH_BYTES = 64 * 1024;
const MAP_READ = 0x1;

export class Runtime {
  readonly pool: BufferPool;
  readonly limits: {
    maxBindingBytes: number;
    maxBufferSize: number;
    maxWorkgroupsPerDimension: number;
    maxWorkgroupStorage: number;
    maxInvocations: number;
    storageAlign: number;
    uniformAlign: number;
  };
  readonly counters = { dispatches: 0, submits: 0, readbacks: 0, pipelines: 0 };
  /** A small buffer bound where a kernel's optional input (say, a bias) is absent. */
  readonly empty: BufferView;
  submitEvery: number;
  debug: boolean;

  private readonly pipelines = new Map<string, GPUComputePipeline>();
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private dispatchesInBatch = 0;
  /** Buffers that commands recorded since the last submit use: a write to one must submit first. */
  private readonly recorded = new Set<GPUBuffer>();
  private readonly uniformStaging = new ArrayBuffer(UNIFORM_BATCH_BYTES);
  private readonly uniformView = new DataView(this.uniformStaging);
  private uniformUsed = 0;
  private uniformBuffer: GPUBuffer | null = null;
  private failure: Error | null = null;
  private destroyed = false;
  private readonly lostSignal: Promise<never>;
  private readonly profiler: Profiler | null;

  private constructor(
    readonly device: GPUDevice,
    readonly adapter: AdapterDescription,
    readonly f16: boolean,
    opts: RuntimeOptions,
    timestamps: boolean,
    subgroupMinSize: number,
  ) {
    const L = device.limits;
    this.limits = {
      maxBindingBytes: Math.min(L.maxStorageBufferBindingSize, opts.maxBindingBytes ?? Infinity),
      maxBufferSize: L.maxBufferSize,
      maxWorkgroupsPerDimension: L.maxComputeWorkgroupsPerDimension,
      maxWorkgroupStorage: L.maxComputeWorkgroupStorageSize,
      maxInvocations: L.maxComputeInvocationsPerWorkgroup,
      storageAlign: L.minStorageBufferOffsetAlignment,
      uniformAlign: L.minUniformBufferOffsetAlignment,
    };
    this.submitEvery = opts.submitEvery ?? 16;
    this.debug = opts.debug ?? false;
    this.promoteRegisters = opts.promoteRegisters ?? adapter.slug.startsWith('swiftshader');
    const share = (opts.shareLoads ?? adapter.slug === 'llvmpipe') && subgroupMinSize >= 4;
    this.shareLanes = share ? subgroupMinSize : 0;
    this.pool = new BufferPool(device, L.maxBufferSize, opts.maxFreeBytes);
    this.empty = { buffer: device.createBuffer({ label: 'empty', size: 256, usage: Usage.STORAGE | Usage.COPY_DST }), offset: 0, size: 256 };
    device.onuncapturederror = (ev: GPUUncapturedErrorEvent) => {
      this.fail(new GPUFailure(`WebGPU ${ev.error.constructor.name}: ${ev.error.message}`));
    };
    this.lostSignal = device.lost.then((info) => {
      const err = new GPUFailure(`GPU device lost (${info.reason}): ${info.message || 'no message'}`);
      if (!this.destroyed) this.fail(err);
      throw err;
    });
    this.lostSignal.catch(() => {}); // observed by readbacks that race it
    if (opts.profile && !timestamps) throw new GPUFailure('profiling needs the timestamp-query feature, which this adapter lacks');
    this.profiler = opts.profile ? new Profiler(device, this.pool) : null;
  }

  static async create(opts: RuntimeOptions = {}): Promise<Runtime> {
    const { device, adapter, f16, timestamps, subgroupMinSize } = await acquireDevice({ ...opts, timestamps: !!opts.profile });
    return new Runtime(device, adapter, f16, opts, timestamps, subgroupMinSize);
  }

  /** GPU time per kernel since the last call, slowest first (runtimes created with `profile: true`). */
  async profile(): Promise<{ kernel: string; ms: number; dispatches: number }[]> {
    if (!this.profiler) throw new Error('create the runtime with { profile: true } to profile');
    this.flush();
    return this.profiler.report();
  }

  // ---- buffers -------------------------------------------------------------------------------

  /** A storage buffer of at least `bytes` from the pool. */
  alloc(bytes: number, label?: string): GPUBuffer {
    this.check();
    return this.pool.acquire('storage', Math.max(bytes, 4), label);
  }

  /** Returns a buffer to the pool; it is reused only after the commands recorded so far are submitted. */
  free(buffer: GPUBuffer): void {
    this.pool.release(buffer, this.encoder !== null);
  }

  memory(): PoolStats {
    return this.pool.snapshot();
  }

  /**
   * Writes host data, ordered after every command recorded so far. queue.writeBuffer overtakes
   * commands not yet submitted, so a buffer they use is submitted first; a buffer they do not use
   * (a new tensor's) is written at once and the batch goes on.
   */
  write(view: BufferView, data: ArrayBufferView): void {
    this.check();
    if (this.encoder && this.recorded.has(view.buffer)) this.flush();
    this.device.queue.writeBuffer(view.buffer, view.offset, data.buffer, data.byteOffset, data.byteLength);
  }

  /** Zero-fills a range (recorded in order with dispatches). */
  clear(view: BufferView): void {
    this.check();
    this.recorded.add(view.buffer);
    this.endPass().clearBuffer(view.buffer, view.offset, align4(view.size));
  }

  copy(src: BufferView, dst: BufferView, bytes: number): void {
    this.check();
    this.recorded.add(src.buffer).add(dst.buffer);
    this.endPass().copyBufferToBuffer(src.buffer, src.offset, dst.buffer, dst.offset, align4(bytes));
  }

  /** Reads a range back: submits what is pending, then maps a staging copy. */
  async read(view: BufferView, bytes = view.size): Promise<ArrayBuffer> {
    this.check();
    const size = align4(bytes);
    const staging = this.pool.acquire('readback', size, 'readback');
    this.endPass().copyBufferToBuffer(view.buffer, view.offset, staging, 0, size);
    this.flush();
    this.counters.readbacks++;
    try {
      await Promise.race([staging.mapAsync(MAP_READ, 0, size), this.lostSignal]);
      const out = staging.getMappedRange(0, size).slice(0, bytes);
      staging.unmap();
      this.check();
      return out;
    } finally {
      this.pool.release(staging, false);
    }
  }

  /** Waits until the GPU has finished everything submitted so far. */
  async sync(): Promise<void> {
    this.flush();
    await Promise.race([this.device.queue.onSubmittedWorkDone(), this.lostSignal]);
    this.check();
  }

  // ---- dispatch -------------------------------------------------------------------------------

  /** Records one dispatch of `k` (or several, see Split), after checking its bindings against the shapes in `params`. */
  run<P extends Params>(k: Kernel<P>, d: Dispatch<P>): void {
    this.check();
    if (d.split && this.needsSplit(d)) {
      this.runSplit(k, d);
      return;
    }
    const info = k.info();
    const workgroups = k.workgroups(d.params, d.constants ?? {});
    checkBindings(k, info, d, this.limits);
    if (info.uniform) checkParams(k, info.uniform.fields, d.params);
    if (workgroups <= 0) return;

    const pipeline = this.pipeline(k, info, d.constants);
    const entries: GPUBindGroupEntry[] = [];
    if (info.uniform) {
      const offset = this.packUniforms(info, d.params);
      entries.push({ binding: info.uniform.binding, resource: { buffer: this.uniformBuffer!, offset, size: info.uniform.size } });
    }
    for (const b of info.storage) {
      const v = d.bind[b.name]!;
      entries.push({ binding: b.binding, resource: { buffer: v.buffer, offset: v.offset, size: align4(v.size) } });
      this.recorded.add(v.buffer);
    }
    if (this.debug) this.device.pushErrorScope('validation');
    const group = this.device.createBindGroup({ label: k.name, layout: pipeline.getBindGroupLayout(0), entries });
    if (this.profiler) {
      this.endPass();
      this.pass = this.encoder!.beginComputePass({ timestampWrites: this.profiler.next(`${k.name} ${JSON.stringify(d.params).slice(0, 60)}`) });
    }
    const pass = this.beginPass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, group);
    const [x, y, z] = this.fold(workgroups);
    pass.dispatchWorkgroups(x, y, z);
    if (this.profiler) this.endPass();
    this.counters.dispatches++;
    this.dispatchesInBatch++;
    if (this.debug) {
      this.flush();
      void this.device.popErrorScope().then((e) => e && this.fail(new GPUFailure(`kernel ${k.name}: ${e.message}`)));
    } else if (this.dispatchesInBatch >= this.submitEvery) {
      this.flush();
    }
  }

  private needsSplit<P extends Params>(d: Dispatch<P>): boolean {
    return Object.values(d.split!.per).some((per) => per * d.split!.items > this.limits.maxBindingBytes);
  }

  private runSplit<P extends Params>(k: Kernel<P>, d: Dispatch<P>): void {
    const split = d.split!;
    const per = Object.entries(split.per);
    const chunk = planChunks(
      `kernel ${k.name}`,
      split.items,
      per.map(([, b]) => b),
      this.limits,
      split.quantum,
    );
    for (let i0 = 0; i0 < split.items; i0 += chunk) {
      const n = Math.min(chunk, split.items - i0);
      const params = { ...d.params, ...split.chunk(i0, n) };
      const bind = { ...d.bind };
      for (const [name, b] of per) bind[name] = this.subView(d.bind[name]!, i0 * b, n * b).view;
      this.run(k, { params, bind, ...(d.constants ? { constants: d.constants } : {}) });
    }
  }

  /**
   * Bytes [start, start + bytes) of a view as a binding: offset aligned down to the device's storage
   * alignment, size clamped to the buffer; `skip` bytes of it come before the wanted range.
   */
  subView(v: BufferView, start: number, bytes: number): { view: BufferView; skip: number } {
    return subView(v, start, bytes, this.limits.storageAlign);
  }

  /** Whether `bytes` fit one storage binding. */
  fits(bytes: number): boolean {
    return bytes <= this.limits.maxBindingBytes;
  }

  /** The largest size from `n` down, halving, whose `bytes(size)` fit one binding; 0 when none does. */
  largestFitting(n: number, bytes: (size: number) => number): number {
    return halveToFit(n, bytes, this.limits.maxBindingBytes);
  }

  /**
   * A temporary storage view of `bytes` for a launcher's intermediate results (partial sums,
   * transposed weights), freed when `fn` returns; it is reused only after the work that uses it is submitted.
   */
  scratch<T>(bytes: number, label: string, fn: (view: BufferView) => T): T {
    const buffer = this.alloc(bytes, label);
    try {
      return fn({ buffer, offset: 0, size: bytes });
    } finally {
      this.free(buffer);
    }
  }

  /**
   * Records everything `fn` dispatches into one submission (a training step), then submits it;
   * reads inside `fn` still submit first. Nested calls join the outer batch.
   */
  batched<T>(fn: () => T): T {
    const every = this.submitEvery;
    this.submitEvery = Infinity;
    try {
      return fn();
    } finally {
      this.submitEvery = every;
      if (every !== Infinity) this.flush();
    }
  }

  /** Submits everything recorded so far. */
  flush(): void {
    if (!this.encoder) return;
    if (this.pass) this.pass.end();
    this.pass = null;
    this.profiler?.resolve(this.encoder);
    if (this.uniformBuffer) this.device.queue.writeBuffer(this.uniformBuffer, 0, this.uniformStaging, 0, this.uniformUsed);
    this.device.queue.submit([this.encoder.finish()]);
    this.profiler?.submitted();
    this.counters.submits++;
    this.encoder = null;
    this.recorded.clear();
    this.dispatchesInBatch = 0;
    if (this.uniformBuffer) this.pool.release(this.uniformBuffer, false);
    this.uniformBuffer = null;
    this.uniformUsed = 0;
    this.pool.submitted();
  }

  /** Submits pending work and destroys the device; Node can exit afterwards. */
  destroy(): void {
    if (this.destroyed) return;
    try {
      this.flush();
    } finally {
      this.destroyed = true;
      this.pool.trim();
      this.device.destroy();
    }
  }

  /** Throws the first asynchronous GPU error or device loss seen so far. */
  check(): void {
    if (this.failure) throw this.failure;
    if (this.destroyed) throw new GPUFailure('runtime used after destroy()');
  }

  // ---- internals ------------------------------------------------------------------------------

  private fail(err: Error): void {
    this.failure ??= err;
  }

  private beginPass(): GPUComputePassEncoder {
    this.encoder ??= this.device.createCommandEncoder();
    this.pass ??= this.encoder.beginComputePass();
    return this.pass;
  }

  private endPass(): GPUCommandEncoder {
    this.encoder ??= this.device.createCommandEncoder();
    if (this.pass) this.pass.end();
    this.pass = null;
    return this.encoder;
  }

  /** Folds a 1-D workgroup count over x, y, z when it exceeds the per-dimension limit. */
  private fold(n: number): [number, number, number] {
    const m = this.limits.maxWorkgroupsPerDimension;
    if (n <= m) return [n, 1, 1];
    const z = Math.ceil(n / (m * m));
    const rest = Math.ceil(n / z);
    const y = Math.ceil(rest / m);
    return [Math.ceil(rest / y), y, z];
  }

  /** Whether kernels compile with their register tiles promoted (RuntimeOptions.promoteRegisters). */
  readonly promoteRegisters: boolean;
  private readonly promotedCode = new Map<string, string>();

  /** Lanes that share GEMM loads (RuntimeOptions.shareLoads): the subgroup size, or 0 when not sharing. */
  readonly shareLanes: number;

  /** Whether dispatches of this family compile its subgroup twin and share loads (RuntimeOptions.shareLoads). */
  private shares(shader: string, info: KernelInfo): boolean {
    return this.shareLanes > 0 && info.overrides.has('SHARE') && SHADERS_SUBGROUPS[shader] !== undefined;
  }

  /**
   * The WGSL to compile for a shader family: as written, or with its register tiles promoted, or,
   * where it shares loads, its subgroup twin, always promoted: the twins' K loops take two k per
   * trip, which keeps the tile in registers on lavapipe only once promoted (unpromoted they ran 2x
   * slower than one k per trip; promoted, 10-25% faster).
   */
  private code(shader: string, info: KernelInfo, share: boolean): string {
    if (share) return this.promoted(`${shader}+subgroups`, SHADERS_SUBGROUPS[shader]!);
    return this.promoteRegisters ? this.promoted(shader, info.code) : info.code;
  }

  /** `code` with its register tiles promoted, cached by `key`. */
  private promoted(key: string, code: string): string {
    let c = this.promotedCode.get(key);
    if (c === undefined) this.promotedCode.set(key, (c = promoteRegisters(code)));
    return c;
  }

  private pipeline(k: Kernel<any>, info: KernelInfo, constants: Constants = {}): GPUComputePipeline {
    for (const name of Object.keys(constants)) {
      if (!info.overrides.has(name)) throw new Error(`kernel ${k.name}: shaders/${k.shader}.wgsl declares no override '${name}'`);
    }
    const share = this.shares(k.shader, info);
    if (share) constants = { ...constants, SHARE: this.shareLanes };
    const names = Object.keys(constants).sort();
    const key = `${k.name}|${names.map((n) => `${n}=${Number(constants[n])}`).join(',')}`;
    let p = this.pipelines.get(key);
    if (!p) {
      this.device.pushErrorScope('validation');
      const module = this.device.createShaderModule({ label: k.shader, code: this.code(k.shader, info, share) });
      const values: Record<string, number> = {};
      for (const n of names) values[n] = Number(constants[n]);
      p = this.device.createComputePipeline({ label: key, layout: 'auto', compute: { module, entryPoint: k.entry, constants: values } });
      void this.device.popErrorScope().then(async (e) => {
        if (!e) return;
        const msgs = (await module.getCompilationInfo()).messages.map((m) => `  line ${m.lineNum}: ${m.message}`);
        this.fail(new GPUFailure(`kernel ${k.name} failed to compile: ${e.message}\n${msgs.join('\n')}`));
      });
      this.pipelines.set(key, p);
      this.counters.pipelines++;
    }
    return p;
  }

  /** Packs the dispatch's (checked) uniforms into this batch's uniform buffer; returns their byte offset. */
  private packUniforms(info: KernelInfo, params: Params): number {
    const u = info.uniform!;
    const slot = Math.ceil(u.size / this.limits.uniformAlign) * this.limits.uniformAlign;
    if (this.uniformUsed + slot > UNIFORM_BATCH_BYTES) this.flush();
    this.uniformBuffer ??= this.pool.acquire('uniform', UNIFORM_BATCH_BYTES, 'uniforms');
    this.beginPass(); // the batch's encoder must exist before its uniform buffer is referenced
    const base = this.uniformUsed;
    for (const [name, f] of u.fields) {
      const v = params[name]!;
      if (f.type === 'f32') this.uniformView.setFloat32(base + f.offset, v, true);
      else if (f.type === 'u32') this.uniformView.setUint32(base + f.offset, v, true);
      else this.uniformView.setInt32(base + f.offset, v, true);
    }
    this.uniformUsed += slot;
    return base;
  }
}

const align4 = (n: number): number => Math.ceil(n / 4) * 4;
