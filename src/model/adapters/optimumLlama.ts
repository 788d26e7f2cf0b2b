// Adapter for Llama-family decoders exported by torch.onnx / Optimum: standard ops, initializers named after the
// Hugging Face modules (`model.layers.{i}.self_attn.q_proj.weight` ...), KV cache as `past_key_values.{i}.key|value`.
import * as path from 'node:path';
import type { OnnxFile } from '../../onnx/modelFile';
import { onnx, bytesPerElement, DataType } from '../../onnx/proto';
import { elementCount, readFloatTensor, readRawBytes, tensorDims } from '../../onnx/tensorData';
import { checkedRange, isExternal } from '../../onnx/externalData';
import { dequantize, type QuantizedLinear } from '../../compress/quantize/nbits';
import { UserError } from '../../util/errors';
import { GraphIndex, intAttr, intsAttr } from './graphIndex';
import { transpose2d } from '../transpose';
import type { Decoder, DecoderConfig, LayerWeights, StoredBytes, Weight } from '../decoder';
import { denseLayerShape } from '../decoder';
import type { ConfigHints } from '../hfConfig';
import { BIAS_ROLES, EMBED_NAME, FINAL_NORM_NAME, LAYER_NAME, LINEAR_MODULES, linearName, LM_HEAD_NAME, normName, biasName, layerPrefix, type LinearRole } from '../names';

export const ADAPTER_NAME = 'torch.onnx / Optimum Llama';


/** Fused contrib ops of other exporters (onnxruntime.transformers, the genai builder) this adapter cannot read. */
const FUSED_OPS = ['Attention', 'MultiHeadAttention', 'GroupQueryAttention', 'EmbedLayerNormalization', 'SkipLayerNormalization',
  'SkipSimplifiedLayerNormalization', 'MatMulNBits', 'RotaryEmbedding', 'FastGelu', 'QAttention'];

function isTransposeSwap(node: onnx.INodeProto): boolean {
  const perm = intsAttr(node, 'perm');
  return node.opType === 'Transpose' && (!perm || (perm.length === 2 && perm[0] === 1 && perm[1] === 0));
}

/**
 * How the graph multiplies by this weight: `in-out` when it is a MatMul right operand as stored, `out-in` when the
 * graph transposes it first (Gemm transB=1, or Transpose → MatMul), `unknown` when it is not used by a product.
 * A Cast in front (an fp16 weight widened for fp32 arithmetic, as our exports do, after a Reshape that only
 * orders it: build/linear.ts) is looked through.
 */
function orientation(index: GraphIndex, name: string): 'in-out' | 'out-in' | 'unknown' {
  for (const u of index.usesOf(name)) {
    if (u.node.opType === 'Cast' || (u.node.opType === 'Reshape' && u.input === 0)) return orientation(index, u.node.output?.[0] ?? '');
    if (u.node.opType === 'MatMul' && u.input === 1) return 'in-out';
    if (u.node.opType === 'Gemm' && u.input === 1) return intAttr(u.node, 'transB', 0) ? 'out-in' : 'in-out';
    if (isTransposeSwap(u.node)) {
      const out = u.node.output?.[0] ?? '';
      if (index.usesOf(out).some((v) => (v.node.opType === 'MatMul' || v.node.opType === 'Gemm') && v.input === 1)) return 'out-in';
    }
  }
  return 'unknown';
}

/**
 * The bytes of a weight that graphs can use as they are: fp16 (kept in its precision), or fp32 in external data
 * (referenced in place). A transposed weight has none: its graph layout differs from the file's.
 */
function storedBytes(file: OnnxFile, t: onnx.ITensorProto, transposed: boolean): StoredBytes | undefined {
  const type = t.dataType === DataType.FLOAT16 ? 'float16' : t.dataType === DataType.FLOAT ? 'float32' : undefined;
  const readable = isExternal(t) || (t.rawData?.length ?? 0) > 0;
  if (transposed || !type || !readable || (type === 'float32' && !isExternal(t))) return undefined;
  const bytes = elementCount(tensorDims(t)) * bytesPerElement(t.dataType!);
  return { type, read: () => readRawBytes(t, file.dir), external: isExternal(t) ? checkedRange(t, file.dir, bytes) : undefined };
}

function tensorWeight(file: OnnxFile, t: onnx.ITensorProto, transposed: boolean): Weight {
  const dims = tensorDims(t);
  const shape = transposed ? [dims[1], dims[0]] : dims;
  return {
    name: t.name ?? '',
    shape,
    storedBytesPerElement: bytesPerElement(t.dataType ?? DataType.FLOAT),
    read: () => {
      const data = readFloatTensor(t, file.dir);
      return transposed ? transpose2d(data, dims[0], dims[1]) : data;
    },
    stored: storedBytes(file, t, transposed),
  };
}

export function looksLikeOptimumLlama(index: GraphIndex): boolean {
  return index.initializers.has(linearName(0, 'q')) || index.initializers.has(EMBED_NAME);
}

export function unsupportedFusedOps(index: GraphIndex): string[] {
  const ops = index.opTypes();
  // MatMulNBits with our initializer naming (`<weight>.quant`) is read back as a quantized weight.
  const ours = [...index.initializers.keys()].some((n) => n.endsWith('.weight.quant'));
  return [...ops.keys()].filter((k) => FUSED_OPS.includes(k.split('.').pop() ?? '') && !(ours && k.endsWith('MatMulNBits')));
}

/** A weight stored as MatMulNBits codes (`<name>.quant`, `.scales`, `.zero_points`), read dequantized. */
function quantizedWeight(file: OnnxFile, index: GraphIndex, name: string): Weight | undefined {
  const codes = index.initializers.get(`${name}.quant`);
  const node = index.usesOf(`${name}.quant`).find((u) => u.node.opType === 'MatMulNBits')?.node;
  if (!codes || !node) return undefined;
  const raw = (t: onnx.ITensorProto) => new Uint8Array(readRawBytes(t, file.dir));
  const zp = index.initializers.get(`${name}.zero_points`);
  const q: QuantizedLinear = {
    K: intAttr(node, 'K', 0),
    N: intAttr(node, 'N', 0),
    bits: intAttr(node, 'bits', 4) as 4 | 8,
    blockSize: intAttr(node, 'block_size', 32),
    symmetric: !zp,
    packed: raw(codes),
    scales: readFloatTensor(index.initializers.get(`${name}.scales`)!, file.dir),
    zeroPoints: zp ? raw(zp) : undefined,
  };
  return { name, shape: [q.K, q.N], storedBytesPerElement: q.bits / 8, quant: q, read: () => dequantize(q) };
}

export function readOptimumLlama(file: OnnxFile, index: GraphIndex, hints: ConfigHints): Decoder {
  const fileName = path.basename(file.path);
  const get = (name: string) => index.initializers.get(name);
  const need = (name: string, what: string) => {
    const t = get(name);
    if (!t) throw new UserError(`${what} not found; looked for initializer '${name}' in ${fileName}`);
    return t;
  };

  const embedT = need(EMBED_NAME, 'token embedding');
  const [vocab, hidden] = tensorDims(embedT);
  const embed = tensorWeight(file, embedT, false);

  const layerIds = new Set<number>();
  for (const name of index.initializers.keys()) {
    const m = LAYER_NAME.exec(name);
    if (m) layerIds.add(Number(m[1]));
  }
  const layers = layerIds.size;
  if (!layers) throw new UserError(`${fileName}: no decoder layers found (no initializer named ${layerPrefix(0).replace('0', '<i>')}.…); not a Llama-family decoder this adapter reads`);
  for (let i = 0; i < layers; i++) if (!layerIds.has(i)) throw new UserError(`layer ${i}: no weights found in ${fileName} (layers are numbered 0..${layers - 1})`);

  const linear = (i: number, role: LinearRole): Weight => {
    const name = linearName(i, role);
    const quantized = quantizedWeight(file, index, name);
    if (quantized) return quantized;
    const t = need(name, `layer ${i}: ${LINEAR_MODULES[role].split('.')[1]} weight`);
    const o = orientation(index, name);
    if (o === 'unknown') throw new UserError(`layer ${i}: ${name} is not used as a MatMul/Gemm operand in ${fileName}; unsupported graph layout`);
    return tensorWeight(file, t, o === 'out-in');
  };
  const vector = (name: string, what: string) => tensorWeight(file, need(name, what), false);
  const optional = (name: string) => {
    const t = get(name);
    return t ? tensorWeight(file, t, false) : undefined;
  };

  const layerWeights: LayerWeights[] = [];
  for (let i = 0; i < layers; i++) {
    layerWeights.push({
      inputNorm: vector(normName(i, 'inputNorm'), `layer ${i}: input_layernorm weight`),
      q: linear(i, 'q'),
      k: linear(i, 'k'),
      v: linear(i, 'v'),
      o: linear(i, 'o'),
      postNorm: vector(normName(i, 'postNorm'), `layer ${i}: post_attention_layernorm weight`),
      gate: linear(i, 'gate'),
      up: linear(i, 'up'),
      down: linear(i, 'down'),
      ...Object.fromEntries(BIAS_ROLES.map((role) => [role, optional(biasName(i, role))])),
    });
    for (const k of Object.keys(layerWeights[i]) as (keyof LayerWeights)[]) if (!layerWeights[i][k]) delete layerWeights[i][k];
  }

  const finalNorm = vector(FINAL_NORM_NAME, 'final norm');
  const lmT = get(LM_HEAD_NAME);
  let lmHead: Weight;
  if (lmT) {
    const o = orientation(index, LM_HEAD_NAME);
    lmHead = tensorWeight(file, lmT, o === 'out-in');
  } else {
    // Tied and stored once: the graph multiplies by the (transposed) embedding.
    lmHead = tensorWeight(file, embedT, true);
  }

  // Each layer's head size: the KV cache input's concrete dim, else config.json (per layer, then global).
  const headDims = layerWeights.map((_, i) => {
    const d = index.inputDims(`past_key_values.${i}.key`)?.[3] ?? hints.perLayer?.headDim?.[i] ?? hints.headDim;
    if (!d) throw new UserError(`${fileName}: cannot tell layer ${i}'s head dimension: no config.json beside the model and no concrete head size in past_key_values.${i}.key`);
    return d;
  });
  const headDim = hints.headDim ?? headDims[0];
  const config: DecoderConfig = {
    family: 'llama',
    layers,
    hidden,
    heads: hints.heads ?? (layerWeights[0]?.q.shape[1] ?? 0) / headDims[0],
    kvHeads: hints.kvHeads ?? (layerWeights[0]?.k.shape[1] ?? 0) / headDims[0],
    headDim,
    intermediate: hints.intermediate ?? layerWeights[0]?.gate.shape[1] ?? 0,
    vocab,
    ropeTheta: hints.ropeTheta ?? 10000,
    normEps: hints.normEps ?? 1e-5,
    tiedEmbeddings: hints.tiedEmbeddings ?? !lmT,
    maxPositions: hints.maxPositions ?? 2048,
    bosTokenId: hints.bosTokenId ?? 1,
    eosTokenId: hints.eosTokenId ?? 2,
  };
  // Shapes as the weights give them, so a pruned model (ours or anyone's) is read as it is.
  const shapes = layerWeights.map((w, i) => ({
    ...denseLayerShape(config),
    heads: w.q.shape[1] / headDims[i],
    kvHeads: w.k.shape[1] / headDims[i],
    headDim: headDims[i],
    intermediate: w.gate.shape[1],
    ropePairs: hints.perLayer?.ropePairs?.[i] ?? Array.from({ length: headDims[i] / 2 }, (_, j) => j),
  }));
  const weightType = layerWeights[0]?.q.stored?.type ?? 'float32';
  return { config, layers: shapes, embed, layerWeights, finalNorm, lmHead, source: { path: file.path, format: 'onnx', adapter: ADAPTER_NAME }, weightType };
}
