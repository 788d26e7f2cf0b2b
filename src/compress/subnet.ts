// A sub-network: per layer, which query heads, which rotary pairs of the head dimension, and which MLP channels
// are kept. Masks are structural (not raw vectors) so that every mask the engine produces can be deployed as a
// physically smaller dense model.
import type { Decoder, LayerShape, LayerWeights, Weight } from '../model/decoder';
import { computedWeight, memoryWeight, weightColumns as columns } from '../model/decoder';
import { layerParamCount } from '../model/params';
import { biasName, linearName } from '../model/names';
import { UserError } from '../util/errors';

export interface LayerMask {
  /** Per query head of the layer. GQA: every KV group keeps either none or the same number of its query heads. */
  heads: boolean[];
  /** Per rotary pair (i, i + d/2) of the head dimension, the same for every head of the layer (paper-spec §1.7). */
  pairs: boolean[];
  /** Per MLP channel. */
  mlp: boolean[];
}

export type SubnetMask = LayerMask[];

export function fullMask(d: Decoder): SubnetMask {
  return d.layers.map((s) => ({
    heads: new Array(s.heads).fill(true),
    pairs: new Array(s.headDim / 2).fill(true),
    mlp: new Array(s.intermediate).fill(true),
  }));
}

const kept = (b: boolean[]) => b.reduce((n, v) => n + (v ? 1 : 0), 0);
const indices = (b: boolean[]) => b.flatMap((v, i) => (v ? [i] : []));

/** A layer that keeps no head and no MLP channel is dropped whole: depth pruning (paper-spec §1.1). */
export const isDropped = (m: LayerMask) => kept(m.heads) === 0 && kept(m.mlp) === 0;

/** The mask of a dropped layer. */
export const droppedLayer = (s: LayerShape): LayerMask => ({
  heads: new Array(s.heads).fill(false),
  pairs: new Array(s.headDim / 2).fill(false),
  mlp: new Array(s.intermediate).fill(false),
});

/** Kept KV groups and the number of query heads each keeps; refuses masks no dense layer can express. */
function groupStructure(s: LayerShape, m: LayerMask, layer: number): { groups: number[]; perGroup: number } {
  const group = s.heads / s.kvHeads;
  const counts = Array.from({ length: s.kvHeads }, (_, g) => kept(m.heads.slice(g * group, (g + 1) * group)));
  const groups = indices(counts.map((c) => c > 0));
  const perGroup = groups.length ? counts[groups[0]] : 0;
  if (groups.some((g) => counts[g] !== perGroup)) {
    throw new UserError(
      `layer ${layer}: KV groups keep different numbers of query heads (${counts.join(', ')}); GQA needs the same number in every kept group`,
    );
  }
  if (groups.length === 0 || kept(m.pairs) === 0 || kept(m.mlp) === 0) {
    throw new UserError(
      `layer ${layer}: the mask removes all heads, all head dims or all MLP channels; keep at least one of each, or drop the whole layer (no heads and no MLP channels)`,
    );
  }
  return { groups, perGroup };
}

function checkLengths(d: Decoder, mask: SubnetMask): void {
  if (mask.length !== d.layers.length)
    throw new UserError(`mask has ${mask.length} layers, the model ${d.layers.length}`);
  mask.forEach((m, i) => {
    const s = d.layers[i];
    if (m.heads.length !== s.heads || m.pairs.length !== s.headDim / 2 || m.mlp.length !== s.intermediate) {
      throw new UserError(
        `layer ${i}: mask sizes (${m.heads.length} heads, ${m.pairs.length} pairs, ${m.mlp.length} MLP) do not match the model (${s.heads}, ${s.headDim / 2}, ${s.intermediate})`,
      );
    }
  });
}

/** The layer shapes the mask leaves (dropped layers have none). */
export function maskedShapes(d: Decoder, mask: SubnetMask): LayerShape[] {
  checkLengths(d, mask);
  if (mask.every(isDropped)) throw new UserError('the mask drops every layer; keep at least one');
  return d.layers.flatMap((s, i) => {
    if (isDropped(mask[i])) return [];
    const { groups, perGroup } = groupStructure(s, mask[i], i);
    const pairs = indices(mask[i].pairs);
    return [
      {
        heads: groups.length * perGroup,
        kvHeads: groups.length,
        headDim: 2 * pairs.length,
        intermediate: kept(mask[i].mlp),
        ropePairs: pairs.map((p) => s.ropePairs[p]),
        attnScale: s.attnScale,
      },
    ];
  });
}

function biasFlags(d: Decoder) {
  const w = d.layerWeights[0];
  return { qkv: Boolean(w?.qBias), o: Boolean(w?.oBias), down: Boolean(w?.downBias) };
}

/** Parameters of the model the mask leaves: embeddings and norms included (paper-spec §1.2). */
export function maskedParams(d: Decoder, mask: SubnetMask, outer: number): number {
  const flags = biasFlags(d);
  return outer + maskedShapes(d, mask).reduce((a, s) => a + layerParamCount(s, d.config.hidden, flags), 0);
}

/** One layer's `[H·d]` and `[I]` mask vectors. */
export function layerMaskVectors(s: LayerShape, m: LayerMask): { attn: Float32Array; mlp: Float32Array } {
  const half = s.headDim / 2;
  const attn = new Float32Array(s.heads * s.headDim);
  for (let h = 0; h < s.heads; h++)
    for (let j = 0; j < s.headDim; j++) attn[h * s.headDim + j] = m.heads[h] && m.pairs[j % half] ? 1 : 0;
  return { attn, mlp: Float32Array.from(m.mlp, (b) => (b ? 1 : 0)) };
}

/** `[H·d]` and `[I]` float vectors for the masked evaluation graph's mask inputs. */
export function maskVectors(d: Decoder, mask: SubnetMask): { attn: Float32Array[]; mlp: Float32Array[] } {
  checkLengths(d, mask);
  const layers = d.layers.map((s, i) => layerMaskVectors(s, mask[i]));
  return { attn: layers.map((v) => v.attn), mlp: layers.map((v) => v.mlp) };
}

/** Channel indices of the kept heads' kept dims, each head laid out as [first halves, second halves]. */
function headChannels(headsKept: number[], headDim: number, pairs: number[]): number[] {
  const half = headDim / 2;
  return headsKept.flatMap((h) => [...pairs.map((p) => h * headDim + p), ...pairs.map((p) => h * headDim + p + half)]);
}

function rows(w: Weight, keep: number[], name: string): Weight {
  const [, n] = w.shape;
  return computedWeight(name, [keep.length, n], () => {
    const src = w.read();
    const out = new Float32Array(keep.length * n);
    keep.forEach((r, i) => out.set(src.subarray(r * n, (r + 1) * n), i * n));
    return out;
  });
}

function entries(w: Weight | undefined, keep: number[], name: string): Weight | undefined {
  if (!w) return undefined;
  const src = w.read();
  return memoryWeight(
    name,
    [keep.length],
    Float32Array.from(keep, (i) => src[i]),
  );
}

/** The physically smaller model: sliced q/k/v/o and gate/up/down weights, per-layer shapes, dropped layers gone. */
export function sliceDecoder(d: Decoder, mask: SubnetMask): Decoder {
  const shapes = maskedShapes(d, mask);
  const layerWeights: LayerWeights[] = d.layers.flatMap((s, i) => {
    if (isDropped(mask[i])) return [];
    const w = d.layerWeights[i];
    const m = mask[i];
    const group = s.heads / s.kvHeads;
    const pairs = indices(m.pairs);
    const qHeads = indices(m.heads);
    const kvHeads = [...new Set(qHeads.map((h) => Math.floor(h / group)))];
    const qCh = headChannels(qHeads, s.headDim, pairs);
    const kvCh = headChannels(kvHeads, s.headDim, pairs);
    const mlpCh = indices(m.mlp);
    const sliced: LayerWeights = {
      inputNorm: w.inputNorm,
      q: columns(w.q, qCh, linearName(i, 'q')),
      k: columns(w.k, kvCh, linearName(i, 'k')),
      v: columns(w.v, kvCh, linearName(i, 'v')),
      o: rows(w.o, qCh, linearName(i, 'o')),
      postNorm: w.postNorm,
      gate: columns(w.gate, mlpCh, linearName(i, 'gate')),
      up: columns(w.up, mlpCh, linearName(i, 'up')),
      down: rows(w.down, mlpCh, linearName(i, 'down')),
      qBias: entries(w.qBias, qCh, biasName(i, 'qBias')),
      kBias: entries(w.kBias, kvCh, biasName(i, 'kBias')),
      vBias: entries(w.vBias, kvCh, biasName(i, 'vBias')),
      oBias: w.oBias,
      downBias: w.downBias,
    };
    for (const k of Object.keys(sliced) as (keyof LayerWeights)[]) if (!sliced[k]) delete sliced[k];
    return [sliced];
  });
  return { ...d, config: { ...d.config, layers: shapes.length }, layers: shapes, layerWeights };
}
