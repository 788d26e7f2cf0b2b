// One-shot sparsity and weight-only quantization of every layer's seven linears (paper-spec §4), in the sequential
// scheme of layerwiseWeights.ts; the sparsity of each linear is uniform or given by a per-linear profile.
import type { FloatType, Weight } from '../../model/decoder';
import { NewWeights } from '../../model/newWeights';
import { columnNorms, type LayerStats } from '../../runtime/activationStats';
import type { CapturePoint } from '../../graph/decoderGraph';
import type { LayerwiseOptions } from '../calibration';
import { obsFactor, sparsegpt, type ObsFactor } from './sparsegpt';
import type { MaskSelection } from './maskSelection';
import { pruneByScore } from './wanda';
import type { SparsityPattern } from './pattern';
import { gptqQuantizer, quantizeRtn } from '../quantize/nbits';
import type { NBitsOptions } from '../../model/quantizedLinear';
import { transformLinears, type LinearSite } from './layerwiseWeights';
import { linalgOn, type Linalg } from '../../linalg/graphs';
import type { Decoder } from '../../model/decoder';

export const SPARSIFY_METHODS = ['sparsegpt', 'wanda', 'magnitude'] as const;
export type SparsifyMethod = (typeof SPARSIFY_METHODS)[number];

export interface WeightStage {
  /**
   * `selection` applies to SparseGPT's unstructured masks (Wanda and magnitude always compare per output).
   * `profile[layer][linear]` (LINEARS order) overrides an unstructured pattern's sparsity per linear.
   */
  sparsity?: { method: SparsifyMethod; pattern: SparsityPattern; selection?: MaskSelection; profile?: number[][] };
  /**
   * Weight-only quantization; with `gptq`, jointly with SparseGPT's error feedback (sparse-quantized).
   * `profile[layer][linear]` gives each linear its own bit width.
   */
  quant?: NBitsOptions & { gptq: boolean; profile?: number[][] };
  /**
   * How levels are spread over the linears (compress/profile): uniform, OWL's outlier-weighted per-layer sparsity,
   * or searched (sparsity at the same average, or int4/int8 under a file-size budget when only --bits is given).
   */
  profile?: 'uniform' | 'owl' | 'search';
  /** Generations of the profile search (default PROFILE_SCHEDULE's). */
  profileGenerations?: number;
}

export const needsCalibration = (s: WeightStage) =>
  (s.sparsity && s.sparsity.method !== 'magnitude') || s.quant?.gptq === true || (s.profile ?? 'uniform') !== 'uniform';

const usesObs = (s: WeightStage) => s.sparsity?.method === 'sparsegpt' || s.quant?.gptq === true;

/** One factor per layer and capture point, made when a weight first needs it (q, k and v share theirs). */
export function factorCache(la: Linalg): (stats: LayerStats, point: CapturePoint) => Promise<ObsFactor> {
  const made = new WeakMap<LayerStats, Map<CapturePoint, Promise<ObsFactor>>>();
  return (stats, point) => {
    const layer = made.get(stats) ?? new Map<CapturePoint, Promise<ObsFactor>>();
    made.set(stats, layer);
    if (!layer.has(point)) layer.set(point, obsFactor(la, stats[point].gram, stats[point].count, stats[point].dim));
    return layer.get(point)!;
  };
}

/** The pattern of one linear: the profile's level for it when there is one. */
function patternAt(s: WeightStage, at: LinearSite): SparsityPattern | undefined {
  const p = s.sparsity?.pattern;
  const level = s.sparsity?.profile?.[at.layer]?.[at.index];
  return p?.kind === 'unstructured' && level !== undefined ? { kind: 'unstructured', sparsity: level } : p;
}

/** The quantization of one linear: the profile's bit width for it when there is one. */
function quantAt(s: WeightStage, at: LinearSite): WeightStage['quant'] {
  const bits = s.quant?.profile?.[at.layer]?.[at.index];
  return s.quant && bits !== undefined ? { ...s.quant, bits: bits as 4 | 8 } : s.quant;
}

/** Prunes one weight at `pattern` (0 % leaves it as it is), then quantizes it as the stage asks. */
async function processWeight(
  la: Linalg,
  w: Weight,
  at: LinearSite,
  stats: LayerStats | undefined,
  factor: () => Promise<ObsFactor>,
  stage: WeightStage,
  store: { weights: NewWeights; type?: FloatType },
): Promise<Weight> {
  const [K, N] = w.shape;
  let values = w.read();
  const s = { ...stage, quant: quantAt(stage, at) };
  const pattern = patternAt(s, at);
  const prunes = pattern !== undefined && !(pattern.kind === 'unstructured' && pattern.sparsity === 0);
  if (!prunes && !s.quant) return w;
  const method = s.sparsity?.method;
  const st = stats?.[at.point];
  if (st && usesObs(s)) {
    const quantizer = s.quant?.gptq ? gptqQuantizer(K, N, s.quant) : undefined;
    values = await sparsegpt(la, values, K, N, await factor(), method === 'sparsegpt' && prunes ? pattern : undefined, {
      quant: quantizer,
      selection: s.sparsity?.selection,
    });
    if (prunes && method !== 'sparsegpt')
      values = pruneByScore(values, K, N, pattern!, method === 'wanda' ? columnNorms(st) : undefined);
    if (quantizer) return store.weights.quantized(at.name, [K, N], quantizer.pack(values));
  } else if (prunes) {
    values = pruneByScore(values, K, N, pattern!, method === 'wanda' && st ? columnNorms(st) : undefined);
  }
  if (s.quant) return store.weights.quantized(at.name, [K, N], quantizeRtn(values, K, N, s.quant).quant);
  return store.weights.weight(at.name, [K, N], values, store.type);
}

export function sparsifyDecoder(
  d: Decoder,
  windows: number[][],
  stage: WeightStage,
  o: LayerwiseOptions,
): Promise<Decoder> {
  const la = linalgOn(o);
  const factor = factorCache(la);
  // New values in the model's own precision, as its export holds them.
  const store = { weights: o.newWeights ?? new NewWeights(), type: d.weightType };
  return transformLinears(
    d,
    windows,
    needsCalibration(stage),
    (w, at, stats) => processWeight(la, w, at, stats, () => factor(stats!, at.point), stage, store),
    o,
  );
}
