// `npm run web`: bundles the library and the demo page for the browser (the same TypeScript
// sources and the same embedded WGSL as Node, with the Node-only device module left out), then
// serves web/ and models/ on localhost. `--build-only` just bundles (used by the browser test).
import { build } from 'esbuild';
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, extname, join, normalize, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** The browser build gets a stub for src/gpu/node.ts, the only module that reaches Node's APIs. */
export const browserOnly = {
  name: 'browser-only',
  setup(b) {
    b.onResolve({ filter: /^\.\/node\.js$/ }, (args) =>
      args.importer.endsWith(join('gpu', 'device.ts')) ? { path: 'node-gpu', namespace: 'stub' } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'stub' }, () => ({
      contents: 'export function nodeGPU() { throw new Error("no WebGPU in this browser"); }',
      loader: 'js',
    }));
  },
};

/** Headless Chromium with WebGPU (SwiftShader where there is no GPU) on a fresh profile. */
export async function launchChromium(opts = {}) {
  const { chromium } = await import('playwright-core');
  return chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), 'deepmask-chromium-')), {
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox',
      '--enable-unsafe-webgpu',
      '--enable-features=Vulkan',
      '--disable-quic',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
    ...opts,
  });
}

export async function bundle() {
  const result = await build({
    entryPoints: [join(root, 'web/app.ts')],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    outfile: join(root, 'web/dist/app.js'),
    sourcemap: true,
    metafile: true,
    logLevel: 'warning',
    plugins: [browserOnly],
  });
  const inputs = Object.keys(result.metafile.inputs);
  const nodeOnly = inputs.filter((p) => /^node:|(^|\/)(fs|worker_threads|child_process)(\.js)?$/.test(p));
  if (nodeOnly.length) throw new Error(`the browser bundle reaches Node-only modules: ${nodeOnly.join(', ')}`);
  return result;
}

const TYPES = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.map': 'application/json',
  '.json': 'application/json',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.webp': 'image/webp',
  '.safetensors': 'application/octet-stream',
  '.css': 'text/css',
};

/** Type and length: the length gives the page's model download its total (a chunked reply has none). */
const headers = (path, body) => ({ 'content-type': TYPES[extname(path)] ?? 'application/octet-stream', 'content-length': String(body.byteLength) });

/**
 * A static server for web/ (the page at /) and models/ (at /models/), on 127.0.0.1. Tests may add
 * `files` (URL path -> bytes) and watch every request's path with `onRequest`.
 */
export function serve(port = 8080, { files = {}, onRequest } = {}) {
  const server = createServer(async (req, res) => {
    const url = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    onRequest?.(url);
    if (files[url]) {
      res.writeHead(200, headers(url, files[url])).end(files[url]);
      return;
    }
    const rel = url === '/' ? 'web/index.html' : url.startsWith('/models/') ? url.slice(1) : join('web', url);
    const path = normalize(join(root, rel));
    if (!path.startsWith(join(root, 'web')) && !path.startsWith(join(root, 'models'))) {
      res.writeHead(403).end();
      return;
    }
    try {
      const body = await readFile(path);
      res.writeHead(200, headers(path, body)).end(body);
    } catch {
      res.writeHead(404).end('not found');
    }
  });
  return new Promise((ok) => server.listen(port, '127.0.0.1', () => ok(server)));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (!existsSync(join(root, 'src/gpu/shaders.gen.ts'))) throw new Error('run `npm run build` first (it embeds the shaders)');
  await bundle();
  if (!process.argv.includes('--build-only')) {
    const port = Number(process.env.PORT ?? 8080);
    const server = await serve(port);
    console.log(`demo at http://127.0.0.1:${server.address().port}/ (Ctrl-C to stop)`);
  }
}
