import { mergeShards, RESULTS_FILE, SUMMARY_FILE } from '../infer/shards.js';
import { parse, str, UsageError } from './args.js';
import type { Command } from './command.js';

const usage = `Usage: deepmask merge DIR... --out DIR [--force]

Joins the shards of one \`deepmask infer --shard I/N\` run (or --shards N) into the results a single
process would have written. Each DIR is a shard folder (shard-I-of-N) or a folder holding them.
Refuses, naming the folder, when a shard is missing, unfinished (no _SUCCESS), given twice, from
another run (other model, settings, input list or N), or when its results.json holds another number
of results than its run.json records. Refuses an --out that holds another run (an infer run's
run.json, another run's merge, results of unknown origin) unless --force, which replaces it whole;
an earlier merge of the same run there is merged again. A second merge into the same --out while
one runs is refused (lock file).

Nothing is put in place until every file is written in full and synced: on an error (a full disk)
the previous files in --out are left as they were, no _SUCCESS is written and the exit status is 1.

Writes into --out: results.json and ids.json (as one whole run writes them), summary.json (images,
proposals, skipped files, time per image, adapters, hosts) and _SUCCESS.
Exit status: 0 merged; 1 refused (the message names the shard); 2 a usage error.`;

export const mergeCommand: Command = {
  summary: 'join the shards of a sharded infer run into one results file',
  usage,
  async run(argv) {
    const { values: v, positionals } = parse(argv, { out: { type: 'string' }, force: { type: 'boolean' } }, usage);
    const out = str(v.out);
    if (!out) throw new UsageError(`--out is required\n\n${usage}`);
    if (!positionals.length) throw new UsageError(`give the shard folders (or the folder holding them)\n\n${usage}`);
    const s = mergeShards(positionals, out, { force: !!v.force });
    console.log(
      `merged ${s.shards} shard(s): ${s.images} images (${s.processed} with results, ${s.skipped} skipped), ${s.proposals} proposals; ${s.ms_per_image} ms per image, ${s.shard_seconds} s of shard time, ${s.wall_seconds} s wall`,
    );
    if (s.skipped)
      console.warn(
        `skipped: ${s.skipped_files
          .slice(0, 5)
          .map((f) => f.file)
          .join(', ')}${s.skipped > 5 ? ', ...' : ''} (all in ${out}/${SUMMARY_FILE})`,
      );
    console.log(`wrote ${out}/${RESULTS_FILE}, ids.json and ${SUMMARY_FILE}`);
  },
};
