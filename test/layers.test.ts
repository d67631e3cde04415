// The layer rule, read from the TypeScript sources: imports point down (gpu -> kernels -> graph ->
// model -> data/train/infer/eval -> cli/web). The model, inference and training know nothing of
// the GPU beyond the public runtime type, data knows nothing of training, and no library layer
// imports the command line.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..'); // dist/test -> the checkout
const src = join(root, 'src');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? sources(p) : f.endsWith('.ts') && !f.endsWith('.d.ts') ? [p] : [];
  });
}

interface Import {
  from: string; // src-relative file
  to: string; // src-relative target (.ts)
  typeOnly: boolean;
  names: string[];
}

/** Static imports and re-exports (`import ... from`, `export ... from`, `import('...')`) of a file. */
function importsOf(file: string): Import[] {
  const text = readFileSync(file, 'utf8');
  const out: Import[] = [];
  const re = /(?:^|\n)\s*(import|export)\s+(type\s+)?([^'";]*?)\s*from\s*'([^']+)'|import\(\s*'([^']+)'\s*\)/g;
  for (const m of text.matchAll(re)) {
    const spec = m[4] ?? m[5]!;
    if (!spec.startsWith('.')) continue;
    const clause = m[3] ?? '';
    const names = [...clause.replace(/[{}]/g, ' ').matchAll(/(?:type\s+)?([A-Za-z_$][\w$]*)(?:\s+as\s+[\w$]+)?/g)]
      .map((n) => n[1]!)
      .filter((n) => n !== 'type' && n !== 'as');
    const inline = /\{([^}]*)\}/.exec(clause)?.[1];
    const allTypes = !!m[2] || (!!inline && inline.split(',').every((s) => /^\s*type\s/.test(s) || !s.trim()) && !/^[\w$]+\s*,/.test(clause.trim()));
    const target = relative(src, resolve(dirname(file), spec)).replace(/\.js$/, '.ts');
    out.push({ from: relative(src, file), to: target, typeOnly: allTypes, names });
  }
  return out;
}

const all = sources(src).flatMap(importsOf);
const layer = (p: string) => p.split('/')[0]!;

test('the import parser sees the imports it should', () => {
  const tensor = all.filter((i) => i.from === 'graph/tensor.ts');
  assert.ok(
    tensor.some((i) => i.to === 'gpu/runtime.ts' && i.typeOnly),
    JSON.stringify(tensor),
  );
  assert.ok(all.some((i) => i.from === 'cli/main.ts' && i.to === 'cli/train.ts'));
  assert.ok(all.length > 200, `${all.length} imports`);
});

test('model, inference and training import nothing from gpu/ (the runtime type comes through graph)', () => {
  const bad = all.filter((i) => ['model', 'infer', 'train'].includes(layer(i.from)) && layer(i.to) === 'gpu');
  assert.equal(
    bad.map((i) => `${i.from} -> ${i.to}`),
    [],
  );
});

test('model, inference and training import no kernels (they use graph ops)', () => {
  const bad = all.filter((i) => ['model', 'infer', 'train'].includes(layer(i.from)) && layer(i.to) === 'kernels');
  assert.equal(
    bad.map((i) => `${i.from} -> ${i.to}`),
    [],
  );
});

test('model, inference and training handle no buffers: no views, binding limits, byte-size checks or raw runtime calls', () => {
  const raw = /\.(view|halfView)\(\)|\.limits\b|\brt\.(copy|run|alloc|free|write|read|flush|submitEvery|fits|largestFitting)\b/;
  const bad = sources(src)
    .filter((f) => ['model', 'infer', 'train'].includes(layer(relative(src, f))))
    .flatMap((f) =>
      readFileSync(f, 'utf8')
        .split('\n')
        .map((line, i) => [`${relative(src, f)}:${i + 1}`, line] as const),
    )
    .filter(([, line]) => raw.test(line) && !/^\s*(\/\/|\*)/.test(line))
    .map(([where, line]) => `${where}: ${line.trim()}`);
  assert.equal(bad, []);
});

test('data imports nothing from train', () => {
  const bad = all.filter((i) => layer(i.from) === 'data' && layer(i.to) === 'train');
  assert.equal(
    bad.map((i) => `${i.from} -> ${i.to}`),
    [],
  );
});

test('no library layer imports the command line', () => {
  const bad = all.filter((i) => layer(i.from) !== 'cli' && layer(i.to) === 'cli');
  assert.equal(
    bad.map((i) => `${i.from} -> ${i.to}`),
    [],
  );
});

test('the engine layers import only below themselves', () => {
  const rank: Record<string, number> = { gpu: 0, kernels: 1, graph: 2, model: 3, data: 3, eval: 3, train: 4, infer: 4, cli: 5 };
  const bad = all.filter((i) => {
    const a = rank[layer(i.from)],
      b = rank[layer(i.to)];
    return a !== undefined && b !== undefined && b > a;
  });
  assert.equal(
    bad.map((i) => `${i.from} -> ${i.to}`),
    [],
  );
});

test('graph modules import one another without a cycle', () => {
  // Tensor.backward() and the autograd engine are one unit in two files (tensor.ts <-> autograd.ts).
  const unit = new Set(['graph/tensor.ts', 'graph/autograd.ts']);
  const graph = all.filter((i) => layer(i.from) === 'graph' && layer(i.to) === 'graph' && !i.typeOnly && !(unit.has(i.from) && unit.has(i.to)));
  const edges = new Map<string, string[]>();
  for (const i of graph) edges.set(i.from, [...(edges.get(i.from) ?? []), i.to]);
  const state = new Map<string, 'open' | 'done'>();
  const cycle: string[] = [];
  const visit = (f: string, path: string[]): boolean => {
    if (state.get(f) === 'done') return false;
    if (state.get(f) === 'open') return (cycle.push(...path, f), true);
    state.set(f, 'open');
    for (const t of edges.get(f) ?? []) if (visit(t, [...path, f])) return true;
    state.set(f, 'done');
    return false;
  };
  for (const f of edges.keys()) if (visit(f, [])) break;
  assert.equal(cycle, []);
});

test.run();
