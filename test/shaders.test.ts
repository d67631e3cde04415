// The embedded WGSL (src/gpu/shaders.gen.ts, made by scripts/build.mjs): each family is one
// complete module, the prelude and its `//#include` fragments expanded once each.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync } from 'node:fs';
import { SHADERS } from '../src/gpu/shaders.gen.js';

const count = (s: string, needle: string) => s.split(needle).length - 1;
const shaders = new URL('../../shaders/', import.meta.url);

test('every file in shaders/ is a family, and no fragment is', () => {
  const files = readdirSync(shaders).filter((f) => f.endsWith('.wgsl')).map((f) => f.slice(0, -5)).sort();
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
  const core = readFileSync(new URL('include/gemm.wgsl', shaders), 'utf8');
  for (const name of ['matmul', 'conv2d']) {
    assert.is(count(SHADERS[name]!, core.trimEnd()), 1, name);
    assert.not.match(SHADERS[name]!, /fn gemm_\w+\([^)]*ptr<function, Acc>[^)]*\)[^{]*\{[^}]*\bfma\(/, `${name}: no fma through a pointer to the tile (it would stay in memory on SwiftShader)`);
  }
});

test.run();
