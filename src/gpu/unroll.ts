// Register promotion for WGSL, applied to every kernel before it is compiled.
//
// Our kernels are register-blocked: each lane keeps an R×C tile of accumulators in a small
// function-scope array and walks it with constant-bound loops. Optimising compilers (LLVM in
// lavapipe, GPU drivers) unroll those loops and keep the tile in registers. SwiftShader (Chromium's
// software WebGPU) does not: array elements stay in memory, and a GEMM runs 9× slower than the
// same code with one variable per element (measured: 0.32 vs 2.9 GFLOP/s, 512³, headless Chromium).
// So the WGSL we write stays readable (loops, arrays) and this pass does what those compilers do:
//  1. unroll `for (var i = A; i < B; i++)` where A is a literal and B a literal or a module `const`
//     (at most MAX_TRIPS trips, no `break`/`continue` of its own), each trip in its own block;
//  2. replace each function-scope array whose every access is then constant-indexed by one
//     variable per element (`acc[3u][1u]` -> `acc__3_1`). Where the whole array is used (`&acc`
//     passed to a function), the elements are copied into the array before that statement and back
//     after it.
// Arithmetic and its order are untouched, so results are bitwise the same.

const MAX_TRIPS = 64;

interface Span {
  start: number;
  end: number;
}

/** Index of the bracket closing the one at `open` (`{`/`}` or `[`/`]` or `(`/`)`), skipping comments. */
function matching(src: string, open: number): number {
  const o = src[open]!;
  const c = o === '{' ? '}' : o === '[' ? ']' : ')';
  let depth = 0;
  for (let i = open; i < src.length; i++) {
    if (src.startsWith('//', i)) {
      const nl = src.indexOf('\n', i);
      i = nl < 0 ? src.length : nl;
      continue;
    }
    if (src.startsWith('/*', i)) {
      const e = src.indexOf('*/', i + 2);
      i = e < 0 ? src.length : e + 1;
      continue;
    }
    if (src[i] === o) depth++;
    else if (src[i] === c && --depth === 0) return i;
  }
  throw new Error(`unroll: unbalanced '${o}' at offset ${open}`);
}

/** Module-scope `const NAME[: type] = <integer>[u|i];` declarations. */
function moduleConsts(src: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of src.matchAll(/^const\s+(\w+)\s*(?::\s*\w+\s*)?=\s*(\d+)[ui]?\s*;/gm)) out.set(m[1]!, Number(m[2]));
  return out;
}

/** Evaluates an index expression made only of integer literals, + - * and parentheses (no eval: pages may forbid it). */
function constant(expr: string): number | undefined {
  const tokens = expr.match(/\d+[ui]?|[-+*()]|\S/g) ?? [];
  let k = 0;
  const atom = (): number => {
    const t = tokens[k++];
    if (t === '(') {
      const v = sum();
      if (tokens[k++] !== ')') return Number.NaN;
      return v;
    }
    return t !== undefined && /^\d+[ui]?$/.test(t) ? Number.parseInt(t, 10) : Number.NaN;
  };
  const product = (): number => {
    let v = atom();
    while (tokens[k] === '*') {
      k++;
      v *= atom();
    }
    return v;
  };
  const sum = (): number => {
    let v = product();
    while (tokens[k] === '+' || tokens[k] === '-') v = tokens[k++] === '+' ? v + product() : v - product();
    return v;
  };
  const v = sum();
  return k === tokens.length && Number.isInteger(v) && v >= 0 ? v : undefined;
}

/** True if `body` breaks or continues its own loop (not only a nested loop's). */
function exitsLoop(body: string): boolean {
  const nested: Span[] = [];
  for (const m of body.matchAll(/\b(for|loop|while)\b[^{]*\{/g)) {
    const open = m.index! + m[0].length - 1;
    nested.push({ start: open, end: matching(body, open) });
  }
  for (const m of body.matchAll(/\b(break|continue)\s*;/g)) {
    if (!nested.some((s) => m.index! > s.start && m.index! < s.end)) return true;
  }
  return false;
}

const LOOP = /for\s*\(\s*var\s+(\w+)\s*=\s*(\d+)([ui]?)\s*;\s*(\w+)\s*<\s*(\w+)\s*;\s*(\w+)\s*\+\+\s*\)\s*\{/g;

/** The trips of the loop whose header LOOP matched (`m`, its body `body`) if unrollLoops unrolls it, or why it stays a loop. */
function tripsOf(m: RegExpExecArray, body: string, consts: Map<string, number>): number | string {
  const [, v, startText, , cond, boundText, inc] = m;
  const bound = /^\d+[ui]?$/.test(boundText!) ? Number.parseInt(boundText!, 10) : consts.get(boundText!);
  const trips = bound === undefined ? -1 : bound - Number(startText);
  if (cond !== v || inc !== v) return `its condition and step are not \`${v} < BOUND\` and \`${v}++\``;
  if (bound === undefined) return `its bound ${boundText} is neither a literal nor a module const`;
  if (trips < 0 || trips > MAX_TRIPS) return `it has ${trips} trips (at most ${MAX_TRIPS} unroll)`;
  if (new RegExp(`\\b${v}\\s*(=[^=]|\\+=|-=|\\+\\+|--)`).test(body)) return `its body assigns ${v}`;
  if (exitsLoop(body)) return 'it has a break or continue of its own (guard the body with an if instead)';
  return trips;
}

/** Unrolls constant-bound loops until none is left (inner loops are reached through their outer ones' copies). */
export function unrollLoops(src: string, consts = moduleConsts(src)): string {
  let from = 0;
  for (;;) {
    LOOP.lastIndex = from;
    const m = LOOP.exec(src);
    if (!m) return src;
    const [head, v, startText, suffix] = m;
    const open = m.index + head.length - 1;
    const close = matching(src, open);
    const body = src.slice(open + 1, close);
    const start = Number(startText);
    const trips = tripsOf(m, body, consts);
    if (typeof trips === 'string') {
      from = m.index + head.length; // leave it a loop; its body is still scanned for inner loops
      continue;
    }
    const name = new RegExp(`\\b${v}\\b`, 'g');
    const copies = Array.from({ length: trips }, (_, k) => `{${body.replace(name, `${start + k}${suffix}`)}}`);
    src = `${src.slice(0, m.index)}{${copies.join('')}}${src.slice(close + 1)}`;
    from = m.index;
  }
}

/** Array dimensions (outermost first) and element type of `type`, resolving aliases and constants. */
function arrayType(type: string, aliases: Map<string, string>, consts: Map<string, number>): { dims: number[]; element: string } | undefined {
  const dims: number[] = [];
  let t = type.trim();
  for (let guard = 0; guard < 8; guard++) {
    if (aliases.has(t)) {
      t = aliases.get(t)!;
      continue;
    }
    const m = /^array<\s*(.+)\s*,\s*(\w+)\s*>$/.exec(t);
    if (!m) break;
    const n = /^\d+[ui]?$/.test(m[2]!) ? Number.parseInt(m[2]!, 10) : consts.get(m[2]!);
    if (n === undefined) return undefined;
    dims.push(n);
    t = m[1]!.trim();
  }
  return dims.length ? { dims, element: t } : undefined;
}

function* indices(dims: number[]): Generator<number[]> {
  const n = dims.reduce((a, b) => a * b, 1);
  for (let k = 0; k < n; k++) {
    const idx: number[] = [];
    let r = k;
    for (let d = dims.length - 1; d >= 0; d--) {
      idx.unshift(r % dims[d]!);
      r = Math.floor(r / dims[d]!);
    }
    yield idx;
  }
}

/** Start of the statement containing `at`: just after the previous `;`, `{` or `}`. */
function statementStart(src: string, at: number): number {
  let i = at;
  while (i > 0 && !';{}'.includes(src[i - 1]!)) i--;
  while (/\s/.test(src[i]!)) i++;
  return i;
}

/** Replaces constant-indexed function-scope arrays by one variable per element. */
export function promoteArrays(src: string, consts = moduleConsts(src)): string {
  const aliases = new Map<string, string>();
  for (const m of src.matchAll(/^alias\s+(\w+)\s*=\s*([^;]+);/gm)) aliases.set(m[1]!, m[2]!.trim());
  const DECL = /\bvar\s+(\w+)\s*:\s*([^;=]+);/g;
  let from = 0;
  for (;;) {
    DECL.lastIndex = from;
    const d = DECL.exec(src);
    if (!d) return src;
    from = d.index + d[0].length;
    const [decl, name, typeText] = d;
    const type = arrayType(typeText!, aliases, consts);
    if (!type) continue;
    const count = type.dims.reduce((a, b) => a * b, 1);
    if (count > 256) continue;
    // The declaration's scope: up to the brace closing the block it is declared in.
    let depth = 0;
    let scopeEnd = -1;
    for (let i = from; i < src.length; i++) {
      if (src[i] === '{') depth++;
      else if (src[i] === '}' && depth-- === 0) {
        scopeEnd = i;
        break;
      }
    }
    if (scopeEnd < 0) continue; // module scope
    const edits: { start: number; end: number; text: string }[] = [];
    const wholeUses = new Set<number>();
    let ok = true;
    for (const u of src.slice(from, scopeEnd).matchAll(new RegExp(`\\b${name}\\b`, 'g'))) {
      const at = from + u.index!;
      if (/[\w.]/.test(src[at - 1]!)) continue; // a field or another name ending the same way
      const idx: number[] = [];
      let end = at + name!.length;
      while (idx.length < type.dims.length && src[end] === '[') {
        const close = matching(src, end);
        const v = constant(src.slice(end + 1, close));
        if (v === undefined || v >= type.dims[idx.length]!) break;
        idx.push(v);
        end = close + 1;
      }
      if (idx.length === type.dims.length) edits.push({ start: at, end, text: `${name}__${idx.join('_')}` });
      else if (idx.length === 0 && src[end] !== '[') wholeUses.add(statementStart(src, at));
      else {
        ok = false;
        break;
      }
    }
    if (!ok || edits.length === 0) continue;
    const elements = [...indices(type.dims)];
    const scalar = (i: number[]) => `${name}__${i.join('_')}`;
    const element = (i: number[]) => `${name}${i.map((k) => `[${k}]`).join('')}`;
    for (const s of wholeUses) {
      const end = src.indexOf(';', s) + 1;
      edits.push({ start: s, end: s, text: elements.map((i) => `${element(i)} = ${scalar(i)}; `).join('') });
      edits.push({ start: end, end, text: ` ${elements.map((i) => `${scalar(i)} = ${element(i)};`).join(' ')}` });
    }
    const decls = elements.map((i) => `var ${scalar(i)}: ${type.element};`).join(' ');
    edits.push({ start: d.index, end: d.index + decl!.length, text: wholeUses.size ? `${decl} ${decls}` : decls });
    edits.sort((a, b) => b.start - a.start || b.end - a.end);
    for (const e of edits) src = src.slice(0, e.start) + e.text + src.slice(e.end);
    from = d.index + (wholeUses.size ? decl!.length : 0); // past a kept array's declaration
  }
}

/** Both passes: what every kernel's WGSL goes through before compilation. */
export function promoteRegisters(source: string): string {
  // Comments go first (WGSL has no strings, so this is exact): a name in a comment is not a use.
  const src = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
  const consts = moduleConsts(src);
  return promoteArrays(unrollLoops(src, consts), consts);
}

/** Line number (from 1) of offset `at` in `src`. */
const lineOf = (src: string, at: number): number => src.slice(0, at).split('\n').length;

/**
 * Unrolled copies of one short-circuit operator from which SwiftShader's compiler is known to crash:
 * conv2d's 16 (R) copies of a chain did; the 4 (depthwise's PX) and 8 (gemm_store) copies it
 * compiles today do not.
 */
const SHORT_CIRCUIT_COPIES = 16;

/**
 * What a kernel author must know about this pass, checked over a module's WGSL (test/shaders.test.ts
 * runs it on every generated shader): one message per construct that it or SwiftShader mishandles.
 *  - `&&` / `||` unrolled into SHORT_CIRCUIT_COPIES copies or more (in an R-loop, say): each copy is
 *    its own short-circuit branch chain, and SwiftShader's compiler crashes on that many. Use `&` /
 *    `|` on bools, which do not short-circuit.
 *  - a loop that indexes a function-scope array by its variable and has a constant bound, yet stays
 *    a loop (a break or continue of its own, a header of another form, more than MAX_TRIPS trips...):
 *    that array is not promoted and stays in memory on SwiftShader.
 * Lines are those of `source`.
 */
export function lintUnroll(source: string): string[] {
  // Comments blanked in place, so offsets and lines stay those of the source.
  const src = source.replace(/\/\*[\s\S]*?\*\//g, (c) => c.replace(/[^\n]/g, ' ')).replace(/\/\/.*$/gm, (c) => ' '.repeat(c.length));
  const consts = moduleConsts(src);
  const aliases = new Map<string, string>();
  for (const m of src.matchAll(/^alias\s+(\w+)\s*=\s*([^;]+);/gm)) aliases.set(m[1]!, m[2]!.trim());
  const arrays = new Set<string>();
  for (const d of src.matchAll(/\bvar\s+(\w+)\s*:\s*([^;=]+)[;=]/g)) if (arrayType(d[2]!, aliases, consts)) arrays.add(d[1]!);
  const out: string[] = [];
  const text = (line: number) => source.split('\n')[line - 1]!.trim();
  const unrolled: { open: number; close: number; trips: number; line: number }[] = [];
  // Every for loop with a var of its own, in whatever form: the unroller takes only LOOP's.
  for (const f of src.matchAll(/\bfor\s*\(\s*var\s+(\w+)[^;]*;\s*\w+\s*<=?\s*(\w+)\s*;[^)]*\)\s*\{/g)) {
    const [head, v, boundText] = f;
    const open = f.index + head.length - 1;
    const close = matching(src, open);
    const body = src.slice(open + 1, close);
    LOOP.lastIndex = f.index;
    const m = LOOP.exec(src);
    const trips =
      m && m.index === f.index ? tripsOf(m, body, consts) : `its header is not \`for (var ${v} = LITERAL; ${v} < BOUND; ${v}++)\`, the one form it unrolls`;
    if (typeof trips === 'number') {
      unrolled.push({ open, close, trips, line: lineOf(src, f.index) });
      continue;
    }
    if (!/^\d+[ui]?$/.test(boundText!) && !consts.has(boundText!)) continue;
    const used = [...arrays].filter((a) => new RegExp(`\\b${a}\\s*\\[[^\\]]*\\b${v}\\b`).test(body));
    if (used.length)
      out.push(
        `line ${lineOf(src, f.index)}, \`for (var ${v} ...)\`: src/gpu/unroll.ts leaves this constant-bound loop a loop because ${trips}, so ${used.join(', ')} (indexed by ${v}) stay in memory on SwiftShader: \`${text(lineOf(src, f.index))}\``,
      );
  }
  const seen = new Set<number>(); // one message a line
  for (const op of src.matchAll(/&&|\|\|/g)) {
    const around = unrolled.filter((l) => l.open < op.index && op.index < l.close);
    const copies = around.reduce((n, l) => n * l.trips, 1);
    const line = lineOf(src, op.index);
    if (copies < SHORT_CIRCUIT_COPIES || seen.has(line)) continue;
    seen.add(line);
    out.push(
      `line ${line}: '${op[0]}' unrolled into ${copies} copies by src/gpu/unroll.ts (the loops at line ${around.map((l) => l.line).join(', ')}): each copy is a short-circuit branch chain, and SwiftShader's compiler crashes on that many; use '${op[0][0]}' on bools (no short circuit): \`${text(line)}\``,
    );
  }
  return out;
}
