// A small Llama written as onnxruntime-genai's model builder writes one for the CPU (builders/base.py at
// microsoft/onnxruntime-genai a0c04eb1, read for its layout only): initializers named after their MatMul nodes and
// stored [in, out], q/k/v packed into one MatMul, com.microsoft GroupQueryAttention with the rotary embedding inside
// (do_rotary 1, cos_cache / sin_cache [context, headDim/2]), the masks' seqlens_k / total_sequence_length computed
// from attention_mask, SimplifiedLayerNormalization for the first norm and SkipSimplifiedLayerNormalization for
// every later one (its 4th output the residual sum), a genai_config.json and no config.json (the builder writes none).
// Random weights from bench/randomModels.ts; test/families/reference.ts checks the file's logits independently.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { GraphBuilder } from '../../src/graph/graph';
import { DataType, onnx } from '../../src/onnx/proto';
import { writeModelFile } from '../../src/onnx/writeModel';
import type { Decoder } from '../../src/model/decoder';
import { GENAI_NAMES, type LinearRole } from '../../src/model/names';
import { toNarrowBytes } from '../../src/onnx/tensorData';
import { NARROW_TYPES } from '../../src/graph/linear';
import { ropeInverseFrequencies } from '../../src/model/rope';

export interface GenaiFixtureOptions {
  /** The builder's default packs q/k/v (CPU, no LoRA); `disable_qkv_fusion` keeps them apart. */
  packedQkv: boolean;
  /** genai_config.json's context_length: the cos/sin caches' rows. */
  contextLength: number;
  /**
   * Where the rotary embedding is applied: inside GroupQueryAttention (`do_rotary`, the default wherever the EP
   * supports it), or by RotaryEmbedding nodes on q and k fed `position_ids` (DirectML builds, which also keep q/k/v
   * separate).
   */
  rotaryNodes?: boolean;
  /** `shared_embeddings`: the embedding not stored; tokens gathered from the transposed `lm_head.MatMul.weight`. */
  sharedEmbeddings?: boolean;
}

/** Row-wise concatenation of `[in, out_j]` matrices along the outputs. */
function concatColumns(parts: Float32Array[], rows: number): Float32Array {
  const widths = parts.map((p) => p.length / rows);
  const total = widths.reduce((a, b) => a + b, 0);
  const out = new Float32Array(rows * total);
  for (let r = 0; r < rows; r++) {
    let at = r * total;
    parts.forEach((p, j) => {
      out.set(p.subarray(r * widths[j], (r + 1) * widths[j]), at);
      at += widths[j];
    });
  }
  return out;
}

/**
 * cos/sin caches as the builder computes them: positions × inverse frequencies θ^(−2p/d) (llama3-rescaled when the
 * config says so, make_inv_freq_rescaled_with_freq_factors), the first half only.
 */
function rotaryCaches(c: Decoder['config'], context: number): [Float32Array, Float32Array] {
  const half = c.headDim / 2;
  const f = ropeInverseFrequencies(c).map(Math.fround);
  const cos = new Float32Array(context * half);
  const sin = new Float32Array(context * half);
  for (let t = 0; t < context; t++)
    for (let p = 0; p < half; p++) {
      const angle = t * f[p];
      cos[t * half + p] = Math.cos(angle);
      sin[t * half + p] = Math.sin(angle);
    }
  return [cos, sin];
}

const vi = (name: string, elemType: DataType, dims: (number | string)[]): onnx.IValueInfoProto => ({
  name,
  type: {
    tensorType: {
      elemType,
      shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
    },
  },
});

/**
 * Writes `dir/model.onnx` and `dir/genai_config.json` for `d` (fp32, fp16 or bf16 as `d.weightType`: the builder's
 * `-p fp32|fp16|bf16`); returns the model's path.
 */
export function writeGenaiBuilderFixture(d: Decoder, dir: string, o: GenaiFixtureOptions): string {
  const c = d.config;
  const type = d.weightType ?? 'float32';
  const io = type === 'float32' ? DataType.FLOAT : NARROW_TYPES[type];
  // The builder stores every float (weights, norms, caches) in the io dtype.
  const values = (x: Float32Array) => (type === 'float32' ? x : toNarrowBytes(x, type));
  const b = new GraphBuilder();
  const init = (name: string, dims: number[], x: Float32Array) => b.initializer(name, dims, values(x), io);
  const multi: [string, string[]][] = [];

  b.input('input_ids', DataType.INT64, ['batch_size', 'sequence_length']);
  b.input('attention_mask', DataType.INT64, ['batch_size', 'total_sequence_length']);
  if (o.rotaryNodes) b.input('position_ids', DataType.INT64, ['batch_size', 'sequence_length']);
  for (let i = 0; i < c.layers; i++)
    for (const kv of ['key', 'value'])
      b.input(`past_key_values.${i}.${kv}`, io, ['batch_size', c.kvHeads, 'past_sequence_length', 'kv_cache_dim']);

  // The mask subgraph the builder emits for GroupQueryAttention (make_attention_mask_reformatting_for_gqa).
  const one = b.ints([1]);
  const sum = b.op('ReduceSum', ['attention_mask', one], { keepdims: 0 }, 'attn_mask_ReduceSum');
  const seqlensK = b.op('Cast', [b.op('Sub', [sum, one], {}, 'attn_mask_Sub')], { to: DataType.INT32 }, 'seqlens_k');
  const total = b.op('Gather', [b.op('Shape', ['attention_mask']), b.ints([1], true)], { axis: 0 }, 'attn_mask_Gather');
  const totalLen = b.op('Cast', [total], { to: DataType.INT32 }, 'total_seq_len');

  if (!o.sharedEmbeddings) init(GENAI_NAMES.embed, d.embed.shape, d.embed.read());
  const [cos, sin] = rotaryCaches(c, o.contextLength);
  init(GENAI_NAMES.cosCache, [o.contextLength, c.headDim / 2], cos);
  init(GENAI_NAMES.sinCache, [o.contextLength, c.headDim / 2], sin);
  const eps = { float: c.normEps };

  const table = o.sharedEmbeddings
    ? b.op('Transpose', [GENAI_NAMES.lmHead], { perm: [1, 0] }, 'embed_tokens_Transpose')
    : GENAI_NAMES.embed;
  let root = b.op('Gather', [table, 'input_ids'], {}, 'embed_tokens');
  let skip = '';
  /** A norm of the chain: plain for the very first, Skip… (adding the last sublayer's output) for every other. */
  const norm = (weight: string, last = false): string => {
    if (!skip) return b.op('SimplifiedLayerNormalization', [root, weight], { epsilon: eps, axis: -1, stash_type: 1 });
    const out = b.op(
      'SkipSimplifiedLayerNormalization',
      [root, skip, weight],
      { epsilon: eps },
      'skip_norm',
      'com.microsoft',
    );
    if (!last) {
      root = `${out}_residual`;
      multi.push([out, [out, '', '', root]]);
    }
    return out;
  };
  const matmul = (x: string, i: number, role: LinearRole) => {
    const w = d.layerWeights[i][role];
    return b.op('MatMul', [x, init(GENAI_NAMES.linear(i, role), w.shape, w.read())], {}, `${role}_proj`);
  };

  for (let i = 0; i < c.layers; i++) {
    const lw = d.layerWeights[i];
    const x = norm(init(GENAI_NAMES.norm(i, 'inputNorm'), lw.inputNorm.shape, lw.inputNorm.read()));
    let qkv: string[];
    if (o.packedQkv) {
      const width = lw.q.shape[1] + lw.k.shape[1] + lw.v.shape[1];
      const w = concatColumns([lw.q.read(), lw.k.read(), lw.v.read()], c.hidden);
      qkv = [b.op('MatMul', [x, init(GENAI_NAMES.qkv(i), [c.hidden, width], w)], {}, 'qkv_proj'), '', ''];
    } else qkv = (['q', 'k', 'v'] as const).map((r) => matmul(x, i, r));
    // make_rotary_embedding: num_heads 0 and rotary_embedding_dim 0 for full rotary heads.
    const rotary = (v: string) =>
      b.op(
        'RotaryEmbedding',
        [v, 'position_ids', GENAI_NAMES.cosCache, GENAI_NAMES.sinCache],
        { interleaved: 0, num_heads: 0, rotary_embedding_dim: 0 },
        'rotary',
        'com.microsoft',
      );
    if (o.rotaryNodes) qkv = [rotary(qkv[0]), rotary(qkv[1]), qkv[2]];
    const caches = o.rotaryNodes ? [] : [GENAI_NAMES.cosCache, GENAI_NAMES.sinCache];
    const attn = b.op(
      'GroupQueryAttention',
      [...qkv, `past_key_values.${i}.key`, `past_key_values.${i}.value`, seqlensK, totalLen, ...caches],
      {
        num_heads: c.heads,
        kv_num_heads: c.kvHeads,
        scale: { float: 1 / Math.sqrt(c.headDim) },
        local_window_size: -1,
        softcap: { float: 0 },
        do_rotary: o.rotaryNodes ? 0 : 1,
        rotary_interleaved: 0,
      },
      'GroupQueryAttention',
      'com.microsoft',
    );
    multi.push([attn, [attn, `present.${i}.key`, `present.${i}.value`]]);
    skip = matmul(attn, i, 'o');
    const h = norm(init(GENAI_NAMES.norm(i, 'postNorm'), lw.postNorm.shape, lw.postNorm.read()));
    const gate = matmul(h, i, 'gate');
    const act = b.op('Mul', [gate, b.op('Sigmoid', [gate])], {}, 'act_fn');
    skip = matmul(b.op('Mul', [act, matmul(h, i, 'up')], {}, 'mlp_Mul'), i, 'down');
  }
  const final = norm(init(GENAI_NAMES.finalNorm(c.layers), d.finalNorm.shape, d.finalNorm.read()), true);
  const logits = b.op('MatMul', [final, init(GENAI_NAMES.lmHead, d.lmHead.shape, d.lmHead.read())], {}, 'lm_head');
  b.output(logits, 'logits', io, ['batch_size', 'sequence_length', c.vocab]);

  const model = b.model('genai-builder-fixture', 'a Llama in the onnxruntime-genai builder layout (test fixture)');
  const graph = model.graph!;
  for (const [first, outputs] of multi) graph.node!.find((n) => n.output?.[0] === first)!.output = outputs;
  for (let i = 0; i < c.layers; i++)
    for (const kv of ['key', 'value'])
      graph.output!.push(
        vi(`present.${i}.${kv}`, io, ['batch_size', c.kvHeads, 'total_sequence_length', 'kv_cache_dim']),
      );
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'model.onnx');
  writeModelFile(model, b.tensors, file);
  fs.writeFileSync(path.join(dir, 'genai_config.json'), JSON.stringify(genaiConfig(d, o), null, 4));
  return file;
}

/** genai_config.json with the fields make_genai_config writes for a CPU model (search options at their defaults). */
function genaiConfig(d: Decoder, o: GenaiFixtureOptions) {
  const c = d.config;
  return {
    model: {
      bos_token_id: c.bosTokenId,
      context_length: o.contextLength,
      decoder: {
        session_options: { log_id: 'onnxruntime-genai', provider_options: [] },
        filename: 'model.onnx',
        head_size: c.headDim,
        hidden_size: c.hidden,
        inputs: {
          input_ids: 'input_ids',
          attention_mask: 'attention_mask',
          ...(o.rotaryNodes ? { position_ids: 'position_ids' } : {}),
          past_key_names: 'past_key_values.%d.key',
          past_value_names: 'past_key_values.%d.value',
        },
        outputs: { logits: 'logits', present_key_names: 'present.%d.key', present_value_names: 'present.%d.value' },
        num_attention_heads: c.heads,
        num_hidden_layers: c.layers,
        num_key_value_heads: c.kvHeads,
      },
      eos_token_id: c.eosTokenId,
      pad_token_id: c.eosTokenId,
      type: 'llama',
      vocab_size: c.vocab,
    },
    search: {
      diversity_penalty: 0,
      do_sample: false,
      early_stopping: true,
      length_penalty: 1,
      max_length: o.contextLength,
      min_length: 0,
      no_repeat_ngram_size: 0,
      num_beams: 1,
      num_return_sequences: 1,
      past_present_share_buffer: false,
      repetition_penalty: 1,
      temperature: 1,
      top_k: 50,
      top_p: 1,
    },
  };
}
