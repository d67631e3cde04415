// Types for scripts/wgsl-include.mjs (used by the shader tests).
export const SUBGROUPS_HEADER: string;
export function buildModules(dir: string): { shaders: Record<string, string>; subgroups: Record<string, string> };
