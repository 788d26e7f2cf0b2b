import type { GraphBuilder } from './graph';
import type { Linear } from './linear';

export interface MlpInputs {
  x: string; // post-norm hidden [B, S, D]
  gate: Linear; up: Linear; down: Linear;
  downBias?: string;
  /** `[I]` channel mask on the down_proj input (what pruning an MLP channel removes). */
  channelMask?: string;
}

export interface MlpOutputs {
  out: string;
  /** The down_proj input `[B, S, I]`, for activation statistics. */
  downInput: string;
}

/** SwiGLU: down(silu(gate·x) ⊙ up·x). */
export function mlp(g: GraphBuilder, m: MlpInputs, name: string): MlpOutputs {
  const gate = m.gate(m.x, `${name}_gate`);
  const act = g.op('Mul', [gate, g.op('Sigmoid', [gate], {}, `${name}_sigmoid`)], {}, `${name}_silu`);
  let downInput = g.op('Mul', [act, m.up(m.x, `${name}_up`)], {}, `${name}_act`);
  if (m.channelMask) downInput = g.op('Mul', [downInput, m.channelMask], {}, `${name}_act_masked`);
  const down = m.down(downInput, `${name}_down`);
  return { out: m.downBias ? g.op('Add', [down, m.downBias], {}, `${name}_down_b`) : down, downInput };
}
