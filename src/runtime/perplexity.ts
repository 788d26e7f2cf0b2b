import { ort } from './session';
import { IO } from '../graph/decoderGraph';
import type { LayerShape } from '../model/decoder';
import { emptyPast, floatValues, int64 } from './kvCache';

export interface NllSum {
  nll: number; // sum of −log p over predicted tokens
  tokens: number;
  seconds: number;
  /** Σ −log p per window, in the order given: paired comparisons of two sub-networks need them. */
  perWindow: number[];
}

export const perplexity = (s: NllSum) => Math.exp(s.nll / s.tokens);

/** What bounds a batch's activations: the vocabulary and the most query heads of any layer. */
export interface BatchShape {
  vocab?: number;
  heads?: number;
}

export const mostHeads = (layers: readonly LayerShape[]) => layers.reduce((most, s) => Math.max(most, s.heads), 0);

export const batchShape = (d: { config: { vocab: number }; layers: readonly LayerShape[] }): BatchShape => ({
  vocab: d.config.vocab,
  heads: mostHeads(d.layers),
});

/**
 * Bytes one batch's largest activation may take: fp32 logits `[B, S, vocab]` (and their log-softmax) or attention
 * scores `[B, heads, S, S]` dominate a large model's activation memory (a 32k vocabulary's logits at 512 tokens are
 * 64 MiB a window, a 7B layer's scores at 2048 tokens 512 MiB), and smaller batches lose no speed at that size.
 */
const ACTIVATION_BUDGET = 1 << 26;

/** Windows of `tokens` per batch: up to `most`, fewer where one batch's logits or scores would exceed the budget. */
export function batchFor(tokens: number, shape: BatchShape, most = 8): number {
  const perWindow = 4 * tokens * Math.max(shape.vocab ?? 0, (shape.heads ?? 0) * tokens);
  return perWindow > 0 ? Math.max(1, Math.min(most, Math.floor(ACTIVATION_BUDGET / perWindow))) : most;
}

/** Per-position values `[B, S]` summed per row. */
export function windowSums(values: Float32Array, S: number): number[] {
  const sums: number[] = [];
  for (let at = 0; at < values.length; at += S) {
    let sum = 0;
    for (let i = at; i < at + S; i++) sum += values[i];
    sums.push(sum);
  }
  return sums;
}

/**
 * Negative log-likelihood of windows, every position but the first of each window predicted. Works for our
 * evaluation graphs (an `nll` output: the vocabulary never leaves the runtime) and for any standard decoder
 * with `logits` (user originals, exported models), so all of them are measured by the same code.
 */
export async function windowsNll(
  session: ort.InferenceSession,
  windows: number[][],
  o: {
    batch?: number;
    /** Bounds the default batch (`batchFor`). */
    shape?: BatchShape;
    extraFeeds?: Record<string, ort.Tensor>;
    layers?: LayerShape[];
    onBatch?: (done: number) => void;
    signal?: AbortSignal;
  } = {},
): Promise<NllSum> {
  const batch = o.batch ?? batchFor(windows[0]?.length ?? 1, o.shape ?? {});
  const ours = session.outputNames.includes(IO.nll);
  const t0 = performance.now();
  const perWindow: number[] = [];
  let tokens = 0;
  for (let w = 0; w < windows.length; w += batch) {
    o.signal?.throwIfAborted();
    const rows = windows.slice(w, w + batch);
    const B = rows.length;
    const S = rows[0].length - 1;
    const input = rows.flatMap((r) => r.slice(0, S));
    const positions = rows.flatMap(() => Array.from({ length: S }, (_, i) => i));
    const feeds: Record<string, ort.Tensor> = {
      [IO.inputIds]: int64(input, [B, S]),
      [IO.positionIds]: int64(positions, [B, S]),
      ...o.extraFeeds,
    };
    if (ours) {
      feeds[IO.labels] = int64(
        rows.flatMap((r) => r.slice(1)),
        [B, S],
      );
      perWindow.push(...windowSums((await session.run(feeds, [IO.nll]))[IO.nll].data as Float32Array, S));
    } else {
      if (session.inputNames.includes(IO.attentionMask))
        feeds[IO.attentionMask] = int64(new Array(B * S).fill(1), [B, S]);
      if (o.layers) Object.assign(feeds, emptyPast(session, o.layers, B));
      const logits = (await session.run(feeds, [IO.logits]))[IO.logits];
      const vocab = logits.dims[2] as number;
      const values = floatValues(logits);
      rows.forEach((r, b) => perWindow.push(nllFromLogits(values, vocab, b * S, r.slice(1))));
    }
    tokens += B * S;
    o.onBatch?.(Math.min(w + batch, windows.length));
  }
  return { nll: perWindow.reduce((a, b) => a + b, 0), tokens, seconds: (performance.now() - t0) / 1000, perWindow };
}

/** Σ −log softmax(logits)[label] over the positions from `first`, stable (max-subtracted), in float64. */
function nllFromLogits(logits: Float32Array, vocab: number, first: number, labels: number[]): number {
  let sum = 0;
  for (let p = 0; p < labels.length; p++) {
    const off = (first + p) * vocab;
    let max = -Infinity;
    for (let v = 0; v < vocab; v++) if (logits[off + v] > max) max = logits[off + v];
    let z = 0;
    for (let v = 0; v < vocab; v++) z += Math.exp(logits[off + v] - max);
    sum += max + Math.log(z) - logits[off + labels[p]];
  }
  return sum;
}
