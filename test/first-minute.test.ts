// The first minute of a new user: no WebGPU (a message that says what to install here and a command
// the package itself provides, `deepmask setup`; on a page, which browsers and flags give WebGPU),
// and `deepmask infer --point` details (usage errors before any
// work, a picture with --viz, a summary that reports the work, no empty folder left by a failure).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { acquireDevice } from '../src/gpu/device.js';
import { browserNoWebGPUMessage, nodeNoAdapterMessage } from '../src/gpu/no-adapter.js';
import { decodeImage } from '../src/data/image.js';
import { generateScenes } from '../src/data/synth.js';
import { repoPath } from './lib/shared.js';

const bin = repoPath('bin/deepmask.js');
// A Vulkan loader pointed at no driver: Dawn finds no adapter, as on a machine without one.
const NO_DRIVER = { VK_ICD_FILENAMES: '/nonexistent/deepmask-no-driver.json' };
const tmp = mkdtempSync(join(tmpdir(), 'deepmask-first-'));
const cli = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 120_000 });
const debian12 = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n';
const ubuntu = 'NAME="Ubuntu"\nID=ubuntu\nID_LIKE=debian\nVERSION_CODENAME=noble\n';
const apt = spawnSync('sh', ['-c', 'command -v apt-get']).status === 0;

test('no adapter in Node: what to install on this OS and the package-provided command, never `npm run setup`', async () => {
  const d12 = nodeNoAdapterMessage({ platform: 'linux', osRelease: debian12 });
  for (const s of ['mesa-vulkan-drivers', 'bookworm-backports', 'npx deepmask setup']) assert.ok(d12.includes(s), `Debian 12: ${s} in\n${d12}`);
  const u = nodeNoAdapterMessage({ platform: 'linux', osRelease: ubuntu });
  assert.ok(u.includes('mesa-vulkan-drivers') && u.includes('npx deepmask setup') && !u.includes('backports'), u);
  assert.match(nodeNoAdapterMessage({ platform: 'darwin' }), /Metal/);
  assert.match(nodeNoAdapterMessage({ platform: 'win32' }), /D3D12/);
  for (const m of [d12, u]) assert.not.ok(m.includes('npm run setup'), 'package users have no setup script');
  // The device path, with an entry point that finds no adapter: the message for this host.
  const err = await acquireDevice({ gpu: { requestAdapter: async () => null } }).then(
    () => null,
    (e: Error) => e,
  );
  assert.is(err?.name, 'NoAdapterError');
  assert.match(err!.message, /No WebGPU adapter found/);
  assert.not.ok(err!.message.includes('npm run setup'), err!.message);
  if (process.platform === 'linux' && /ID(_LIKE)?=.*(debian|ubuntu)/.test(readFileSync('/etc/os-release', 'utf8'))) {
    assert.ok(err!.message.includes('mesa-vulkan-drivers') && err!.message.includes('npx deepmask setup'), err!.message);
  }
});

test("the page: which browsers and flags give WebGPU, for the visitor's browser", () => {
  const linuxChrome = browserNoWebGPUMessage({
    hasGpu: false,
    userAgent: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/138.0.0.0 Safari/537.36',
  });
  assert.match(linuxChrome, /no WebGPU/);
  assert.ok(linuxChrome.includes('--enable-unsafe-webgpu --enable-features=Vulkan'), linuxChrome);
  for (const s of ['Chrome and Edge 113+ on Windows, macOS and ChromeOS', 'Safari 26', 'Technology Preview', 'Firefox 141+ on Windows', 'Nightly'])
    assert.ok(linuxChrome.includes(s), s);
  const firefox = browserNoWebGPUMessage({ hasGpu: false, userAgent: 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0' });
  assert.match(firefox, /Firefox Nightly/);
  const safari = browserNoWebGPUMessage({
    hasGpu: false,
    userAgent: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.5 Safari/605.1.15',
  });
  assert.match(safari, /Use Safari 26 or later, or Safari Technology Preview/);
  assert.match(browserNoWebGPUMessage({ hasGpu: true, userAgent: '' }), /gave no adapter/);
  // The page itself no longer hangs on its placeholder: its no-WebGPU path sets the header.
  const app = readFileSync(repoPath('web/app.ts'), 'utf8');
  assert.match(app, /\$\('adapter'\)\.textContent = 'no WebGPU adapter: see below'/);
});

test('deepmask info and load() with no adapter: the message and exit 1', () => {
  const r = cli(['info'], NO_DRIVER);
  assert.is(r.status, 1, r.stderr);
  assert.match(r.stderr, /^deepmask: No WebGPU adapter found/m);
  assert.ok(r.stderr.includes('npx deepmask setup') && !r.stderr.includes('npm run setup'), r.stderr);
  // The library's load() in Node (from the package's entry point) says the same.
  const script = `import(${JSON.stringify(repoPath('dist/src/node.js'))}).then((m) => m.load()).then(() => process.exit(3), (e) => { console.log(e.name + ': ' + e.message); process.exit(0); })`;
  const l = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', env: { ...process.env, ...NO_DRIVER }, timeout: 60_000 });
  assert.is(l.status, 0, l.stdout + l.stderr);
  assert.match(l.stdout, /^NoAdapterError: No WebGPU adapter found/);
  assert.ok(l.stdout.includes('npx deepmask setup'), l.stdout);
});

test('deepmask setup: --help, and a dry run that names what it would install, also from an installed package', () => {
  const h = cli(['setup', '--help']);
  assert.is(h.status, 0, h.stderr);
  assert.match(h.stdout, /--dry-run/);
  assert.match(h.stdout, /mesa|Mesa/);
  const files = (JSON.parse(readFileSync(repoPath('package.json'), 'utf8')) as { files: string[] }).files;
  for (const f of ['scripts/setup.sh', 'scripts/probe-adapter.mjs']) assert.ok(files.includes(f), `${f} is packed`);
  if (!apt || process.platform !== 'linux') return;
  const d = cli(['setup', '--dry-run'], NO_DRIVER);
  assert.is(d.status, 0, d.stdout + d.stderr);
  assert.match(d.stdout, /no WebGPU adapter found; would install Mesa lavapipe/);
  assert.match(d.stdout, /would run: .*apt-get install -y .*mesa-vulkan-drivers/);
  assert.not.match(d.stdout, /npm ci/);
  // As installed: node_modules/deepmask-webgpu/ with no lock file and no node_modules of its own,
  // `webgpu` beside it. No npm step, and the probe finds Dawn there.
  const proj = join(tmp, 'proj'),
    pkg = join(proj, 'node_modules', 'deepmask-webgpu');
  mkdirSync(join(pkg, 'scripts'), { recursive: true });
  for (const f of ['scripts/setup.sh', 'scripts/probe-adapter.mjs', 'package.json']) cpSync(repoPath(f), join(pkg, f));
  symlinkSync(repoPath('node_modules/webgpu'), join(proj, 'node_modules', 'webgpu'));
  const installed = spawnSync('bash', [join(pkg, 'scripts/setup.sh'), '--dry-run'], { encoding: 'utf8', cwd: proj });
  assert.is(installed.status, 0, installed.stdout + installed.stderr);
  assert.not.match(installed.stdout, /npm ci/);
  assert.match(installed.stdout, /a WebGPU adapter is present .*nothing to install/);
});

// ---- deepmask infer --point ---------------------------------------------------------------------

const scenes = generateScenes({ images: 2, width: 128, height: 96, seed: 5 });
const images = join(tmp, 'images');
mkdirSync(images);
scenes.images.forEach((s, i) => writeFileSync(join(images, `scene${i}.png`), s.png));
const one = join(images, 'scene0.png');
const infer = (args: string[], env: Record<string, string> = {}) => cli(['infer', ...args, '--weights', repoPath('models/tiny-synth')], env);

test('infer --point: a point outside the image and a folder are usage errors before any work, no folder made', () => {
  const out = join(tmp, 'outside');
  const t0 = performance.now();
  const r = infer([one, '--point', '200,10', '--out', out]);
  assert.is(r.status, 2, r.stderr);
  assert.ok(r.stderr.includes(`--point 200,10 is outside ${one}, which is 128x96 pixels`), r.stderr);
  assert.not.match(r.stdout, /adapter:/, 'refused before the model and the GPU');
  assert.not.ok(existsSync(out), 'no output folder');
  assert.ok(performance.now() - t0 < 20_000);
  const f = infer([images, '--point', '5,5', '--out', join(tmp, 'folder')]);
  assert.is(f.status, 2, f.stderr);
  assert.ok(f.stderr.includes(`give exactly one image file, not ${images} (a folder of 2 images)`), f.stderr);
  assert.not.ok(existsSync(join(tmp, 'folder')));
  assert.match(cli(['infer', '--help']).stdout, /exactly one image file: a folder, several\s+images, a manifest or a COCO file are refused/);
});

test('infer --point --viz: a picture with the chosen masks and the points marked; the summary reports the work', () => {
  const out = join(tmp, 'click');
  const r = infer([one, '--point', '64,48', '--point', '10,80', '--viz', '--out', out]);
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /2 point\(s\) on 1 image: encoded once in [1-9]\d* ms \(pyramid\+trunk\+heads [1-9]\d*\), 6 masks at the points in \d+ ms/);
  assert.not.match(r.stdout, /mean per image: 0 ms/);
  const png = join(out, 'viz', 'scene0.png');
  assert.ok(existsSync(png), `no picture in ${out}/viz`);
  const pic = decodeImage(readFileSync(png)),
    src = decodeImage(readFileSync(one));
  assert.is(pic.width, 128);
  assert.is(pic.height, 96);
  let changed = 0;
  for (let i = 0; i < src.data.length; i++) if (pic.data[i] !== src.data[i]) changed++;
  assert.ok(changed > 300, `the masks are drawn (${changed} values changed)`);
  // Each point: a dark centre in a white disc.
  const px = (x: number, y: number) => [...pic.data.slice(3 * (y * 128 + x), 3 * (y * 128 + x) + 3)].map((v) => Math.round(255 * v));
  for (const [x, y] of [
    [64, 48],
    [10, 80],
  ] as const) {
    assert.equal(px(x, y), [0, 0, 0], `centre of point ${x},${y}`);
    assert.equal(px(x + 2, y), [255, 255, 255], `disc of point ${x},${y}`);
  }
});

test('a failed infer run removes the output folders it created, and only those', () => {
  const out = join(tmp, 'new', 'deeper', 'out');
  const r = infer([one, '--out', out], NO_DRIVER);
  assert.is(r.status, 1, r.stderr);
  assert.match(r.stderr, /No WebGPU adapter found/);
  assert.not.ok(existsSync(join(tmp, 'new')), 'the folders the run made are gone');
  const kept = join(tmp, 'kept');
  mkdirSync(kept);
  assert.is(infer([one, '--viz', '--out', kept], NO_DRIVER).status, 1);
  assert.ok(existsSync(kept), 'a folder that was there before stays');
});

test('npm start (deepmask demo): the bundled model on photos first, then a model of your own; the pictures are listed at the end', () => {
  const photos = join(tmp, 'demo-photos');
  mkdirSync(photos);
  cpSync(one, join(photos, 'scene0.png'));
  const out = join(tmp, 'demo');
  const bad = cli(['demo', '--photos', join(tmp, 'no-such-folder'), '--out', out]);
  assert.is(bad.status, 2, bad.stderr);
  assert.match(bad.stderr, /--photos: no such folder/);
  assert.not.ok(existsSync(out), 'refused before any work');
  // Three stages, the bundled model's kernels compiled on a cold shader cache: more than cli()'s two minutes.
  const r = spawnSync(process.execPath, [bin, 'demo', '--photos', photos, '--steps', '2', '--out', out], { encoding: 'utf8', timeout: 600_000 });
  assert.is(r.status, 0, r.stderr);
  const first = r.stdout.indexOf('1/3 the bundled model'),
    second = r.stdout.indexOf('2/3 training a model of your own'),
    third = r.stdout.indexOf('3/3 your model');
  assert.ok(first >= 0 && first < second && second < third, `stages in order:\n${r.stdout}`);
  for (const f of [join(out, 'viz-photos', 'scene0.png'), join(out, 'viz-synth', 'synth_100001.png'), join(out, 'tiny', 'curves.png')])
    assert.ok(existsSync(f), `${f} written`);
  const done = r.stdout.slice(r.stdout.indexOf('done. Pictures:'));
  for (const p of [join(out, 'viz-photos'), join(out, 'viz-synth'), join(out, 'tiny', 'curves.png')])
    assert.ok(done.includes(p), `${p} listed at the end:\n${done}`);
});

test.run();
