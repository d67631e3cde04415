// Paired A/B timings: two sides, each a build of this project (a dist/ folder) on its own runtime
// with its own RuntimeOptions, alternated in one process (A B, B A, ...) so that the machine's drift
// and noise fall on both; prints medians and B/A. The other build is typically an older commit:
//   git worktree add /tmp/base COMMIT && ln -s "$PWD/node_modules" /tmp/base/ && (cd /tmp/base && node scripts/build.mjs)
//
//   node dist/bench/ab.js CASE [--a DIST] [--b DIST] [--a-opts JSON] [--b-opts JSON] [--rounds N] ...
//     ops                  ops.matmul and ops.conv2d at square and the trunks' shapes
//     matmul               ops.matmul at the shipped model's GEMM shapes (--shapes MxKxN,...)
//     propose              one whole propose() (--model DIR --photo FILE): times, submissions, peak
//                          GPU memory and whether the two sides' proposals agree
//     train-step           one training step of a preset on random data (--preset, --batch)
//     grads                GPU time of conv2d's input and weight gradients (profiled runtimes)
// --a and --b default to this build; e.g. `node dist/bench/ab.js ops --a-opts '{"shareLoads":false}'`.
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { Runtime, RuntimeOptions } from '../src/gpu/runtime.js';

/** What a build exports (this build's types; an older build must offer the calls a case makes). */
type Engine = typeof import('../src/node.js');

interface Side {
  name: string;
  m: Engine;
  rt: Runtime;
}

const CASES = ['ops', 'matmul', 'propose', 'train-step', 'grads'] as const;
type Case = (typeof CASES)[number];

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    a: { type: 'string' },
    b: { type: 'string' },
    'a-opts': { type: 'string', default: '{}' },
    'b-opts': { type: 'string', default: '{}' },
    rounds: { type: 'string' },
    shapes: { type: 'string', default: '1850x512x512,29600x128x128,118400x32x64,1131x512x512,512x512x512' },
    model: { type: 'string', default: 'models/mobile-coco' },
    photo: { type: 'string', default: 'web/assets/photos/000000062554.jpg' },
    preset: { type: 'string', default: 'tiny' },
    batch: { type: 'string', default: '32' },
  },
});
const which = positionals[0] as Case | undefined;
if (!which || !CASES.includes(which))
  throw new Error(`usage: node dist/bench/ab.js ${CASES.join('|')} [options] (see bench/ab.ts); got ${JSON.stringify(positionals[0] ?? null)}`);
const rounds = values.rounds === undefined ? undefined : Number(values.rounds);
if (rounds !== undefined && !(Number.isInteger(rounds) && rounds >= 1)) throw new Error(`--rounds must be a whole number >= 1, got ${values.rounds}`);

const json = (text: string, option: string): RuntimeOptions => {
  try {
    return JSON.parse(text) as RuntimeOptions;
  } catch (e) {
    throw new Error(`${option} must be RuntimeOptions as JSON, e.g. '{"shareLoads":false}': ${(e as Error).message}`);
  }
};
const here = resolve(fileURLToPath(import.meta.url), '../..'); // this build's dist/
const sides: Side[] = [];
for (const [dist, opts, label] of [
  [values.a ?? here, json(values['a-opts']!, '--a-opts'), 'A'],
  [values.b ?? here, json(values['b-opts']!, '--b-opts'), 'B'],
] as const) {
  // One after the other: two devices created at once can crash lavapipe.
  const m = (await import(pathToFileURL(resolve(dist, 'src/node.js')).href)) as Engine;
  const grads = which === 'grads';
  const rt = await m.Runtime.create({ ...opts, ...(grads ? { profile: true } : {}) });
  sides.push({ name: `${label} ${dist === here ? 'this build' : dist}${Object.keys(opts).length ? ` ${JSON.stringify(opts)}` : ''}`, m, rt });
}
for (const s of sides) console.log(s.name);

const median = (a: number[]): number => [...a].sort((x, y) => x - y)[a.length >> 1]!;

/**
 * Times `run` on both sides, alternated (A B, then B A, ...), after one untimed call each (which
 * compiles); each side's runtime is made current before its call. Returns each side's times in ms.
 */
async function paired(n: number, run: (s: Side) => Promise<number> | number): Promise<[number[], number[]]> {
  const t: [number[], number[]] = [[], []];
  for (const s of sides) {
    s.m.setRuntime(s.rt);
    await run(s);
  }
  for (let r = 0; r < n; r++) {
    for (const k of r % 2 ? [1, 0] : [0, 1]) {
      const s = sides[k]!;
      s.m.setRuntime(s.rt);
      t[k]!.push(await run(s));
    }
  }
  return t;
}

/** The wall time of `f` until the side's GPU work is done. */
async function timed(s: Side, f: () => void): Promise<number> {
  const t0 = performance.now();
  f();
  await s.rt.sync();
  return performance.now() - t0;
}

const ratioLine = (name: string, t: [number[], number[]], flops?: number): string => {
  const [a, b] = t.map(median) as [number, number];
  const gf = (ms: number) => (flops ? ` (${(flops / ms / 1e6).toFixed(1)} GFLOP/s)` : '');
  return `${name}: A ${a.toFixed(1)} ms${gf(a)}, B ${b.toFixed(1)} ms${gf(b)}, B/A ${(b / a).toFixed(3)}`;
};

/** Deterministic inputs in [-0.5, 0.5), the same on both sides. */
const rnd = (n: number) => Float32Array.from({ length: n }, (_, i) => ((i * 2654435761) % 1000) / 1000 - 0.5);

/** Per side, a closure that runs one op on inputs made once (on that side's runtime). */
type OpCase = { name: string; flops: number; make: (m: Engine) => () => void };
const matmulCase = (M: number, K: number, N: number): OpCase => ({
  name: `matmul ${M}x${K}x${N}`,
  flops: 2 * M * K * N,
  make: (m) => {
    const a = m.Tensor.from(rnd(M * K), [M, K]),
      w = m.Tensor.from(rnd(K * N), [K, N]);
    return () => m.noGrad(() => m.ops.matmul(a, w)).dispose();
  },
});
const convCase = (H: number, W: number, Cin: number, Cout: number, k: number): OpCase => ({
  name: `conv ${k}x${k} ${H}x${W}x${Cin}->${Cout}`,
  flops: 2 * H * W * Cin * Cout * k * k,
  make: (m) => {
    const x = m.Tensor.from(rnd(H * W * Cin), [1, H, W, Cin]),
      w = m.Tensor.from(rnd(k * k * Cin * Cout), [k, k, Cin, Cout]);
    return () => m.noGrad(() => m.ops.conv2d(x, w, null, { pad: (k - 1) / 2 })).dispose();
  },
});

async function opCases(cases: OpCase[], n: number): Promise<void> {
  for (const c of cases) {
    const run = new Map(sides.map((s) => (s.m.setRuntime(s.rt), [s, c.make(s.m)] as const)));
    console.log(ratioLine(c.name, await paired(n, (s) => timed(s, run.get(s)!)), c.flops));
  }
}

switch (which) {
  case 'ops':
    await opCases(
      [
        matmulCase(512, 512, 512),
        matmulCase(1024, 1024, 1024),
        convCase(56, 56, 256, 256, 3),
        convCase(160, 112, 128, 128, 1),
        convCase(40, 28, 512, 512, 1),
        convCase(28, 28, 512, 512, 3),
      ],
      rounds ?? 8,
    );
    break;
  case 'matmul': {
    const shapes = values.shapes!.split(',').map((s) => s.split('x').map(Number));
    if (!shapes.every((s) => s.length === 3 && s.every((v) => Number.isInteger(v) && v >= 1)))
      throw new Error(`--shapes must be MxKxN,... with whole numbers, got ${values.shapes}`);
    await opCases(
      shapes.map(([M, K, N]) => matmulCase(M!, K!, N!)),
      rounds ?? 12,
    );
    break;
  }
  case 'propose': {
    const models = new Map(sides.map((s) => (s.m.setRuntime(s.rt), [s, s.m.loadModel(values.model!)] as const)));
    const image = await sides[1]!.m.imageFromInput(values.photo!);
    console.log(`${values.photo}: ${image.width}x${image.height}, model ${values.model}`);
    const last = new Map<Side, { submits: number; proposals: Awaited<ReturnType<Engine['propose']>>['proposals'] }>();
    const t = await paired(rounds ?? 6, async (s) => {
      const s0 = s.rt.counters.submits,
        t0 = performance.now();
      const r = await s.m.propose(models.get(s)!, image);
      const ms = performance.now() - t0;
      last.set(s, { submits: s.rt.counters.submits - s0, proposals: r.proposals });
      return ms;
    });
    sides.forEach((s, k) =>
      console.log(
        `${s.name}: ${t[k]!.map((x) => x.toFixed(0)).join(' ')} ms, median ${median(t[k]!).toFixed(0)} ms, ${last.get(s)!.submits} submissions, peak GPU memory in use ${(s.rt.memory().peakInUseBytes / 2 ** 20).toFixed(0)} MiB`,
      ),
    );
    console.log(ratioLine('propose', t));
    const pa = last.get(sides[0]!)!.proposals,
      pb = last.get(sides[1]!)!.proposals;
    const same = pa.filter((p, i) => pb[i] && JSON.stringify(p.rle) === JSON.stringify(pb[i]!.rle)).length;
    const ious = pa.map((p, i) => (pb[i] ? sides[1]!.m.rle.iou([p.rle], [pb[i]!.rle], [false])[0]![0]! : 0));
    console.log(
      `proposals ${pa.length} vs ${pb.length}: ${same} identical RLEs at the same rank; mean IoU at the same rank ${(ious.reduce((a, x) => a + x, 0) / Math.max(1, ious.length)).toFixed(4)}, min ${Math.min(...ious).toFixed(4)}`,
    );
    break;
  }
  case 'train-step': {
    const B = Number(values.batch);
    if (!(Number.isInteger(B) && B >= 1)) throw new Error(`--batch must be a whole number >= 1, got ${values.batch}`);
    const steps = new Map(
      sides.map((s) => {
        const { m } = s;
        m.setRuntime(s.rt);
        const model = new m.DeepMask(values.preset!);
        const rng = new m.Rng(0);
        const { inputSize: S, gtSize: G } = model.config;
        const r = (n: number, f: () => number) => Float32Array.from({ length: n }, f);
        const x = m.Tensor.from(
          r(B * S * S * 3, () => rng.uniform(-2, 2)),
          [B, S, S, 3],
        );
        const targets = {
          masks: m.Tensor.from(
            r(B * G * G, () => (rng.next() < 0.3 ? 1 : -1)),
            [B, G, G, 1],
          ),
          maskWeights: m.Tensor.from(
            r(B * G * G, () => 1 / (G * G)),
            [B, G, G, 1],
          ),
          scores: m.Tensor.from(
            r(B, () => (rng.next() < 0.5 ? 1 : -1)),
            [B, 1],
          ),
          scoreWeights: m.Tensor.from(
            r(B, () => 1 / 32),
            [B, 1],
          ),
        };
        model.train();
        const step = () => {
          m.scope(() => {
            const l = model.loss(model.forward(x), targets);
            l.backward();
            return l;
          }).dispose();
          model.zeroGrad();
        };
        return [s, step] as const;
      }),
    );
    console.log(
      ratioLine(`${values.preset} batch ${B}, one training step (forward, joint loss, backward)`, await paired(rounds ?? 8, (s) => timed(s, steps.get(s)!))),
    );
    break;
  }
  case 'grads':
    // GPU time per kernel (profiled runtimes), so the two gradients are told apart.
    for (const [H, C] of [
      [56, 256],
      [28, 512],
      [112, 128],
    ] as const) {
      const ms: [number, number][] = [];
      for (const s of sides) {
        const { m, rt } = s;
        m.setRuntime(rt);
        const x = m.Tensor.from(rnd(H * H * C), [1, H, H, C]),
          w = m.Tensor.from(rnd(9 * C * C), [3, 3, C, C]);
        x.requiresGrad = true;
        w.requiresGrad = true;
        const step = () => m.scope(() => m.ops.conv2d(x, w, null, { pad: 1 }).backward(m.Tensor.from(rnd(H * H * C), [1, H, H, C])));
        step();
        await rt.sync();
        await rt.profile();
        const n = rounds ?? 3;
        for (let r = 0; r < n; r++) step();
        await rt.sync();
        const rows = await rt.profile();
        const of = (k: string) => rows.filter((r) => r.kernel.startsWith(k)).reduce((a, r) => a + r.ms, 0) / n;
        ms.push([of('conv2d.backward_input'), of('conv2d.backward_weight')]);
      }
      const gf = (t: number) => ((2 * H * H * C * C * 9) / t / 1e6).toFixed(1);
      for (const [k, name] of [
        [0, 'dX'],
        [1, 'dW'],
      ] as const) {
        const [a, b] = [ms[0]![k], ms[1]![k]];
        console.log(`${name} 3x3 ${H}x${H}x${C}->${C}: A ${a.toFixed(1)} ms (${gf(a)} GFLOP/s), B ${b.toFixed(1)} ms (${gf(b)}), B/A ${(b / a).toFixed(2)}`);
      }
    }
    break;
}
process.exit(0);
