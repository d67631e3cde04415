// The WGSL include expander of scripts/build.mjs (a module of its own so that test/shaders.test.ts
// can run it on broken fragments and read its errors).
//
// Each file in shaders/ is a kernel family; shaders/include/ holds fragments shared between them.
// A family's module is shaders/include/prelude.wgsl followed by the family's file, in which
//
//   //#include NAME
//     is replaced by shaders/include/NAME.wgsl (fragments may include others; each such fragment
//     goes in once per module);
//   //#include NAME(P = TEXT, F(x, y) = TEXT, ...)
//     is replaced by the parameterised fragment NAME.wgsl, expanded again at every such line,
//     indented like it, with its parameters substituted: a use of P by TEXT, a call F(e1, e2) by
//     TEXT with x and y replaced by e1 and e2 (each in parentheses unless it is a name, literal,
//     call or index, so precedence stays as written). The fragment declares its parameters in a
//     line `//#params P, F(x, y)` after its header comment (the header does not go in the module).
//     An argument that would not fit on a line continues on the next ones, each starting with `//`,
//     until its parentheses close.
//
// This is how one K loop serves several entry points of one module: WGSL has no per-entry
// overloading, and a function taking the register tile by pointer keeps it in memory on SwiftShader
// (see shaders/include/gemm.wgsl), so the loop is expanded inline with each kernel's own loads.
//
// A fragment NAME.wgsl may have a twin NAME.subgroups.wgsl that does the same with WGSL's subgroup
// builtins. Families that include such a fragment get a second module in SHADERS_SUBGROUPS: the
// twin in its place, headed by `enable subgroups;`. The runtime compiles that one on devices where
// it shares loads across a subgroup (RuntimeOptions.shareLoads); both have the same bindings.
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';

const DIRECTIVE = /^(\s*)\/\/#include\b(.*)$/;
const PARAMS = /^\s*\/\/#params\b(.*)$/;
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const IDENT = /[A-Za-z_][A-Za-z0-9_]*/g;
export const SUBGROUPS_HEADER =
  'enable subgroups;\n// Lanes of one tile share loads only while all of them run: the analysis cannot see that.\ndiagnostic(off, subgroup_uniformity);\n';

/** Index of the bracket closing the one at `open` in `text`, or -1. */
function closing(text, open) {
  const pairs = { '(': ')', '[': ']' };
  const stack = [];
  for (let i = open; i < text.length; i++) {
    if (text[i] in pairs) stack.push(pairs[text[i]]);
    else if (text[i] === ')' || text[i] === ']') {
      if (stack.pop() !== text[i]) return -1;
      if (stack.length === 0) return i;
    }
  }
  return -1;
}

/** `text` split at its top-level commas. */
function splitTop(text) {
  const parts = [];
  let depth = 0;
  let from = 0;
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '(' || text[i] === '[') depth++;
    else if (text[i] === ')' || text[i] === ']') depth--;
    else if (text[i] === ',' && depth === 0) {
      parts.push(text.slice(from, i));
      from = i + 1;
    }
  }
  parts.push(text.slice(from));
  return parts.map((p) => p.trim());
}

/** Whether `e` needs no parentheses where an operand goes: a name, a literal, or a name followed by calls, indices and fields. */
function primary(e) {
  if (/^[\d.][\w.]*$/.test(e)) return true;
  const m = /^[A-Za-z_]\w*/.exec(e);
  if (!m) return false;
  let i = m[0].length;
  while (i < e.length) {
    if (e[i] === '(' || e[i] === '[') {
      const c = closing(e, i);
      if (c < 0) return false;
      i = c + 1;
    } else if (e[i] === '.' && /[A-Za-z_]/.test(e[i + 1] ?? '')) {
      i += 1 + /^\w+/.exec(e.slice(i + 1))[0].length;
    } else return false;
  }
  return true;
}

const operand = (e) => (primary(e) ? e : `(${e})`);

/** Whether text[start, end) stands alone between brackets and commas (a whole argument or index): no parentheses needed. */
const alone = (text, start, end) => /[(,[]\s*$/.test(text.slice(0, start)) && /^\s*[),\]]/.test(text.slice(end));

/** Identifiers of `text` that are names (not a field after `.`, not a literal's suffix), with their offsets. */
function* names(text) {
  for (const m of text.matchAll(IDENT)) if (!/[\w.]/.test(text[m.index - 1] ?? '')) yield m;
}

/** Parses `P = TEXT, F(x, y) = TEXT, ...` (a directive's arguments) into [{ name, binders, value }]. */
function parseArgs(text, where) {
  return splitTop(text).map((arg) => {
    const m = /^([A-Za-z_]\w*)\s*(?:\(([^()]*)\))?\s*=(?!=)\s*([\s\S]+)$/.exec(arg);
    if (!m) throw new Error(`${where}: expected 'NAME = TEXT' or 'NAME(x, y) = TEXT' as an argument (found '${arg}')`);
    const binders = m[2] === undefined ? null : splitTop(m[2]);
    for (const b of binders ?? []) if (!NAME.test(b)) throw new Error(`${where}: '${m[1]}(${m[2]})': '${b}' is not a parameter name`);
    return { name: m[1], binders, value: m[3].trim() };
  });
}

/** Parses a fragment's `//#params P, F(x, y)` line into [{ name, binders }]. */
function parseParams(text, where) {
  return splitTop(text.trim()).map((p) => {
    const m = /^([A-Za-z_]\w*)\s*(?:\(([^()]*)\))?$/.exec(p);
    if (!m) throw new Error(`${where}: expected '//#params NAME, NAME(x, y), ...' (found '${p}')`);
    return { name: m[1], binders: m[2] === undefined ? null : splitTop(m[2]) };
  });
}

/** `text` with the parameters in `params` (name -> { binders, value }) substituted; `skip` lists names that stay. */
function substitute(text, params, where, skip = new Set()) {
  let out = '';
  let at = 0;
  for (const m of names(text)) {
    if (m.index < at) continue; // inside a call already substituted
    const p = params.get(m[0]);
    if (!p || skip.has(m[0])) continue;
    out += text.slice(at, m.index);
    at = m.index + m[0].length;
    if (!p.binders) {
      out += alone(text, m.index, at) ? p.value : operand(p.value);
      continue;
    }
    const open = at + /^\s*/.exec(text.slice(at))[0].length;
    const close = text[open] === '(' ? closing(text, open) : -1;
    if (close < 0) throw new Error(`${where}: '${m[0]}' takes (${p.binders.join(', ')}): expected a call '${m[0]}(...)'`);
    const args = text.slice(open + 1, close).trim() ? splitTop(text.slice(open + 1, close)) : [];
    if (args.length !== p.binders.length)
      throw new Error(
        `${where}: '${m[0]}' takes ${p.binders.length} argument(s) (${p.binders.join(', ')}), given ${args.length}: '${text.slice(m.index, close + 1)}'`,
      );
    const bound = new Map(p.binders.map((b, i) => [b, { binders: null, value: substitute(args[i], params, where, skip) }]));
    const value = substitute(p.value, bound, where);
    out += alone(text, m.index, close + 1) ? value : operand(value);
    at = close + 1;
  }
  return out + text.slice(at);
}

/** The code of a line, without its `//` comment (WGSL has no strings). */
const code = (line) => line.replace(/\/\/.*$/, '');

/**
 * The text of shaders/`file` with its includes expanded. `seen` lists the plain fragments already in
 * the module; `params` (for a parameterised fragment) maps its parameters to their arguments.
 */
function expand(dir, file, seen, twins, stack, params = null, from = '') {
  const lines = readFileSync(join(dir, file), 'utf8').split('\n');
  const out = [];
  const at = (i) => `shaders/${file}:${i + 1}${from}`;
  // A parameterised fragment's text starts after its //#params line.
  const start = params ? lines.findIndex((l) => PARAMS.test(l)) + 1 : 0;
  for (let i = start; i < lines.length; i++) {
    let line = lines[i];
    if (PARAMS.test(line)) throw new Error(`${at(i)}: '//#params' is for fragments included with arguments, once, before their text`);
    const m = DIRECTIVE.exec(line);
    if (!m) {
      // Parameters are substituted in code, not in comments.
      const c = code(line);
      out.push(params ? substitute(c, params, at(i)) + line.slice(c.length) : line);
      continue;
    }
    const where = at(i);
    const [, indent] = m;
    let rest = m[2].trim();
    const call = /^([A-Za-z_]\w*)\s*\(/.exec(rest);
    const name = call ? call[1] : rest;
    if (!NAME.test(name)) throw new Error(`${where}: expected '//#include NAME' or '//#include NAME(P = TEXT, ...)' (found '${line.trim()}')`);
    // Continuation lines, until the argument list closes.
    while (call && closing(rest, call[0].length - 1) < 0) {
      const next = lines[++i];
      if (next === undefined || !/^\s*\/\//.test(next))
        throw new Error(`${where}: '//#include ${name}(' is not closed: an argument list continues on lines starting with '//' until its ')'`);
      rest += ` ${next.replace(/^\s*\/\/\s?/, '').trim()}`;
    }
    if (call && closing(rest, call[0].length - 1) !== rest.length - 1)
      throw new Error(`${where}: unexpected text after the argument list of '//#include ${name}(...)': '${rest.slice(closing(rest, call[0].length - 1) + 1)}'`);
    const twin = `include/${name}.subgroups.wgsl`;
    const frag = twins && existsSync(join(dir, twin)) ? twin : `include/${name}.wgsl`;
    if (stack.includes(frag)) throw new Error(`${where}: ${frag} includes itself (${[...stack, frag].join(' -> ')})`);
    if (!existsSync(join(dir, frag))) throw new Error(`${where}: no fragment shaders/${frag}`);
    const fragLines = readFileSync(join(dir, frag), 'utf8').split('\n');
    const decl = fragLines.findIndex((l) => PARAMS.test(l));
    if (!call) {
      if (decl >= 0) throw new Error(`${where}: shaders/${frag} takes parameters (its line ${decl + 1}): expected '//#include ${name}(...)'`);
      if (seen.has(frag)) continue;
      seen.add(frag);
      out.push(expand(dir, frag, seen, twins, [...stack, frag]).replace(/\n$/, ''));
      continue;
    }
    if (decl < 0) throw new Error(`${where}: shaders/${frag} declares no '//#params' line: expected '//#include ${name}' without arguments`);
    const declared = parseParams(PARAMS.exec(fragLines[decl])[1], `shaders/${frag}:${decl + 1}`);
    const args = parseArgs(rest.slice(call[0].length, -1), where);
    const given = new Map();
    for (const a of args) {
      const d = declared.find((p) => p.name === a.name);
      const sig = (p) => `${p.name}${p.binders ? `(${p.binders.join(', ')})` : ''}`;
      if (!d) throw new Error(`${where}: shaders/${frag} has no parameter '${a.name}' (it takes ${declared.map(sig).join(', ')})`);
      if (given.has(a.name)) throw new Error(`${where}: '${a.name}' given twice`);
      if ((d.binders?.length ?? -1) !== (a.binders?.length ?? -1))
        throw new Error(
          `${where}: shaders/${frag} declares '${sig(d)}': expected '${d.binders ? `${d.name}(${d.binders.map((_, k) => `x${k}`).join(', ')}) = ...` : `${d.name} = ...`}' (found '${sig(a)}')`,
        );
      // An argument of a directive in a parameterised fragment may use that fragment's parameters.
      const value = params ? substitute(a.value, params, where, new Set(a.binders ?? [])) : a.value;
      given.set(a.name, { binders: a.binders, value });
    }
    const missing = declared.filter((p) => !given.has(p.name)).map((p) => p.name);
    if (missing.length) throw new Error(`${where}: missing argument(s) ${missing.join(', ')} for shaders/${frag}`);
    // The fragment's own names would capture an argument's: say so rather than compile something else.
    const own = new Set();
    for (const l of fragLines.slice(decl + 1)) for (const d of code(l).matchAll(/\b(?:let|var|const|fn)\s+([A-Za-z_]\w*)/g)) own.add(d[1]);
    for (const [p, a] of given) {
      for (const n of names(a.value)) {
        if (own.has(n[0]) && !(a.binders ?? []).includes(n[0]))
          throw new Error(
            `${where}: the argument ${p} uses '${n[0]}', a name that shaders/${frag} declares itself, so it would see the fragment's; rename it, or pass it as a parameter`,
          );
      }
    }
    const body = expand(dir, frag, seen, twins, [...stack, frag], given, ` (included from ${where})`).replace(/\n$/, '');
    out.push(
      body
        .split('\n')
        .map((l) => (l.trim() ? indent + l : l))
        .join('\n'),
    );
  }
  return out.join('\n');
}

/** The modules of the families in `dir` (a shaders/ folder): SHADERS, and SHADERS_SUBGROUPS for those with a subgroup twin. */
export function buildModules(dir) {
  const prelude = readFileSync(join(dir, 'include/prelude.wgsl'), 'utf8');
  if (prelude.split('\n').some((l) => DIRECTIVE.test(l))) throw new Error('shaders/include/prelude.wgsl may not include fragments');
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.wgsl'))
    .sort();
  const module = (f, twins = false) => `${twins ? SUBGROUPS_HEADER : ''}${prelude}\n${expand(dir, f, new Set(['include/prelude.wgsl']), twins, [])}`;
  const shaders = {};
  const subgroups = {};
  for (const f of files) {
    const name = f.slice(0, -5);
    shaders[name] = module(f);
    const twin = module(f, true);
    if (twin !== SUBGROUPS_HEADER + shaders[name]) subgroups[name] = twin;
  }
  return { shaders, subgroups };
}
