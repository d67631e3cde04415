import { writeSynth } from '../data/synth-files.js';
import { parse, rangedOption, str, UsageError, withNegativeValues } from './args.js';
import type { Command } from './command.js';

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
    const spec = {
      out: { type: 'string' },
      images: { type: 'string' },
      seed: { type: 'string' },
      width: { type: 'string' },
      height: { type: 'string' },
      'first-id': { type: 'string' },
    } as const;
    const { values: v } = parse(withNegativeValues(argv, spec), spec, usage);
    const out = str(v.out);
    if (!out) throw new UsageError(`--out is required\n\n${usage}`);
    // Ranges checked before any work: a huge size would otherwise run out of memory after minutes.
    const o = {
      images: rangedOption(v.images, 'images', 200, { min: 1, max: 1_000_000, integer: true }),
      seed: rangedOption(v.seed, 'seed', 0, { min: 0, max: 2 ** 31 - 1, integer: true }),
      width: rangedOption(v.width, 'width', 256, { min: 32, max: 4096, integer: true }),
      height: rangedOption(v.height, 'height', 192, { min: 32, max: 4096, integer: true }),
      firstId: rangedOption(v['first-id'], 'first-id', 1, { min: 0, max: 2 ** 31 - 1, integer: true }),
    };
    if (o.firstId + o.images - 1 > Number.MAX_SAFE_INTEGER) throw new UsageError('--first-id + --images exceeds the largest image id');
    const n = writeSynth(out, o);
    console.log(`wrote ${n.images} images with ${n.objects} objects to ${out}`);
  },
};
