// The cold start: the first propose() of a fresh process, with an empty Mesa shader cache
// (MESA_SHADER_CACHE_DISABLE=true), where every GPU pipeline is compiled. Each measurement is its
// own child process (a process compiles each pipeline once); the variants alternate round by
// round, so that a busy machine weighs on all of them alike.
//
//   node dist/bench/cold-start.js [--model models/mobile-coco] [--image PATH] [--rounds N]
//                                 [--variants now,before] [--baseline DIR]
//
// Variants: `now` (this build), `before` (the build in DIR/dist, e.g. an unpacked earlier commit,
// run as it is; needs --baseline). Per run: the first propose's wall seconds, the process's CPU
// seconds, the pipelines created and the seconds the main thread spent creating them, and a second
// propose (warm) for comparison.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    image: { type: 'string' },
    rounds: { type: 'string' },
    variants: { type: 'string' },
    baseline: { type: 'string' },
    child: { type: 'string' },
  },
});
const modelDir = resolve(values.model ?? 'models/mobile-coco');
const imagePath = resolve(values.image ?? '../shared/data/coco-subset-2017/images/000000000009.jpg'); // 640x480

interface Measured {
  variant: string;
  firstS: number;
  cpuS: number;
  pipelines: number;
  pipelineS: number;
  secondS: number;
  proposals: number;
}

if (values.child) {
  console.log(JSON.stringify(await child(values.child)));
} else {
  await parent();
}

async function child(variant: string): Promise<Measured> {
  const api = variant === 'before' ? `${resolve(values.baseline!)}/dist/src/node.js` : fileURLToPath(new URL('../src/node.js', import.meta.url));
  const { init, loadModel, propose, decodeImageBytes } = (await import(api)) as typeof import('../src/node.js');
  const rt = await init();
  // Counted here, not by the runtime, so that any build is measured alike.
  const device = rt.device;
  let pipelines = 0,
    pipelineMs = 0;
  const create = device.createComputePipeline.bind(device),
    createAsync = device.createComputePipelineAsync.bind(device);
  device.createComputePipeline = (d: GPUComputePipelineDescriptor) => {
    const t0 = performance.now();
    try {
      return create(d);
    } finally {
      pipelines++;
      pipelineMs += performance.now() - t0;
    }
  };
  device.createComputePipelineAsync = (d: GPUComputePipelineDescriptor) => {
    pipelines++;
    return createAsync(d);
  };
  const model = loadModel(modelDir);
  const image = await decodeImageBytes(readFileSync(imagePath), imagePath);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const r = await propose(model, image);
  const firstS = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const t1 = performance.now();
  await propose(model, image);
  const secondS = (performance.now() - t1) / 1000;
  rt.destroy();
  return {
    variant,
    firstS,
    cpuS: (cpu.user + cpu.system) / 1e6,
    pipelines,
    pipelineS: pipelineMs / 1000,
    secondS,
    proposals: r.proposals.length,
  };
}

async function parent(): Promise<void> {
  const rounds = Number(values.rounds ?? 1);
  const variants = (values.variants ?? (values.baseline ? 'before,now' : 'now')).split(',');
  for (const v of variants) {
    if (!['now', 'before'].includes(v)) throw new Error(`--variants: unknown variant '${v}' (now or before)`);
    if (v === 'before' && !values.baseline) throw new Error('--variants before needs --baseline DIR (a checkout built with npm run build)');
  }
  const self = fileURLToPath(import.meta.url);
  const env = { ...process.env, MESA_SHADER_CACHE_DISABLE: 'true' };
  console.log(`cold start: first propose() of ${modelDir} on ${imagePath}, MESA_SHADER_CACHE_DISABLE=true, ${rounds} round(s) of ${variants.join(', ')}`);
  const runs: Measured[] = [];
  for (let round = 0; round < rounds; round++) {
    for (const v of variants) {
      const args = [self, '--child', v, '--model', modelDir, '--image', imagePath, ...(values.baseline ? ['--baseline', values.baseline] : [])];
      const out = spawnSync(process.execPath, args, { env, encoding: 'utf8', maxBuffer: 1 << 24 });
      const line = out.stdout.trim().split('\n').pop() ?? '';
      if (out.status !== 0 || !line.startsWith('{')) throw new Error(`variant ${v} failed (exit ${out.status}):\n${out.stderr.slice(-2000)}`);
      const m = JSON.parse(line) as Measured;
      runs.push(m);
      const f = (x: number) => x.toFixed(1);
      console.log(
        `${v.padEnd(6)} first ${f(m.firstS)} s  cpu ${f(m.cpuS)} s  pipelines ${m.pipelines}  creating ${f(m.pipelineS)} s  second ${f(m.secondS)} s  (${m.proposals} proposals)`,
      );
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const by = (v: string, k: keyof Measured) => median(runs.filter((r) => r.variant === v).map((r) => r[k] as number));
  const base = variants[0]!;
  for (const v of variants.slice(1)) {
    console.log(
      `${v} / ${base}: first propose ${(by(v, 'firstS') / by(base, 'firstS')).toFixed(2)}x (${by(v, 'firstS').toFixed(1)} s vs ${by(base, 'firstS').toFixed(1)} s), cpu ${(by(v, 'cpuS') / by(base, 'cpuS')).toFixed(2)}x, pipelines ${by(v, 'pipelines')} vs ${by(base, 'pipelines')}`,
    );
  }
}
