// The inverses of the linear algebra (linalg/graphs.ts) against the definition, on damped Gram matrices below and
// above INVERSE_LEAF: well sampled (more positions than channels), and of fewer positions than channels, as a
// calibration of 8 × 128 tokens gives a 2048-wide layer. On the latter at n = 1324 the Schur-complement inverse
// that the Cholesky path replaced gives |H·H⁻¹ − I| up to 250 (bench/reference/schurInverse.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { INVERSE_LEAF, linalgOn } from '../../src/linalg/graphs';
import { damped, dampedInverseDiagonal, meanDiagonal } from '../../src/linalg/inverse';
import { seededRandom } from '../../src/util/random';

const { inverseSpd, matmul, solveProduct } = linalgOn({ provider: 'cpu' });

/**
 * XᵀX / N for N random positions with correlated channels of nonzero means, like an activation Gram matrix (its
 * means make one direction dominate), plus `damp` times its mean diagonal (reformation's and SparseGPT's 1 %).
 */
async function dampedGram(n: number, positions: number, seed: number, damp: number): Promise<Float32Array> {
  const rand = seededRandom(seed);
  const mean = Float32Array.from({ length: n }, () => 2 * (rand() - 0.5));
  // Xᵀ [n, positions]
  const xt = Float32Array.from({ length: n * positions }, (_, i) => rand() - 0.5 + mean[Math.floor(i / positions)]);
  for (let j = 1; j < n; j++)
    for (let p = 0; p < positions; p++) xt[j * positions + p] += 0.5 * xt[(j - 1) * positions + p];
  const x = new Float32Array(positions * n);
  for (let j = 0; j < n; j++) for (let p = 0; p < positions; p++) x[p * n + j] = xt[j * positions + p] / positions;
  const h = await matmul(xt, x, n, positions, n);
  const lambda = damp * meanDiagonal(h, n);
  for (let i = 0; i < n; i++) h[i * n + i] += lambda;
  return h;
}

const worstFromIdentity = (p: Float32Array, n: number) => {
  let worst = 0;
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) worst = Math.max(worst, Math.abs(p[i * n + j] - (i === j ? 1 : 0)));
  return worst;
};

for (const n of [200, INVERSE_LEAF + 300])
  for (const [label, positions] of [
    ['well sampled', 2 * n],
    ['fewer positions than channels', Math.floor(n / 2)],
  ] as const)
    test(`inverseSpd (n = ${n}, ${label}): H · H⁻¹ = I within 1e-3; solveProduct fits W back exactly`, async () => {
      const h = await dampedGram(n, positions, n, 0.01);
      assert.ok(worstFromIdentity(await matmul(h, await inverseSpd(h, n), n, n, n), n) < 1e-3);
      // Keeping every row, reformation's solve gives W back: here (H + λI)⁻¹((H + λI)·W + 0) = W.
      const m = 16;
      const rand = seededRandom(7);
      const w = Float32Array.from({ length: n * m }, () => rand() - 0.5);
      const back = await solveProduct(h, h, w, new Float32Array(n * m), n, n, m);
      let worst = 0;
      for (let i = 0; i < w.length; i++) worst = Math.max(worst, Math.abs(back[i] - w[i]));
      assert.ok(worst < 1e-2, `max |Ŵ − W| = ${worst} (|W| ≤ 0.5)`);
    });

test(`OBS's diag((H + λI)⁻¹) above INVERSE_LEAF (the factor's column norms) equals the inverse's diagonal`, async () => {
  const n = INVERSE_LEAF + 300;
  const h = await dampedGram(n, Math.floor(n / 2), 5, 0);
  const diagonal = await dampedInverseDiagonal(linalgOn({ provider: 'cpu' }), h, n);
  const inverse = await inverseSpd(damped(h, n), n);
  for (let j = 0; j < n; j++) {
    const want = inverse[j * n + j];
    assert.ok(Math.abs(diagonal[j] - want) <= 1e-4 * Math.abs(want), `column ${j}: ${diagonal[j]} vs ${want}`);
  }
});
