// Small random-weight models of each family, written as the family's Optimum export would be: the Llama-layout
// initializer names, standard decoder I/O with the KV cache, and the family's own config.json (its model_type,
// architecture and config fields as its published configs write them: q/k/v biases, rope_scaling, sliding_window,
// tied embeddings). Random weights (bench/randomModels.ts, scaled up so every family option moves the logits).
// The graph itself comes from our builder, so "re-emission equals the file" alone would be circular; what makes
// it evidence is test/families/reference.ts, a plain-TS forward from the config's meaning that the file must match.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomDecoder, type Shape } from '../../bench/randomModels';
import type { Decoder, FloatType } from '../../src/model/decoder';
import { computedWeight } from '../../src/model/decoder';
import { transpose2d } from '../../src/model/transpose';
import { EMBED_NAME, LINEAR_MODULES, LINEAR_ROLES, linearName, LM_HEAD_NAME } from '../../src/model/names';
import type { FamilyName } from '../../src/model/families';
import { buildDecoderGraph } from '../../src/graph/decoderGraph';
import { writeModelFile, type TensorSpec } from '../../src/onnx/writeModel';
import type { onnx } from '../../src/onnx/proto';
import { fusePhi3 } from './fuse';
import { writeModelFiles } from '../../src/compress/exportModel';
import { loadTokenizerFile } from '../../src/text/tokenizer';
import { fixture } from '../fixtures';

export interface FamilyFixture {
  id: string;
  family: FamilyName;
  /** The adapter `inspect` should name. */
  adapter: string;
  shape: Shape;
  /** config.json as the family's published configs write it (not our exporter's). */
  config: Record<string, unknown>;
  /** How the family's export differs from our builder's graph: the graph rewritten so (e.g. fused projections). */
  rewrite?: GraphRewrite;
  /** The linear weights' and embeddings' precision (default float32; norms and biases stay fp32). */
  weightType?: FloatType;
}

type GraphRewrite = (model: onnx.IModelProto, tensors: TensorSpec[], d: Decoder) => TensorSpec[];

const TINY = { layers: 2, hidden: 64, heads: 4, kvHeads: 2, intermediate: 128, vocab: 512, weightScale: 5 };

/** The fields every family's config.json has, from the tiny shape. */
const common = (s: Shape) => ({
  hidden_size: s.hidden,
  intermediate_size: s.intermediate,
  num_hidden_layers: s.layers,
  num_attention_heads: s.heads,
  num_key_value_heads: s.kvHeads,
  vocab_size: s.vocab,
  max_position_embeddings: s.maxPositions,
  rope_theta: s.ropeTheta,
  rms_norm_eps: s.normEps ?? 1e-5,
  tie_word_embeddings: s.tied,
  hidden_act: 'silu',
  bos_token_id: 1,
  eos_token_id: 2,
  torch_dtype: 'float32',
  use_cache: true,
  initializer_range: 0.02,
});

function familyFixture(
  id: string,
  family: FamilyName,
  adapter: string,
  shape: Shape,
  fields: Record<string, unknown>,
  rewrite?: GraphRewrite,
): FamilyFixture {
  return { id, family, adapter, shape, config: { ...common(shape), ...fields }, rewrite };
}

// Qwen2.5-0.5B's conventions: q/k/v biases, θ = 10⁶, ε = 1e-6, tied (stored twice, as torch.onnx writes a tied
// parameter used by two ops), use_sliding_window false.
const qwen2Shape: Shape = {
  ...TINY,
  family: 'qwen2',
  tied: true,
  ropeTheta: 1e6,
  normEps: 1e-6,
  maxPositions: 512,
  qkvBias: true,
};
// Mistral 7B v0.1's conventions with a window of 8 (4096 there) so that the test's 24-token sequences cross it.
const mistralShape: Shape = {
  ...TINY,
  family: 'mistral',
  tied: false,
  ropeTheta: 10000,
  maxPositions: 512,
  slidingWindow: 8,
};
// Llama 3.2-1B's conventions: θ = 5·10⁵, rope_scaling llama3 (factor 32, low 1, high 4), tied. The original context
// is 64 (8192 there) so that, at head dim 16, pairs fall in all three bands (kept, blended, slowed) at short positions.
const llama3Scaling = {
  type: 'llama3' as const,
  factor: 32,
  lowFreqFactor: 1,
  highFreqFactor: 4,
  originalMaxPositions: 64,
};
const llama3Shape: Shape = {
  ...TINY,
  family: 'llama',
  tied: true,
  ropeTheta: 500000,
  maxPositions: 2048,
  ropeScaling: llama3Scaling,
};
// SmolLM-135M's conventions: the Llama layout, θ = 10⁴, tied and stored once.
const smollmShape: Shape = { ...TINY, family: 'llama', tied: true, ropeTheta: 10000, maxPositions: 2048 };
// Phi-3-mini-4k's conventions: fused qkv_proj and gate_up_proj, MHA, untied, sliding_window 2047, θ = 10⁴.
// Gemma-2B's conventions: MQA (one KV head), head_dim apart from hidden / heads (256 vs 2048 / 8 there), GeGLU,
// norms stored as offsets from 1, embeddings × √hidden, ε = 1e-6, tied.
const gemmaShape: Shape = {
  ...TINY,
  family: 'gemma',
  kvHeads: 1,
  headDim: 32,
  tied: true,
  ropeTheta: 10000,
  normEps: 1e-6,
  maxPositions: 8192,
  mlpActivation: 'gelu_tanh',
};
const phi3Shape: Shape = {
  ...TINY,
  family: 'phi3',
  kvHeads: 4,
  tied: false,
  ropeTheta: 10000,
  maxPositions: 4096,
  slidingWindow: 2047,
};

export const FAMILY_FIXTURES: FamilyFixture[] = [
  familyFixture('qwen2', 'qwen2', 'torch.onnx / Optimum Qwen2', qwen2Shape, {
    architectures: ['Qwen2ForCausalLM'],
    model_type: 'qwen2',
    use_sliding_window: false,
    sliding_window: 512,
    max_window_layers: 2,
  }),
  familyFixture('mistral', 'mistral', 'torch.onnx / Optimum Mistral', mistralShape, {
    architectures: ['MistralForCausalLM'],
    model_type: 'mistral',
    sliding_window: 8,
    head_dim: 16,
  }),
  familyFixture('llama3', 'llama', 'torch.onnx / Optimum Llama', llama3Shape, {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    attention_bias: false,
    mlp_bias: false,
    head_dim: 16,
    rope_scaling: {
      factor: 32,
      low_freq_factor: 1,
      high_freq_factor: 4,
      original_max_position_embeddings: 64,
      rope_type: 'llama3',
    },
  }),
  familyFixture(
    'smollm',
    'llama',
    'torch.onnx / Optimum Llama',
    smollmShape,
    {
      architectures: ['LlamaForCausalLM'],
      model_type: 'llama',
      attention_bias: false,
      mlp_bias: false,
    },
    headFromEmbedding,
  ),
  familyFixture(
    'phi3',
    'phi3',
    'torch.onnx / Optimum Phi-3',
    phi3Shape,
    {
      architectures: ['Phi3ForCausalLM'],
      model_type: 'phi3',
      sliding_window: 2047,
      original_max_position_embeddings: 4096,
      rope_scaling: null,
      attention_bias: false,
      pad_token_id: 2,
    },
    (model, tensors, d) => fusePhi3(model, tensors, d),
  ),
  // Qwen2.5 as most ONNX copies of it are published: fp16 weights, fp32 biases and norms.
  {
    ...familyFixture('qwen2-fp16', 'qwen2', 'torch.onnx / Optimum Qwen2', qwen2Shape, {
      architectures: ['Qwen2ForCausalLM'],
      model_type: 'qwen2',
      use_sliding_window: false,
      sliding_window: 512,
      max_window_layers: 2,
      torch_dtype: 'float16',
    }),
    weightType: 'float16',
  },
  // TinyLlama's conventions (GQA, untied) with the weight names a TorchScript export leaves.
  familyFixture(
    'tinyllama-scoped',
    'llama',
    'torch.onnx / Optimum Llama',
    { ...TINY, family: 'llama', tied: false, ropeTheta: 10000, maxPositions: 2048 },
    {
      architectures: ['LlamaForCausalLM'],
      model_type: 'llama',
      attention_bias: false,
      mlp_bias: false,
    },
    torchScriptNames,
  ),
  familyFixture('gemma', 'gemma', 'torch.onnx / Optimum Gemma', gemmaShape, {
    architectures: ['GemmaForCausalLM'],
    model_type: 'gemma',
    head_dim: 32,
    hidden_act: 'gelu_pytorch_tanh',
    hidden_activation: 'gelu_pytorch_tanh',
    attention_bias: false,
    pad_token_id: 0,
  }),
];

export const fixtureTokenizer = () => fixture('llama2c', 'tok512.tokenizer.json');

/** The random decoder behind a fixture; a tied head is the transposed embedding, as tie_word_embeddings means. */
export function fixtureDecoder(fx: FamilyFixture): Decoder {
  const d = randomDecoder(fx.shape, fx.weightType ?? 'float32');
  if (!fx.shape.tied) return d;
  const [vocab, hidden] = d.embed.shape;
  return {
    ...d,
    lmHead: computedWeight(LM_HEAD_NAME, [hidden, vocab], () => transpose2d(d.embed.read(), vocab, hidden)),
  };
}

/** A tied head stored once, as SmolLM's export: no `lm_head.weight`, the graph multiplies by the transposed embedding. */
function headFromEmbedding(model: onnx.IModelProto, tensors: TensorSpec[]): TensorSpec[] {
  const nodes = model.graph!.node!;
  const head = nodes.find((n) => n.input?.includes(LM_HEAD_NAME))!;
  head.input = head.input!.map((x) => (x === LM_HEAD_NAME ? 'lm_head_from_embedding' : x));
  nodes.splice(nodes.indexOf(head), 0, {
    opType: 'Transpose',
    input: [EMBED_NAME],
    output: ['lm_head_from_embedding'],
    name: 'tied_lm_head',
    attribute: [{ name: 'perm', type: 7, ints: [1, 0] }],
  });
  return tensors.filter((t) => t.name !== LM_HEAD_NAME);
}

/**
 * Weight names as torch.onnx's TorchScript exporter leaves them: each linear weight under a generated name
 * (`onnx::MatMul_<n>`, the transpose it folded), its MatMul node named after the module's scope
 * (`/model/layers.0/self_attn/q_proj/MatMul`).
 */
function torchScriptNames(model: onnx.IModelProto, tensors: TensorSpec[], d: Decoder): TensorSpec[] {
  const renamed = new Map<string, string>();
  const scopes: [string, string][] = d.layerWeights.flatMap((_, i) =>
    LINEAR_ROLES.map((r): [string, string] => [
      linearName(i, r),
      `/model/layers.${i}/${LINEAR_MODULES[r].replace('.', '/')}`,
    ]),
  );
  for (const [weight, scope] of [...scopes, [LM_HEAD_NAME, '/lm_head'] as [string, string]]) {
    const node = model.graph!.node!.find((n) => n.opType === 'MatMul' && n.input?.[1] === weight)!;
    const generated = `onnx::MatMul_${1000 + renamed.size}`;
    node.name = `${scope}/MatMul`;
    node.input![1] = generated;
    renamed.set(weight, generated);
  }
  return tensors.map((t) => (renamed.has(t.name) ? { ...t, name: renamed.get(t.name)! } : t));
}

/** Writes the fixture's folder (model.onnx, its config.json, tokenizer files) and returns model.onnx's path. */
export function writeFamilyFixture(fx: FamilyFixture, dir: string): string {
  fs.mkdirSync(dir, { recursive: true });
  const d = fixtureDecoder(fx);
  writeModelFiles(d, dir, loadTokenizerFile(fixtureTokenizer()));
  // Optimum writes no genai_config.json, and the config is the family's, not our exporter's.
  fs.rmSync(path.join(dir, 'genai_config.json'));
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(fx.config, null, 2));
  if (fx.rewrite) {
    const built = buildDecoderGraph(d, { kvCache: true, head: 'logits', masks: false });
    writeModelFile(built.model, fx.rewrite(built.model, built.tensors, d), path.join(dir, 'model.onnx'));
  }
  return path.join(dir, 'model.onnx');
}
