// Reformation of one column-pruned linear layer (paper-spec §1.6): refit the kept input channels K of W so that
// the layer's output on calibration inputs matches the original, using what the omitted channels contributed.
// Our layout is W [in, out]; H = XᵀX [in, in] over calibration positions, X including the omitted channels.
import type { Linalg } from '../../linalg/graphs';
import { meanDiagonal } from '../../linalg/inverse';
import { NotPositiveDefinite } from '../../linalg/inverseCholesky';
import { mapTo } from '../../util/mapTo';

export type ReformMethod = 'closed-form' | 'admm';

export interface ReformOptions {
  method: ReformMethod;
  /** Ridge λ = damp · mean(diag H), pulling Ŵ_K toward W_K (closed form); paper-spec §1.6 damping. */
  damp: number;
  /** ADMM ρ and iterations (paper: 1.0 and 30), on H normalised to a unit diagonal as in Boža's code. */
  rho: number;
  iterations: number;
}

export const DEFAULT_REFORM: ReformOptions = { method: 'closed-form', damp: 0.01, rho: 1, iterations: 30 };

export interface ReformResult {
  weight: Float32Array; // [in, out], omitted rows zero
  /** The fitted bias [out], to add to the layer's own (with `withBias`). */
  bias?: Float32Array;
  /**
   * Relative output error ‖(Ŵ − W)X‖² / ‖WX‖² with the omitted rows simply dropped, and after reformation; with
   * a bias, X centred in the numerator (the dropped rows' error then being that of FLAP's compensation).
   */
  errorBefore: number;
  errorAfter: number;
  /** The refit came out worse than dropping the rows (a solve that broke down), so the rows are simply dropped. */
  discarded?: boolean;
  /** With `discarded`: the refit's own error (NaN where its solve failed outright). */
  refitError?: number;
}

function pick(h: Float64Array | Float32Array, n: number, rows: number[], cols: number[]): Float32Array {
  const out = new Float32Array(rows.length * cols.length);
  rows.forEach((r, i) => cols.forEach((c, j) => (out[i * cols.length + j] = h[r * n + c])));
  return out;
}

/**
 * Closed form: Ŵ_K = (H_KK + λI)⁻¹ (H_K: W + λ W_K), the least-squares fit of the kept rows to the full layer's
 * output, ridge-regularised toward the original kept rows (so keeping everything returns W exactly).
 */
async function closedForm(
  la: Linalg,
  w: Float32Array,
  gram: Float32Array,
  n: number,
  m: number,
  keep: number[],
  damp: number,
): Promise<Float32Array> {
  const k = keep.length;
  const lambda = damp * meanDiagonal(gram, n);
  const hkk = pick(gram, n, keep, keep);
  for (let i = 0; i < k; i++) hkk[i * k + i] += lambda;
  // H_K: W + λ W_K, W itself passed as it is: no [W ; W_K] stacked copy (0.5 GB for a 7B down_proj with it).
  const rows = new Float32Array(k * n);
  keep.forEach((r, i) => rows.set(gram.subarray(r * n, (r + 1) * n), i * n));
  const ridge = new Float32Array(k * m);
  keep.forEach((r, i) => {
    for (let c = 0; c < m; c++) ridge[i * m + c] = lambda * w[r * m + c];
  });
  const wk = await la.solveProduct(hkk, rows, w, ridge, k, n, m);
  const out = new Float32Array(n * m);
  keep.forEach((r, i) => out.set(wk.subarray(i * m, (i + 1) * m), r * m));
  return out;
}

/**
 * The paper's ADMM (Eq. 7–9) with the keep-mask in the projection (the printed Eq. 8 uses the pruned-mask,
 * paper-spec §1.6). In the unit-diagonal normalisation: Ŵ ← (H + ρI)⁻¹(HW + ρ(Z − U)), Z ← (Ŵ + U) ⊙ keep,
 * U ← U + Ŵ − Z; the result is Z.
 */
async function admm(
  la: Linalg,
  w: Float32Array,
  gram: Float32Array,
  n: number,
  m: number,
  keep: number[],
  o: ReformOptions,
): Promise<Float32Array> {
  const norm = Float32Array.from({ length: n }, (_, j) => Math.sqrt(gram[j * n + j]) + 1e-8);
  const h = mapTo(Float32Array, gram, (v, idx) => v / norm[Math.floor(idx / n)] / norm[idx % n]);
  const wn = mapTo(Float32Array, w, (v, idx) => v * norm[Math.floor(idx / m)]);
  const hr = Float32Array.from(h);
  for (let j = 0; j < n; j++) hr[j * n + j] += o.rho;
  const inv = await la.inverseSpd(hr, n);
  const hw = await la.matmul(h, wn, n, n, m);
  const kept = new Uint8Array(n);
  for (const r of keep) kept[r] = 1;
  let z = Float32Array.from(wn);
  let u = new Float32Array(n * m);
  for (let it = 0; it < o.iterations; it++) {
    const rhs = mapTo(Float32Array, hw, (v, idx) => v + o.rho * (z[idx] - u[idx]));
    const what = await la.matmul(inv, rhs, n, n, m);
    const zNext = mapTo(Float32Array, what, (v, idx) => (kept[Math.floor(idx / m)] ? v + u[idx] : 0));
    u = mapTo(Float32Array, u, (v, idx) => v + what[idx] - zNext[idx]);
    z = zNext;
  }
  return mapTo(Float32Array, z, (v, idx) => v / norm[Math.floor(idx / m)]);
}

/** How much worse than dropping the rows (relative, plus an absolute floor) rounding alone may leave a refit. */
const WORSE_BY = { relative: 1e-3, absolute: 1e-7 };

/** The statistics reformation needs of a layer's inputs: H = XᵀX, and for a fitted bias also ΣX and the count. */
export interface ReformInputs {
  gram: Float64Array;
  sum: Float64Array;
  count: number;
}

/**
 * Refits the kept rows of `w`. With `withBias` the layer also gets a bias: least squares with an intercept, i.e.
 * the fit on centred inputs (H − N·x̄x̄ᵀ) and b = x̄ᵀ(W − Ŵ), which generalises FLAP's compensation (Ŵ_K = W_K,
 * b = x̄ᵀ W_removed) the way plain reformation generalises dropping the rows (paper-spec §1.6, §3).
 */
export async function reformLayer(
  la: Linalg,
  w: Float32Array,
  x: ReformInputs,
  n: number,
  m: number,
  keep: number[],
  o: ReformOptions,
  withBias = false,
): Promise<ReformResult> {
  const xbar = mapTo(Float64Array, x.sum, (v) => v / x.count);
  const uncentred = Float32Array.from(x.gram);
  const h = withBias
    ? mapTo(Float32Array, x.gram, (v, idx) => v - x.count * xbar[Math.floor(idx / n)] * xbar[idx % n])
    : uncentred;
  // A centred Gram (with a bias) can be indefinite where the inputs barely vary: its factor then fails outright.
  const weight = await (
    o.method === 'admm' ? admm(la, w, h, n, m, keep, o) : closedForm(la, w, h, n, m, keep, o.damp)
  ).catch((e: unknown) => {
    if (e instanceof NotPositiveDefinite) return undefined;
    throw e;
  });
  // With an intercept the residual's mean is absorbed by the bias, so errors are measured on centred inputs.
  const energy = await la.quadraticForm(uncentred, w, n, m);
  // Dropping the rows R changes the output by X_R·W_R alone, so its error needs only H's block of R: at 80 % kept a
  // twenty-fifth of the product the full form takes.
  const kept = new Uint8Array(n);
  for (const r of keep) kept[r] = 1;
  const removed = [...kept.keys()].filter((r) => !kept[r]);
  const removedRows = new Float32Array(removed.length * m);
  removed.forEach((r, i) => removedRows.set(w.subarray(r * m, (r + 1) * m), i * m));
  const errorBefore = removed.length
    ? (await la.quadraticForm(pick(h, n, removed, removed), removedRows, removed.length, m)) / energy
    : 0;
  const errorAfter = weight
    ? (await la.quadraticForm(
        h,
        mapTo(Float32Array, weight, (u, idx) => u - w[idx]),
        n,
        m,
      )) / energy
    : NaN;
  // Exactly solved, the closed form is never worse than dropping the rows, where its objective starts (paper-spec
  // §1.6); ADMM's 30 iterations need not reach it. A refit that comes out worse (a solve that broke down, or ADMM
  // short of the fit) is not kept: the rows are dropped (with a bias, FLAP's), and the report says so.
  if (!weight || !(errorAfter <= errorBefore * (1 + WORSE_BY.relative) + WORSE_BY.absolute)) {
    const dropped = mapTo(Float32Array, w, (v, idx) => (kept[Math.floor(idx / m)] ? v : 0));
    const bias = withBias ? biasFor(w, dropped, xbar, n, m) : undefined;
    return { weight: dropped, bias, errorBefore, errorAfter: errorBefore, discarded: true, refitError: errorAfter };
  }
  return { weight, bias: withBias ? biasFor(w, weight, xbar, n, m) : undefined, errorBefore, errorAfter };
}

/** b = x̄ᵀ(W − Ŵ): what the refitted rows leave of the layer's mean output. */
function biasFor(w: Float32Array, fitted: Float32Array, xbar: Float64Array, n: number, m: number): Float32Array {
  const b = new Float64Array(m);
  for (let j = 0; j < n; j++) {
    if (xbar[j] === 0) continue;
    for (let c = 0; c < m; c++) b[c] += xbar[j] * (w[j * m + c] - fitted[j * m + c]);
  }
  return Float32Array.from(b);
}
