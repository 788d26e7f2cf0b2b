// The one place that knows Hugging Face weight names. Every graph we emit, every weight a stage computes, and every
// family the Optimum adapter reads name a weight by its role through these functions, so a new family with other
// names changes this file (or an adapter's map onto it) and nothing else.
import type { LayerWeights } from './decoder';

/** The seven linear projections of a decoder layer, as `LayerWeights` keys. */
export const LINEAR_ROLES = ['q', 'k', 'v', 'o', 'gate', 'up', 'down'] as const;
export type LinearRole = (typeof LINEAR_ROLES)[number];

/** The per-layer norms, as `LayerWeights` keys. */
export type NormRole = 'inputNorm' | 'postNorm';

/** Biases a layer may carry, keyed by the `LayerWeights` key of the bias. */
export type BiasRole = 'qBias' | 'kBias' | 'vBias' | 'oBias' | 'downBias';

/** The module path of each linear inside a layer (`model.layers.{i}.` + this). */
export const LINEAR_MODULES: Record<LinearRole, string> = {
  q: 'self_attn.q_proj',
  k: 'self_attn.k_proj',
  v: 'self_attn.v_proj',
  o: 'self_attn.o_proj',
  gate: 'mlp.gate_proj',
  up: 'mlp.up_proj',
  down: 'mlp.down_proj',
};

const NORM_MODULES: Record<NormRole, string> = { inputNorm: 'input_layernorm', postNorm: 'post_attention_layernorm' };

const BIAS_OF: Record<BiasRole, LinearRole> = { qBias: 'q', kBias: 'k', vBias: 'v', oBias: 'o', downBias: 'down' };

export const BIAS_ROLES = Object.keys(BIAS_OF) as BiasRole[];

/** `model.layers.{i}`: the prefix of every weight of layer `i`. */
export const layerPrefix = (i: number) => `model.layers.${i}`;

/** Matches a weight of some layer and captures the layer's index. */
export const LAYER_NAME = /^model\.layers\.(\d+)\./;

/** The module of a linear of layer `i` (without `.weight`): `model.layers.3.self_attn.o_proj`. */
export const linearModule = (i: number, role: LinearRole) => `${layerPrefix(i)}.${LINEAR_MODULES[role]}`;

/** The weight of a linear of layer `i`. */
export const linearName = (i: number, role: LinearRole) => `${linearModule(i, role)}.weight`;

/** The bias of a linear of layer `i`, by its `LayerWeights` key (`oBias` → `…o_proj.bias`). */
export const biasName = (i: number, role: BiasRole) => `${linearModule(i, BIAS_OF[role])}.bias`;

/** The weight of a norm of layer `i`. */
export const normName = (i: number, role: NormRole) => `${layerPrefix(i)}.${NORM_MODULES[role]}.weight`;

/** Phi-3 stores q/k/v as one projection (q, then k, then v along the outputs) and gate/up as one (gate, then up). */
export const FUSED_MODULES = { qkv: 'self_attn.qkv_proj', gateUp: 'mlp.gate_up_proj' } as const;
export type FusedRole = keyof typeof FUSED_MODULES;
export const fusedName = (i: number, role: FusedRole) => `${layerPrefix(i)}.${FUSED_MODULES[role]}.weight`;

/** Weights outside the layers. */
export const EMBED_NAME = 'model.embed_tokens.weight';
export const FINAL_NORM_NAME = 'model.norm.weight';
export const LM_HEAD_NAME = 'lm_head.weight';

/** The name of any weight of layer `i` by its `LayerWeights` key. */
export function layerWeightName(i: number, key: keyof LayerWeights): string {
  if (key === 'inputNorm' || key === 'postNorm') return normName(i, key);
  if (key in BIAS_OF) return biasName(i, key as BiasRole);
  return linearName(i, key as LinearRole);
}

/**
 * Initializer names of onnxruntime-genai's model builder (src/python/py/models/builders/base.py): each MatMul's
 * weight is named after its node (`/model/layers.{i}/attn/o_proj/MatMul` → `…o_proj.MatMul.weight`) and stored
 * transposed from Hugging Face's, i.e. in our `[in, out]` layout; q/k/v packed into one `qkv_proj` (q, then k, then
 * v along the outputs) unless the builder was told not to; the final norm is numbered as layer `layers`.
 */
export const GENAI_NAMES = {
  qkv: (i: number) => `model.layers.${i}.attn.qkv_proj.MatMul.weight`,
  linear: (i: number, role: LinearRole) =>
    `model.layers.${i}.${LINEAR_MODULES[role].startsWith('self_attn') ? 'attn' : 'mlp'}.${role}_proj.MatMul.weight`,
  norm: (i: number, role: NormRole) =>
    `model.layers.${i}.${role === 'inputNorm' ? 'input' : 'post_attention'}_layernorm.weight`,
  finalNorm: (layers: number) => `model.layers.${layers}.final_norm_layernorm.weight`,
  lmHead: 'lm_head.MatMul.weight',
  embed: EMBED_NAME,
  cosCache: 'cos_cache',
  sinCache: 'sin_cache',
} as const;
