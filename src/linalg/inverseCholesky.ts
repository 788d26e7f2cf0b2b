// SparseGPT's factor U with H⁻¹ = UᵀU (paper-spec §4), without forming H⁻¹: with P the reversal permutation and
// PHP = RᵀR (R upper), H⁻¹ = P R⁻¹ R⁻ᵀ P, so U = P R⁻ᵀ P. R⁻¹ comes from a recursive 2×2 blocking whose O(n³) work
// is MatMuls in ONNX Runtime (a JS Cholesky alone took 4.9 s at n = 2048); R itself is never needed whole, so only
// R⁻¹ is assembled: at n = 11008 (a 7B down_proj) every n × n float64 is 0.97 GB.
import type { Linalg } from './graphs';
import { transpose2d } from '../model/transpose';

/** The matrix given is not positive definite (a pivot ≤ 0): callers that can do without the factor catch this. */
export class NotPositiveDefinite extends Error {
  constructor(readonly pivot: number) {
    super(`internal error: matrix not positive definite at pivot ${pivot}`);
  }
}

/** Blocks up to this size are factored in JS (float64); 128 was faster than 64 and 256 at n = 288 and 768. */
const LEAF = 128;

/** R⁻¹ (upper) of a small SPD block M = RᵀR: right-looking Cholesky (contiguous inner loops), back substitution. */
function leafInverseFactor(m: Float32Array | Float64Array, n: number): Float64Array {
  const a = Float64Array.from(m);
  const r = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    const d = a[i * n + i];
    if (!(d > 0)) throw new NotPositiveDefinite(i);
    const dii = Math.sqrt(d);
    for (let j = i; j < n; j++) r[i * n + j] = a[i * n + j] / dii;
    for (let j = i + 1; j < n; j++) {
      const rij = r[i * n + j];
      for (let k = j; k < n; k++) a[j * n + k] -= rij * r[i * n + k];
    }
  }
  const rinv = new Float64Array(n * n);
  for (let i = n - 1; i >= 0; i--) {
    rinv[i * n + i] = 1 / r[i * n + i];
    for (let j = i + 1; j < n; j++) {
      let s = 0;
      for (let k = i + 1; k <= j; k++) s += r[i * n + k] * rinv[k * n + j];
      rinv[i * n + j] = -s / r[i * n + i];
    }
  }
  return rinv;
}

const block = (
  m: Float32Array | Float64Array,
  n: number,
  r0: number,
  r1: number,
  c0: number,
  c1: number,
): Float32Array => {
  const out = new Float32Array((r1 - r0) * (c1 - c0));
  for (let i = r0; i < r1; i++) for (let j = c0; j < c1; j++) out[(i - r0) * (c1 - c0) + j - c0] = m[i * n + j];
  return out;
};

/** A float32 copy of the `rows × cols` block of `out` (row stride `stride`) that starts at `at`. */
function region(out: Float64Array, stride: number, at: number, rows: number, cols: number): Float32Array {
  const r = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) r.set(out.subarray(at + i * stride, at + i * stride + cols), i * cols);
  return r;
}

/**
 * Writes R⁻¹ (upper; M = RᵀR) into `out` from offset `at`, rows `stride` apart, leaving the zeros below it as they
 * are: each level writes its blocks where the whole factor keeps them, with no n × n float64 of its own to copy from.
 * With M = [[A, B], [Bᵀ, C]]: R₁₂ = R_A⁻ᵀB, S = C − R₁₂ᵀR₁₂ = R_SᵀR_S, (R⁻¹)₁₂ = −R_A⁻¹ R₁₂ R_S⁻¹.
 */
async function inverseFactorInto(
  la: Linalg,
  m: Float32Array | Float64Array,
  n: number,
  out: Float64Array,
  stride: number,
  at: number,
): Promise<void> {
  if (n <= LEAF) {
    const r = leafInverseFactor(m, n);
    for (let i = 0; i < n; i++) out.set(r.subarray(i * n, (i + 1) * n), at + i * stride);
    return;
  }
  const p = Math.ceil(n / 2 / 64) * 64;
  const q = n - p;
  await inverseFactorInto(la, block(m, n, 0, p, 0, p), p, out, stride, at);
  const topF32 = region(out, stride, at, p, p);
  const r12 = await la.matmul(transpose2d(topF32, p, p), block(m, n, 0, p, p, n), p, p, q);
  const product = await la.matmul(transpose2d(r12, p, q), r12, q, p, q);
  const s = new Float64Array(q * q);
  for (let i = 0; i < q; i++) for (let j = 0; j < q; j++) s[i * q + j] = m[(p + i) * n + p + j] - product[i * q + j];
  const bottomAt = at + p * stride + p;
  await inverseFactorInto(la, s, q, out, stride, bottomAt);
  const inv12 = await la.matmul(await la.matmul(topF32, r12, p, p, q), region(out, stride, bottomAt, q, q), p, q, q);
  for (let i = 0; i < p; i++) for (let j = 0; j < q; j++) out[at + i * stride + p + j] = -inv12[i * q + j];
}

/** U, upper triangular, with H⁻¹ = UᵀU, for a symmetric positive definite `h [n, n]`. */
export async function inverseUpperFactor(la: Linalg, h: Float32Array, n: number): Promise<Float64Array> {
  // float32 like `h`: the same values as a float64 copy, in half the memory (0.5 GB for a 7B down_proj). PHP's
  // element (i, j) is h's (n−1−i, n−1−j), which is the whole row-major array reversed: natively, twice as fast.
  const reversed = h.slice().reverse();
  const u = new Float64Array(n * n);
  await inverseFactorInto(la, reversed, n, u, n, 0);
  // U[i][j] = (R⁻ᵀ)[n−1−i][n−1−j] = R⁻¹[n−1−j][n−1−i]: R⁻¹ mirrored about its anti-diagonal, in place.
  for (let i = 0; i < n; i++) {
    for (let j = i; j < n; j++) {
      const [a, b] = [i * n + j, (n - 1 - j) * n + (n - 1 - i)];
      if (a < b) [u[a], u[b]] = [u[b], u[a]];
    }
  }
  return u;
}
