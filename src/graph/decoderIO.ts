// What a decoder graph is built with (its options) and the names of its inputs and outputs, which the runtime and
// the compression stages that feed or read such graphs share with the builder.
import type { FloatType } from '../model/decoder';

export interface BuildOptions {
  /** `past_key_values.{i}.key|value` inputs and `present.{i}.key|value` outputs, plus `attention_mask`. */
  kvCache: boolean;
  /**
   * The KV cache's type (default float32). An fp16 export's is fp16, as in Optimum's and the genai builder's fp16
   * files: half the memory per token of context. Attention widens the past and computes in fp32; the present is
   * rounded to fp16 on its way out.
   */
  kvCacheType?: 'float32' | 'float16';
  /** `logits` [B, S, V], or `nll` [B, S]: −log p(labels) per position, so the vocab never leaves the runtime. */
  head: 'logits' | 'nll';
  /** Per-layer mask inputs `mask.{i}.attn` [H·d] and `mask.{i}.mlp` [I] (the masked evaluation graph). */
  masks: boolean;
  /**
   * Activation statistics outputs for these layers (design.md "Numerics"): for each capture point, `XᵀX` and
   * `ΣX` over all positions of the batch, computed inside the runtime.
   */
  capture?: number[];
  /**
   * The precision of linear weights and embeddings that have no stored bytes (newly computed ones): an fp16 (bf16)
   * model's export keeps fp16 (bf16) (default float32).
   */
  weightType?: FloatType;
  /**
   * The arithmetic of products with fp16 weights: `float32` (default) widens each weight in-graph, `float16`
   * multiplies in fp16 (activations rounded to fp16 for the product only). bf16 weights are always widened (fp32
   * arithmetic).
   */
  compute?: 'float32' | 'float16';
  /**
   * How the `nll` head takes −log softmax: `logSoftmax` (default: one kernel, whose results on the CPU do not
   * depend on the batch) or `reductions` (max, Σ exp and Log in ops every GPU provider has: ONNX Runtime's WebGPU
   * provider has no LogSoftmax and would copy the logits, 1.3 GB for 10k tokens of a 32k vocabulary, to the CPU).
   */
  loss?: LossOps;
  /** Which capture points (default: all four); a pass that needs one Gram matrix computes only that one. */
  capturePoints?: readonly CapturePoint[];
  /**
   * Emit decoder layers `from..to` only, no head: the input is `hidden_states` [B, S, D] (the output of layer
   * `from − 1`; `input_ids` when `from` is 0) and the output `hidden_states_out`. Calibration runs layer by layer
   * through such graphs (design.md "Scale"). A `to` past the last layer adds the head instead of that output
   * (`from` = `to` = the number of layers: the head alone).
   */
  layerRange?: { from: number; to: number };
  /**
   * With `masks`: inputs `compensation.{i}.o` [H·d] and `compensation.{i}.down` [I], the mean o_proj / down_proj
   * inputs whose masked-out part becomes FLAP's compensation bias (zeros: no compensation for that module).
   */
  compensation?: boolean;
}

export type LossOps = 'logSoftmax' | 'reductions';

/** Names of the standard decoder I/O (Optimum / transformers.js / onnxruntime-genai conventions). */
export const IO = {
  inputIds: 'input_ids',
  attentionMask: 'attention_mask',
  positionIds: 'position_ids',
  labels: 'labels',
  logits: 'logits',
  nll: 'nll',
  pastKey: (i: number) => `past_key_values.${i}.key`,
  pastValue: (i: number) => `past_key_values.${i}.value`,
  presentKey: (i: number) => `present.${i}.key`,
  presentValue: (i: number) => `present.${i}.value`,
  attnMask: (i: number) => `mask.${i}.attn`,
  mlpMask: (i: number) => `mask.${i}.mlp`,
  compensationO: (i: number) => `compensation.${i}.o`,
  compensationDown: (i: number) => `compensation.${i}.down`,
  gram: (i: number, point: CapturePoint) => `stats.${i}.${point}.gram`,
  sum: (i: number, point: CapturePoint) => `stats.${i}.${point}.sum`,
  hiddenIn: 'hidden_states',
  hiddenOut: 'hidden_states_out',
};

/** Inputs of q/k/v (`attn_in`), of o_proj (`o_in`), of gate/up (`mlp_in`) and of down_proj (`down_in`). */
export const CAPTURE_POINTS = ['attn_in', 'o_in', 'mlp_in', 'down_in'] as const;
export type CapturePoint = (typeof CAPTURE_POINTS)[number];

/** Symbolic dims of every graph's inputs: batch and sequence. */
export const B = 'batch_size';
export const S = 'sequence_length';
