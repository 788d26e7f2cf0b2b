import type { GraphBuilder } from './graph';

/** RMSNorm over the last axis: x / √(mean(x²) + eps) · w, in plain ops so every runtime runs it. */
export function rmsNorm(g: GraphBuilder, x: string, weight: string, eps: number, name: string): string {
  const sq = g.op('Mul', [x, x], {}, `${name}_sq`);
  const mean = g.op('ReduceMean', [sq], { axes: [-1], keepdims: 1 }, `${name}_mean`);
  const denom = g.op('Sqrt', [g.op('Add', [mean, g.floats([eps], true)], {}, `${name}_eps`)], {}, `${name}_rms`);
  return g.op('Mul', [g.op('Div', [x, denom], {}, `${name}_div`), weight], {}, name);
}
