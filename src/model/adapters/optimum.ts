// Reader for decoders exported by torch.onnx / Optimum in the Llama layout (Llama, Mistral, Qwen2, Phi-3, Gemma):
// standard ops, initializers named after the Hugging Face modules (model/names.ts), KV cache as
// `past_key_values.{i}.key|value`. The family (from config.json's model_type) only sets options of the config; the
// weights are read the same way, Phi-3's fused projections split on read (fused.ts).
import * as path from 'node:path';
import type { OnnxFile } from '../../onnx/modelFile';
import { tensorDims } from '../../onnx/tensorData';
import { UserError } from '../../util/errors';
import type { GraphIndex } from './graphIndex';
import type { Decoder, DecoderConfig, LayerWeights, Weight } from '../decoder';
import { denseLayerShape } from '../decoder';
import type { ConfigHints } from '../hfConfig';
import type { FamilySpec } from '../families';
import {
  BIAS_ROLES,
  EMBED_NAME,
  FINAL_NORM_NAME,
  LAYER_NAME,
  LINEAR_MODULES,
  linearName,
  LM_HEAD_NAME,
  normName,
  biasName,
  layerPrefix,
  type LinearRole,
} from '../names';
import { floatTypeOf, orientation, quantizedWeight, tensorWeight } from './onnxWeights';
import { splitFused } from './fused';
import { checkConfigAgainstGraph, graphConstants } from './graphConstants';
import { weightsByScope } from './scopeNames';

/** Initializers named in the Llama layout: the first layer's q_proj or the token embedding. */
export function hasLlamaLayout(index: GraphIndex): boolean {
  return index.initializers.has(linearName(0, 'q')) || index.initializers.has(EMBED_NAME);
}

export function readOptimum(
  file: OnnxFile,
  index: GraphIndex,
  hints: ConfigHints,
  family: FamilySpec,
  adapter: string,
): Decoder {
  const fileName = path.basename(file.path);
  const scoped = weightsByScope(index);
  // The initializer of a Hugging Face weight name: stored under it, or under a generated name its node's scope gives.
  const stored = (name: string) => (index.initializers.has(name) ? name : scoped.get(name));
  const get = (name: string) => index.initializers.get(stored(name) ?? name);
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
  if (!layers)
    throw new UserError(
      `${fileName}: no decoder layers found (no initializer named ${layerPrefix(0).replace('0', '<i>')}.…); not a decoder in the Llama layout`,
    );
  for (let i = 0; i < layers; i++)
    if (!layerIds.has(i))
      throw new UserError(`layer ${i}: no weights found in ${fileName} (layers are numbered 0..${layers - 1})`);

  /** A projection's weight in our `[in, out]` layout, whichever way the graph multiplies by it. */
  const oriented = (name: string): Weight | undefined => {
    const t = get(name);
    if (!t) return undefined;
    const o = orientation(index, stored(name)!);
    if (o === 'unknown')
      throw new UserError(`${name} is not used as a MatMul/Gemm operand in ${fileName}; unsupported graph layout`);
    return tensorWeight(file, t, o === 'out-in');
  };
  // Each layer's head size: the KV cache input's concrete dim, else config.json (per layer, then global).
  const headDims = Array.from({ length: layers }, (_, i) => {
    const d = index.inputDims(`past_key_values.${i}.key`)?.[3] ?? hints.perLayer?.headDim?.[i] ?? hints.headDim;
    if (!d)
      throw new UserError(
        `${fileName}: cannot tell layer ${i}'s head dimension: no config.json beside the model and no concrete head size in past_key_values.${i}.key`,
      );
    return d;
  });
  const kvWidth = (i: number) => () => {
    const kvHeads = index.inputDims(`past_key_values.${i}.key`)?.[1] ?? hints.perLayer?.kvHeads?.[i] ?? hints.kvHeads;
    if (!kvHeads)
      throw new UserError(
        `${fileName}: cannot split layer ${i}'s fused qkv_proj: no KV head count in config.json or past_key_values.${i}.key`,
      );
    return kvHeads * headDims[i];
  };
  const linear = (i: number, role: LinearRole, fused: Partial<Record<LinearRole, Weight>>): Weight => {
    const name = linearName(i, role);
    const w = quantizedWeight(file, index, name) ?? fused[role] ?? oriented(name);
    if (!w) need(name, `layer ${i}: ${LINEAR_MODULES[role].split('.')[1]} weight`);
    return w!;
  };
  const vector = (name: string, what: string) => tensorWeight(file, need(name, what), false);
  const optional = (name: string) => {
    const t = get(name);
    return t ? tensorWeight(file, t, false) : undefined;
  };

  const layerWeights: LayerWeights[] = [];
  for (let i = 0; i < layers; i++) {
    const fused = splitFused(i, oriented, kvWidth(i));
    layerWeights.push({
      inputNorm: vector(normName(i, 'inputNorm'), `layer ${i}: input_layernorm weight`),
      q: linear(i, 'q', fused),
      k: linear(i, 'k', fused),
      v: linear(i, 'v', fused),
      o: linear(i, 'o', fused),
      postNorm: vector(normName(i, 'postNorm'), `layer ${i}: post_attention_layernorm weight`),
      gate: linear(i, 'gate', fused),
      up: linear(i, 'up', fused),
      down: linear(i, 'down', fused),
      ...Object.fromEntries(BIAS_ROLES.map((role) => [role, optional(biasName(i, role))])),
    });
    for (const k of Object.keys(layerWeights[i]) as (keyof LayerWeights)[])
      if (!layerWeights[i][k]) delete layerWeights[i][k];
  }

  const finalNorm = vector(FINAL_NORM_NAME, 'final norm');
  const lmT = get(LM_HEAD_NAME);
  let lmHead: Weight;
  if (lmT) {
    const o = orientation(index, stored(LM_HEAD_NAME)!);
    lmHead = tensorWeight(file, lmT, o === 'out-in');
  } else {
    // Tied and stored once: the graph multiplies by the (transposed) embedding.
    lmHead = tensorWeight(file, embedT, true);
  }

  const headDim = hints.headDim ?? headDims[0];
  // config.json's rope_theta / rms_norm_eps, checked against the graph's; where config.json is silent, the graph's.
  const inGraph = graphConstants(index, file.dir, headDim);
  checkConfigAgainstGraph(hints, inGraph, file.path);
  // o_proj is never split on read, so its stored bytes say the model's precision; where it has none (quantized,
  // transposed), the embedding's type does, which no stage of ours quantizes.
  const weightType = layerWeights[0]?.o.stored?.type ?? floatTypeOf(embedT) ?? 'float32';
  const config: DecoderConfig = {
    family: family.name,
    layers,
    hidden,
    heads: hints.heads ?? (layerWeights[0]?.q.shape[1] ?? 0) / headDims[0],
    kvHeads: hints.kvHeads ?? (layerWeights[0]?.k.shape[1] ?? 0) / headDims[0],
    headDim,
    intermediate: hints.intermediate ?? layerWeights[0]?.gate.shape[1] ?? 0,
    vocab,
    ropeTheta: hints.ropeTheta ?? inGraph.ropeTheta ?? 10000,
    ropeScaling: hints.ropeScaling,
    slidingWindow: hints.slidingWindow,
    mlpActivation: hints.mlpActivation,
    ...family.graphOptions?.(hidden, weightType),
    normEps: hints.normEps ?? inGraph.normEps ?? 1e-5,
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
  return {
    config,
    layers: shapes,
    embed,
    layerWeights,
    finalNorm,
    lmHead,
    source: { path: file.path, format: 'onnx', adapter },
    weightType,
  };
}
