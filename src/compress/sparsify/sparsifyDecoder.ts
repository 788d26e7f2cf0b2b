// One-shot sparsity and weight-only quantization of every layer's seven linears, layer by layer, each layer's
// calibration inputs coming from the already processed layers (SparseGPT's sequential scheme, paper-spec §4).
import type { Decoder, LayerWeights, Weight } from '../../model/decoder';
import { memoryWeight } from '../../model/decoder';
import { calibrationInputs, columnNorms, type LayerStats } from '../../runtime/activationStats';
import { CAPTURE_POINTS, type CapturePoint } from '../../build/decoderGraph';
import { passLayer, type LayerwiseOptions } from '../calibration';
import { sparsegpt } from './sparsegpt';
import { pruneByScore } from './wanda';
import type { SparsityPattern } from './pattern';
import { LINEAR_ROLES, linearName, type LinearRole } from '../../model/names';
import { gptqQuantizer, quantizeRtn, type NBitsOptions } from '../quantize/nbits';

export const SPARSIFY_METHODS = ['sparsegpt', 'wanda', 'magnitude'] as const;
export type SparsifyMethod = (typeof SPARSIFY_METHODS)[number];

export interface WeightStage {
  sparsity?: { method: SparsifyMethod; pattern: SparsityPattern };
  /** Weight-only quantization; with `gptq`, jointly with SparseGPT's error feedback (sparse-quantized). */
  quant?: NBitsOptions & { gptq: boolean };
}

/** Which capture point holds each linear's input. */
const INPUT_POINT: Record<LinearRole, CapturePoint> = { q: 'attn_in', k: 'attn_in', v: 'attn_in', o: 'o_in', gate: 'mlp_in', up: 'mlp_in', down: 'down_in' };

export const needsCalibration = (s: WeightStage) => (s.sparsity && s.sparsity.method !== 'magnitude') || s.quant?.gptq === true;

async function processWeight(w: Weight, name: string, stats: LayerStats | undefined, point: CapturePoint, s: WeightStage): Promise<Weight> {
  const [K, N] = w.shape;
  let values = w.read();
  const st = stats?.[point];
  const obs = s.sparsity?.method === 'sparsegpt' || s.quant?.gptq;
  if (obs && st) {
    const quantizer = s.quant?.gptq ? gptqQuantizer(K, N, s.quant) : undefined;
    values = await sparsegpt(values, K, N, st.gram, st.count, s.sparsity?.method === 'sparsegpt' ? s.sparsity.pattern : undefined, quantizer);
    if (s.sparsity && s.sparsity.method !== 'sparsegpt') values = pruneByScore(values, K, N, s.sparsity.pattern, s.sparsity.method === 'wanda' ? columnNorms(st) : undefined);
    if (quantizer) return { ...memoryWeight(name, [K, N], values), storedBytesPerElement: s.quant!.bits / 8, quant: quantizer.pack(values) };
  } else if (s.sparsity) {
    values = pruneByScore(values, K, N, s.sparsity.pattern, s.sparsity.method === 'wanda' && st ? columnNorms(st) : undefined);
  }
  if (s.quant) {
    const q = quantizeRtn(values, K, N, s.quant);
    return { ...memoryWeight(name, [K, N], q.dequantized), storedBytesPerElement: s.quant.bits / 8, quant: q.quant };
  }
  return memoryWeight(name, [K, N], values);
}

export async function sparsifyDecoder(d: Decoder, windows: number[][], stage: WeightStage, o: LayerwiseOptions): Promise<Decoder> {
  let cur = d;
  const calibrated = needsCalibration(stage);
  // The inputs of layer l: the calibration windows through layers 0..l−1, already processed.
  let input = calibrationInputs(windows);
  const last = d.layers.length - 1;
  o.onLayer?.(0, d.layers.length);
  for (let l = 0; l <= last; l++) {
    o.signal?.throwIfAborted();
    const stats = calibrated ? ((await passLayer(cur, l, input, { ...o, points: CAPTURE_POINTS, keepOutput: false })).stats as LayerStats) : undefined;
    const lw: LayerWeights = { ...cur.layerWeights[l] };
    for (const key of LINEAR_ROLES) {
      lw[key] = await processWeight(cur.layerWeights[l][key], linearName(l, key), stats, INPUT_POINT[key], stage);
    }
    cur = { ...cur, layerWeights: cur.layerWeights.map((w, i) => (i === l ? lw : w)) };
    if (calibrated && l < last) input = (await passLayer(cur, l, input, { ...o, points: [], keepOutput: true })).next!;
    o.onLayer?.(l + 1, d.layers.length);
  }
  return cur;
}
