// Dawn's log noise, kept off the CLI's stderr. Dawn (and the Vulkan loader through it) print
// warnings with fprintf straight to file descriptor 2 when the adapter is created, e.g. on lavapipe
// "Warning: maxDynamicUniformBuffersPerPipelineLayout artificially reduced from 1000000 to 16 ...",
// on every command. Native writes cannot be caught inside the process (Node has no dup2), so the
// GPU commands run in a child process whose stderr passes through dawnLogFilter (bin/deepmask.js);
// only these known, harmless lines are dropped, everything else (Dawn's errors included) passes.
// DEEPMASK_DAWN_LOG=1 runs the command in-process with Dawn's log untouched.
import { spawn } from 'node:child_process';

/** Lines that are noise wherever they come: limits Dawn clamps for its own bookkeeping. */
const NOISE = [/^Warning: max\w+ artificially reduced from \d+ to \d+ to fit /];
/**
 * The Vulkan loader's reasons for finding no driver: the CLI's own no-adapter message says what to
 * install instead. Each may be followed by Dawn's source location ("    at F (file:line)") and a blank line.
 */
const LOADER = /^Warning: (loader_\w+: |vkCreateInstance(: Found no drivers| failed with )|vkEnumeratePhysicalDevices failed)/;
const WARNING = 'Warning: ';

/** A stateful filter of stderr text: write() returns what to show now, end() what is left. */
export function dawnLogFilter(): { write(chunk: string): string; end(): string } {
  let held = ''; // the start of a line that may yet turn out to be noise
  let passing = false; // inside a line already shown (a progress line rewritten with \r, say)
  let trace = false; // after a loader line: its location lines and one blank line are dropped too
  const mayBeNoise = (partial: string) =>
    partial.startsWith(WARNING) || WARNING.startsWith(partial) || (trace && (partial === '' || /^\s/.test(partial)));
  return {
    write(chunk) {
      let text = held + chunk, out = '';
      held = '';
      while (text) {
        const nl = text.indexOf('\n');
        if (passing) {
          if (nl < 0) return out + text;
          out += text.slice(0, nl + 1);
          text = text.slice(nl + 1);
          passing = false;
          continue;
        }
        if (nl < 0) {
          if (mayBeNoise(text)) held = text;
          else [out, passing] = [out + text, true];
          break;
        }
        const line = text.slice(0, nl);
        text = text.slice(nl + 1);
        if (NOISE.some((re) => re.test(line))) continue;
        if (LOADER.test(line)) {
          trace = true;
          continue;
        }
        if (trace && /^\s+at \S+ \(.*\)\s*$/.test(line)) continue;
        if (trace && line.trim() === '') {
          trace = false;
          continue;
        }
        trace = false;
        out += `${line}\n`;
      }
      return out;
    },
    end() {
      const rest = held;
      held = '';
      return rest;
    },
  };
}

/** The commands that create a GPU device (the others never load Dawn). */
export const GPU_COMMANDS = new Set(['demo', 'train', 'train-heads', 'train-refine', 'infer', 'info']);

/** Whether `deepmask ARGV` runs in a child with its stderr filtered (bin/deepmask.js). */
export function wantsFilteredChild(argv: string[], env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.DEEPMASK_STDERR_FILTERED || env.DEEPMASK_DAWN_LOG) return false;
  return GPU_COMMANDS.has(argv[0] ?? '') && !argv.includes('--help') && !argv.includes('-h');
}

const RELAYED = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * Runs `script ARGV` in a child Node process (same Node options, e.g. --import hooks) with stdin and
 * stdout inherited and stderr passed through dawnLogFilter; ends this process as the child ended
 * (its exit status, or the same signal). The child is in its own process group, so Ctrl-C (sent to
 * the terminal's whole group) reaches it once, relayed from here, as does a SIGTERM sent to this
 * process: training's "the same signal again quits at once" keeps its meaning.
 */
export function runFilteredChild(script: string, argv: string[]): void {
  const tty = !!process.stderr.isTTY;
  const child = spawn(process.execPath, [...process.execArgv, script, ...argv], {
    // The IPC channel only tells the child when this process is gone (see asFilteredChild).
    stdio: ['inherit', 'inherit', 'pipe', 'ipc'],
    env: { ...process.env, DEEPMASK_STDERR_FILTERED: '1', ...(tty ? { DEEPMASK_STDERR_TTY: String(process.stderr.columns || 80) } : {}) },
    detached: process.platform !== 'win32',
    windowsHide: true,
  });
  const filter = dawnLogFilter();
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (s: string) => {
    const out = filter.write(s);
    if (out) process.stderr.write(out);
  });
  const relay = (sig: NodeJS.Signals) => () => {
    try {
      child.kill(sig);
    } catch {
      // already gone
    }
  };
  const handlers = RELAYED.map((sig) => [sig, relay(sig)] as const);
  for (const [sig, h] of handlers) process.on(sig, h);
  child.on('error', (e) => {
    process.stderr.write(`deepmask: could not start ${process.execPath}: ${e.message}\n`);
    process.exit(1);
  });
  child.on('close', (code, signal) => {
    const rest = filter.end();
    if (rest) process.stderr.write(rest);
    for (const [sig, h] of handlers) process.off(sig, h);
    if (signal) process.kill(process.pid, signal);
    else process.exitCode = code ?? 1;
  });
}

/**
 * In the child: stderr is a pipe to the parent but may have a terminal behind it (progress lines
 * then rewrite in place), and a parent killed outright (SIGKILL) takes the child with it, as it
 * would have taken the command had it run in one process.
 */
export function asFilteredChild(env: NodeJS.ProcessEnv = process.env): void {
  if (!env.DEEPMASK_STDERR_FILTERED || !process.channel) return;
  process.channel.unref();
  process.on('disconnect', () => process.kill(process.pid, 'SIGKILL'));
  const cols = Number(env.DEEPMASK_STDERR_TTY);
  delete env.DEEPMASK_STDERR_TTY; // not for processes this one starts
  if (!cols) return;
  Object.defineProperty(process.stderr, 'isTTY', { value: true, configurable: true });
  Object.defineProperty(process.stderr, 'columns', { value: cols, configurable: true });
}
