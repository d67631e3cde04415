import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateScenes } from '../data/synth.js';
import { intInRange, parse, str, UsageError, withNegativeValues } from './args.js';
import type { Command } from './main.js';

const usage = `Usage: deepmask synth --out DIR [--images N] [--seed S] [--width W] [--height H] [--first-id I]

Writes DIR/images/*.png and DIR/instances.json: COCO-format scenes of overlapping, textured shapes
with exact instance masks (RLE), reproducible from the seed.

  --images N     scenes, 1 to 1000000 (default 200)
  --seed S       0 to 2^31-1 (default 0)
  --width W      32 to 4096 (default 256)     --height H 32 to 4096 (default 192)
  --first-id I   first image id, >= 0 (default 1)`;

export const synthCommand: Command = {
  summary: 'write a synthetic COCO-format data set (the built-in default data)',
  usage,
  async run(argv) {
    const spec = { out: { type: 'string' }, images: { type: 'string' }, seed: { type: 'string' }, width: { type: 'string' }, height: { type: 'string' }, 'first-id': { type: 'string' } } as const;
    const { values: v } = parse(withNegativeValues(argv, spec), spec, usage);
    const out = str(v.out);
    if (!out) throw new UsageError(`--out is required\n\n${usage}`);
    // Ranges checked before any work: a huge size would otherwise run out of memory after minutes.
    const o = {
      images: intInRange(v.images, 'images', 200, 1, 1_000_000),
      seed: intInRange(v.seed, 'seed', 0, 0, 2 ** 31 - 1),
      width: intInRange(v.width, 'width', 256, 32, 4096),
      height: intInRange(v.height, 'height', 192, 32, 4096),
      firstId: intInRange(v['first-id'], 'first-id', 1, 0, 2 ** 31 - 1),
    };
    if (o.firstId + o.images - 1 > Number.MAX_SAFE_INTEGER) throw new UsageError('--first-id + --images exceeds the largest image id');
    const n = writeSynth(out, o);
    console.log(`wrote ${n.images} images with ${n.objects} objects to ${out}`);
  },
};

export function writeSynth(out: string, o: Parameters<typeof generateScenes>[0]): { images: number; objects: number } {
  const ds = generateScenes(o);
  mkdirSync(join(out, 'images'), { recursive: true });
  for (const im of ds.images) writeFileSync(join(out, 'images', im.file_name), im.png);
  writeFileSync(join(out, 'instances.json'), JSON.stringify(ds.coco));
  return { images: ds.images.length, objects: ds.coco.annotations.length };
}
