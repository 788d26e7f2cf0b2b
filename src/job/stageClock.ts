// Where a long job's time went: the wall time between its stage events, for the report.
import type { JobListener } from './protocol';

export interface StageTime {
  stage: string;
  seconds: number;
}

/**
 * `emit` wrapped so that each stage's time, from its `stage` event to the next (the first from now, as `open`), is
 * kept; `times()` closes the current one.
 */
export function stageClock(emit: JobListener = () => {}): { emit: JobListener; times(): StageTime[] } {
  const done: StageTime[] = [];
  let stage = 'open';
  let since = performance.now();
  const current = () => ({ stage, seconds: (performance.now() - since) / 1000 });
  return {
    emit: (e) => {
      if (e.type === 'stage') {
        done.push(current());
        stage = e.stage;
        since = performance.now();
      }
      emit(e);
    },
    times: () => [...done, current()],
  };
}

/** "open 4 s, calibration statistics 151 s, … (160 s in all)" */
export const describeTimes = (times: StageTime[], seconds: number) =>
  `${times.map((t) => `${t.stage} ${t.seconds.toFixed(0)} s`).join(', ')} (${seconds.toFixed(0)} s in all)`;
