// The decoder families we read, write and compress: all share the Llama layout (pre-norm RMSNorm, rotate-half RoPE,
// grouped-query attention, SwiGLU MLP) and differ in options the one graph builder takes from `DecoderConfig`.
// Adding a family of this kind is an entry here plus whatever option it needs in the config and builder.

import type { DecoderConfig, FloatType } from './decoder';
import { roundTo } from '../onnx/tensorData';

export type FamilyName = 'llama' | 'mistral' | 'qwen2' | 'phi3' | 'gemma';

export interface FamilySpec {
  name: FamilyName;
  /** For messages and `inspect`. */
  label: string;
  /** `config.json` `model_type` values read as this family. */
  modelTypes: readonly string[];
  /** `architectures[0]` of an exported `config.json` (transformers / transformers.js pick the class from it). */
  architecture: string;
  /** What is read beyond the plain Llama layout. */
  reads: string;
  /** Builder options the family always has (beyond what its config.json states). */
  graphOptions?(hidden: number, weightType: FloatType): Partial<DecoderConfig>;
}

export const FAMILIES: Record<FamilyName, FamilySpec> = {
  llama: {
    name: 'llama',
    label: 'Llama',
    modelTypes: ['llama', 'tinyllama'],
    architecture: 'LlamaForCausalLM',
    reads: 'Llama 2, Llama 3.x (rope_scaling llama3), SmolLM and TinyLlama; tied embeddings stored once or twice',
  },
  mistral: {
    name: 'mistral',
    label: 'Mistral',
    modelTypes: ['mistral'],
    architecture: 'MistralForCausalLM',
    reads: 'the Llama layout; sliding_window applied in the attention mask',
  },
  qwen2: {
    name: 'qwen2',
    label: 'Qwen2',
    modelTypes: ['qwen2'],
    architecture: 'Qwen2ForCausalLM',
    reads: 'Qwen2 / Qwen2.5: the Llama layout with q/k/v biases',
  },
  phi3: {
    name: 'phi3',
    label: 'Phi-3',
    modelTypes: ['phi3'],
    architecture: 'Phi3ForCausalLM',
    reads: 'Phi-3: fused qkv_proj and gate_up_proj, split on read; sliding_window',
  },
  gemma: {
    name: 'gemma',
    label: 'Gemma',
    modelTypes: ['gemma'],
    architecture: 'GemmaForCausalLM',
    reads:
      'Gemma 1: norms scale by 1 + weight, GeGLU (tanh GELU), embeddings × √hidden, head_dim apart from hidden / heads',
    // transformers: `normalizer = torch.tensor(hidden_size**0.5, dtype=hidden_states.dtype)`, so an fp16 model
    // multiplies by √hidden rounded to fp16 (45.25 for 2048, not 45.2548) and a bf16 one by √hidden in bf16 (45.25).
    graphOptions: (hidden, weightType) => ({
      normWeightOffset: 1,
      embedScale: roundTo(Math.sqrt(hidden), weightType),
    }),
  },
};

/** The family whose `model_type` this is; no config (an older export) reads as Llama. */
export function familyOfModelType(modelType: string | undefined): FamilySpec | undefined {
  if (modelType === undefined) return FAMILIES.llama;
  return Object.values(FAMILIES).find((f) => f.modelTypes.includes(modelType));
}
