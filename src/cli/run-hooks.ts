// What the CLI does around a training run: the progress line and validation lines, and the
// signals. Ctrl-C or SIGTERM asks the run to checkpoint and stop (exit 130 or 143); the same signal
// again releases the run folder's lock and exits at once.
import type { RunHooks, StopReason } from '../train/run.js';
import { Progress } from './progress.js';

export interface CliRun {
  hooks: RunHooks;
  /** Removes the signal handlers and ends the progress line. */
  close(): void;
}

export function cliRunHooks(o: { quiet?: boolean } = {}): CliRun {
  let progress: Progress | null = null;
  let started = performance.now();
  let stop: StopReason | null = null;
  let release: (() => void) | null = null;
  const line = (s: string) => {
    progress?.done();
    if (!o.quiet) console.log(s);
  };
  const onSignal = (sig: StopReason) => {
    if (stop) {
      release?.();
      process.exit(sig === 'SIGINT' ? 130 : 143);
    }
    stop = sig;
    console.error(`\n${sig === 'SIGINT' ? 'interrupted' : 'terminated'}: writing a checkpoint (${sig} again to quit now)`);
  };
  const onInt = () => onSignal('SIGINT'),
    onTerm = () => onSignal('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  return {
    hooks: {
      log: line,
      onStep: (e, run) => {
        if (o.quiet) return;
        progress ??= new Progress(run.steps, 'samples', 'step', process.stderr, started);
        progress.update(e.step, e.step * run.batch, { loss: e.loss, lr: e.lr });
      },
      onValidate: (m) =>
        line(
          `validation @${m.step}: mask IoU mean ${m.iouMean.toFixed(3)} median ${m.iouMedian.toFixed(3)}, IoU>=0.5 ${(100 * m.iou50).toFixed(1)}%, IoU>=0.7 ${(100 * m.iou70).toFixed(1)}%, score accuracy ${(100 * m.scoreAccuracy).toFixed(1)}%`,
        ),
      stopReason: () => stop,
      onLocked: (r) => {
        release = r;
        started = performance.now(); // the run proper begins
      },
    },
    close() {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      progress?.done();
    },
  };
}
