// The demo (`npm start`): synthetic scenes, the tiny preset trained on them on the GPU, then
// proposals on held-out scenes with pictures and Average Recall; and, when the repository's bundled
// model and the workspace's COCO photos are at hand, proposals on real photos too.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { init } from '../index.js';
import { decodeImage } from '../data/image.js';
import { encodePng } from '../data/png.js';
import { generateScenes } from '../data/synth.js';
import { evaluate } from '../eval/cocoeval.js';
import { propose } from '../infer/proposals.js';
import { drawProposals, toCocoResults } from '../infer/results.js';
import { loadModel } from '../model/files.js';
import { runTraining } from '../train/run.js';
import { cliRunHooks } from './run-hooks.js';
import { parse, rangedOption, str, UsageError } from './args.js';
import { bundledModel, bundledPhotos } from '../model/bundled.js';
import { writeSynth } from '../data/synth-files.js';
import type { Command } from './command.js';

const usage = `Usage: deepmask demo [--out DIR] [--steps N] [--photos DIR]

First the bundled model (models/mobile-coco) draws its proposals on real photos (default: the COCO
photos that ship in web/assets/photos) into DIR/viz-photos/*.png. Then it trains a model of your
own: the tiny preset on synthetic scenes it writes, and draws that model's proposals on held-out
scenes (DIR/viz-synth/*.png) with their Average Recall.

  --out DIR      default runs/demo
  --steps N      training steps (default 400)
  --photos DIR   photos for the bundled model (the first 4 .jpg/.png)`;

export const demoCommand: Command = {
  summary: 'the quick start: the bundled model on photos, then a model of your own trained on synthetic scenes',
  usage,
  async run(argv) {
    const { values: v } = parse(argv, { out: { type: 'string' }, steps: { type: 'string' }, photos: { type: 'string' } }, usage);
    const out = str(v.out) ?? 'runs/demo';
    const steps = rangedOption(v.steps, 'steps', 400, { min: 1, max: 1e9, integer: true });
    if (v.photos !== undefined && !existsSync(str(v.photos)!)) throw new UsageError(`--photos: no such folder: ${str(v.photos)}`);
    const rt = await init();
    console.log(`adapter: ${rt.adapter.description}`);

    const pictures: string[] = [];

    // 1: what the shipped model does on photos, before any training.
    const photos = str(v.photos) ?? bundledPhotos();
    let bundled: string | null = null;
    try {
      bundled = bundledModel();
    } catch {
      bundled = null;
    }
    if (bundled && existsSync(photos)) {
      const real = loadModel(bundled);
      const files = readdirSync(photos)
        .filter((f) => /\.(jpe?g|png)$/i.test(f))
        .sort()
        .slice(0, 4);
      const dir = join(out, 'viz-photos');
      mkdirSync(dir, { recursive: true });
      console.log(
        `1/3 the bundled model (${real.config.preset}${real.refine ? ', refined masks' : ''}) on ${files.length} photo${files.length === 1 ? '' : 's'} from ${photos} (the first run also compiles the GPU kernels)`,
      );
      for (const f of files) {
        const img = decodeImage(readFileSync(join(photos, f)), f);
        const t0 = performance.now();
        const r = await propose(real, img, { proposals: 20 });
        const file = join(dir, f.replace(/\.\w+$/, '.png'));
        writeFileSync(file, encodePng(drawProposals(img, r.proposals, 8), img.width, img.height));
        console.log(`    ${file}: ${img.width}x${img.height}, top 8 of ${r.proposals.length} proposals, ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      }
      pictures.push(`${dir}/  the bundled model's top proposals on real photos`);
    } else console.log(`1/3 skipped: ${bundled ? `no photos in ${photos}` : 'no bundled model (models/mobile-coco)'}`);

    // 2: a model of one's own, trained here on synthetic scenes.
    const synth = join(out, 'synth');
    let wrote = '';
    if (!existsSync(join(synth, 'instances.json'))) {
      const n = writeSynth(synth, { images: 200, seed: 0 });
      wrote = `wrote ${n.images} synthetic scenes with ${n.objects} objects to ${synth}; `;
    }
    console.log(`2/3 training a model of your own: ${wrote}the tiny preset for ${steps} steps (batch 16) on the scenes in ${synth}`);
    const cli = cliRunHooks();
    const run = await runTraining(
      {
        data: join(synth, 'instances.json'),
        images: join(synth, 'images'),
        preset: 'tiny',
        out: join(out, 'tiny'),
        steps,
        batch: 16,
        lrSchedule:
          steps >= 4
            ? [
                [0, 0.01],
                [Math.floor(steps * 0.75), 0.003],
              ]
            : [[0, 0.01]],
        holdOut: 20,
        valWindows: 128,
        validateEvery: Math.max(50, Math.floor(steps / 4)),
        checkpointEvery: steps,
        logEvery: 20,
        force: true, // the demo's own scratch run: a rerun replaces it
      },
      cli.hooks,
    ).finally(() => cli.close());
    if (run.interrupted) {
      process.exitCode = run.interrupted === 'SIGINT' ? 130 : 143;
      rt.destroy();
      return;
    }
    pictures.push(`${join(out, 'tiny', 'curves.png')}  its training curves`);

    // 3: the trained model on scenes it never saw.
    console.log('3/3 your model on 12 held-out scenes');
    const model = loadModel(run.modelDir);
    const held = generateScenes({ images: 12, seed: 4242, firstId: 100001 });
    const vizDir = join(out, 'viz-synth');
    mkdirSync(vizDir, { recursive: true });
    const dts = [];
    for (const im of held.images) {
      const img = decodeImage(im.png, im.file_name);
      const r = await propose(model, img, { proposals: 100 });
      dts.push(...toCocoResults(im.id, r.proposals));
      writeFileSync(join(vizDir, im.file_name), encodePng(drawProposals(img, r.proposals, 8), img.width, img.height));
    }
    const ar = evaluate(held.coco.images, held.coco.annotations, dts, { iouType: 'segm', maxDets: [10, 100] }).AR;
    console.log(
      `    held-out scenes: mask AR@10 ${ar['AR@10']!.toFixed(3)}, AR@100 ${ar['AR@100']!.toFixed(3)} (a ${steps}-step run; \`deepmask train --steps\` goes further)`,
    );
    pictures.push(`${vizDir}/  your model's top proposals on held-out scenes`);

    console.log(`done. Pictures:\n${pictures.map((p) => `  ${p}`).join('\n')}\nyour model: ${run.modelDir} (deepmask infer PHOTO --weights ${run.modelDir})`);
    rt.destroy();
  },
};
