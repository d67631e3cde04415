// Writes a synthetic data set to disk (Node): DIR/images/*.png and DIR/instances.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateScenes } from './synth.js';

export function writeSynth(out: string, o: Parameters<typeof generateScenes>[0]): { images: number; objects: number } {
  const ds = generateScenes(o);
  mkdirSync(join(out, 'images'), { recursive: true });
  for (const im of ds.images) writeFileSync(join(out, 'images', im.file_name), im.png);
  writeFileSync(join(out, 'instances.json'), JSON.stringify(ds.coco));
  return { images: ds.images.length, objects: ds.coco.annotations.length };
}
