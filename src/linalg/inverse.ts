// Matrix inverse through ONNX Runtime: the O(n³) work runs in native code (blockInverse.ts).
import type { Linalg } from './graphs';

/** Mean of the diagonal, the scale of SparseGPT's dampening λ = percdamp · mean(diag H) (paper-spec §4). */
export function meanDiagonal(h: ArrayLike<number>, n: number): number {
  let s = 0;
  for (let j = 0; j < n; j++) s += h[j * n + j];
  return s / n;
}

/**
 * H + λI with λ = percdamp · mean(diag H). Channels that never fire (zero diagonal) get a unit diagonal, as in
 * SparseGPT, so the matrix stays invertible.
 */
export function damped(h: ArrayLike<number>, n: number, percdamp = 0.01): Float32Array {
  const a = Float32Array.from(h);
  const damp = percdamp * meanDiagonal(h, n) || 1e-8;
  for (let j = 0; j < n; j++) {
    if (a[j * n + j] === 0) a[j * n + j] = 1;
    a[j * n + j] += damp;
  }
  return a;
}

/** (H + λI)⁻¹, damped as `damped` says. */
export const dampedInverse = (la: Linalg, h: ArrayLike<number>, n: number, percdamp = 0.01): Promise<Float32Array> =>
  la.inverseSpd(damped(h, n, percdamp), n);
