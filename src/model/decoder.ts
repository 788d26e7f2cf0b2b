// The typed description of a recognised decoder: what every other layer of the engine works from.
// Linear weights are held in the MatMul layout `[in, out]` (ONNX exporters' layout), whatever the source stored.
import type { QuantizedWeight } from './quantizedLinear';
import { LINEAR_ROLES } from './names';
import { narrowBytesToFloat, toNarrowBytes, type NarrowFloat } from '../onnx/tensorData';
import type { InPlaceBytes } from '../onnx/writeModel';
import type { FamilyName } from './families';
import type { Llama3RopeScaling } from './rope';

/** silu: SwiGLU (Llama ...); gelu_tanh: GeGLU with tanh-approximated GELU (Gemma). */
export type MlpActivation = 'silu' | 'gelu_tanh';

export interface DecoderConfig {
  family: FamilyName;
  layers: number;
  hidden: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  intermediate: number;
  vocab: number;
  ropeTheta: number;
  /** Llama 3.x frequency rescaling (absent: plain RoPE). */
  ropeScaling?: Llama3RopeScaling;
  /** Mistral: a query sees at most this many keys, itself included (absent: all earlier ones). */
  slidingWindow?: number;
  /** Gemma: norms multiply by (offset + stored weight); absent: 0. */
  normWeightOffset?: number;
  /** The MLP gate's activation; absent: silu. */
  mlpActivation?: MlpActivation;
  /** Gemma: token embeddings are multiplied by this (√hidden in the weights' precision); absent: 1. */
  embedScale?: number;
  normEps: number;
  tiedEmbeddings: boolean;
  maxPositions: number;
  bosTokenId: number;
  eosTokenId: number;
}

/**
 * The shape of one layer. Pruning changes these per layer: heads, head dims (in rotate-half pairs) and the MLP
 * width. `ropePairs[j]` is the original frequency index of the j-th kept rotary pair (paper-spec §1.7), so a
 * layer with pruned head dims keeps its original frequencies; `attnScale` stays 1/√(original head dim).
 */
export interface LayerShape {
  heads: number;
  kvHeads: number;
  headDim: number;
  intermediate: number;
  ropePairs: number[];
  attnScale: number;
}

/** Float types a weight can be stored in. */
export type FloatType = 'float32' | NarrowFloat;

/** Bytes per element of a weight stored in `type` (absent: float32). */
export const floatBytes = (type: FloatType | undefined) => ((type ?? 'float32') === 'float32' ? 4 : 2);

/** Each float type's short name, as `--dtype` and `inspect` spell it. */
export const FLOAT_NAMES: Record<FloatType, string> = { float32: 'fp32', float16: 'fp16', bfloat16: 'bf16' };

/**
 * An unchanged weight's bytes as the source stores them, already in our `[in, out]` layout: graphs use them as
 * they are (fp16 stays fp16, design.md "Scale") and reference them in place when they lie in external data.
 */
export interface StoredBytes {
  type: FloatType;
  read(): Uint8Array;
  /** Where the bytes lie in an external-data file beside the source model. */
  external?: InPlaceBytes;
}

/** A weight read on demand, so a large model is never held in memory all at once. */
export interface Weight {
  name: string;
  shape: number[];
  /** Bytes per element in the source file (4 for fp32, 2 for fp16 ...). */
  storedBytesPerElement: number;
  /** The float values (dequantized for a quantized weight). */
  read(): Float32Array;
  /** A linear weight stored block-quantized: the graph multiplies with com.microsoft.MatMulNBits. */
  quant?: QuantizedWeight;
  /** The source's own bytes of an unchanged weight (absent once a stage computes new values). */
  stored?: StoredBytes;
  /**
   * A graph input of this name and type instead of an initializer: the weight is fed on every run, so one session
   * measures many versions of it (a profile search swaps pruned linears this way); fp16 is widened in the graph.
   */
  fed?: 'float32' | 'float16';
}

export interface LayerWeights {
  inputNorm: Weight;
  q: Weight;
  k: Weight;
  v: Weight;
  o: Weight;
  postNorm: Weight;
  gate: Weight;
  up: Weight;
  down: Weight;
  qBias?: Weight;
  kBias?: Weight;
  vBias?: Weight;
  oBias?: Weight;
  downBias?: Weight;
}

export interface Decoder {
  config: DecoderConfig;
  layers: LayerShape[];
  embed: Weight;
  layerWeights: LayerWeights[];
  finalNorm: Weight;
  /** `[hidden, vocab]`. For tied embeddings without a separate copy, the transposed embedding. */
  lmHead: Weight;
  source: {
    path: string;
    format: 'onnx' | 'llama2c';
    adapter: string;
    /** Why onnxruntime-node cannot run the file itself (bf16 inputs and outputs); absent: it can. */
    notRunnable?: string;
    /**
     * The float type of the file's KV-cache inputs, a decoder file's only float inputs: an fp16 export's cache is
     * fp16 (Optimum's, the genai builder's, ours). Absent: fp32, or no cache declared (llama2.c).
     */
    kvCache?: FloatType;
  };
  /** The precision of the source's linear weights, which an export keeps (float32 when absent). */
  weightType?: FloatType;
}

/** Why the source file cannot run as it is here (a llama2.c checkpoint, a model fed in bf16); undefined: it can. */
export const whyNotRunnable = (d: Decoder): string | undefined =>
  d.source.format !== 'onnx' ? 'it is not an ONNX file' : d.source.notRunnable;

/** The source file, where it runs as it is; otherwise our re-emission of its weights stands in for it. */
export const runnableSource = (d: Decoder): string | undefined => (whyNotRunnable(d) ? undefined : d.source.path);

export function denseLayerShape(c: DecoderConfig): LayerShape {
  return {
    heads: c.heads,
    kvHeads: c.kvHeads,
    headDim: c.headDim,
    intermediate: c.intermediate,
    ropePairs: Array.from({ length: c.headDim / 2 }, (_, i) => i),
    attnScale: 1 / Math.sqrt(c.headDim),
  };
}

export function memoryWeight(name: string, shape: number[], data: Float32Array): Weight {
  return { name, shape, storedBytesPerElement: 4, read: () => data };
}

/**
 * New values for a weight of a model stored in `type`: an fp16 (bf16) model's are held (and built into graphs) in
 * fp16 (bf16), half the memory, and what is measured is what its export will hold.
 */
export function newWeight(name: string, shape: number[], values: Float32Array, type: FloatType = 'float32'): Weight {
  return type === 'float32'
    ? memoryWeight(name, shape, values)
    : narrowWeight(name, shape, toNarrowBytes(values, type), type);
}

/** A weight held as the `type` bytes of its new values (`newWeight` once they are narrowed). */
export function narrowWeight(name: string, shape: number[], bytes: Uint8Array, type: NarrowFloat): Weight {
  return {
    name,
    shape,
    storedBytesPerElement: floatBytes(type),
    read: () => narrowBytesToFloat(bytes, type),
    stored: { type, read: () => bytes },
  };
}

/**
 * Columns `cols` of an `[in, out]` weight (output channels), computed when read, not held: a sliced 7B would
 * otherwise sit in memory in fp32 while it is exported one tensor at a time.
 */
export function weightColumns(w: Weight, cols: number[], name: string): Weight {
  const [rows, n] = w.shape;
  return computedWeight(name, [rows, cols.length], () => {
    const src = w.read();
    const out = new Float32Array(rows * cols.length);
    for (let r = 0; r < rows; r++)
      for (let c = 0; c < cols.length; c++) out[r * cols.length + c] = src[r * n + cols[c]];
    return out;
  });
}

/** A float32 weight computed from others each time it is read (nothing held in between). */
export function computedWeight(name: string, shape: number[], read: () => Float32Array): Weight {
  return { name, shape, storedBytesPerElement: 4, read };
}

/** Every layer's seven linear weights, layer by layer. */
export const linearWeightsOf = (d: Decoder): Weight[] => d.layerWeights.flatMap((lw) => LINEAR_ROLES.map((r) => lw[r]));

/** "int4", "int4/int8": bit widths as reports name them. */
export const intNames = (bits: number[]) => bits.map((b) => `int${b}`).join('/');

/** The bit widths of a decoder's MatMulNBits linears, ascending; empty where none is quantized. */
export const quantizedBits = (d: Decoder): number[] =>
  [...new Set(linearWeightsOf(d).flatMap((w) => (w.quant ? [w.quant.bits] : [])))].sort((a, b) => a - b);
