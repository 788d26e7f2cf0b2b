// A job's typed events on the terminal: stage lines and one progress bar on stderr, or relayed to the extension host.
import type { JobEvent } from '../job/protocol';
import { sendToParent, underParent } from '../job/ipc';
import { progressBar } from './progress';
import { describeReformError, type ModuleReformError } from '../compress/reform/reformError';

/** "error 0.2838 → 0.1556", or "all rows kept". */
const moduleLine = (e: ModuleReformError) => `${e.allKept ? '' : 'error '}${describeReformError(e)}`;

/**
 * Stage lines and a progress bar on stderr for a job's events (nothing with --json). `generations`: the search's,
 * for its candidates' bar (jobs without a search emit no candidates).
 */
export function jobProgress(json: boolean | undefined, generations = 0) {
  // One bar at a time, for the candidates of the search or the steps (layers, batches) of another stage.
  let bar: { key: string; bar: ReturnType<typeof progressBar> } | undefined;
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
      if (json) return;
      if (e.type === 'candidate')
        barFor('candidates', 'candidates').update(e.generation * e.of + e.decided, generations * e.of);
      if (e.type === 'progress') barFor(e.stage, e.unit).update(e.done, e.total);
      if (e.type === 'stage') {
        bar?.bar.stop();
        bar = undefined;
        process.stderr.write(`${e.stage}${e.detail ? `: ${e.detail}` : ''}…\n`);
      }
      if (e.type === 'reform')
        process.stderr.write(
          `  layer ${e.layer.layer}: o_proj ${moduleLine(e.layer.o)}, down_proj ${moduleLine(e.layer.down)}\n`,
        );
      if (e.type === 'log') process.stderr.write(`${e.message}\n`);
    },
    stop: () => bar?.bar.stop(),
  };
}
