import { Format, Presets, SingleBar } from 'cli-progress';

/** When stderr is not a terminal (a log file, CI), a progress line at most this often instead of a bar. */
const LOG_EVERY_MS = 30_000;

const minutesAndSeconds = (ms: number) => {
  const s = Math.round(ms / 1000);
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${s % 60} s`;
};

/**
 * A terminal progress bar on stderr (stdout stays clean for results). Into a file, a plain line every 30 s instead,
 * so that a long stage written to a log is told from a hang.
 */
export function progressBar(unit: string): { update(done: number, total: number): void; stop(): void } {
  if (!process.stderr.isTTY) {
    // Timed from the first update: the units done before it (often the first) are not in the rate.
    let first: { at: number; done: number } | undefined;
    let logged = 0;
    return {
      update(done, total) {
        const now = performance.now();
        first ??= { at: now, done };
        if (now - Math.max(first.at, logged) < LOG_EVERY_MS || done <= first.done) return;
        logged = now;
        const eta = ((now - first.at) / (done - first.done)) * Math.max(0, total - done);
        process.stderr.write(
          `  ${done}/${total} ${unit}, ${minutesAndSeconds(now - first.at)} elapsed, eta ${minutesAndSeconds(eta)}\n`,
        );
      },
      stop: () => {},
    };
  }
  const bar = new SingleBar(
    {
      format: `{bar} {value}/{total} ${unit} | {duration_formatted} elapsed, eta {eta_formatted}`,
      stream: process.stderr,
      hideCursor: true,
      // Before a unit is done the ETA is unknown ('NULL', 'INF'), which the default format cuts to "LL".
      formatTime: (t, o, round) => (typeof t === 'number' && Number.isFinite(t) ? Format.TimeFormat(t, o, round) : '?'),
    },
    Presets.shades_classic,
  );
  let started = false;
  return {
    update(done, total) {
      if (!started) bar.start(total, 0);
      // A total can change once a stage knows it better (the latency runs, after the warm-up).
      else if (bar.getTotal() !== total) bar.setTotal(total);
      started = true;
      bar.update(done);
    },
    stop: () => started && bar.stop(),
  };
}
