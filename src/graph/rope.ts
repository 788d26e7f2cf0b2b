import type { GraphBuilder } from './graph';
import { DataType } from '../onnx/proto';

export interface RopeTables {
  cos: string;
  sin: string;
}

/**
 * cos/sin tables `[B, 1, S, d]` for the kept rotary pairs of a layer. Each kept pair keeps its original
 * frequency (paper-spec §1.7): `frequencies` is the original head's table (model/rope.ts), indexed by pair.
 */
export function ropeTables(
  g: GraphBuilder,
  positionIds: string,
  pairs: number[],
  frequencies: number[],
  name: string,
): RopeTables {
  const invFreq = pairs.map((p) => Math.fround(frequencies[p]));
  const pos = g.op(
    'Unsqueeze',
    [g.op('Cast', [positionIds], { to: DataType.FLOAT }, `${name}_posf`), g.ints([2])],
    {},
    `${name}_pos`,
  );
  const freqs = g.op('Mul', [pos, g.floats(invFreq)], {}, `${name}_freqs`);
  const emb = g.op('Concat', [freqs, freqs], { axis: -1 }, `${name}_emb`);
  return {
    cos: g.op('Unsqueeze', [g.op('Cos', [emb], {}, `${name}_cos4`), g.ints([1])], {}, `${name}_cos`),
    sin: g.op('Unsqueeze', [g.op('Sin', [emb], {}, `${name}_sin4`), g.ints([1])], {}, `${name}_sin`),
  };
}

/** Rotate-half RoPE on `[B, heads, S, d]`: x·cos + [−x₂, x₁]·sin, pairs (i, i + d/2). */
export function applyRope(g: GraphBuilder, x: string, t: RopeTables, headDim: number, name: string): string {
  const half = headDim / 2;
  const x1 = g.op('Slice', [x, g.ints([0]), g.ints([half]), g.ints([3])], {}, `${name}_x1`);
  const x2 = g.op('Slice', [x, g.ints([half]), g.ints([headDim]), g.ints([3])], {}, `${name}_x2`);
  const rotated = g.op('Concat', [g.op('Neg', [x2], {}, `${name}_neg`), x1], { axis: 3 }, `${name}_rot`);
  return g.op(
    'Add',
    [g.op('Mul', [x, t.cos], {}, `${name}_xcos`), g.op('Mul', [rotated, t.sin], {}, `${name}_rsin`)],
    {},
    name,
  );
}
