import { floatBytes, FLOAT_NAMES, intNames, quantizedBits, type Decoder, type DecoderConfig } from '../model/decoder';
import { layerCounts, totalCounts } from '../model/params';
import { modelFileBytes } from '../onnx/modelFile';

const CONFIG_KEYS = [
  'family',
  'layers',
  'heads',
  'kvHeads',
  'headDim',
  'hidden',
  'intermediate',
  'vocab',
  'ropeTheta',
  'normEps',
  'tiedEmbeddings',
  'maxPositions',
  'ropeScaling',
  'slidingWindow',
  'normWeightOffset',
  'mlpActivation',
  'embedScale',
] as const;

/** What `inspect` reports; `--json` prints exactly this object (a stable contract for scripts). */
export interface ModelSummary {
  file: string;
  format: 'onnx' | 'llama2c';
  adapter: string;
  fileBytes: number;
  /** `qkvBias`: the layers carry q/k/v biases (Qwen2). Keys the model lacks (`ropeScaling` ...) are left out. */
  config: Pick<DecoderConfig, (typeof CONFIG_KEYS)[number]> & { qkvBias: boolean };
  layers: {
    index: number;
    heads: number;
    kvHeads: number;
    headDim: number;
    intermediate: number;
    params: number;
    bytes: number;
  }[];
  /** `kvCacheType`: the file's KV-cache inputs' float type (`fp32`, `fp16`, `bf16`), which the bytes per token count. */
  totals: { params: number; bytes: number; kvCacheBytesPerToken: number; kvCacheType: string };
  /** How the linear layers' weights are stored: `fp32`, `fp16`, `bf16`, or `int4` / `int8` / `int4/int8` (MatMulNBits). */
  linearWeights: string;
}

function linearWeights(d: Decoder): string {
  const bits = quantizedBits(d);
  return bits.length ? intNames(bits) : FLOAT_NAMES[d.weightType ?? 'float32'];
}

export function summarize(d: Decoder): ModelSummary {
  const c = d.config;
  const per = layerCounts(d);
  return {
    file: d.source.path,
    format: d.source.format,
    adapter: d.source.adapter,
    fileBytes: modelFileBytes(d.source.path),
    config: {
      ...(Object.fromEntries(CONFIG_KEYS.map((k) => [k, c[k]])) as ModelSummary['config']),
      qkvBias: Boolean(d.layerWeights[0]?.qBias),
    },
    layers: d.layers.map((s, i) => ({
      index: i,
      heads: s.heads,
      kvHeads: s.kvHeads,
      headDim: s.headDim,
      intermediate: s.intermediate,
      ...per[i],
    })),
    // K and V, every layer, in the file's KV-cache type: what one more token of context costs in memory.
    totals: {
      ...totalCounts(d),
      kvCacheBytesPerToken: d.layers.reduce((a, s) => a + 2 * s.kvHeads * s.headDim * floatBytes(d.source.kvCache), 0),
      kvCacheType: FLOAT_NAMES[d.source.kvCache ?? 'float32'],
    },
    linearWeights: linearWeights(d),
  };
}
