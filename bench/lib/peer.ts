// The peer: TensorFlow.js on its WebGPU backend, on the same Dawn adapter in the same process.
// Only the benchmark imports tfjs (a dev dependency).
import { globals } from 'webgpu';
import { nodeGPU } from '../../src/gpu/node.js';
import { tfjsPeer, type Peer } from './tfjs-peer.js';

export type { Peer };

/**
 * tfjs-core's Node build registers no gradient functions and its ES module files are not loadable by
 * Node as they are, so the gradients are bundled with esbuild and run once: tfjs keeps its engine and
 * gradient registry on a global object, which the bundled copy registers into.
 */
async function registerGradients(): Promise<void> {
  const { build } = await import('esbuild');
  const { mkdtempSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  const { pathToFileURL } = await import('node:url');
  const out = join(mkdtempSync(join(tmpdir(), 'tfjs-grads-')), 'grads.mjs');
  await build({
    entryPoints: ['@tensorflow/tfjs-core/dist/register_all_gradients.js'],
    bundle: true,
    platform: 'node',
    format: 'esm',
    outfile: out,
    logLevel: 'error',
  });
  await import(pathToFileURL(out).href);
}

export async function createPeer(): Promise<Peer> {
  Object.assign(globalThis, globals); // tfjs reads GPUBufferUsage and friends from the global scope
  const g = globalThis as { navigator?: { gpu?: GPU } };
  g.navigator ??= {};
  g.navigator.gpu ??= await nodeGPU();
  const tf = await import('@tensorflow/tfjs-core');
  await registerGradients();
  await import('@tensorflow/tfjs-backend-webgpu');
  tf.env().set('IS_TEST', true); // silences the "running in Node" banner
  return tfjsPeer(tf);
}
