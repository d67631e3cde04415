// Option parsing shared by the commands: node:util parseArgs with errors that say what to fix.
import { parseArgs } from 'node:util';
import { OptionError } from '../train/run.js';

type OptionSpec = Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }>;

export interface Parsed {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
}

export function parse(argv: string[], options: OptionSpec, usage: string): Parsed {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true }) as Parsed;
  } catch (e) {
    throw new UsageError(`${(e as Error).message}\n\n${usage}`);
  }
}

/** A command line the CLI cannot run: reported with its usage, exit 2 (as a library OptionError is). */
export class UsageError extends OptionError {
  override name = 'UsageError';
}

export function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/**
 * Lets an option's value be a negative number or range (`--seed -1`, `--scales -2:1:0.5`), which
 * parseArgs would otherwise refuse as "ambiguous", by joining it to its string option (`--seed=-1`);
 * the range checks then name the option and the value.
 */
export function withNegativeValues(argv: string[], options: Record<string, { type: string }>): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!,
      next = argv[i + 1];
    const name = a.startsWith('--') && !a.includes('=') ? a.slice(2) : undefined;
    if (name && options[name]?.type === 'string' && next !== undefined && /^-[\d.]/.test(next)) {
      out.push(`${a}=${next}`);
      i++;
    } else out.push(a);
  }
  return out;
}

/** An allowed range of a numeric option: [min, max], ends open where said, integers only where said. */
export interface Range {
  min: number;
  max: number;
  minOpen?: boolean;
  maxOpen?: boolean;
  integer?: boolean;
}

export function describeRange(r: Range): string {
  if (r.integer) return `an integer from ${r.min} to ${r.max}`;
  if (r.max === Infinity) return `a number ${r.minOpen ? 'above' : 'at least'} ${r.min}`;
  return `a number in ${r.minOpen ? '(' : '['}${r.min}, ${r.max}${r.maxOpen ? ')' : ']'}`;
}

export function inRange(n: number, r: Range): boolean {
  if (!Number.isFinite(n) || (r.integer && !Number.isInteger(n))) return false;
  return (r.minOpen ? n > r.min : n >= r.min) && (r.maxOpen ? n < r.max : n <= r.max);
}

/**
 * A numeric option checked against its range, or `fallback` when not given (undefined keeps "not
 * given"): the error names the option, the value and the range.
 */
export function rangedOption<F extends number | undefined>(v: unknown, name: string, fallback: F, r: Range): number | F {
  if (v === undefined) return fallback;
  const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
  if (!inRange(n, r)) throw new UsageError(`--${name} must be ${describeRange(r)}, got '${String(v)}'`);
  return n;
}

/** A learning-rate schedule given as STEP:LR,... (ranges are checked by the trainer: checkSchedule). */
export function parseSchedule(v: string, option = '--lr-schedule'): [number, number][] {
  return v.split(',').map((p) => {
    const parts = p.split(':');
    const [s, l] = parts.map((x) => (x.trim() === '' ? NaN : Number(x)));
    if (parts.length !== 2 || !Number.isInteger(s) || !Number.isFinite(l)) throw new UsageError(`${option}: '${p}' is not STEP:LR`);
    return [s!, l!] as [number, number];
  });
}
