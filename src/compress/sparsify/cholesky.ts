/**
 * Upper Cholesky factor U of a symmetric positive-definite `[n, n]` matrix (A = UᵀU), in float64. SparseGPT needs
 * it of H⁻¹ once per layer; O(n³/3) in JS is fine for the widths this version targets (see README).
 */
export function choleskyUpper(a: ArrayLike<number>, n: number): Float64Array {
  const u = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    let d = a[i * n + i];
    for (let k = 0; k < i; k++) d -= u[k * n + i] * u[k * n + i];
    if (!(d > 0)) throw new Error(`matrix not positive definite at ${i}`);
    const dii = Math.sqrt(d);
    u[i * n + i] = dii;
    for (let j = i + 1; j < n; j++) {
      let s = a[i * n + j];
      for (let k = 0; k < i; k++) s -= u[k * n + i] * u[k * n + j];
      u[i * n + j] = s / dii;
    }
  }
  return u;
}
