// The MatMul-blocked inverse (linalg/blockInverse.ts) against the definition, on damped Gram matrices above and
// below the leaf size.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { linalgOn } from '../../src/linalg/graphs';
import { LEAF_SIZE } from '../../src/linalg/blockInverse';
import { seededRandom } from '../../src/util/random';

const { inverseSpd, matmul } = linalgOn({ provider: 'cpu' });

/** XᵀX / N + 0.01·I for N random positions with correlated channels, like an activation Gram matrix. */
async function dampedGram(n: number, positions: number, seed: number): Promise<Float32Array> {
  const rand = seededRandom(seed);
  const xt = Float32Array.from({ length: n * positions }, () => rand() - 0.5); // Xᵀ [n, positions]
  for (let j = 1; j < n; j++)
    for (let p = 0; p < positions; p++) xt[j * positions + p] += 0.5 * xt[(j - 1) * positions + p];
  const x = new Float32Array(positions * n);
  for (let j = 0; j < n; j++) for (let p = 0; p < positions; p++) x[p * n + j] = xt[j * positions + p] / positions;
  const h = await matmul(xt, x, n, positions, n);
  for (let i = 0; i < n; i++) h[i * n + i] += 0.01;
  return h;
}

for (const n of [200, LEAF_SIZE + 300]) {
  test(`inverseSpd (n = ${n}): H · H⁻¹ = I within 1e-3`, async () => {
    const h = await dampedGram(n, 2 * n, n);
    const product = await matmul(h, await inverseSpd(h, n), n, n, n);
    let worst = 0;
    for (let i = 0; i < n; i++)
      for (let j = 0; j < n; j++) worst = Math.max(worst, Math.abs(product[i * n + j] - (i === j ? 1 : 0)));
    assert.ok(worst < 1e-3, `max |H·H⁻¹ − I| = ${worst}`);
  });
}
