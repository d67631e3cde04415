// The peer: TensorFlow.js on its WebGPU backend, on the same Dawn adapter in the same process.
// Only the benchmark imports tfjs (a dev dependency).
import { globals } from 'webgpu';
import { nodeGPU } from '../../src/gpu/node.js';

type Tf = typeof import('@tensorflow/tfjs-core');

export interface Peer {
  tf: Tf;
  /** Submits tfjs's queued work and waits for the GPU to finish it. */
  sync(): Promise<void>;
  /**
   * Runs `fn` once inside error scopes and throws if WebGPU rejected any of its work: tfjs does not
   * split bindings over the limit, and an invalid command buffer would otherwise time as "fast".
   */
  check(fn: () => unknown): Promise<void>;
  name: string;
}

export async function createPeer(): Promise<Peer> {
  Object.assign(globalThis, globals); // tfjs reads GPUBufferUsage and friends from the global scope
  const g = globalThis as { navigator?: { gpu?: GPU } };
  g.navigator ??= {};
  g.navigator.gpu ??= nodeGPU();
  const tf = await import('@tensorflow/tfjs-core');
  await import('@tensorflow/tfjs-backend-webgpu');
  tf.env().set('IS_TEST', true); // silences the "running in Node" banner
  if (!(await tf.setBackend('webgpu'))) throw new Error('tfjs could not start its WebGPU backend');
  await tf.ready();
  // The same steps tfjs takes before its own readbacks: end the pass, submit, wait.
  const be = tf.backend() as unknown as { ensureCommandEncoderReady(): void; endComputePassEncoder(): void; submitQueue(): void; device: GPUDevice };
  const sync = async () => {
    be.ensureCommandEncoderReady();
    be.endComputePassEncoder();
    be.submitQueue();
    await be.device.queue.onSubmittedWorkDone();
  };
  return {
    tf,
    name: 'tfjs-webgpu',
    sync,
    async check(fn) {
      be.device.pushErrorScope('validation');
      be.device.pushErrorScope('out-of-memory');
      try {
        await fn();
        await sync();
      } finally {
        const oom = await be.device.popErrorScope();
        const invalid = await be.device.popErrorScope();
        const e = oom ?? invalid;
        if (e) throw new Error(e.message.split('\n')[0]);
      }
    },
  };
}
