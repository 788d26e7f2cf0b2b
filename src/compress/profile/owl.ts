// OWL's layer-wise sparsity (Yin et al. 2024; paper-spec §4): a layer whose Wanda scores |W|·‖x‖ hold more
// outliers (scores above M times the layer's mean) is pruned less. Densities are the outlier ratios scaled to a
// spread of 2λ and shifted so that their mean is 1 − target: every layer has the same size, so the total is exact
// (unless a level would leave [0, 1] — a target within λ of 0 or 1 — and is clamped).
import type { Decoder } from '../../model/decoder';
import { columnNorms, type LayerStats } from '../../runtime/activationStats';
import { CAPTURE_POINTS } from '../../graph/decoderGraph';
import { denseLayerwise, type LayerwiseOptions } from '../calibration';
import { LINEARS } from '../sparsify/layerwiseWeights';

/** OWL's published defaults for Llama: outliers above 5 × the mean score, levels spread over ±0.08. */
export const OWL_DEFAULTS = { m: 5, lambda: 0.08 };

/** The fraction of the layer's scores (all seven linears together) above m × their mean; two passes, no copy. */
function outlierRatio(d: Decoder, l: number, stats: LayerStats, m: number): number {
  const each = (f: (score: number) => void) => {
    for (const { key, point } of LINEARS) {
      const w = d.layerWeights[l][key];
      const [K, N] = w.shape;
      const values = w.read();
      const norms = columnNorms(stats[point]);
      for (let j = 0; j < K; j++) for (let c = 0; c < N; c++) f(Math.abs(values[j * N + c]) * norms[j]);
    }
  };
  let sum = 0;
  let count = 0;
  each((s) => {
    sum += s;
    count++;
  });
  const bar = (m * sum) / count;
  let outliers = 0;
  each((s) => (outliers += s > bar ? 1 : 0));
  return outliers / count;
}

/** Per layer, the sparsity of all its linears. */
export async function owlLevels(
  d: Decoder,
  windows: number[][],
  target: number,
  o: LayerwiseOptions,
  owl = OWL_DEFAULTS,
): Promise<number[]> {
  const ratios = await denseLayerwise(d, windows, CAPTURE_POINTS, o, (l, stats) => outlierRatio(d, l, stats, owl.m));
  const lo = Math.min(...ratios);
  const spread = Math.max(...ratios) - lo;
  const scaled = ratios.map((r) => (spread > 0 ? ((r - lo) / spread) * 2 * owl.lambda : 0));
  const meanScaled = scaled.reduce((a, b) => a + b, 0) / scaled.length;
  return scaled.map((s) => Math.min(1, Math.max(0, 1 - (s - meanScaled + 1 - target))));
}
