// The peer's timing and error checks on a started tfjs WebGPU backend: the same in Node (peer.ts)
// and in a page (bench/web/entry.ts).
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

/** Starts tfjs's WebGPU backend (its module must be imported) and wraps it as the peer. */
export async function tfjsPeer(tf: Tf): Promise<Peer> {
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
      // The scopes are popped whatever happens; a GPU error is the one reported, being the cause.
      let failure: unknown = null;
      try {
        await fn();
        await sync();
      } catch (e) {
        failure = e;
      }
      const oom = await be.device.popErrorScope();
      const invalid = await be.device.popErrorScope();
      const e = oom ?? invalid;
      if (e) throw new Error(e.message.split('\n')[0]);
      if (failure) throw failure;
    },
  };
}
