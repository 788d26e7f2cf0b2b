// The inverse the linear algebra used before its Cholesky path (src/linalg/graphs.ts INVERSE_LEAF), kept for
// `npm run bench -- linalg` to show why it was replaced: A⁻¹ of a symmetric positive definite matrix as MatMuls, by
// recursive 2×2 blocking with the Schur complement. Fast, but X = A⁻¹B grows with the condition of A, and
// S = D − BᵀX then cancels: on a damped Gram matrix of fewer positions than channels its error reaches whole units.
import type { GraphBuilder } from '../../src/graph/graph';

/** Blocks up to this size are inverted by Inverse directly (and so is every matrix up to it). */
const LEAF_SIZE = 1024;

/**
 * Emits `[n, n]` → its inverse into `g`. With M = [[A, B], [Bᵀ, D]]: X = A⁻¹B, S = D − BᵀX, Y = XS⁻¹ and
 * M⁻¹ = [[A⁻¹ + YXᵀ, −Y], [−Yᵀ, S⁻¹]].
 */
export function emitInverse(g: GraphBuilder, m: string, n: number, name = 'inv'): string {
  if (n <= LEAF_SIZE) return g.op('Inverse', [m], {}, name, 'com.microsoft');
  const p = Math.ceil(n / 2 / 64) * 64;
  const slice = (r0: number, r1: number, c0: number, c1: number, part: string) =>
    g.op('Slice', [m, g.ints([r0, c0]), g.ints([r1, c1]), g.ints([0, 1])], {}, `${name}_${part}`);
  const a = slice(0, p, 0, p, 'a');
  const b = slice(0, p, p, n, 'b');
  const d = slice(p, n, p, n, 'd');
  const ai = emitInverse(g, a, p, `${name}a`);
  const x = g.op('MatMul', [ai, b], {}, `${name}_x`);
  const t = (v: string, part: string) => g.op('Transpose', [v], { perm: [1, 0] }, `${name}_${part}T`);
  const s = g.op('Sub', [d, g.op('MatMul', [t(b, 'b'), x], {}, `${name}_btx`)], {}, `${name}_schur`);
  const si = emitInverse(g, s, n - p, `${name}s`);
  const y = g.op('MatMul', [x, si], {}, `${name}_y`);
  const topLeft = g.op('Add', [ai, g.op('MatMul', [y, t(x, 'x')], {}, `${name}_yxt`)], {}, `${name}_tl`);
  const negY = g.op('Neg', [y], {}, `${name}_negy`);
  const top = g.op('Concat', [topLeft, negY], { axis: 1 }, `${name}_top`);
  const bottom = g.op('Concat', [t(negY, 'negy'), si], { axis: 1 }, `${name}_bottom`);
  return g.op('Concat', [top, bottom], { axis: 0 }, `${name}_out`);
}
