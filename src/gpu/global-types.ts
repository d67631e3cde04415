// Global types that the published declarations take from the consumer's program instead of naming
// them, so that they check under any lib with skipLibCheck off. WebGPU's types come from lib "dom"
// in TypeScript 6+ or from @webgpu/types, whichever the program has: referencing @webgpu/types from
// our declarations made every TypeScript 6+ DOM program declare them twice (duplicate identifiers),
// and a program without DOM cannot load @webgpu/types at all (it names DOM types). DOM's image
// classes exist only with lib "dom". Our own build has both, so there these are the real types.

/** The instance type of the global class `Name` (its `declare var Name: { prototype: T }`), or `Fallback` where the program declares none. */
export type GlobalClass<Name extends string, Fallback> = typeof globalThis extends Record<Name, { prototype: infer T }> ? T : Fallback;

/** Stands in for a WebGPU type in a program that declares none; the key says how to get the real one. */
export interface MissingWebGpuType<Name extends string> {
  readonly 'WebGPU types come from lib "dom" (TypeScript 6+) or "@webgpu/types" in compilerOptions.types': Name;
}

// Same names as the globals, so that the engine's code reads as plain WebGPU: importing them
// shadows the globals in that module only.
export type GPU = GlobalClass<'GPU', MissingWebGpuType<'GPU'> & { requestAdapter: MissingWebGpuType<'GPU.requestAdapter'> }>;
export type GPUDevice = GlobalClass<'GPUDevice', MissingWebGpuType<'GPUDevice'>>;
export type GPUBuffer = GlobalClass<'GPUBuffer', MissingWebGpuType<'GPUBuffer'>>;
/** The spec's enum (a type alias in lib "dom" and @webgpu/types, so not reachable through globalThis). */
export type GPUPowerPreference = 'low-power' | 'high-performance';
