// The embedded WGSL (src/gpu/shaders.gen.ts, made by scripts/build.mjs): each family is one
// complete module, the prelude and its `//#include` fragments expanded (scripts/wgsl-include.mjs);
// every module keeps the rules of register promotion (src/gpu/unroll.ts's lint).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SHADERS, SHADERS_SUBGROUPS } from '../src/gpu/shaders.gen.js';
import { lintUnroll } from '../src/gpu/unroll.js';
import type * as Include from '../scripts/wgsl-include.mjs';

// scripts/ sits beside dist/, not inside it: import the expander by URL from the compiled test.
const { buildModules } = (await import(new URL('../../scripts/wgsl-include.mjs', import.meta.url).href)) as typeof Include;

const count = (s: string, needle: string) => s.split(needle).length - 1;
const shaders = new URL('../../shaders/', import.meta.url);

test('every file in shaders/ is a family, and no fragment is', () => {
  const files = readdirSync(shaders)
    .filter((f) => f.endsWith('.wgsl'))
    .map((f) => f.slice(0, -5))
    .sort();
  assert.equal(Object.keys(SHADERS).sort(), files);
});

test('each family holds the prelude once and no include directive', () => {
  for (const [name, code] of Object.entries(SHADERS)) {
    assert.is(count(code, 'fn workgroup_linear('), 1, name);
    assert.is(count(code, 'fn nhwc_pixel('), 1, name);
    assert.not.match(code, /^\s*\/\/#(include|params)/m, name);
  }
});

test('matmul and conv2d share the one GEMM core, included once each', () => {
  // The core's text between its own include lines, each piece once.
  const core = readFileSync(new URL('include/gemm.wgsl', shaders), 'utf8');
  const pieces = core
    .split(/^\s*\/\/#include.*$/m)
    .map((p) => p.trim())
    .filter((p) => p.length > 0);
  assert.ok(pieces.length >= 2, 'the core includes the lanes fragment');
  for (const name of ['matmul', 'conv2d']) {
    for (const piece of pieces) assert.is(count(SHADERS[name]!, piece), 1, name);
    assert.not.match(
      SHADERS[name]!,
      /fn gemm_\w+\([^)]*ptr<function, Acc>[^)]*\)[^{]*\{[^}]*\bfma\(/,
      `${name}: no fma through a pointer to the tile (it would stay in memory on SwiftShader)`,
    );
  }
});

test('the subgroup twins: matmul and conv2d only, each its plain module with lanes.subgroups.wgsl in place of lanes.wgsl', () => {
  assert.equal(Object.keys(SHADERS_SUBGROUPS).sort(), ['conv2d', 'matmul']);
  const plain = readFileSync(new URL('include/lanes.wgsl', shaders), 'utf8').trim();
  const twin = readFileSync(new URL('include/lanes.subgroups.wgsl', shaders), 'utf8').trim();
  for (const [name, code] of Object.entries(SHADERS_SUBGROUPS)) {
    assert.ok(code.startsWith('enable subgroups;\n'), `${name}: enables subgroups first`);
    assert.is(count(code, twin), 1, `${name}: the twin fragment once`);
    assert.is(count(code, plain), 0, `${name}: not the plain fragment`);
    assert.is(
      code.replace(/^enable subgroups;\n(\/\/.*\n)?diagnostic\(off, subgroup_uniformity\);\n/, '').replace(twin, plain),
      SHADERS[name],
      `${name}: otherwise the plain module`,
    );
  }
  for (const [name, code] of Object.entries(SHADERS))
    assert.not.match(code, /\bsubgroup[A-Z]|enable subgroups/, `${name}: the plain module uses no subgroup builtin`);
});

test('the GEMM K loop and its rank-1 update are written once, in fragments expanded inline in each entry point', () => {
  const src = (f: string) => readFileSync(new URL(f, shaders), 'utf8');
  // The kernels supply loads; the arithmetic on the tile is only in the fragments.
  for (const f of ['matmul.wgsl', 'conv2d.wgsl']) assert.is(count(src(f), 'fma('), 0, `${f} updates no tile itself`);
  assert.is(count(src('include/gemm_rank1.wgsl'), 'fma('), 1);
  assert.is(count(src('include/gemm_kloop.wgsl'), 'fma('), 2, 'the two-k update, fused as before');
  // Expanded inline: matmul's loop once, conv2d's in forward and dX, and rank-1 updates in dW.
  const expanded = (code: string, fn: string) => {
    const at = code.indexOf(`fn ${fn}(`);
    const next = code.indexOf('\nfn ', at + 1);
    return code.slice(at, next < 0 ? undefined : next);
  };
  for (const [family, fn, updates] of [
    ['matmul', 'matmul', 3],
    ['conv2d', 'forward', 3],
    ['conv2d', 'backward_input', 3],
    ['conv2d', 'backward_weight', 3],
  ] as const) {
    const body = expanded(SHADERS[family]!, fn);
    assert.is(count(body, '] = fma('), updates, `${family}.${fn}: its K loop's tile updates, inline`);
    assert.not.match(body, /\b(a|a_own|b|brow)\(/, `${family}.${fn}: every fragment parameter substituted`);
  }
});

test('every generated module keeps the rules of register promotion (lintUnroll)', () => {
  for (const [name, code] of [...Object.entries(SHADERS), ...Object.entries(SHADERS_SUBGROUPS).map(([n, c]) => [`${n} (subgroups)`, c] as const)])
    assert.equal(lintUnroll(code), [], `${name}: see src/gpu/unroll.ts, lintUnroll`);
});

// The expander on a scratch shaders/ folder: a family and fragments written by each case.
function expandWith(files: Record<string, string>): Record<string, string> {
  const dir = mkdtempSync(join(tmpdir(), 'wgsl-include-'));
  try {
    mkdirSync(join(dir, 'include'));
    writeFileSync(join(dir, 'include/prelude.wgsl'), '// prelude\n');
    for (const [f, text] of Object.entries(files)) writeFileSync(join(dir, f), text);
    return buildModules(dir).shaders;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const axpy = '// acc += s * x(k) for every k\n//#params s, x(k)\nfor (var k = 0u; k < 4u; k++) { acc += s * x(k); }\n';

test('parameterised include: expanded at each use, indented, arguments in parentheses where precedence needs them', () => {
  const out = expandWith({
    'include/axpy.wgsl': axpy,
    'f.wgsl': [
      'fn f(u: array<f32, 8>) -> f32 {',
      '  var acc = 0.0;',
      '  //#include axpy(s = 2.0 + 1.0, x(i) = u[i + 4u] * 0.5)',
      '  if (true) {',
      '    //#include axpy(s = g(1u),',
      '    //  x(i) = u[i])',
      '  }',
      '  return acc;',
      '}',
    ].join('\n'),
  }).f!;
  assert.ok(out.includes('\n  for (var k = 0u; k < 4u; k++) { acc += (2.0 + 1.0) * (u[k + 4u] * 0.5); }\n'), out);
  assert.ok(out.includes('\n    for (var k = 0u; k < 4u; k++) { acc += g(1u) * u[k]; }\n'), out);
  assert.not.match(out, /for every k|#params/, "the fragment's header stays out");
});

test('parameterised include: errors say where and what was expected', () => {
  const fails = (family: string, fragment: string, message: RegExp) => {
    assert.throws(() => expandWith({ 'include/axpy.wgsl': fragment, 'f.wgsl': `fn f() {\n  var acc = 0.0;\n${family}\n}\n` }), message);
  };
  const call = (args: string) => `  //#include axpy(${args})`;
  fails(call('s = 1.0'), axpy, /shaders\/f\.wgsl:3: missing argument\(s\) x for shaders\/include\/axpy\.wgsl/);
  fails(call('s = 1.0, x(i) = 1.0, t = 2.0'), axpy, /f\.wgsl:3: shaders\/include\/axpy\.wgsl has no parameter 't' \(it takes s, x\(k\)\)/);
  fails(call('s = 1.0, x = 1.0'), axpy, /f\.wgsl:3: shaders\/include\/axpy\.wgsl declares 'x\(k\)': expected 'x\(x0\) = \.\.\.' \(found 'x'\)/);
  fails(call('s = k * 1.0, x(i) = 1.0'), axpy, /f\.wgsl:3: the argument s uses 'k', a name that shaders\/include\/axpy\.wgsl declares itself/);
  fails(
    call('s = 1.0, x(i) = 1.0'),
    axpy.replace('{ acc += s * x(k); }', '{ acc += s * x(k, 1u); }'),
    /include\/axpy\.wgsl:3 \(included from shaders\/f\.wgsl:3\): 'x' takes 1 argument\(s\) \(i\), given 2/,
  );
  fails('  //#include axpy(s = 1.0,\n  var x = 1;', axpy, /f\.wgsl:3: '\/\/#include axpy\(' is not closed/);
  fails('  //#include axpy', axpy, /f\.wgsl:3: shaders\/include\/axpy\.wgsl takes parameters \(its line 2\): expected '\/\/#include axpy\(\.\.\.\)'/);
  fails(call('s = 1.0'), 'fn g() {}\n', /f\.wgsl:3: shaders\/include\/axpy\.wgsl declares no '\/\/#params' line/);
  fails(call('s 1.0'), axpy, /f\.wgsl:3: expected 'NAME = TEXT' or 'NAME\(x, y\) = TEXT' as an argument \(found 's 1\.0'\)/);
});

test.run();
