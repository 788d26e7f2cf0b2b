import { HiddenStates } from './hiddenStates';
import { ort } from './session';
import { CAPTURE_POINTS, IO, type CapturePoint } from '../graph/decoderGraph';
import { int64 } from './kvCache';
import { mapTo } from '../util/mapTo';
import { batchFor, mostHeads, windowSums } from './perplexity';
import type { LayerShape } from '../model/decoder';

/** Accumulated statistics of one activation: Gram matrix, sum, and the number of positions. */
export interface ActivationStats {
  dim: number;
  gram: Float64Array; // Σ x xᵀ, [dim, dim]
  sum: Float64Array; // Σ x
  count: number;
}

export type LayerStats = Record<CapturePoint, ActivationStats>;

export const mean = (s: ActivationStats) => mapTo(Float64Array, s.sum, (v) => v / s.count);

/** Per-channel variance over positions: E[x²] − E[x]². */
export function variance(s: ActivationStats): Float64Array {
  return mapTo(Float64Array, s.sum, (v, j) => Math.max(0, s.gram[j * s.dim + j] / s.count - (v / s.count) ** 2));
}

/** Per-channel ‖x_j‖₂ over all positions. */
export const columnNorms = (s: ActivationStats) =>
  Float64Array.from({ length: s.dim }, (_, j) => Math.sqrt(s.gram[j * s.dim + j]));

/**
 * Calibration windows in batches, and (after the first layer) the hidden states entering the next layer for each
 * batch, so a pass runs one layer on what the layers before it produced (design.md "Scale").
 */
export interface LayerInputs {
  windows: number[][];
  batch: number;
  /** Per batch `[b, S, D]`; undefined before layer 0, whose graph embeds the windows' token ids itself. */
  hidden?: HiddenStates;
}

export const calibrationInputs = (windows: number[][], batch = 4): LayerInputs => ({ windows, batch });

/** `windows` for a layer-by-layer pass of `d`: at most 4 a batch, fewer where their attention scores exceed the budget. */
export const layerInputs = (d: { layers: readonly LayerShape[] }, windows: number[][]): LayerInputs =>
  calibrationInputs(windows, batchFor(windows[0]?.length ?? 1, { heads: mostHeads(d.layers) }, 4));

/** The capture points `session` outputs for layer `l`. */
const capturedPoints = (session: ort.InferenceSession, l: number) =>
  CAPTURE_POINTS.filter((p) => session.outputNames.includes(IO.gram(l, p)));

function accumulate(
  stats: Partial<LayerStats>,
  p: CapturePoint,
  out: ort.InferenceSession.OnnxValueMapType,
  l: number,
  positions: number,
): void {
  const gram = out[IO.gram(l, p)].data as Float32Array;
  const sum = out[IO.sum(l, p)].data as Float32Array;
  const acc = (stats[p] ??= {
    dim: sum.length,
    gram: new Float64Array(gram.length),
    sum: new Float64Array(sum.length),
    count: 0,
  });
  for (let k = 0; k < gram.length; k++) acc.gram[k] += gram[k];
  for (let k = 0; k < sum.length; k++) acc.sum[k] += sum[k];
  acc.count += positions;
}

function feedsOf(
  session: ort.InferenceSession,
  input: LayerInputs,
  b: number,
  extraFeeds?: Record<string, ort.Tensor>,
): Record<string, ort.Tensor> {
  const rows = input.windows.slice(b * input.batch, (b + 1) * input.batch);
  const S = rows[0].length - 1;
  const feeds: Record<string, ort.Tensor> = {
    [IO.positionIds]: int64(
      rows.flatMap(() => Array.from({ length: S }, (_, i) => i)),
      [rows.length, S],
    ),
    ...extraFeeds,
  };
  if (input.hidden) feeds[IO.hiddenIn] = input.hidden.get(b);
  else
    feeds[IO.inputIds] = int64(
      rows.flatMap((r) => r.slice(0, S)),
      [rows.length, S],
    );
  if (session.inputNames.includes(IO.labels))
    feeds[IO.labels] = int64(
      rows.flatMap((r) => r.slice(1)),
      [rows.length, S],
    );
  return feeds;
}

export interface PassResult {
  /** Statistics of layer `layer` at the capture points the graph outputs. */
  stats: Partial<LayerStats>;
  /** What the graph's last layer passes on (only when asked for). */
  next?: LayerInputs;
  /** Σ −log p per window, for a graph that ends in the head (a layer pass's last step). */
  perWindowNll?: number[];
}

/**
 * Runs every batch of `input` through `session` (a graph of `buildDecoderGraph` with `capture` and, for a layer
 * pass, `layerRange`), accumulating layer `layer`'s statistics in float64 (the per-batch products are computed by
 * ONNX Runtime) and, with `keepOutput`, collecting `hidden_states_out` as the next layer's inputs.
 */
export async function runPass(
  session: ort.InferenceSession,
  input: LayerInputs,
  layer: number,
  o: {
    extraFeeds?: Record<string, ort.Tensor>;
    keepOutput?: boolean;
    signal?: AbortSignal;
    /** Bytes of next-layer hidden states kept in memory before the rest go to disk. */
    hiddenMemoryLimit?: number;
  } = {},
): Promise<PassResult> {
  const stats: Partial<LayerStats> = {};
  const points = capturedPoints(session, layer);
  const fetch = [
    ...points.flatMap((p) => [IO.gram(layer, p), IO.sum(layer, p)]),
    ...(o.keepOutput ? [IO.hiddenOut] : []),
  ];
  const perWindowNll: number[] | undefined = session.outputNames.includes(IO.nll) ? [] : undefined;
  if (perWindowNll) fetch.push(IO.nll);
  const hidden = o.keepOutput ? new HiddenStates(o.hiddenMemoryLimit) : undefined;
  const batches = Math.ceil(input.windows.length / input.batch);
  try {
    for (let b = 0; b < batches; b++) {
      o.signal?.throwIfAborted();
      const feeds = feedsOf(session, input, b, o.extraFeeds);
      const out = await session.run(feeds, fetch);
      const ids = feeds[IO.positionIds];
      const positions = (ids.dims[0] as number) * (ids.dims[1] as number);
      for (const p of points) accumulate(stats, p, out, layer, positions);
      hidden?.put(b, out[IO.hiddenOut] as ort.Tensor);
      if (perWindowNll) perWindowNll.push(...windowSums(out[IO.nll].data as Float32Array, ids.dims[1] as number));
    }
  } catch (e) {
    // A cancel or a failure mid-pass: what was spilled of this layer's output is of no use to anyone.
    hidden?.release();
    throw e;
  }
  return { stats, next: hidden ? { ...input, hidden } : undefined, perWindowNll };
}

/** Statistics of `layers` from one graph that runs from the token ids (a whole-model capture graph). */
export async function captureStats(
  session: ort.InferenceSession,
  windows: number[][],
  layers: number[],
  o: { batch?: number; extraFeeds?: Record<string, ort.Tensor> } = {},
): Promise<Map<number, LayerStats>> {
  const stats = new Map<number, LayerStats>();
  for (const l of layers)
    stats.set(l, (await runPass(session, calibrationInputs(windows, o.batch), l, o)).stats as LayerStats);
  return stats;
}
