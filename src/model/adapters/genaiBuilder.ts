// Reader for Llama models written by onnxruntime-genai's model builder (builders/base.py) in fp32, fp16 or bf16: weights
// named after their MatMul nodes and stored [in, out] (model/names.ts GENAI_NAMES), q/k/v packed into one
// `qkv_proj` (split on read) or separate, com.microsoft GroupQueryAttention with the rotary embedding inside it or
// RotaryEmbedding nodes before it, (Skip)SimplifiedLayerNormalization. The config comes from genai_config.json
// (heads, KV heads, head size, context length, token ids); rope θ and Llama 3.x's llama3 scaling from the cos/sin
// caches (genaiRope.ts) and the norm epsilon from the norm ops, as the builder writes none of them into
// genai_config.json. Refused with a message: int4/int8 (MatMulNBits) builds, biases, other rope scaling, interleaved
// rotary, windowed or soft-capped attention, and model types other than Llama.
import * as path from 'node:path';
import type { OnnxFile } from '../../onnx/modelFile';
import { readFloatTensor, tensorDims } from '../../onnx/tensorData';
import { UserError } from '../../util/errors';
import type { Decoder, DecoderConfig, LayerWeights, Weight } from '../decoder';
import { denseLayerShape, weightColumns } from '../decoder';
import type { ConfigHints } from '../hfConfig';
import { FAMILIES } from '../families';
import { FINAL_NORM_NAME, GENAI_NAMES, LINEAR_ROLES, linearName, LM_HEAD_NAME, normName } from '../names';
import { intAttr, type GraphIndex } from './graphIndex';
import { floatTypeOf, tensorWeight } from './onnxWeights';
import { builderRope } from './genaiRope';

export const GENAI_ADAPTER = 'onnxruntime-genai builder';

/** A weight named after its builder MatMul node (`….MatMul.weight`, or `….MatMul.weight_Q4…` when quantized). */
const BUILDER_WEIGHT = /^model\.layers\.(\d+)\.(attn|mlp)\.\w+\.MatMul\.weight/;

/** The builder's weight names (`model.layers.{i}.attn.…` / `.mlp.…`, not Hugging Face's `self_attn`). */
export const hasGenaiBuilderLayout = (index: GraphIndex) =>
  [...index.initializers.keys()].some((n) => BUILDER_WEIGHT.test(n));

const floatAttr = (node: { attribute?: { name?: string | null; f?: number | null }[] | null }, name: string) =>
  node.attribute?.find((a) => a.name === name)?.f ?? undefined;

/** The shortest decimal that is the same float32 (an attribute's 9.99999975e-6 is the config's 1e-5). */
function shortestFloat32(x: number): number {
  for (let digits = 1; digits < 9; digits++) {
    const d = Number(x.toPrecision(digits));
    if (Math.fround(d) === x) return d;
  }
  return x;
}

function refuse(file: string, what: string): never {
  throw new UserError(`${file}: an onnxruntime-genai builder graph with ${what}, which this version does not read`);
}

/** Everything the graph's ops say that the weights do not: refused variants, heads, eps. */
function readOps(index: GraphIndex, fileName: string) {
  const nodes = index.graph.node ?? [];
  if (nodes.some((n) => n.opType === 'MatMulNBits' || n.opType === 'GatherBlockQuantized'))
    refuse(
      fileName,
      'int4/int8 weights (MatMulNBits); build it with `-p fp32`, `-p fp16` or `-p bf16` to compress it here',
    );
  const attention = nodes.filter((n) => /Attention$/.test(n.opType ?? ''));
  if (!attention.length || attention.some((n) => n.opType !== 'GroupQueryAttention'))
    refuse(
      fileName,
      `attention ops ${[...new Set(attention.map((n) => n.opType))].join(', ') || 'none'} (read: GroupQueryAttention)`,
    );
  const gqa = attention[0];
  for (const n of attention) {
    if (intAttr(n, 'rotary_interleaved', 0)) refuse(fileName, 'interleaved rotary embeddings');
    if (intAttr(n, 'local_window_size', -1) !== -1) refuse(fileName, 'a local attention window (local_window_size)');
    if (floatAttr(n, 'softcap')) refuse(fileName, 'attention soft-capping');
  }
  for (const n of nodes)
    if (n.opType === 'RotaryEmbedding' && intAttr(n, 'interleaved', 0))
      refuse(fileName, 'interleaved rotary embeddings');
  const eps = nodes
    .filter((n) => n.opType === 'SimplifiedLayerNormalization' || n.opType === 'SkipSimplifiedLayerNormalization')
    .map((n) => floatAttr(n, 'epsilon') ?? 1e-5);
  if (!eps.length) refuse(fileName, 'no SimplifiedLayerNormalization (RMSNorm) ops');
  if (eps.some((e) => e !== eps[0])) refuse(fileName, `norms of different epsilons (${[...new Set(eps)].join(', ')})`);
  return {
    heads: intAttr(gqa, 'num_heads', 0) || undefined,
    kvHeads: intAttr(gqa, 'kv_num_heads', 0) || undefined,
    scale: floatAttr(gqa, 'scale'),
    normEps: shortestFloat32(eps[0]),
  };
}

export function readGenaiBuilder(file: OnnxFile, index: GraphIndex, hints: ConfigHints): Decoder {
  const fileName = path.basename(file.path);
  if (hints.modelType !== undefined && hints.modelType !== 'llama')
    refuse(fileName, `model type '${hints.modelType}' in genai_config.json (read: llama)`);
  const ops = readOps(index, fileName);
  const need = (name: string, what: string) => {
    const t = index.initializers.get(name);
    if (!t) throw new UserError(`${what} not found; looked for initializer '${name}' in ${fileName}`);
    return t;
  };
  const biases = [...index.initializers.keys()].filter((n) => /^model\.layers\.\d+\.(attn|mlp)\..*bias$/.test(n));
  if (biases.length) refuse(fileName, `biases (${biases[0]} …)`);

  const layerIds = new Set<number>();
  for (const name of index.initializers.keys()) {
    const m = BUILDER_WEIGHT.exec(name);
    if (m) layerIds.add(Number(m[1]));
  }
  const layers = layerIds.size;
  for (let i = 0; i < layers; i++)
    if (!layerIds.has(i)) throw new UserError(`layer ${i}: no weights found in ${fileName} (layers 0..${layers - 1})`);

  const lmT = need(GENAI_NAMES.lmHead, 'LM head');
  const [hidden, vocab] = tensorDims(lmT);
  const lmHead = { ...tensorWeight(file, lmT, false), name: LM_HEAD_NAME };
  const embedT = index.initializers.get(GENAI_NAMES.embed);
  // With shared_embeddings the builder stores only the head and gathers from its transpose.
  const embed = embedT
    ? tensorWeight(file, embedT, false)
    : { ...tensorWeight(file, lmT, true), name: GENAI_NAMES.embed };

  const heads = ops.heads ?? hints.heads;
  const kvHeads = ops.kvHeads ?? hints.kvHeads;
  if (!heads || !kvHeads)
    throw new UserError(`${fileName}: no head counts in its GroupQueryAttention or genai_config.json`);
  const headDim = hints.headDim ?? hidden / heads;
  if (ops.scale && Math.abs(ops.scale - 1 / Math.sqrt(headDim)) > 1e-6)
    refuse(fileName, `an attention scale of ${ops.scale} (not 1/√head_size)`);

  const weight = (name: string, what: string, newName: string): Weight => ({
    ...tensorWeight(file, need(name, what), false),
    name: newName,
  });
  const layerWeights: LayerWeights[] = [];
  for (let i = 0; i < layers; i++) {
    const lw: Partial<LayerWeights> = {
      inputNorm: weight(GENAI_NAMES.norm(i, 'inputNorm'), `layer ${i}: input_layernorm`, normName(i, 'inputNorm')),
      postNorm: weight(
        GENAI_NAMES.norm(i, 'postNorm'),
        `layer ${i}: post_attention_layernorm`,
        normName(i, 'postNorm'),
      ),
    };
    const packed = index.initializers.get(GENAI_NAMES.qkv(i));
    if (packed) {
      const qkv = tensorWeight(file, packed, false);
      const [q, kv] = [heads * headDim, kvHeads * headDim];
      if (qkv.shape[1] !== q + 2 * kv)
        throw new UserError(`layer ${i}: ${packed.name} has ${qkv.shape[1]} outputs, not ${q} + 2 × ${kv} (q, k, v)`);
      const cols = (from: number, n: number) => Array.from({ length: n }, (_, j) => from + j);
      // Kept at the packed weight's stored precision, so an fp16 (bf16) model stays 16-bit in size and export.
      const part = (from: number, n: number, role: 'q' | 'k' | 'v') => ({
        ...weightColumns(qkv, cols(from, n), linearName(i, role)),
        storedBytesPerElement: qkv.storedBytesPerElement,
      });
      Object.assign(lw, { q: part(0, q, 'q'), k: part(q, kv, 'k'), v: part(q + kv, kv, 'v') });
    }
    for (const role of LINEAR_ROLES)
      lw[role] ??= weight(GENAI_NAMES.linear(i, role), `layer ${i}: ${role}_proj`, linearName(i, role));
    layerWeights.push(lw as LayerWeights);
  }
  const finalNorm = weight(GENAI_NAMES.finalNorm(layers), 'final norm', FINAL_NORM_NAME);

  const cosT = need(GENAI_NAMES.cosCache, 'cos cache');
  const cos = readFloatTensor(cosT, file.dir);
  const sin = readFloatTensor(need(GENAI_NAMES.sinCache, 'sin cache'), file.dir);
  const rope = builderRope(cos, sin, headDim, fileName, floatTypeOf(cosT) ?? 'float32');
  // As the Optimum reader decides it: o_proj's stored type, else the embedding table's (the head's when shared).
  const weightType = layerWeights[0]?.o.stored?.type ?? floatTypeOf(embedT ?? lmT) ?? 'float32';
  const config: DecoderConfig = {
    family: FAMILIES.llama.name,
    layers,
    hidden,
    heads,
    kvHeads,
    headDim,
    intermediate: layerWeights[0]?.gate.shape[1] ?? 0,
    vocab,
    ...rope,
    normEps: ops.normEps,
    tiedEmbeddings: !embedT,
    maxPositions: hints.maxPositions ?? cos.length / (headDim / 2),
    bosTokenId: hints.bosTokenId ?? 1,
    eosTokenId: hints.eosTokenId ?? 2,
  };
  const shapes = layerWeights.map(() => denseLayerShape(config));
  return {
    config,
    layers: shapes,
    embed,
    layerWeights,
    finalNorm,
    lmHead,
    source: { path: file.path, format: 'onnx', adapter: GENAI_ADAPTER },
    weightType,
  };
}
