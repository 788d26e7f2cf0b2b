import * as fs from 'node:fs';
import * as path from 'node:path';
import { UserError } from '../util/errors';
import type { DecoderConfig, MlpActivation } from './decoder';
import { readRopeScaling } from './rope';

/** Config numbers found in the JSON files beside a model; any may be missing. */
export type ConfigHints = Partial<DecoderConfig> & {
  file?: string;
  modelType?: string;
  /** Per-layer arrays a pruned model's config.json carries (written by our export). */
  perLayer?: {
    heads?: number[];
    kvHeads?: number[];
    headDim?: number[];
    intermediate?: number[];
    ropePairs?: number[][];
  };
  /**
   * Numbers the file does not hold but implies, as Hugging Face reads it, with how (`num_key_value_heads` absent:
   * `num_attention_heads`), so a contradiction is not quoted as something the file says.
   */
  implied?: Partial<Record<'kvHeads' | 'headDim', string>>;
};

function readJson(file: string): Record<string, unknown> | undefined {
  if (!fs.existsSync(file)) return undefined;
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new UserError(`${file}: not valid JSON (${e instanceof Error ? e.message : e})`);
  }
}

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const nums = (v: unknown): number[] | undefined =>
  Array.isArray(v) && v.every((x) => typeof x === 'number') ? (v as number[]) : undefined;
const firstNum = (v: unknown): number | undefined => (Array.isArray(v) ? num(v[0]) : num(v));

/**
 * The sliding attention window a config asks for. Mistral applies `sliding_window` (null: none) to every layer;
 * Qwen2 only with `use_sliding_window`, and then only from layer `max_window_layers` on, which our graphs do not
 * express, so it is refused.
 */
function slidingWindow(hf: Record<string, unknown>): number | undefined {
  if (hf.model_type === 'qwen2') {
    if (hf.use_sliding_window === true)
      throw new UserError(
        'config.json: Qwen2 with use_sliding_window: true (a window on some layers only) is not supported; set it to false if the model never sees sequences longer than sliding_window',
      );
    return undefined;
  }
  return num(hf.sliding_window);
}

/**
 * The MLP gate's activation. Gemma's released configs said `hidden_act: gelu` while the model was trained with the
 * tanh approximation; transformers runs Gemma with `gelu_pytorch_tanh` (its `hidden_activation`), and so do we.
 */
function mlpActivation(hf: Record<string, unknown>, file: string): MlpActivation | undefined {
  const act = hf.hidden_activation ?? hf.hidden_act;
  if (act === undefined || act === null) return undefined;
  if (act === 'silu' || act === 'swish') return 'silu';
  if (act === 'gelu_pytorch_tanh' || (hf.model_type === 'gemma' && act === 'gelu')) return 'gelu_tanh';
  throw new UserError(
    `${file}: MLP activation '${String(act)}' is not supported (read: silu, gelu_pytorch_tanh); the MLP would be computed wrongly`,
  );
}

/** Reads `config.json` (Hugging Face) or else `genai_config.json` (onnxruntime-genai) from the model's folder. */
export function readConfigHints(modelDir: string): ConfigHints {
  const hf = readJson(path.join(modelDir, 'config.json'));
  if (hf) {
    const partialRotary = num(hf.partial_rotary_factor);
    if (partialRotary !== undefined && partialRotary !== 1) {
      throw new UserError(
        `${path.join(modelDir, 'config.json')}: partial_rotary_factor ${partialRotary} (RoPE on part of each head, as in Phi-3.5 / Phi-4-mini) is not supported; only full rotary heads are read`,
      );
    }
    const heads = num(hf.num_attention_heads);
    const hidden = num(hf.hidden_size);
    const implied = {
      ...(num(hf.num_key_value_heads) === undefined && heads !== undefined ? { kvHeads: 'num_attention_heads' } : {}),
      ...(num(hf.head_dim) === undefined && hidden && heads ? { headDim: 'hidden_size / num_attention_heads' } : {}),
    };
    return {
      file: path.join(modelDir, 'config.json'),
      modelType: typeof hf.model_type === 'string' ? hf.model_type : undefined,
      layers: num(hf.num_hidden_layers),
      hidden,
      heads,
      kvHeads: num(hf.num_key_value_heads) ?? heads,
      headDim: num(hf.head_dim) ?? (hidden && heads ? hidden / heads : undefined),
      intermediate: num(hf.intermediate_size),
      vocab: num(hf.vocab_size),
      ropeTheta: num(hf.rope_theta) ?? num((hf.rope_parameters as Record<string, unknown> | undefined)?.rope_theta),
      ropeScaling: readRopeScaling(hf, path.join(modelDir, 'config.json')),
      slidingWindow: slidingWindow(hf),
      mlpActivation: mlpActivation(hf, path.join(modelDir, 'config.json')),
      normEps: num(hf.rms_norm_eps),
      tiedEmbeddings: typeof hf.tie_word_embeddings === 'boolean' ? hf.tie_word_embeddings : undefined,
      maxPositions: num(hf.max_position_embeddings),
      bosTokenId: num(hf.bos_token_id),
      eosTokenId: firstNum(hf.eos_token_id),
      perLayer: {
        heads: nums(hf.num_attention_heads_per_layer),
        kvHeads: nums(hf.num_key_value_heads_per_layer),
        headDim: nums(hf.head_dim_per_layer),
        intermediate: nums(hf.intermediate_size_per_layer),
        ropePairs: Array.isArray(hf.rope_pairs_per_layer) ? (hf.rope_pairs_per_layer as number[][]) : undefined,
      },
      implied,
    };
  }
  const genai = readJson(path.join(modelDir, 'genai_config.json'));
  const m = genai?.model as Record<string, unknown> | undefined;
  const dec = m?.decoder as Record<string, unknown> | undefined;
  if (m && dec) {
    return {
      file: path.join(modelDir, 'genai_config.json'),
      modelType: typeof m.type === 'string' ? m.type : undefined,
      layers: num(dec.num_hidden_layers),
      hidden: num(dec.hidden_size),
      heads: num(dec.num_attention_heads),
      kvHeads: num(dec.num_key_value_heads),
      headDim: num(dec.head_size),
      vocab: num(m.vocab_size),
      maxPositions: num(m.context_length),
      bosTokenId: num(m.bos_token_id),
      eosTokenId: firstNum(m.eos_token_id),
    };
  }
  return {};
}
