import type { GraphBuilder } from './graph';

/**
 * RMSNorm over the last axis: x / √(mean(x²) + eps) · (offset + w), in plain ops so every runtime runs it. Gemma
 * stores its norm weights as offsets from 1 (offset 1); the stored weight stays as it is, so an export is read back
 * the same way.
 */
export function rmsNorm(
  g: GraphBuilder,
  x: string,
  weight: string,
  eps: number,
  name: string,
  weightOffset = 0,
): string {
  const scale = weightOffset ? g.op('Add', [weight, g.floats([weightOffset], true)], {}, `${name}_weight`) : weight;
  const sq = g.op('Mul', [x, x], {}, `${name}_sq`);
  const mean = g.op('ReduceMean', [sq], { axes: [-1], keepdims: 1 }, `${name}_mean`);
  const denom = g.op('Sqrt', [g.op('Add', [mean, g.floats([eps], true)], {}, `${name}_eps`)], {}, `${name}_rms`);
  return g.op('Mul', [g.op('Div', [x, denom], {}, `${name}_div`), scale], {}, name);
}
