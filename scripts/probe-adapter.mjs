// Exits 0 and prints the adapter when Dawn finds one, 1 otherwise. Used by scripts/setup.sh.
import { create, globals } from 'webgpu';
Object.assign(globalThis, globals);
const gpu = create([]);
const adapter = await gpu.requestAdapter();
if (!adapter) {
  console.error('no WebGPU adapter');
  process.exit(1);
}
const i = adapter.info;
console.log(`${i.vendor} ${i.architecture} ${i.description}`.trim());
process.exit(0);
