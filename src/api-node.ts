// load() for Node ('deepmask-webgpu/node'): everything the universal load() takes, plus model
// folders on disk (a path or a file: URL) and, with no source, the bundled model (models/mobile-coco
// inside the installed package). Files are read in chunks with byte progress and the signal checked
// between chunks.
import { open, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { load as loadUniversal, segmenterFromFiles, type LoadOptions, type ModelSource, type Segmenter } from './api.js';
import { bundledModel } from './model/bundled.js';
import { CONFIG_FILE, WEIGHTS_FILE } from './model/files.js';
import { checkAbort } from './infer/abort.js';

const CHUNK = 4 << 20;

/**
 * Loads a model from a folder (path or file: URL; default: the bundled model), an http(s) URL or
 * its files' bytes, with `onProgress` (bytes) and `signal`.
 */
export async function load(source?: ModelSource, opts: LoadOptions = {}): Promise<Segmenter> {
  let dir: string | null = null;
  if (source === null) return loadUniversal(source, opts); // refused there, with the reason
  if (source === undefined) dir = bundledModel();
  else if (source instanceof URL) dir = source.protocol === 'file:' ? fileURLToPath(source) : null;
  else if (typeof source === 'string' && source.startsWith('file:')) dir = fileURLToPath(source);
  else if (typeof source === 'string' && !/^(https?|blob|data):/i.test(source)) dir = source;
  if (dir === null) return loadUniversal(source, opts);

  const aborted = () => checkAbort(opts.signal, 'loading');
  aborted();
  const paths = [join(dir, CONFIG_FILE), join(dir, WEIGHTS_FILE)];
  const sizes = await Promise.all(
    paths.map((p) =>
      stat(p).then(
        (s) => s.size,
        () => {
          throw new Error(`${p}: not found (a model directory holds ${CONFIG_FILE} and ${WEIGHTS_FILE})`);
        },
      ),
    ),
  );
  const total = sizes[0]! + sizes[1]!;
  let loaded = 0;
  const files: Uint8Array[] = [];
  for (let i = 0; i < 2; i++) {
    const out = new Uint8Array(sizes[i]!);
    const fh = await open(paths[i]!, 'r');
    try {
      for (let at = 0; at < out.length;) {
        aborted();
        const { bytesRead } = await fh.read(out, at, Math.min(CHUNK, out.length - at), at);
        if (bytesRead === 0) throw new Error(`${paths[i]}: the file shrank while it was read`);
        at += bytesRead;
        loaded += bytesRead;
        opts.onProgress?.({ loaded, total, file: i ? WEIGHTS_FILE : CONFIG_FILE, fromCache: false });
      }
    } finally {
      await fh.close();
    }
    files.push(out);
  }
  return segmenterFromFiles(files[0]!, files[1]!, dir, opts);
}
