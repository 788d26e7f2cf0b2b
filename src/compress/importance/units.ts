// The units structured pruning removes. Attention: a KV group (its query heads and its K/V head) at `head`
// granularity, or a rotary pair of the head dimension in every head at `channel` granularity (the paper's
// head-dimension pruning, paper-spec §1.1, with the pairs kept whole, §1.7). MLP: one channel.
import type { LayerShape } from '../../model/decoder';
import type { LayerMask } from '../subnet';

export type Granularity = 'head' | 'channel';
export const GRANULARITIES: Granularity[] = ['head', 'channel'];

export function attentionUnitCount(s: LayerShape, g: Granularity): number {
  return g === 'head' ? s.kvHeads : s.headDim / 2;
}

/** Channels of a unit: indices into the q/o channels `[H·d]` and the k/v channels `[kvH·d]`. */
export function unitChannels(s: LayerShape, g: Granularity, u: number): { q: number[]; kv: number[] } {
  const d = s.headDim;
  const half = d / 2;
  const group = s.heads / s.kvHeads;
  if (g === 'head') {
    const q = Array.from({ length: group * d }, (_, k) => u * group * d + k);
    const kv = Array.from({ length: d }, (_, k) => u * d + k);
    return { q, kv };
  }
  const both = (heads: number) => Array.from({ length: heads }, (_, h) => [h * d + u, h * d + u + half]).flat();
  return { q: both(s.heads), kv: both(s.kvHeads) };
}

/** Parameters one attention unit carries (q rows, k/v rows, o columns, and their biases). */
export function attentionUnitParams(s: LayerShape, g: Granularity, hidden: number, biases: { qkv: boolean }): number {
  const { q, kv } = unitChannels(s, g, 0);
  return hidden * (2 * q.length + 2 * kv.length) + (biases.qkv ? q.length + 2 * kv.length : 0);
}

export const mlpChannelParams = (hidden: number) => 3 * hidden;

export function layerMaskFromUnits(s: LayerShape, g: Granularity, keepAttn: boolean[], keepMlp: boolean[]): LayerMask {
  const group = s.heads / s.kvHeads;
  return g === 'head'
    ? {
        heads: Array.from({ length: s.heads }, (_, h) => keepAttn[Math.floor(h / group)]),
        pairs: new Array(s.headDim / 2).fill(true),
        mlp: keepMlp,
      }
    : { heads: new Array(s.heads).fill(true), pairs: keepAttn, mlp: keepMlp };
}
