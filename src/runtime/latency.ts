import type { LayerShape } from '../model/decoder';
import { IO } from '../graph/decoderGraph';
import { createSession, type SessionOptions } from './session';
import { emptyPast, int64, presentToPast } from './kvCache';
import { median } from '../util/median';

export interface Latency {
  prefillTokens: number;
  prefillMs: number;
  decodeTokens: number;
  decodeMsPerToken: number;
  decodeTokensPerSecond: number;
  /** Counted repetitions the medians are over (fewer than asked when the time budget is short). */
  reps: number;
}

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

/** One prefill of `o.prompt` tokens and `decode` KV-cached steps per model: the milliseconds of each part. */
async function runOnce(
  sessions: Sessions,
  models: { layers: LayerShape[] }[],
  prompt: number,
  decode: number,
  vocab: number,
): Promise<{ prefill: number; decode: number }[]> {
  const token = (i: number) => 3 + ((i * 31) % (vocab - 3));
  const times: { prefill: number; decode: number }[] = [];
  for (const [k, s] of sessions.entries()) {
    const layers = models[k].layers;
    let t0 = performance.now();
    let out = await s.session.run({
      [IO.inputIds]: int64(
        Array.from({ length: prompt }, (_, i) => token(i)),
        [1, prompt],
      ),
      [IO.attentionMask]: int64(new Array(prompt).fill(1), [1, prompt]),
      [IO.positionIds]: int64(
        Array.from({ length: prompt }, (_, i) => i),
        [1, prompt],
      ),
      ...emptyPast(s.session, layers, 1),
    });
    const p = performance.now() - t0;
    t0 = performance.now();
    for (let step = 0; step < decode; step++) {
      const pos = prompt + step;
      out = await s.session.run({
        [IO.inputIds]: int64([token(pos)], [1, 1]),
        [IO.attentionMask]: int64(new Array(pos + 1).fill(1), [1, pos + 1]),
        [IO.positionIds]: int64([pos], [1, 1]),
        ...presentToPast(out, layers.length),
      });
    }
    times.push({ prefill: p, decode: performance.now() - t0 });
  }
  return times;
}

/**
 * Prefill of `prompt` tokens, then `decode` single-token steps through the KV cache (batch 1), for several models
 * with their runs interleaved so that machine noise hits them alike. Medians over `reps` counted runs after a short
 * warm-up run, which also estimates a run's cost: where `reps` runs would exceed `budgetSeconds`, fewer runs (one
 * at least) and then fewer decode steps (8 at least) are measured, and the result says how many.
 */
export async function measureLatency(
  models: { file: string; layers: LayerShape[] }[],
  o: SessionOptions & { prompt: number; decode: number; reps: number; vocab: number; budgetSeconds?: number },
): Promise<Latency[]> {
  const sessions = await Promise.all(models.map((m) => createSession(m.file, o)));
  const warmSteps = Math.min(o.decode, MIN_DECODE);
  const warm = await runOnce(sessions, models, o.prompt, warmSteps, o.vocab);
  const prefillMs = warm.reduce((a, t) => a + t.prefill, 0);
  const stepMs = warm.reduce((a, t) => a + t.decode, 0) / Math.max(1, warmSteps);
  const budget = (o.budgetSeconds ?? Infinity) * 1000;
  const reps = Math.max(1, Math.min(o.reps, Math.floor(budget / (prefillMs + o.decode * stepMs))));
  const decode = Math.max(
    Math.min(o.decode, MIN_DECODE),
    Math.min(o.decode, Math.floor((budget / reps - prefillMs) / stepMs)),
  );
  const prefill: number[][] = models.map(() => []);
  const perToken: number[][] = models.map(() => []);
  for (let rep = 0; rep < reps; rep++) {
    const times = await runOnce(sessions, models, o.prompt, decode, o.vocab);
    times.forEach((t, k) => {
      prefill[k].push(t.prefill);
      perToken[k].push(t.decode / decode);
    });
  }
  await Promise.all(sessions.map((s) => s.session.release()));
  return models.map((_, k) => ({
    prefillTokens: o.prompt,
    prefillMs: median(prefill[k]),
    decodeTokens: decode,
    decodeMsPerToken: median(perToken[k]),
    decodeTokensPerSecond: 1000 / median(perToken[k]),
    reps,
  }));
}
