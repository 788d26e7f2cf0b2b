// The sequential scheme of SparseGPT and GPTQ (paper-spec §4): every layer's seven linears are replaced, layer by
// layer, each layer calibrated on the hidden states that the already replaced layers produce.
import type { Decoder, LayerWeights, Weight } from '../../model/decoder';
import { layerInputs, type LayerStats } from '../../runtime/activationStats';
import { CAPTURE_POINTS, type CapturePoint } from '../../graph/decoderGraph';
import { passLayer, type LayerwiseOptions } from '../calibration';
import { LINEAR_ROLES, linearName, type LinearRole } from '../../model/names';

/** Which capture point holds each linear's input. */
const INPUT_POINT: Record<LinearRole, CapturePoint> = {
  q: 'attn_in',
  k: 'attn_in',
  v: 'attn_in',
  o: 'o_in',
  gate: 'mlp_in',
  up: 'mlp_in',
  down: 'down_in',
};

/** The seven linears of a layer in LINEAR_ROLES' order (a per-linear profile is indexed by it), with their inputs. */
export const LINEARS: { key: LinearRole; point: CapturePoint }[] = LINEAR_ROLES.map((key) => ({
  key,
  point: INPUT_POINT[key],
}));

export interface LinearSite {
  layer: number;
  /** Index into LINEARS. */
  index: number;
  point: CapturePoint;
  name: string;
}

/** New values for one linear; `stats` are its layer's input statistics (absent when not calibrated). */
export type LinearTransform = (w: Weight, at: LinearSite, stats: LayerStats | undefined) => Promise<Weight>;

export async function transformLinears(
  d: Decoder,
  windows: number[][],
  calibrated: boolean,
  transform: LinearTransform,
  o: LayerwiseOptions,
): Promise<Decoder> {
  let cur = d;
  // The inputs of layer l: the calibration windows through layers 0..l−1, already replaced.
  let input = layerInputs(d, windows);
  const last = d.layers.length - 1;
  o.onLayer?.(0, d.layers.length);
  try {
    for (let l = 0; l <= last; l++) {
      o.signal?.throwIfAborted();
      const stats = calibrated
        ? ((await passLayer(cur, l, input, { ...o, points: CAPTURE_POINTS, keepOutput: false })).stats as LayerStats)
        : undefined;
      const lw: LayerWeights = { ...cur.layerWeights[l] };
      for (const [index, { key, point }] of LINEARS.entries()) {
        // Per linear too: SparseGPT of one 7B layer's seven takes most of a minute on a laptop CPU.
        o.signal?.throwIfAborted();
        lw[key] = await transform(
          cur.layerWeights[l][key],
          { layer: l, index, point, name: linearName(l, key) },
          stats,
        );
      }
      cur = { ...cur, layerWeights: cur.layerWeights.map((w, i) => (i === l ? lw : w)) };
      if (calibrated && l < last) {
        const next = (await passLayer(cur, l, input, { ...o, points: [], keepOutput: true })).next!;
        input.hidden?.release();
        input = next;
      }
      o.onLayer?.(l + 1, d.layers.length);
    }
  } finally {
    // Also on a cancel or an error: the spilled hidden states are the job's own temporaries.
    input.hidden?.release();
  }
  return cur;
}
