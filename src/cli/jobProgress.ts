// A job's typed events on the terminal: stage lines and one progress bar on stderr, or relayed to the extension host.
import type { JobEvent, JobListener } from '../job/protocol';
import { sendToParent, underParent } from '../job/ipc';
import { progressBar } from './progress';
import { cancelOnInterrupt } from './options';
import { describeReformError, type ModuleReformError } from '../compress/reform/reformError';

/** A job's warning on the terminal, as every command writes it. */
export const warnOnStderr = (message: string) => process.stderr.write(`warning: ${message}\n`);

/** "error 0.2838 → 0.1556", or "all rows kept". */
const moduleLine = (e: ModuleReformError) => `${e.allKept ? '' : 'error '}${describeReformError(e)}`;

/**
 * Stage lines and a progress bar on stderr for a job's events (with --json, warnings only). `generations`: the search's,
 * for its candidates' bar (jobs without a search emit no candidates).
 */
function jobProgress(json: boolean | undefined, generations: number) {
  // One bar at a time, for the candidates of the search or the steps (layers, batches) of another stage.
  let bar: { key: string; bar: ReturnType<typeof progressBar> } | undefined;
  // The stage line last written: a bar of a part of it ("measure: latency") is titled with its own name.
  let stage = '';
  const barFor = (key: string, unit: string) => {
    if (bar?.key !== key) {
      bar?.bar.stop();
      bar = { key, bar: progressBar(unit) };
    }
    return bar.bar;
  };
  return {
    onEvent: (e: JobEvent) => {
      if (underParent()) return sendToParent({ kind: 'event', event: e });
      // Warnings go to stderr with --json too: stdout stays the report, and not every report repeats them.
      if (e.type === 'warning') return warnOnStderr(e.message);
      if (e.type === 'log') return process.stderr.write(`${e.message}\n`);
      if (json) return;
      if (e.type === 'candidate')
        barFor('candidates', 'candidates').update(e.generation * e.of + e.decided, generations * e.of);
      if (e.type === 'progress') {
        if (bar?.key !== e.stage && e.stage !== stage) {
          bar?.bar.stop();
          bar = undefined;
          process.stderr.write(`  ${e.stage}\n`);
        }
        barFor(e.stage, e.unit).update(e.done, e.total);
      }
      if (e.type === 'stage') {
        bar?.bar.stop();
        bar = undefined;
        stage = e.stage;
        process.stderr.write(`${e.stage}${e.detail ? `: ${e.detail}` : ''}…\n`);
      }
      if (e.type === 'reform')
        process.stderr.write(
          `  layer ${e.layer.layer}: o_proj ${moduleLine(e.layer.o)}, down_proj ${moduleLine(e.layer.down)}\n`,
        );
    },
    stop: () => bar?.bar.stop(),
  };
}

/**
 * Runs a job with its cancel (Ctrl-C, SIGTERM) and its progress on stderr, both taken down however it ends: a
 * terminal bar left running keeps the process alive (its redraw timer) with the cursor hidden, and a signal handler
 * left behind would swallow the next Ctrl-C (the demo generates after its job).
 */
export async function withJobIo<T>(
  json: boolean | undefined,
  generations: number,
  job: (io: { signal: AbortSignal; onEvent: JobListener }) => Promise<T>,
): Promise<T> {
  const cancel = cancelOnInterrupt();
  const progress = jobProgress(json, generations);
  try {
    return await job({ signal: cancel.signal, onEvent: progress.onEvent });
  } finally {
    progress.stop();
    cancel.dispose();
  }
}
