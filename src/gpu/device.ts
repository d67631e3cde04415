// One entry point for a WebGPU device in Node (Dawn) or the browser (navigator.gpu).
import { browserNoWebGPUMessage, NoAdapterError, nodeNoAdapterMessage } from './no-adapter.js';
import type { GPU, GPUDevice, GPUPowerPreference } from './global-types.js'; // the globals, as declarations that check without WebGPU types

export interface DeviceOptions {
  powerPreference?: GPUPowerPreference;
  /** Request `shader-f16` when the adapter has it (default true). */
  f16?: boolean;
  /** Node only: extra Dawn flags, e.g. `enable-dawn-features=disable_robustness`. */
  dawnFlags?: string[];
  /** Request `timestamp-query` (for Runtime profiling) when the adapter has it. */
  timestamps?: boolean;
  /** Request `subgroups` when the adapter has it (default true). */
  subgroups?: boolean;
  /** The WebGPU entry point to ask for an adapter instead of navigator.gpu or Dawn (tests use one that finds none). */
  gpu?: Pick<GPU, 'requestAdapter'>;
}

export interface AdapterDescription {
  vendor: string;
  architecture: string;
  description: string;
  /** Short, file-name-safe name for result files, e.g. `llvmpipe` or `nvidia-h100`. */
  slug: string;
}

export interface AcquiredDevice {
  device: GPUDevice;
  adapter: AdapterDescription;
  f16: boolean;
  timestamps: boolean;
  /** The adapter's smallest subgroup size when the device has `subgroups`, else 0. */
  subgroupMinSize: number;
}

// The message says what to do where the code runs: what to install on this OS in Node (the
// checkout's `npm run setup` does not exist for package users), which browsers give WebGPU on a page.
async function noAdapter(hasGpu: boolean): Promise<NoAdapterError> {
  const isNode = typeof process !== 'undefined' && !!process.versions?.node;
  if (isNode) {
    const node = (await import('./node.js')) as Partial<typeof import('./node.js')>;
    if (node.nodeHost) return new NoAdapterError(nodeNoAdapterMessage(node.nodeHost()));
  }
  const ua = (globalThis as { navigator?: { userAgent?: string } }).navigator?.userAgent ?? '';
  return new NoAdapterError(browserNoWebGPUMessage({ hasGpu, userAgent: ua }));
}

async function gpuEntry(dawnFlags: string[]): Promise<GPU> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu) return nav.gpu;
  const isNode = typeof process !== 'undefined' && !!process.versions?.node;
  if (!isNode) throw await noAdapter(false);
  const node = (await import('./node.js')) as Partial<typeof import('./node.js')>;
  if (!node.nodeGPU) throw await noAdapter(false);
  return node.nodeGPU(dawnFlags);
}

function describe(info: GPUAdapterInfo): AdapterDescription {
  const vendor = info.vendor || 'unknown';
  const architecture = info.architecture || '';
  const description = info.description || `${vendor} ${architecture}`.trim();
  const base = /llvmpipe/i.test(description) ? 'llvmpipe' : /swiftshader/i.test(description) ? 'swiftshader' : description;
  const slug =
    base
      .toLowerCase()
      .replace(/\(.*?\)/g, '')
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-|-$/g, '')
      .slice(0, 48) || vendor;
  return { vendor, architecture, description, slug };
}

/** Requests an adapter and a device with the adapter's own limits (binding and buffer sizes, workgroup storage and size). */
export async function acquireDevice(opts: DeviceOptions = {}): Promise<AcquiredDevice> {
  const gpu = opts.gpu ?? (await gpuEntry(opts.dawnFlags ?? []));
  const adapter = await gpu.requestAdapter(opts.powerPreference ? { powerPreference: opts.powerPreference } : undefined);
  if (!adapter) throw await noAdapter(true);
  const L = adapter.limits;
  const requiredLimits: Record<string, number> = {
    maxStorageBufferBindingSize: L.maxStorageBufferBindingSize,
    maxBufferSize: L.maxBufferSize,
    maxComputeWorkgroupStorageSize: L.maxComputeWorkgroupStorageSize,
    maxComputeInvocationsPerWorkgroup: L.maxComputeInvocationsPerWorkgroup,
    maxComputeWorkgroupSizeX: L.maxComputeWorkgroupSizeX,
    maxComputeWorkgroupSizeY: L.maxComputeWorkgroupSizeY,
    maxStorageBuffersPerShaderStage: L.maxStorageBuffersPerShaderStage,
  };
  const f16 = (opts.f16 ?? true) && adapter.features.has('shader-f16');
  const timestamps = !!opts.timestamps && adapter.features.has('timestamp-query');
  // The adapter info's subgroup sizes came with the feature (Chrome 134, Dawn); without them it is unused.
  const minSize = Number((adapter.info as GPUAdapterInfo & { subgroupMinSize?: number }).subgroupMinSize ?? 0);
  const subgroups = (opts.subgroups ?? true) && adapter.features.has('subgroups' as GPUFeatureName) && minSize > 0;
  const features: GPUFeatureName[] = [];
  if (f16) features.push('shader-f16');
  if (timestamps) features.push('timestamp-query');
  if (subgroups) features.push('subgroups' as GPUFeatureName);
  const device = await adapter.requestDevice({ label: 'deepmask', requiredLimits, requiredFeatures: features });
  return { device, adapter: describe(adapter.info), f16, timestamps, subgroupMinSize: subgroups ? minSize : 0 };
}
