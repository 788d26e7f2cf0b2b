import type { GraphBuilder } from './graph';
import type { Linear } from './linear';
import type { MlpActivation } from '../model/decoder';

export interface MlpInputs {
  x: string; // post-norm hidden [B, S, D]
  gate: Linear;
  up: Linear;
  down: Linear;
  downBias?: string;
  /** `[I]` channel mask on the down_proj input (what pruning an MLP channel removes). */
  channelMask?: string;
  /** The gate's activation (default silu: SwiGLU; gelu_tanh: Gemma's GeGLU). */
  activation?: MlpActivation;
}

export interface MlpOutputs {
  out: string;
  /** The down_proj input `[B, S, I]`, for activation statistics. */
  downInput: string;
}

/** GELU with the tanh approximation, 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), in opset-17 ops (Gelu is opset 20). */
function geluTanh(g: GraphBuilder, x: string, name: string): string {
  const cube = g.op('Mul', [g.op('Mul', [x, x], {}, `${name}_x2`), x], {}, `${name}_x3`);
  const inner = g.op(
    'Add',
    [x, g.op('Mul', [cube, g.floats([0.044715], true)], {}, `${name}_cubic`)],
    {},
    `${name}_inner`,
  );
  const t = g.op(
    'Tanh',
    [g.op('Mul', [inner, g.floats([Math.sqrt(2 / Math.PI)], true)], {}, `${name}_scaled`)],
    {},
    `${name}_tanh`,
  );
  const half = g.op('Mul', [x, g.floats([0.5], true)], {}, `${name}_half`);
  return g.op('Mul', [half, g.op('Add', [t, g.floats([1], true)], {}, `${name}_1p`)], {}, `${name}_gelu`);
}

/** Gated MLP: down(act(gate·x) ⊙ up·x), SwiGLU (silu) or GeGLU (gelu_tanh). */
export function mlp(g: GraphBuilder, m: MlpInputs, name: string): MlpOutputs {
  const gate = m.gate(m.x, `${name}_gate`);
  const act =
    m.activation === 'gelu_tanh'
      ? geluTanh(g, gate, name)
      : g.op('Mul', [gate, g.op('Sigmoid', [gate], {}, `${name}_sigmoid`)], {}, `${name}_silu`);
  let downInput = g.op('Mul', [act, m.up(m.x, `${name}_up`)], {}, `${name}_act`);
  if (m.channelMask) downInput = g.op('Mul', [downInput, m.channelMask], {}, `${name}_act_masked`);
  const down = m.down(downInput, `${name}_down`);
  return { out: m.downBias ? g.op('Add', [down, m.downBias], {}, `${name}_down_b`) : down, downInput };
}
