import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateScenes } from '../data/synth.js';
import { intOption, parse, str, UsageError } from './args.js';
import type { Command } from './main.js';

const usage = `Usage: deepmask synth --out DIR [--images N] [--seed S] [--width W] [--height H] [--first-id I]

Writes DIR/images/*.png and DIR/instances.json: COCO-format scenes of overlapping, textured shapes
with exact instance masks (RLE), reproducible from the seed.

  --images N     scenes (default 200)
  --seed S       (default 0)
  --width W      (default 256)     --height H (default 192)
  --first-id I   first image id (default 1)`;

export const synthCommand: Command = {
  summary: 'write a synthetic COCO-format data set (the built-in default data)',
  usage,
  async run(argv) {
    const { values: v } = parse(argv, { out: { type: 'string' }, images: { type: 'string' }, seed: { type: 'string' }, width: { type: 'string' }, height: { type: 'string' }, 'first-id': { type: 'string' } }, usage);
    const out = str(v.out);
    if (!out) throw new UsageError(`--out is required\n\n${usage}`);
    const n = writeSynth(out, {
      images: intOption(v.images, 'images', 200),
      seed: intOption(v.seed, 'seed', 0),
      width: intOption(v.width, 'width', 256),
      height: intOption(v.height, 'height', 192),
      firstId: intOption(v['first-id'], 'first-id', 1),
    });
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
