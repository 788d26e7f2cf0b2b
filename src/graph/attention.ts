import type { GraphBuilder } from './graph';
import { applyRope, type RopeTables } from './rope';
import type { LayerShape } from '../model/decoder';
import type { Linear } from './linear';

export interface AttentionInputs {
  x: string; // post-norm hidden [B, S, D]
  bias: string; // [B|1, 1, 1, S, T]
  rope: RopeTables;
  q: Linear;
  k: Linear;
  v: Linear;
  o: Linear;
  qBias?: string;
  kBias?: string;
  vBias?: string;
  oBias?: string;
  /** `[H·d]` channel mask: zeroes q channels (pre-RoPE, pairs kept together) and the same attention-output channels. */
  channelMask?: string;
  past?: { key: string; value: string };
}

export interface AttentionOutputs {
  out: string; // [B, S, D]
  /** The o_proj input `[B, S, H·d]`, for activation statistics. */
  oInput: string;
  present: { key: string; value: string };
}

function project(g: GraphBuilder, x: string, w: Linear, b: string | undefined, name: string): string {
  const y = w(x, name);
  return b ? g.op('Add', [y, b], {}, `${name}_b`) : y;
}

/** `[B, S, heads·d]` → `[B, heads, S, d]` */
function splitHeads(g: GraphBuilder, x: string, heads: number, d: number, name: string): string {
  return g.op(
    'Transpose',
    [g.op('Reshape', [x, g.ints([0, 0, heads, d])], {}, `${name}_4d`)],
    { perm: [0, 2, 1, 3] },
    name,
  );
}

/**
 * Grouped-query attention in standard ops. Query heads are reshaped to `[B, kvH, group, S, d]` so MatMul
 * broadcasts each KV head over its group: no repeated K/V tensors, and plain MHA is the case group = 1.
 */
export function attention(g: GraphBuilder, s: LayerShape, a: AttentionInputs, name: string): AttentionOutputs {
  const { heads, kvHeads, headDim: d } = s;
  const group = heads / kvHeads;
  let q = project(g, a.x, a.q, a.qBias, `${name}_q`);
  if (a.channelMask) q = g.op('Mul', [q, a.channelMask], {}, `${name}_q_masked`);
  const qh = applyRope(g, splitHeads(g, q, heads, d, `${name}_qh`), a.rope, d, `${name}_q_rope`);
  const kh = applyRope(
    g,
    splitHeads(g, project(g, a.x, a.k, a.kBias, `${name}_k`), kvHeads, d, `${name}_kh`),
    a.rope,
    d,
    `${name}_k_rope`,
  );
  const vh = splitHeads(g, project(g, a.x, a.v, a.vBias, `${name}_v`), kvHeads, d, `${name}_vh`);
  const key = a.past ? g.op('Concat', [a.past.key, kh], { axis: 2 }, `${name}_present_k`) : kh;
  const value = a.past ? g.op('Concat', [a.past.value, vh], { axis: 2 }, `${name}_present_v`) : vh;

  const q5 = g.op('Reshape', [qh, g.ints([0, kvHeads, group, -1, d])], {}, `${name}_q5`);
  const kT = g.op(
    'Transpose',
    [g.op('Unsqueeze', [key, g.ints([2])], {}, `${name}_k5`)],
    { perm: [0, 1, 2, 4, 3] },
    `${name}_kT`,
  );
  const v5 = g.op('Unsqueeze', [value, g.ints([2])], {}, `${name}_v5`);
  const scores = g.op(
    'Mul',
    [g.op('MatMul', [q5, kT], {}, `${name}_qk`), g.floats([s.attnScale], true)],
    {},
    `${name}_scaled`,
  );
  const probs = g.op('Softmax', [g.op('Add', [scores, a.bias], {}, `${name}_biased`)], { axis: -1 }, `${name}_probs`);
  const ctx5 = g.op('MatMul', [probs, v5], {}, `${name}_ctx5`);
  const ctx4 = g.op(
    'Transpose',
    [g.op('Reshape', [ctx5, g.ints([0, heads, -1, d])], {}, `${name}_ctx4`)],
    { perm: [0, 2, 1, 3] },
    `${name}_ctxT`,
  );
  let oInput = g.op('Reshape', [ctx4, g.ints([0, 0, heads * d])], {}, `${name}_ctx`);
  if (a.channelMask) oInput = g.op('Mul', [oInput, a.channelMask], {}, `${name}_ctx_masked`);
  return { out: project(g, oInput, a.o, a.oBias, `${name}_o`), oInput, present: { key, value } };
}
