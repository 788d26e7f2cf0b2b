// The side files of an exported model: config.json and generation_config.json (Hugging Face, transformers.js)
// and genai_config.json (onnxruntime-genai).
import type { Decoder } from '../model/decoder';
import { FAMILIES } from '../model/families';
import { ropeScalingJson } from '../model/rope';

const uniform = (values: number[]) => values.every((v) => v === values[0]);

/**
 * `config.json` with the standard fields of the model's family (Llama, Mistral, Qwen2 share them; the family's own
 * `model_type` and architecture, so transformers and transformers.js pick the right class). When layers differ (pruned), the top-level fields keep the
 * original model's numbers and per-layer arrays say what each layer really has (design.md, anchors.md §3).
 */
export function hfConfig(d: Decoder): Record<string, unknown> {
  const c = d.config;
  const cfg: Record<string, unknown> = {
    architectures: [FAMILIES[c.family].architecture],
    model_type: c.family,
    hidden_size: c.hidden,
    intermediate_size: c.intermediate,
    num_hidden_layers: c.layers,
    num_attention_heads: c.heads,
    num_key_value_heads: c.kvHeads,
    head_dim: c.headDim,
    vocab_size: c.vocab,
    max_position_embeddings: c.maxPositions,
    rms_norm_eps: c.normEps,
    rope_theta: c.ropeTheta,
    ...(c.ropeScaling ? { rope_scaling: ropeScalingJson(c.ropeScaling) } : {}),
    ...(c.family === 'mistral' || c.family === 'phi3' ? { sliding_window: c.slidingWindow ?? null } : {}),
    ...(c.family === 'qwen2' ? { use_sliding_window: false } : {}),
    hidden_act: c.mlpActivation === 'gelu_tanh' ? 'gelu_pytorch_tanh' : 'silu',
    ...(c.family === 'gemma' ? { hidden_activation: 'gelu_pytorch_tanh' } : {}),
    tie_word_embeddings: c.tiedEmbeddings,
    bos_token_id: c.bosTokenId,
    eos_token_id: c.eosTokenId,
    torch_dtype: d.weightType ?? 'float32',
    use_cache: true,
    attention_bias: Boolean(d.layerWeights[0]?.qBias),
    mlp_bias: false,
  };
  const L = d.layers;
  const perLayer = {
    num_attention_heads_per_layer: L.map((s) => s.heads),
    num_key_value_heads_per_layer: L.map((s) => s.kvHeads),
    head_dim_per_layer: L.map((s) => s.headDim),
    intermediate_size_per_layer: L.map((s) => s.intermediate),
  };
  if (
    !Object.values(perLayer).every(uniform) ||
    L.some((s) => s.headDim !== c.headDim || s.intermediate !== c.intermediate)
  ) {
    Object.assign(cfg, perLayer, { rope_pairs_per_layer: L.map((s) => s.ropePairs) });
  }
  return cfg;
}

export function generationConfig(d: Decoder): Record<string, unknown> {
  return {
    bos_token_id: d.config.bosTokenId,
    eos_token_id: d.config.eosTokenId,
    do_sample: false,
    max_length: d.config.maxPositions,
  };
}

/**
 * onnxruntime-genai's config. Its single head fields are fallbacks: the runtime reads per-layer KV heads and head
 * sizes from each `past_key_values.{i}` input's concrete shape (anchors.md §3). Layers of different KV sizes cannot
 * share one past/present buffer, so that option is off when they differ.
 */
export function genaiConfig(d: Decoder, modelFile: string): Record<string, unknown> {
  const c = d.config;
  const L = d.layers;
  const uniformKv = L.every((s) => s.kvHeads === L[0].kvHeads && s.headDim === L[0].headDim);
  return {
    model: {
      bos_token_id: c.bosTokenId,
      eos_token_id: c.eosTokenId,
      pad_token_id: c.eosTokenId,
      context_length: c.maxPositions,
      vocab_size: c.vocab,
      type: c.family,
      decoder: {
        filename: modelFile,
        head_size: L[0].headDim,
        hidden_size: c.hidden,
        num_attention_heads: L[0].heads,
        num_hidden_layers: c.layers,
        num_key_value_heads: L[0].kvHeads,
        inputs: {
          input_ids: 'input_ids',
          attention_mask: 'attention_mask',
          position_ids: 'position_ids',
          past_key_names: 'past_key_values.%d.key',
          past_value_names: 'past_key_values.%d.value',
        },
        outputs: { logits: 'logits', present_key_names: 'present.%d.key', present_value_names: 'present.%d.value' },
        session_options: { log_id: 'onnxruntime-genai', provider_options: [] },
      },
    },
    search: {
      diversity_penalty: 0,
      do_sample: false,
      early_stopping: true,
      length_penalty: 1,
      max_length: c.maxPositions,
      min_length: 0,
      no_repeat_ngram_size: 0,
      num_beams: 1,
      num_return_sequences: 1,
      past_present_share_buffer: uniformKv,
      repetition_penalty: 1,
      temperature: 1,
      top_k: 1,
      top_p: 1,
    },
  };
}
