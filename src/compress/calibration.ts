// The dense model's calibration statistics, decoder layer by decoder layer (design.md "Scale"): each layer runs on
// the hidden states the layer before it produced, its statistics are turned into what the job needs (scores,
// means) and dropped, so memory holds one layer's Gram matrices and the cost grows linearly with depth.
import type { Decoder, LayerWeights, Weight } from '../model/decoder';
import { decoderSession } from '../runtime/decoderSession';
import {
  layerInputs,
  mean,
  runPass,
  type LayerInputs,
  type LayerStats,
  type PassResult,
} from '../runtime/activationStats';
import { ort, type SessionOptions } from '../runtime/session';
import { IO, type CapturePoint } from '../graph/decoderGraph';
import { layerMaskVectors, type LayerMask } from './subnet';
import { scoreLayer, type LayerScores, type Method } from './importance/scores';
import { linalgOn } from '../linalg/graphs';
import type { NewWeights } from '../model/newWeights';
import type { Granularity } from './importance/units';
import type { CompensationMeans } from './importance/compensation';

export interface LayerwiseOptions extends SessionOptions {
  /** Bytes of hidden states between layers kept in memory; the rest go to disk (runtime/hiddenStates.ts). */
  hiddenMemoryLimit?: number;
  /** Called after each layer with the number done and the total. */
  onLayer?: (done: number, total: number) => void;
  /** Where stages put the weights they compute (model/newWeights.ts); absent: in memory. */
  newWeights?: NewWeights;
}

/**
 * Layer `l` of `d` run over `input` in a graph of that layer alone: its statistics at `points` and, with
 * `keepOutput`, its output (the next layer's input). With `layerMask` the layer runs masked, as in the masked
 * evaluation graph.
 */
export async function passLayer(
  d: Decoder,
  l: number,
  input: LayerInputs,
  o: LayerwiseOptions & { points: readonly CapturePoint[]; layerMask?: LayerMask; keepOutput: boolean },
): Promise<PassResult> {
  const s = await decoderSession(
    d,
    {
      kvCache: false,
      head: 'nll',
      masks: Boolean(o.layerMask),
      capture: o.points.length ? [l] : [],
      capturePoints: o.points,
      layerRange: { from: l, to: l },
    },
    { ...o, noArena: true },
  );
  try {
    const extraFeeds: Record<string, ort.Tensor> = {};
    if (o.layerMask) {
      const v = layerMaskVectors(d.layers[l], o.layerMask);
      extraFeeds[IO.attnMask(l)] = new ort.Tensor('float32', v.attn, [v.attn.length]);
      extraFeeds[IO.mlpMask(l)] = new ort.Tensor('float32', v.mlp, [v.mlp.length]);
    }
    return await runPass(s.session, input, l, {
      extraFeeds,
      keepOutput: o.keepOutput,
      signal: o.signal,
      hiddenMemoryLimit: o.hiddenMemoryLimit,
    });
  } finally {
    await s.session.release();
  }
}

/**
 * One pass of the dense model over `windows`, layer by layer: `perLayer` receives each layer's statistics at
 * `points` while only that layer's are held.
 */
export async function denseLayerwise<T>(
  d: Decoder,
  windows: number[][],
  points: readonly CapturePoint[],
  o: LayerwiseOptions,
  perLayer: (l: number, stats: LayerStats) => Promise<T> | T,
): Promise<T[]> {
  let input: LayerInputs = layerInputs(d, windows);
  const results: T[] = [];
  o.onLayer?.(0, d.layers.length);
  try {
    for (let l = 0; l < d.layers.length; l++) {
      const pass = await passLayer(d, l, input, { ...o, points, keepOutput: l < d.layers.length - 1 });
      if (pass.next) {
        input.hidden?.release();
        input = pass.next;
      }
      results.push(await perLayer(l, pass.stats as LayerStats));
      o.onLayer?.(l + 1, d.layers.length);
    }
  } finally {
    // Also on a cancel or an error: the spilled hidden states are the job's own temporaries.
    input.hidden?.release();
  }
  return results;
}

/** The layer's weights with each `read()` done at most once (while the copy is alive). */
function readOnce(w: LayerWeights): LayerWeights {
  const out: Partial<Record<keyof LayerWeights, Weight>> = {};
  for (const [k, v] of Object.entries(w) as [keyof LayerWeights, Weight][]) {
    let values: Float32Array | undefined;
    out[k] = { ...v, read: () => (values ??= v.read()) };
  }
  return out as LayerWeights;
}

/** Per method, every layer's importance scores, and the mean o_proj / down_proj inputs (for bias compensation). */
export interface DenseCalibration {
  scores: Map<Method, LayerScores[]>;
  means: CompensationMeans;
}

/** Importance scores of `methods` and the compensation means, from one layer-by-layer pass of the dense model. */
export async function denseCalibration(
  d: Decoder,
  windows: number[][],
  methods: readonly Method[],
  g: Granularity,
  o: LayerwiseOptions,
): Promise<DenseCalibration> {
  // OBS needs the Gram matrices of all four linear inputs; the other scores and the means only those of o/down.
  const points: CapturePoint[] = methods.includes('obs')
    ? ['attn_in', 'o_in', 'mlp_in', 'down_in']
    : ['o_in', 'down_in'];
  const la = linalgOn(o);
  const perLayer = await denseLayerwise(d, windows, points, o, async (l, st) => {
    // Every method reads the same weights: read (and widen from fp16) each once for this layer.
    const layer = { ...d, layerWeights: d.layerWeights.map((w, i) => (i === l ? readOnce(w) : w)) };
    const scores: [Method, LayerScores][] = [];
    for (const m of methods) scores.push([m, await scoreLayer(la, layer, l, st, m, g)]);
    return { scores, means: { o: mean(st.o_in), down: mean(st.down_in) } };
  });
  return {
    scores: new Map(methods.map((m) => [m, perLayer.map((r) => r.scores.find(([k]) => k === m)![1])])),
    means: perLayer.map((r) => r.means),
  };
}
