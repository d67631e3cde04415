import { Runtime } from '../gpu/runtime.js';
import type { Command } from './command.js';

export const infoCommand: Command = {
  summary: 'print the WebGPU adapter, its limits and features',
  usage: 'Usage: deepmask info',
  async run() {
    const rt = await Runtime.create();
    const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
    console.log(`adapter      ${rt.adapter.description} (${rt.adapter.vendor}, ${rt.adapter.architecture})`);
    console.log(`shader-f16   ${rt.f16 ? 'yes' : 'no'}`);
    console.log(`binding      ${mib(rt.limits.maxBindingBytes)} per storage binding, buffers up to ${mib(rt.limits.maxBufferSize)}`);
    console.log(
      `workgroups   ${rt.limits.maxInvocations} invocations, ${rt.limits.maxWorkgroupStorage} bytes shared, ${rt.limits.maxWorkgroupsPerDimension} per dimension`,
    );
    rt.destroy();
  },
};
