import type { GraphBuilder } from './graph';

/** `XᵀX` `[n, n]` and `ΣX` `[n]` of an activation `[B, S, n]` over all its positions. */
export function gramStats(g: GraphBuilder, x: string, n: number, name: string): { gram: string; sum: string } {
  const flat = g.op('Reshape', [x, g.ints([-1, n])], {}, `${name}_flat`);
  const gram = g.op('MatMul', [g.op('Transpose', [flat], { perm: [1, 0] }, `${name}_T`), flat], {}, `${name}_gram`);
  const sum = g.op('ReduceSum', [flat, g.ints([0])], { keepdims: 0 }, `${name}_sum`);
  return { gram, sum };
}
