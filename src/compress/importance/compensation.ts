// FLAP's bias compensation (paper-spec §3) as weights: biases for o_proj / down_proj that stand in for the mean
// contribution of what a mask removes. The masked graph computes the same thing in-graph (graph/compensation.ts).
import type { Decoder } from '../../model/decoder';
import { memoryWeight } from '../../model/decoder';
import { biasName } from '../../model/names';
import type { SubnetMask } from '../subnet';
import { compensationBias } from './scores';

/** Per layer, whether o_proj (`attn`) and down_proj (`mlp`) get a compensation bias. */
export type CompensationFlags = { attn: boolean; mlp: boolean }[];

/** Per layer, the compensation biases (a module without one has none). */
export type CompensationBias = { o?: number[]; down?: number[] }[];

/** Per layer, the dense model's mean o_proj and down_proj inputs: what the masked graph needs to compensate. */
export type CompensationMeans = { o: Float64Array; down: Float64Array }[];

const allOn = (d: Decoder): CompensationFlags => d.layers.map(() => ({ attn: true, mlp: true }));

/** FLAP's compensation biases on o_proj / down_proj (those `flags` select) for what the mask removes. */
export function compensationBiases(
  d: Decoder,
  mask: SubnetMask,
  means: CompensationMeans,
  flags = allOn(d),
): CompensationBias {
  const hidden = d.config.hidden;
  return d.layers.map((s, i) => {
    const half = s.headDim / 2;
    const keepQ = (j: number) => mask[i].heads[Math.floor(j / s.headDim)] && mask[i].pairs[(j % s.headDim) % half];
    return {
      ...(flags[i].attn
        ? { o: Array.from(compensationBias(d.layerWeights[i].o.read(), hidden, means[i].o, keepQ)) }
        : {}),
      ...(flags[i].mlp
        ? {
            down: Array.from(
              compensationBias(d.layerWeights[i].down.read(), hidden, means[i].down, (j) => mask[i].mlp[j]),
            ),
          }
        : {}),
    };
  });
}

/** The decoder with FLAP's compensation biases for what the mask removes, and the biases. */
export function withCompensation(
  d: Decoder,
  mask: SubnetMask,
  means: CompensationMeans,
): { decoder: Decoder; bias: CompensationBias } {
  const bias = compensationBiases(d, mask, means);
  return { decoder: withBiases(d, bias), bias };
}

/** Which modules `bias` has a compensation bias for. */
export const compensatedModules = (bias: CompensationBias): CompensationFlags =>
  bias.map((b) => ({ attn: Boolean(b.o), mlp: Boolean(b.down) }));

/** The decoder with `bias` added to its o_proj / down_proj biases (as a masks file stores them). */
export function withBiases(d: Decoder, bias: CompensationBias): Decoder {
  const hidden = d.config.hidden;
  const add = (name: string, prev: Decoder['layerWeights'][number]['oBias'], b: number[] | undefined) => {
    if (!b) return prev;
    const own = prev?.read();
    return memoryWeight(
      name,
      [hidden],
      Float32Array.from(b, (v, c) => v + (own ? own[c] : 0)),
    );
  };
  const layerWeights = d.layerWeights.map((w, i) => ({
    ...w,
    oBias: add(biasName(i, 'oBias'), w.oBias, bias[i].o),
    downBias: add(biasName(i, 'downBias'), w.downBias, bias[i].down),
  }));
  return { ...d, layerWeights };
}

/** Per layer, the bias parameters compensating o_proj / down_proj adds (none where the model already has the bias). */
export const compensationBiasParams = (d: Decoder) =>
  d.layerWeights.map((w) => ({ attn: w.oBias ? 0 : d.config.hidden, mlp: w.downBias ? 0 : d.config.hidden }));

/** The bias parameters the compensation adds for `flags` (all modules by default). */
export const compensationParams = (d: Decoder, flags = allOn(d)) =>
  compensationBiasParams(d).reduce((a, p, i) => a + (flags[i].attn ? p.attn : 0) + (flags[i].mlp ? p.mlp : 0), 0);
