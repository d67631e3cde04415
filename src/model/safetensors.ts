// The safetensors format (huggingface/safetensors): an 8-byte little-endian header length, a JSON
// header {name: {dtype, shape, data_offsets}, __metadata__: {string: string}}, then raw data.
// F32, F16 and BF16 tensors are read (as f32); F32 or F16 is written.
import type { HostTensor } from '../graph/module.js';
import { f16ToF32, f32ToF16 } from '../graph/half.js';

export { f16ToF32, f32ToF16 };

export type StDtype = 'F32' | 'F16';

export interface SafetensorsFile {
  tensors: Map<string, HostTensor>;
  metadata: Record<string, string>;
}

export function readSafetensors(bytes: Uint8Array, source = 'safetensors'): SafetensorsFile {
  const fail = (msg: string): never => {
    throw new Error(`${source}: ${msg}`);
  };
  if (bytes.length < 8) fail('too short to be a safetensors file');
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = Number(dv.getBigUint64(0, true));
  if (headerLen > bytes.length - 8) fail(`header length ${headerLen} exceeds the file size`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLen)));
  } catch (e) {
    return fail(`header is not valid JSON (${(e as Error).message})`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) fail('header is not a JSON object');
  const data = bytes.subarray(8 + headerLen);
  const tensors = new Map<string, HostTensor>();
  const ranges: { name: string; begin: number; end: number }[] = [];
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = entry as Record<string, string>;
      continue;
    }
    const { dtype, shape, data_offsets } = (entry ?? {}) as { dtype: string; shape: number[]; data_offsets: [number, number] };
    const [b, e] = Array.isArray(data_offsets) ? data_offsets : [];
    const isIndex = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
    if (!Array.isArray(shape) || !shape.every(isIndex) || !isIndex(b) || !isIndex(e) || e > data.length || b > e)
      fail(`tensor '${name}' has a bad shape or data range`);
    const begin = b!,
      end = e!;
    const n = shape.reduce((a, b) => a * b, 1);
    const width = dtype === 'F32' ? 4 : dtype === 'F16' || dtype === 'BF16' ? 2 : fail(`tensor '${name}' has unsupported dtype ${dtype}`);
    if (end - begin !== n * width) fail(`tensor '${name}' holds ${end - begin} bytes, shape [${shape.join(', ')}] needs ${n * width}`);
    ranges.push({ name, begin, end });
    const raw = new DataView(data.buffer, data.byteOffset + begin, end - begin);
    const out = new Float32Array(n);
    if (dtype === 'F32') for (let i = 0; i < n; i++) out[i] = raw.getFloat32(4 * i, true);
    else if (dtype === 'F16') for (let i = 0; i < n; i++) out[i] = f16ToF32(raw.getUint16(2 * i, true));
    else for (let i = 0; i < n; i++) out[i] = bf16ToF32(raw.getUint16(2 * i, true));
    tensors.set(name, { shape: [...shape], data: out });
  }
  // As the format requires: the tensors tile the data exactly, no overlap, no gap, nothing after.
  ranges.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let at = 0,
    prev = '';
  for (const r of ranges) {
    if (r.begin < at) fail(`tensors '${prev}' and '${r.name}' overlap (bytes ${r.begin} to ${at} of the data)`);
    if (r.begin > at) fail(`${r.begin - at} bytes of the data before tensor '${r.name}' belong to no tensor`);
    at = r.end;
    prev = r.name;
  }
  if (at !== data.length) fail(`${data.length - at} bytes after the last tensor belong to no tensor`);
  return { tensors, metadata };
}

/** Serialises tensors in the given order, all as `dtype`. */
export function writeSafetensors(tensors: Map<string, HostTensor>, metadata: Record<string, string> = {}, dtype: StDtype = 'F32'): Uint8Array {
  const width = dtype === 'F32' ? 4 : 2;
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const [name, t] of tensors) {
    const bytes = t.data.length * width;
    header[name] = { dtype, shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  // Data starts 8-byte aligned: pad the header's UTF-8 bytes (not its characters) with spaces.
  const head = new Uint8Array(json.length + ((8 - ((8 + json.length) % 8)) % 8)).fill(0x20);
  head.set(json);
  const out = new Uint8Array(8 + head.length + offset);
  const dv = new DataView(out.buffer);
  dv.setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  let p = 8 + head.length;
  for (const t of tensors.values()) {
    if (dtype === 'F32') {
      out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), p);
      p += t.data.byteLength;
    } else {
      for (let i = 0; i < t.data.length; i++, p += 2) dv.setUint16(p, f32ToF16(t.data[i]!), true);
    }
  }
  return out;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

function bf16ToF32(h: number): number {
  u32[0] = h << 16;
  return f32[0]!;
}
