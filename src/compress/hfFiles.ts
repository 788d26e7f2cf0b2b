// The Hugging Face side files of an exported model: config.json and generation_config.json.
import type { Decoder } from '../model/decoder';

const uniform = (values: number[]) => values.every((v) => v === values[0]);

/**
 * `config.json` with the standard Llama fields. When layers differ (pruned), the top-level fields keep the
 * original model's numbers and per-layer arrays say what each layer really has (design.md, anchors.md §3).
 */
export function hfConfig(d: Decoder): Record<string, unknown> {
  const c = d.config;
  const cfg: Record<string, unknown> = {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
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
    hidden_act: 'silu',
    tie_word_embeddings: c.tiedEmbeddings,
    bos_token_id: c.bosTokenId,
    eos_token_id: c.eosTokenId,
    torch_dtype: 'float32',
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
  if (!Object.values(perLayer).every(uniform) || L.some((s) => s.headDim !== c.headDim || s.intermediate !== c.intermediate)) {
    Object.assign(cfg, perLayer, { rope_pairs_per_layer: L.map((s) => s.ropePairs) });
  }
  return cfg;
}

export function generationConfig(d: Decoder): Record<string, unknown> {
  return { bos_token_id: d.config.bosTokenId, eos_token_id: d.config.eosTokenId, do_sample: false, max_length: d.config.maxPositions };
}
