import { availableMemory } from '../util/freeMemory';
import type { LayerShape } from '../model/decoder';
import { IO } from '../graph/decoderGraph';
import { createSession, type GraphSessionOptions, type SessionOptions } from './session';
import { emptyPast, int64, presentToPast } from './kvCache';
import { median } from '../util/median';
import { modelFileBytes } from '../onnx/modelFile';

export interface Latency {
  prefillTokens: number;
  prefillMs: number;
  decodeTokens: number;
  decodeMsPerToken: number;
  decodeTokensPerSecond: number;
  /** Counted repetitions the medians are over (fewer than asked when the time budget is short). */
  reps: number;
  /** Whether the models' runs alternated (false: one model after another, too large to hold together). */
  interleaved: boolean;
}

/** How a latency was measured, for reports: "median of 5 interleaved runs of 64 decode steps". */
export const describeRuns = (l: Latency) =>
  `${l.reps === 1 ? 'one run' : `median of ${l.reps}${l.interleaved ? ' interleaved' : ''} runs`} of ${l.decodeTokens} decode steps${l.interleaved ? '' : ', one model after another (too large to hold together)'}`;

/** What the jobs measure: a 128-token prompt (half the context at most), 64 decode steps, 5 counted runs. */
export const latencySetup = (maxPositions: number) => ({
  prompt: Math.min(128, maxPositions / 2),
  decode: 64,
  reps: 5,
  budgetSeconds: LATENCY_BUDGET_SECONDS,
});

/**
 * The counted runs of all models together should take about this long: on a laptop CPU a 7B model decodes about a
 * token a second, and 5 runs of 64 steps of two models would take over ten minutes.
 */
const LATENCY_BUDGET_SECONDS = 60;
/** Fewest decode steps a shortened run keeps. */
const MIN_DECODE = 8;

type Sessions = Awaited<ReturnType<typeof createSession>>[];

/**
 * Per model, one prefill of `prompt` tokens and up to `decode` KV-cached steps (one at least), stopping early once
 * a model's steps have taken `stopAfterMs`: the prefill's milliseconds and each step's.
 */
async function runOnce(
  sessions: Sessions,
  models: { layers: LayerShape[] }[],
  o: { prompt: number; decode: number; vocab: number; stopAfterMs?: number; signal?: AbortSignal },
): Promise<{ prefill: number; steps: number[] }[]> {
  const token = (i: number) => 3 + ((i * 31) % (o.vocab - 3));
  const times: { prefill: number; steps: number[] }[] = [];
  for (const [k, s] of sessions.entries()) {
    const layers = models[k].layers;
    // At 7B on a CPU a prefill takes seconds and a step about one: a cancel waits for one of them, not a run.
    o.signal?.throwIfAborted();
    let t0 = performance.now();
    let out = await s.session.run({
      [IO.inputIds]: int64(
        Array.from({ length: o.prompt }, (_, i) => token(i)),
        [1, o.prompt],
      ),
      [IO.attentionMask]: int64(new Array(o.prompt).fill(1), [1, o.prompt]),
      [IO.positionIds]: int64(
        Array.from({ length: o.prompt }, (_, i) => i),
        [1, o.prompt],
      ),
      ...emptyPast(s.session, layers, 1),
    });
    const prefill = performance.now() - t0;
    const steps: number[] = [];
    const started = performance.now();
    for (
      let step = 0;
      step < o.decode && (step === 0 || performance.now() - started < (o.stopAfterMs ?? Infinity));
      step++
    ) {
      o.signal?.throwIfAborted();
      const pos = o.prompt + step;
      t0 = performance.now();
      out = await s.session.run({
        [IO.inputIds]: int64([token(pos)], [1, 1]),
        [IO.attentionMask]: int64(new Array(pos + 1).fill(1), [1, pos + 1]),
        [IO.positionIds]: int64([pos], [1, 1]),
        ...presentToPast(out, layers.length),
      });
      steps.push(performance.now() - t0);
    }
    times.push({ prefill, steps });
  }
  return times;
}

/** Opens every model's session, or none: those opened are released when another fails. */
async function openAll(files: string[], o: LatencyOptions): Promise<Sessions> {
  const opened = await Promise.allSettled(files.map((f) => createSession(f, o)));
  const failed = opened.find((r) => r.status === 'rejected');
  if (!failed) return opened.map((r) => (r as PromiseFulfilledResult<Sessions[number]>).value);
  for (const r of opened) if (r.status === 'fulfilled') await r.value.session.release();
  throw failed.reason;
}

type LatencyOptions = Pick<GraphSessionOptions, keyof SessionOptions | 'halfTensors'> & {
  prompt: number;
  decode: number;
  reps: number;
  vocab: number;
  budgetSeconds?: number;
  /** Memory the measurement may fill (default: what the OS reports free). */
  availableBytes?: number;
  /** Runs done (the warm-up counted) of all; `model` where the models are measured one after another. */
  onRun?: (done: number, total: number, model?: number) => void;
};

/**
 * Models measured with their sessions open together and runs interleaved. Without `fixed`, the warm-up prices a
 * run (its prefill, and its steps but the first, which pays for first-use setup): where `reps` runs would exceed
 * the budget, fewer runs (one at least) and then fewer decode steps (8 at least) are counted, and the warm-up stops
 * early on such models.
 */
async function measureTogether(
  models: { file: string; layers: LayerShape[] }[],
  o: LatencyOptions,
  fixed?: { reps: number; decode: number },
  onRun?: (done: number, total: number) => void,
): Promise<Omit<Latency, 'interleaved'>[]> {
  const sessions = await openAll(
    models.map((m) => m.file),
    o,
  );
  try {
    const budget = (o.budgetSeconds ?? Infinity) * 1000;
    const stopAfterMs = fixed ? Infinity : budget / (o.reps + 1) / models.length;
    onRun?.(0, 1 + (fixed?.reps ?? o.reps));
    // With `fixed`, the warm-up runs the steps that will be counted and no more.
    const warm = await runOnce(sessions, models, { ...o, decode: fixed?.decode ?? o.decode, stopAfterMs });
    const prefillMs = warm.reduce((a, t) => a + t.prefill, 0);
    const stepMs = warm.reduce((a, t) => a + median(t.steps.length > 1 ? t.steps.slice(1) : t.steps), 0);
    const reps = fixed?.reps ?? Math.max(1, Math.min(o.reps, Math.floor(budget / (prefillMs + o.decode * stepMs))));
    const fits = Math.floor((budget / reps - prefillMs) / stepMs);
    const decode = fixed?.decode ?? Math.max(Math.min(o.decode, MIN_DECODE), Math.min(o.decode, fits));
    const prefill: number[][] = models.map(() => []);
    const perToken: number[][] = models.map(() => []);
    onRun?.(1, 1 + reps);
    for (let rep = 0; rep < reps; rep++) {
      const times = await runOnce(sessions, models, { ...o, decode });
      times.forEach((t, k) => {
        prefill[k].push(t.prefill);
        perToken[k].push(t.steps.reduce((a, x) => a + x, 0) / t.steps.length);
      });
      onRun?.(rep + 2, 1 + reps);
    }
    return models.map((_, k) => ({
      prefillTokens: o.prompt,
      prefillMs: median(prefill[k]),
      decodeTokens: decode,
      decodeMsPerToken: median(perToken[k]),
      decodeTokensPerSecond: 1000 / median(perToken[k]),
      reps,
    }));
  } finally {
    for (const s of sessions) await s.session.release();
  }
}

/**
 * Prefill of `prompt` tokens, then `decode` single-token steps through the KV cache (batch 1), medians over `reps`
 * counted runs after a warm-up, within `budgetSeconds` (see `measureTogether`). The models' runs are interleaved so
 * that machine noise hits them alike, which needs all of them in memory at once; where their files exceed half the
 * memory available (a 7B original and its compressed copy on a laptop), they are measured one after another
 * instead, the first within its share of the budget and the others with its runs and steps, and the result says so.
 */
export async function measureLatency(
  models: { file: string; layers: LayerShape[] }[],
  o: LatencyOptions,
): Promise<Latency[]> {
  const budgetSeconds = o.budgetSeconds ?? Infinity;
  if (!(o.decode >= 1 && o.reps >= 1 && budgetSeconds >= 0))
    throw new Error(
      `internal error: latency needs decode and reps ≥ 1 and a budget ≥ 0 (${o.decode}, ${o.reps}, ${budgetSeconds})`,
    );
  const bytes = models.reduce((a, m) => a + modelFileBytes(m.file), 0);
  if (models.length < 2 || bytes <= (o.availableBytes ?? availableMemory()) / 2)
    return (await measureTogether(models, o, undefined, o.onRun)).map((l) => ({ ...l, interleaved: true }));
  const [first, ...rest] = models;
  const onRun = (model: number) => (done: number, total: number) => o.onRun?.(done, total, model);
  const [lead] = await measureTogether(
    [first],
    { ...o, budgetSeconds: budgetSeconds / models.length },
    undefined,
    onRun(0),
  );
  const out = [lead];
  for (const [i, m] of rest.entries())
    out.push(...(await measureTogether([m], o, { reps: lead.reps, decode: lead.decodeTokens }, onRun(i + 1))));
  return out.map((l) => ({ ...l, interleaved: false }));
}
