// One way to declare a kernel: a WGSL entry point in shaders/<family>.wgsl plus two functions of its
// uniform parameters, the workgroup count and the elements each storage binding must hold.
// Everything else (binding numbers, access modes, uniform offsets, override names) is read from
// the WGSL with wgsl_reflect, so no layout is written by hand.
import { WgslReflect, ResourceType, type VariableInfo } from 'wgsl_reflect/wgsl_reflect.module.js';
import { SHADERS } from './shaders.gen.js';

/** Uniform parameters, by the field names of the entry point's `var<uniform>` struct. */
export type Params = Record<string, number>;

/** Values of WGSL `override` constants; each distinct set is its own pipeline. */
export type Constants = Record<string, number | boolean>;

export interface StorageBinding {
  name: string;
  binding: number;
  writable: boolean;
  /** Bytes per element of the bound `array<T>`. */
  elementBytes: number;
  /** e.g. `array<vec4f>`, for messages. */
  typeName: string;
}

export interface UniformField {
  offset: number;
  type: 'u32' | 'i32' | 'f32';
}

export interface KernelInfo {
  code: string;
  storage: StorageBinding[];
  uniform: { binding: number; size: number; fields: Map<string, UniformField> } | null;
  /** `override` constants declared in the family's module. */
  overrides: Set<string>;
}

export interface KernelSpec<P extends Params> {
  /** Kernel family: the file shaders/<shader>.wgsl. */
  shader: string;
  /** Compute entry point in that file. */
  entry: string;
  /** Number of workgroups (1-D; the runtime folds it over x, y, z past the per-dimension limit). */
  workgroups(p: P, c: Constants): number;
  /** Elements each storage binding must hold, in units of its WGSL array element. */
  sizes(p: P, c: Constants): Record<string, number>;
}

export interface Kernel<P extends Params = Params> extends KernelSpec<P> {
  readonly name: string;
  info(): KernelInfo;
}

const reflected = new Map<string, { code: string; reflect: WgslReflect }>();

function family(shader: string): { code: string; reflect: WgslReflect } {
  let f = reflected.get(shader);
  if (!f) {
    // The build prepends shaders/include/prelude.wgsl and expands `//#include` lines.
    const code = SHADERS[shader];
    if (code === undefined) throw new Error(`no shader family '${shader}' (expected shaders/${shader}.wgsl)`);
    f = { code, reflect: new WgslReflect(code) };
    reflected.set(shader, f);
  }
  return f;
}

function scalarType(name: string): UniformField['type'] {
  if (name === 'u32' || name === 'i32' || name === 'f32') return name;
  throw new Error(`uniform fields must be u32, i32 or f32 scalars (found ${name})`);
}

function reflectEntry(shader: string, entry: string): KernelInfo {
  const { code, reflect } = family(shader);
  const fn = reflect.entry.compute.find((f) => f.name === entry);
  if (!fn) throw new Error(`shaders/${shader}.wgsl has no compute entry point '${entry}'`);
  const storage: StorageBinding[] = [];
  let uniform: KernelInfo['uniform'] = null;
  for (const v of fn.resources as VariableInfo[]) {
    if (v.group !== 0) throw new Error(`${shader}.${entry}: only @group(0) is supported (${v.name})`);
    if (v.resourceType === ResourceType.Uniform) {
      if (uniform) throw new Error(`${shader}.${entry}: more than one uniform binding`);
      const fields = new Map<string, UniformField>();
      for (const m of v.members ?? []) fields.set(m.name, { offset: m.offset, type: scalarType(m.type.name) });
      uniform = { binding: v.binding, size: Math.ceil(v.size / 16) * 16, fields };
    } else if (v.resourceType === ResourceType.Storage) {
      const t = v.type as unknown as { format?: { name: string }; stride?: number; name: string };
      storage.push({
        name: v.name,
        binding: v.binding,
        writable: v.access === 'read_write',
        elementBytes: t.stride ?? 4,
        typeName: `${t.name}<${t.format?.name ?? '?'}>`,
      });
    } else {
      throw new Error(`${shader}.${entry}: unsupported resource ${v.name}`);
    }
  }
  // Module-level: an entry point's own list misses overrides read inside helper functions.
  return { code, storage, uniform, overrides: new Set(reflect.overrides.map((o) => o.name)) };
}

/** Declares a kernel; its WGSL is parsed and reflected on first use. */
export function kernel<P extends Params>(spec: KernelSpec<P>): Kernel<P> {
  let info: KernelInfo | null = null;
  return {
    ...spec,
    name: `${spec.shader}.${spec.entry}`,
    info: () => (info ??= reflectEntry(spec.shader, spec.entry)),
  };
}

export const ceilDiv = (a: number, b: number): number => Math.floor((a + b - 1) / b);
