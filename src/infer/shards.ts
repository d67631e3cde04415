// Node only: the files of an inference run or of one shard of it, written so that nothing is lost
// and nothing is done twice. Results stream into a temporary file that is renamed at the end, then
// come the ids, the run record and last a success marker; `mergeShards` joins finished shards of
// one run into the results a single process would have written, byte for byte.
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, renameSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { CONFIG_FILE, stageFile, WEIGHTS_FILE, writeAll, writeFileAtomic, type StagedFile } from '../model/files.js';
import { shardSize, type IdRule } from '../data/inputs.js';
import { lockRunFolder } from '../train/run.js';

export const RESULTS_FILE = 'results.json';
export const IDS_FILE = 'ids.json';
export const RUN_FILE = 'run.json';
export const SUCCESS_FILE = '_SUCCESS';
export const SUMMARY_FILE = 'summary.json';

/** What makes two shards parts of one run: merge refuses shards whose identities differ. */
export interface RunIdentity {
  model: { preset: string; sha256: string };
  settings: { proposals: number; scales: number[]; threshold: number; nms: number; rerank?: { pool: number; power: number }; f16: boolean; polygons?: number };
  input: { images: number; fingerprint: string; rule: IdRule };
  shards: number;
}

/** run.json: the identity plus what happened. */
export interface RunRecord {
  format: 'deepmask-infer-run/1';
  identity: RunIdentity;
  shard: { index: number; count: number };
  model_path: string;
  adapter: string;
  host: string;
  /** Images in this shard, those that gave results, and those skipped with the reason. */
  images: number;
  processed: number;
  skipped: { file: string; error: string }[];
  proposals: number;
  started: string;
  finished: string;
  /** Wall time of the whole process, and of the image loop (decode, inference, writing). */
  seconds: number;
  image_seconds: number;
}

export interface IdEntry {
  position: number;
  id: number;
  file: string;
}

export function shardDirName(index: number, count: number): string {
  const w = Math.max(5, String(count).length);
  return `shard-${String(index).padStart(w, '0')}-of-${String(count).padStart(w, '0')}`;
}

const SHARD_DIR = /^shard-(\d+)-of-(\d+)$/;

/** sha256 of a model folder's config and weights: the same model wherever it is mounted. */
export function modelSha256(dir: string): string {
  const h = createHash('sha256');
  for (const f of [CONFIG_FILE, WEIGHTS_FILE]) h.update(readFileSync(join(dir, f)));
  return h.digest('hex');
}

/** The fields that differ, as "settings.threshold: 0.3 vs 0.2". */
export function identityDiff(a: unknown, b: unknown, path = ''): string[] {
  const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (isObj(a) && isObj(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])];
    return keys.flatMap((k) => identityDiff(a[k], b[k], path ? `${path}.${k}` : k));
  }
  const sa = JSON.stringify(a),
    sb = JSON.stringify(b);
  return sa === sb ? [] : [`${path || 'identity'}: ${short(sa)} vs ${short(sb)}`];
}

const short = (s: string | undefined) => (s === undefined ? 'absent' : s.length > 40 ? `${s.slice(0, 37)}...` : s);

/** The record of a finished run or shard in `dir` (success marker present), else undefined. */
export function finishedRun(dir: string): RunRecord | undefined {
  if (!existsSync(join(dir, SUCCESS_FILE))) return undefined;
  if (!existsSync(join(dir, RUN_FILE)) && existsSync(join(dir, SUMMARY_FILE)))
    throw new Error(`${dir} holds merged shards (${SUMMARY_FILE}), not an infer run; use another --out, or --force to replace them`);
  return readRun(dir);
}

function readRun(dir: string): RunRecord {
  const path = join(dir, RUN_FILE);
  let r: RunRecord;
  try {
    r = JSON.parse(readFileSync(path, 'utf8')) as RunRecord;
  } catch (e) {
    throw new Error(`${path}: cannot read the run record (${(e as Error).message})`);
  }
  if (r?.format !== 'deepmask-infer-run/1' || !r.identity || !r.shard) throw new Error(`${path}: not a deepmask infer run record`);
  return r;
}

/** Clears what a killed or earlier run left: the success marker first, then temporary files. */
export function prepareRunDir(dir: string): void {
  mkdirSync(dir, { recursive: true });
  rmSync(join(dir, SUCCESS_FILE), { force: true });
  for (const f of readdirSync(dir)) if (/\.(partial|tmp)-\d+$/.test(f)) rmSync(join(dir, f), { force: true });
}

/**
 * A JSON list written one item a line (`[`, items joined by `,` + newline, `]`) into a temporary
 * file that `commit` renames into place, so that the file is either the old one or complete.
 * Every write is checked (writeAll): a full disk is an error naming the file, never a cut-off list.
 */
export class ListWriter {
  readonly tmp: string;
  private fd: number | undefined;
  private first = true;
  private buf: string[] = [];
  private bytes = 0;
  private state: 'writing' | 'finished' | 'done' = 'writing';
  count = 0;

  constructor(
    readonly path: string,
    private readonly head = '[',
    private readonly tail = ']',
  ) {
    this.tmp = `${path}.partial-${process.pid}`;
    this.fd = openSync(this.tmp, 'w');
    this.push(head);
  }

  private push(s: string): void {
    this.buf.push(s);
    this.bytes += s.length;
    if (this.bytes > 1 << 20) this.flush();
  }

  private flush(): void {
    if (this.buf.length) writeAll(this.fd!, this.buf.join(''), this.path);
    this.buf = [];
    this.bytes = 0;
  }

  add(json: string): void {
    this.push(`${this.first ? '\n' : ',\n'}${json}`);
    this.first = false;
    this.count++;
  }

  /** Writes the rest and fsyncs, without renaming: a run finishes all its files before it puts any in place. */
  finish(): void {
    if (this.state !== 'writing') return;
    try {
      this.push(`\n${this.tail}\n`);
      this.flush();
      fsyncSync(this.fd!);
    } catch (e) {
      const msg = (e as Error).message;
      throw new Error(`${msg.startsWith(`${this.path}: `) ? msg : `${this.path}: cannot write (${msg})`}; the previous file, if any, is unchanged`);
    }
    closeSync(this.fd!);
    this.fd = undefined;
    this.state = 'finished';
  }

  commit(): void {
    this.finish();
    if (this.state === 'done') return;
    renameSync(this.tmp, this.path);
    this.state = 'done';
  }

  /** Drops the temporary file (a no-op after commit). */
  abort(): void {
    if (this.state === 'done') return;
    if (this.fd !== undefined) {
      try {
        closeSync(this.fd);
      } catch {
        // closing after a failed write: the write's error is the one reported
      }
      this.fd = undefined;
    }
    this.state = 'done';
    rmSync(this.tmp, { force: true });
  }
}

export const idsWriter = (dir: string, rule: IdRule) => new ListWriter(join(dir, IDS_FILE), `{"rule":${JSON.stringify(rule)},"images":[`, ']}');
export const idLine = (e: IdEntry) => JSON.stringify({ position: e.position, id: e.id, file: e.file });

/** Lines of a file read in chunks, each chunk with its own open and close (merge reads many at once). */
class LineReader {
  private lines: string[] = [];
  private i = 0;
  private offset = 0;
  private rest = '';
  private eof = false;
  private readonly decoder = new StringDecoder('utf8');
  line = 0;

  constructor(
    readonly path: string,
    private readonly chunk = 256 * 1024,
  ) {}

  peek(): string | undefined {
    while (this.i >= this.lines.length && !this.eof) {
      const buf = Buffer.allocUnsafe(this.chunk);
      const fd = openSync(this.path, 'r');
      let n: number;
      try {
        n = readSync(fd, buf, 0, this.chunk, this.offset);
      } finally {
        closeSync(fd);
      }
      this.offset += n;
      const text = this.rest + (n ? this.decoder.write(buf.subarray(0, n)) : this.decoder.end());
      if (n === 0) this.eof = true;
      const parts = text.split('\n');
      this.rest = this.eof ? '' : parts.pop()!;
      this.lines = this.eof ? parts.filter((p) => p !== '') : parts;
      this.i = 0;
    }
    return this.lines[this.i];
  }

  next(): string | undefined {
    const l = this.peek();
    if (l !== undefined) {
      this.i++;
      this.line++;
    }
    return l;
  }
}

/** A results file as written by ListWriter, one result at a time (the text without the comma). */
class ResultsReader {
  private readonly lines: LineReader;
  constructor(readonly path: string) {
    this.lines = new LineReader(path);
    if (this.lines.next() !== '[') throw new Error(`${path}: not a results file written by deepmask infer (expected '[' on line 1)`);
  }

  /** The image id of the next result, or undefined at the closing bracket. */
  peekId(): number | undefined {
    const l = this.lines.peek();
    if (l === undefined) throw new Error(`${this.path}: truncated (no closing ']')`);
    if (l === ']') return undefined;
    const m = /^\{"image_id":(-?\d+)[,}]/.exec(l);
    const id = m ? Number(m[1]) : (JSON.parse(l.replace(/,$/, '')) as { image_id?: unknown }).image_id;
    if (typeof id !== 'number') throw new Error(`${this.path}: line ${this.lines.line + 1} is not a COCO result`);
    return id;
  }

  take(): string {
    return this.lines.next()!.replace(/,$/, '');
  }

  get atEnd(): boolean {
    return this.lines.peek() === ']';
  }
}

export interface MergeSummary {
  shards: number;
  images: number;
  processed: number;
  skipped: number;
  skipped_files: { file: string; error: string }[];
  proposals: number;
  /** Sum over shards of the image loops' time, per image that gave results. */
  ms_per_image: number;
  /** Sum over shards of their processes' wall time (machine time), and first start to last finish. */
  shard_seconds: number;
  wall_seconds: number;
  adapters: string[];
  hosts: string[];
  identity: RunIdentity;
}

/** Shard folders named by `dirs`: shard folders themselves, or folders holding shard-I-of-N folders. */
export function expandShardDirs(dirs: string[]): string[] {
  const out: string[] = [];
  for (const d of dirs) {
    if (!existsSync(d) || !statSync(d).isDirectory()) throw new Error(`${d}: no such folder`);
    if (existsSync(join(d, RUN_FILE)) || existsSync(join(d, SUCCESS_FILE)) || SHARD_DIR.test(d.replace(/\/+$/, '').split('/').pop()!)) out.push(d);
    else {
      const subs = readdirSync(d)
        .filter((f) => SHARD_DIR.test(f))
        .sort();
      if (!subs.length) throw new Error(`${d}: neither an infer output folder (${RUN_FILE}) nor a folder of shard-I-of-N folders`);
      out.push(...subs.map((f) => join(d, f)));
    }
  }
  return out;
}

/**
 * Checks that `dirs` hold every shard of one run, each finished, and writes into `out` the results
 * and ids a single process would have written (the shards' lines interleaved back into sorted
 * order), a summary and a success marker.
 */
export function mergeShards(dirs: string[], out: string, opts: { force?: boolean } = {}): MergeSummary {
  const shardDirs = expandShardDirs(dirs);
  if (!shardDirs.length) throw new Error('no shard folders given');
  const same = shardDirs.find((d) => resolve(d) === resolve(out));
  if (same) throw new Error(`--out ${out} is one of the shard folders; merge into another folder`);
  const runs = shardDirs.map((dir) => {
    if (!existsSync(join(dir, SUCCESS_FILE))) {
      const m = SHARD_DIR.exec(dir.replace(/\/+$/, '').split('/').pop()!);
      const which = existsSync(join(dir, RUN_FILE))
        ? (() => {
            const r = readRun(dir);
            return ` ${r.shard.index}/${r.shard.count}`;
          })()
        : m
          ? ` ${Number(m[1])}/${Number(m[2])}`
          : '';
      throw new Error(`${dir}: shard${which} is incomplete (no ${SUCCESS_FILE} marker: it failed, was killed or is still running); rerun it, then merge`);
    }
    return { dir, run: readRun(dir) };
  });
  const ref = runs[0]!;
  for (const r of runs.slice(1)) {
    const diff = identityDiff(r.run.identity, ref.run.identity);
    if (diff.length) throw new Error(`${r.dir}: a shard of a different run than ${ref.dir} (${diff.join('; ')}); merge only shards of one run`);
  }
  const N = ref.run.identity.shards;
  const byIndex = new Map<number, string>();
  for (const r of runs) {
    const { index, count } = r.run.shard;
    if (count !== N || !(index >= 0 && index < N)) throw new Error(`${r.dir}: shard ${index}/${count} does not fit a run of ${N} shards`);
    const other = byIndex.get(index);
    if (other) throw new Error(`shard ${index}/${N} given twice: ${other} and ${r.dir}`);
    byIndex.set(index, r.dir);
  }
  const missing = [...Array(N).keys()].filter((i) => !byIndex.has(i));
  if (missing.length) {
    const list = missing
      .slice(0, 10)
      .map((i) => `${i}/${N} (${shardDirName(i, N)})`)
      .join(', ');
    throw new Error(
      `missing shard${missing.length > 1 ? 's' : ''} ${list}${missing.length > 10 ? ', ...' : ''} of the ${N}-shard run of ${ref.dir}; run ${missing.length > 1 ? 'them' : 'it'}, then merge`,
    );
  }

  // Every position of the whole list, from the shards' ids.
  const T = ref.run.identity.input.images;
  const ids: (IdEntry | undefined)[] = new Array(T);
  const ordered = [...Array(N).keys()].map((i) => runs.find((r) => r.run.shard.index === i)!);
  for (const r of ordered) {
    const path = join(r.dir, IDS_FILE);
    let list: IdEntry[];
    try {
      list = (JSON.parse(readFileSync(path, 'utf8')) as { images: IdEntry[] }).images;
    } catch (e) {
      throw new Error(`${path}: cannot read the image ids (${(e as Error).message})`);
    }
    const { index } = r.run.shard;
    if (!Array.isArray(list) || list.length !== shardSize(T, index, N))
      throw new Error(`${path}: expected ${shardSize(T, index, N)} images for shard ${index}/${N}, found ${Array.isArray(list) ? list.length : 'none'}`);
    for (const e of list) {
      if (!(Number.isInteger(e.position) && e.position >= 0 && e.position < T && e.position % N === index) || ids[e.position])
        throw new Error(`${path}: position ${e.position} does not belong to shard ${index}/${N}`);
      ids[e.position] = e;
    }
  }

  mkdirSync(out, { recursive: true });
  // Held while writing: a second merge into the same folder would remove this one's temporary files.
  const unlock = lockFolder(out, 'merge');
  try {
    const replaced = checkMergeOut(out, ref.run.identity, !!opts.force);
    prepareRunDir(out);
    const results = new ListWriter(join(out, RESULTS_FILE));
    const idsOut = idsWriter(out, ref.run.identity.input.rule);
    const summary = mergeSummary(
      ordered.map((r) => r.run),
      N,
      T,
      ref.run.identity,
    );
    let summaryFile: StagedFile | undefined;
    try {
      const readers = ordered.map((r) => new ResultsReader(join(r.dir, RESULTS_FILE)));
      const taken = ordered.map(() => 0);
      for (let p = 0; p < T; p++) {
        const e = ids[p]!,
          reader = readers[p % N]!;
        idsOut.add(idLine(e));
        while (reader.peekId() === e.id) {
          results.add(reader.take());
          taken[p % N]!++;
        }
      }
      readers.forEach((reader, i) => {
        if (!reader.atEnd)
          throw new Error(`${reader.path}: result for image id ${reader.peekId()} is not in ${join(ordered[i]!.dir, IDS_FILE)} or out of order`);
      });
      // A shard whose results file lost (or gained) lines would merge into a silently wrong total.
      ordered.forEach((r, i) => {
        if (taken[i] !== r.run.proposals)
          throw new Error(
            `${r.dir}: shard ${r.run.shard.index}/${N} has ${taken[i]} result(s) in ${RESULTS_FILE} but its ${RUN_FILE} records ${r.run.proposals}; the shard is damaged: rerun it with --force, then merge`,
          );
      });
      // Every file is on disk before any is put in place; the marker comes last.
      results.finish();
      idsOut.finish();
      summaryFile = stageFile(join(out, SUMMARY_FILE), `${JSON.stringify(summary, null, 1)}\n`);
      results.commit();
      idsOut.commit();
      summaryFile.commit();
    } catch (e) {
      results.abort();
      idsOut.abort();
      summaryFile?.abort();
      throw e;
    }
    // --force over an infer run: what belonged to that run goes, so nothing says it is still there.
    for (const f of replaced) rmSync(join(out, f), { recursive: true, force: true });
    writeFileAtomic(join(out, SUCCESS_FILE), `merged ${N} shard(s) ${new Date().toISOString()}\n`);
    return summary;
  } finally {
    unlock();
  }
}

/**
 * What `out` may hold before a merge writes into it: nothing of a run, or an earlier merge of the
 * same run (merged again). An infer run (run.json), another run's merge or results of unknown
 * origin are refused, so merge never leaves a folder whose record describes other results;
 * with --force they are replaced whole. Returns the files to remove once the merge is in place.
 */
function checkMergeOut(out: string, identity: RunIdentity, force: boolean): string[] {
  const has = (f: string) => existsSync(join(out, f));
  let held: string | undefined;
  if (has(RUN_FILE)) held = `an infer run (${RUN_FILE}${has(SUCCESS_FILE) ? `, ${SUCCESS_FILE}` : ''})`;
  else if (has(SUMMARY_FILE)) {
    let diff: string[];
    try {
      diff = identityDiff(identity, (JSON.parse(readFileSync(join(out, SUMMARY_FILE), 'utf8')) as MergeSummary).identity);
    } catch (e) {
      diff = [`${SUMMARY_FILE} unreadable: ${(e as Error).message}`];
    }
    if (diff.length) held = `the merge of another run (${diff.join('; ')})`;
  } else if (has(RESULTS_FILE) || has(IDS_FILE)) held = `${has(RESULTS_FILE) ? RESULTS_FILE : IDS_FILE} not written by a merge`;
  if (!held) return [];
  if (!force) throw new Error(`--out ${out} holds ${held}; merge into another folder, or --force to replace it`);
  return [RUN_FILE, 'viz'].filter(has);
}

function mergeSummary(rs: RunRecord[], N: number, T: number, identity: RunIdentity): MergeSummary {
  const processed = rs.reduce((a, r) => a + r.processed, 0);
  return {
    shards: N,
    images: T,
    processed,
    skipped: rs.reduce((a, r) => a + r.skipped.length, 0),
    skipped_files: rs.flatMap((r) => r.skipped),
    proposals: rs.reduce((a, r) => a + r.proposals, 0),
    ms_per_image: processed ? +((rs.reduce((a, r) => a + r.image_seconds, 0) * 1000) / processed).toFixed(1) : 0,
    shard_seconds: +rs.reduce((a, r) => a + r.seconds, 0).toFixed(3),
    wall_seconds: +((Math.max(...rs.map((r) => Date.parse(r.finished))) - Math.min(...rs.map((r) => Date.parse(r.started)))) / 1000).toFixed(3),
    adapters: [...new Set(rs.map((r) => r.adapter))],
    hosts: [...new Set(rs.map((r) => r.host))],
    identity,
  };
}

/**
 * Locks an output folder with the training runs' lock (train.lock, taken over from a dead process)
 * for the time a process writes into it: two processes on one shard or merge folder would remove
 * each other's temporary files, or both report success. `what` names the writer in the refusal.
 */
export function lockFolder(dir: string, what: string): () => void {
  try {
    return lockRunFolder(dir, (s) => console.warn(`warning: ${s}`));
  } catch (e) {
    throw new Error((e as Error).message.replace('in use by another training run', `in use by another process (refusing a second ${what} into it)`));
  }
}
