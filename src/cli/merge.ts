import { mergeShards, RESULTS_FILE, SUMMARY_FILE } from '../infer/shards.js';
import { parse, str, UsageError } from './args.js';
import type { Command } from './command.js';

const usage = `Usage: deepmask merge DIR... --out DIR

Joins the shards of one \`deepmask infer --shard I/N\` run (or --shards N) into the results a single
process would have written. Each DIR is a shard folder (shard-I-of-N) or a folder holding them.
Refuses, naming the folder, when a shard is missing, unfinished (no _SUCCESS), given twice or from
another run (other model, settings, input list or N).

Writes into --out: results.json and ids.json (as one whole run writes them), summary.json (images,
proposals, skipped files, time per image, adapters, hosts) and _SUCCESS.
Exit status: 0 merged; 1 refused (the message names the shard); 2 a usage error.`;

export const mergeCommand: Command = {
  summary: 'join the shards of a sharded infer run into one results file',
  usage,
  async run(argv) {
    const { values: v, positionals } = parse(argv, { out: { type: 'string' } }, usage);
    const out = str(v.out);
    if (!out) throw new UsageError(`--out is required\n\n${usage}`);
    if (!positionals.length) throw new UsageError(`give the shard folders (or the folder holding them)\n\n${usage}`);
    const s = mergeShards(positionals, out);
    console.log(`merged ${s.shards} shard(s): ${s.images} images (${s.processed} with results, ${s.skipped} skipped), ${s.proposals} proposals; ${s.ms_per_image} ms per image, ${s.shard_seconds} s of shard time, ${s.wall_seconds} s wall`);
    if (s.skipped) console.warn(`skipped: ${s.skipped_files.slice(0, 5).map((f) => f.file).join(', ')}${s.skipped > 5 ? ', ...' : ''} (all in ${out}/${SUMMARY_FILE})`);
    console.log(`wrote ${out}/${RESULTS_FILE}, ids.json and ${SUMMARY_FILE}`);
  },
};
