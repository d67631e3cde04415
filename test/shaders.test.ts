// The embedded WGSL (src/gpu/shaders.gen.ts, made by scripts/build.mjs): each family is one
// complete module, the prelude and its `//#include` fragments expanded once each.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync } from 'node:fs';
import { SHADERS, SHADERS_SUBGROUPS } from '../src/gpu/shaders.gen.js';

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
    assert.not.match(code, /^\s*\/\/#include/m, name);
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

test.run();
