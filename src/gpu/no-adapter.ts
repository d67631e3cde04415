// What to tell someone who has no WebGPU adapter, in terms they can act on where they are: a Node
// user gets what to install on their OS and the package's own command that installs it (`npm run
// setup` exists only in a checkout); a page visitor gets the browsers and flags that give WebGPU.
// Pure functions (no Node or DOM access), so the page, the CLI and the tests share them.

export class NoAdapterError extends Error {
  override name = 'NoAdapterError';
}

/** The host a Node process runs on: `process.platform` and the text of /etc/os-release (Linux). */
export interface NodeHost {
  platform: string;
  osRelease?: string;
}

function osReleaseField(text: string | undefined, key: string): string {
  const m = new RegExp(`^${key}=(.*)$`, 'm').exec(text ?? '');
  return m ? m[1]!.trim().replace(/^["']|["']$/g, '') : '';
}

/** The message for a Node process (CLI or library) in which Dawn found no adapter. */
export function nodeNoAdapterMessage(host: NodeHost): string {
  const head = 'No WebGPU adapter found: Dawn (the npm `webgpu` package) needs a Vulkan, Metal or D3D12 driver.';
  const setup = 'or run `npx deepmask setup`, which installs it (it asks for sudo; `npx deepmask setup --dry-run` shows the commands first).';
  if (host.platform === 'darwin') return `${head} On macOS it uses Metal: macOS 11 or later on a Mac with Metal support is needed.`;
  if (host.platform === 'win32') return `${head} On Windows it uses D3D12: install or update your GPU's driver (Windows 10 or later).`;
  if (host.platform !== 'linux') return `${head} Install a GPU driver with Vulkan support for ${host.platform}.`;
  const id = osReleaseField(host.osRelease, 'ID'),
    like = osReleaseField(host.osRelease, 'ID_LIKE');
  const codename = osReleaseField(host.osRelease, 'VERSION_CODENAME');
  const gpu = "With a GPU, install its vendor's Vulkan driver instead.";
  if (codename === 'bookworm') {
    return `${head} On Debian 12 without a GPU, install Mesa's Vulkan driver (lavapipe, software Vulkan) from bookworm-backports (Debian 12's own Mesa 22 is too old for Dawn): add \`deb http://deb.debian.org/debian bookworm-backports main\` to /etc/apt/sources.list.d/ and \`sudo apt-get install -t bookworm-backports mesa-vulkan-drivers libvulkan1\`; ${setup} ${gpu}`;
  }
  if (/debian|ubuntu/.test(`${id} ${like}`)) {
    return `${head} On Debian or Ubuntu without a GPU, install Mesa's Vulkan driver (lavapipe, software Vulkan): \`sudo apt-get install mesa-vulkan-drivers libvulkan1\` (Mesa 23 or later), ${setup} ${gpu}`;
  }
  return `${head} On Linux without a GPU, install Mesa's Vulkan driver (lavapipe, software Vulkan; Mesa 23 or later) and the Vulkan loader from your distribution (e.g. Fedora: mesa-vulkan-drivers vulkan-loader; Arch: vulkan-swrast). ${gpu}`;
}

/** Which browsers give WebGPU, and how (as of 2025). */
export const WEBGPU_BROWSERS =
  'WebGPU is in Chrome and Edge 113+ on Windows, macOS and ChromeOS; in Chrome on Linux started with `--enable-unsafe-webgpu --enable-features=Vulkan`; ' +
  'in Safari 26 (and Safari Technology Preview); in Firefox 141+ on Windows, and Firefox Nightly elsewhere.';

/**
 * The page's message when WebGPU is missing (`hasGpu` false: no navigator.gpu) or gives no adapter
 * (`hasGpu` true: e.g. the GPU is blocklisted or WebGPU is switched off), with a hint for the
 * browser in `userAgent`.
 */
export function browserNoWebGPUMessage(o: { hasGpu: boolean; userAgent: string }): string {
  const ua = o.userAgent;
  const head = o.hasGpu
    ? 'This browser has WebGPU but gave no adapter (the GPU may be blocklisted, or WebGPU switched off in its settings or flags).'
    : 'This browser has no WebGPU (navigator.gpu is missing), so the page cannot run.';
  let hint = '';
  if (/Firefox\//.test(ua))
    hint = /Windows/.test(ua)
      ? ' Use Firefox 141 or later.'
      : ' In Firefox, WebGPU is on by default only on Windows (141+); elsewhere use Firefox Nightly, or Chrome.';
  else if (/Edg\//.test(ua) || /Chrom(e|ium)\//.test(ua)) {
    hint =
      /Linux/.test(ua) && !/Android|CrOS/.test(ua)
        ? ' On Linux, start Chrome with --enable-unsafe-webgpu --enable-features=Vulkan (and a Vulkan driver: Mesa for software rendering).'
        : ' Use Chrome or Edge 113 or later (chrome://gpu says whether WebGPU is on).';
  } else if (/Safari\//.test(ua)) hint = ' Use Safari 26 or later, or Safari Technology Preview.';
  return `${head}${hint} ${WEBGPU_BROWSERS}`;
}
