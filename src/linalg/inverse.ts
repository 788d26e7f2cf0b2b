// Damped inverses through ONNX Runtime: the O(n³) work runs in native code (graphs.ts, inverseCholesky.ts).
import { INVERSE_LEAF, type Linalg } from './graphs';
import { inverseUpperFactor } from './inverseCholesky';

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

/**
 * diag((H + λI)⁻¹), damped as `damped` says. Above INVERSE_LEAF from the factor U with H⁻¹ = UᵀU, as its columns'
 * squared norms: O(n²) after the factor, where forming UᵀU would take another n³ (at n = 11008 here, 24 s with
 * UᵀU, 10–12 s without: `npm run bench -- linalg` before and after this change).
 */
export async function dampedInverseDiagonal(
  la: Linalg,
  h: ArrayLike<number>,
  n: number,
  percdamp = 0.01,
): Promise<Float64Array> {
  const a = damped(h, n, percdamp);
  if (n <= INVERSE_LEAF) {
    const inv = await la.inverseSpd(a, n);
    return Float64Array.from({ length: n }, (_, j) => inv[j * n + j]);
  }
  const u = await inverseUpperFactor(la, a, n);
  const diagonal = new Float64Array(n);
  for (let i = 0; i < n; i++) for (let j = i; j < n; j++) diagonal[j] += u[i * n + j] ** 2;
  return diagonal;
}
