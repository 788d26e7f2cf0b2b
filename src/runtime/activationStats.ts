import { ort } from './session';
import { CAPTURE_POINTS, IO, type CapturePoint } from '../build/decoderGraph';
import { int64 } from './kvCache';

/** Accumulated statistics of one activation: Gram matrix, sum, and the number of positions. */
export interface ActivationStats {
  dim: number;
  gram: Float64Array; // Σ x xᵀ, [dim, dim]
  sum: Float64Array; // Σ x
  count: number;
}

export type LayerStats = Record<CapturePoint, ActivationStats>;

export const mean = (s: ActivationStats) => Float64Array.from(s.sum, (v) => v / s.count);

/** Per-channel variance over positions: E[x²] − E[x]². */
export function variance(s: ActivationStats): Float64Array {
  return Float64Array.from(s.sum, (v, j) => Math.max(0, s.gram[j * s.dim + j] / s.count - (v / s.count) ** 2));
}

/** Per-channel ‖x_j‖₂ over all positions. */
export const columnNorms = (s: ActivationStats) => Float64Array.from({ length: s.dim }, (_, j) => Math.sqrt(s.gram[j * s.dim + j]));

/**
 * Runs windows through a capture graph (`BuildOptions.capture`) and accumulates each layer's statistics in
 * float64; the per-batch products themselves are computed by ONNX Runtime. Only the points the graph outputs
 * are present in the result.
 */
export async function captureStats(session: ort.InferenceSession, windows: number[][], layers: number[], o: { batch?: number; extraFeeds?: Record<string, ort.Tensor> } = {}): Promise<Map<number, LayerStats>> {
  const batch = o.batch ?? 4;
  const stats = new Map<number, LayerStats>();
  const points = (i: number) => CAPTURE_POINTS.filter((p) => session.outputNames.includes(IO.gram(i, p)));
  const fetch = layers.flatMap((i) => points(i).flatMap((p) => [IO.gram(i, p), IO.sum(i, p)]));
  for (let w = 0; w < windows.length; w += batch) {
    const rows = windows.slice(w, w + batch);
    const S = rows[0].length - 1;
    const out = await session.run({
      [IO.inputIds]: int64(rows.flatMap((r) => r.slice(0, S)), [rows.length, S]),
      [IO.positionIds]: int64(rows.flatMap(() => Array.from({ length: S }, (_, i) => i)), [rows.length, S]),
      ...(session.inputNames.includes(IO.labels) ? { [IO.labels]: int64(rows.flatMap((r) => r.slice(1)), [rows.length, S]) } : {}),
      ...o.extraFeeds,
    }, fetch);
    for (const i of layers) {
      const ls = stats.get(i) ?? ({} as LayerStats);
      for (const p of points(i)) {
        const gram = out[IO.gram(i, p)].data as Float32Array;
        const sum = out[IO.sum(i, p)].data as Float32Array;
        const acc = (ls[p] ??= { dim: sum.length, gram: new Float64Array(gram.length), sum: new Float64Array(sum.length), count: 0 });
        for (let k = 0; k < gram.length; k++) acc.gram[k] += gram[k];
        for (let k = 0; k < sum.length; k++) acc.sum[k] += sum[k];
        acc.count += rows.length * S;
      }
      stats.set(i, ls);
    }
  }
  return stats;
}
