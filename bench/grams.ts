// Symmetric positive definite matrices for the inverse measurements of bench linalg and of the GPU run
// (bench/scaleWorker.ts): one easy, and one shaped like the damped Gram matrices that calibration gives.
import type { Linalg } from '../src/linalg/graphs';
import { meanDiagonal } from '../src/linalg/inverse';
import { transpose2d } from '../src/model/transpose';
import { seededRandom } from '../src/util/random';

/** A symmetric positive definite matrix with a dominant diagonal (what a damped Gram matrix looks like to a solver). */
export function spd(n: number): Float32Array {
  const a = new Float32Array(n * n);
  for (let i = 0; i < n; i++)
    for (let j = i; j < n; j++) a[i * n + j] = a[j * n + i] = i === j ? 2 + (i % 7) : 0.001 * Math.sin(i * 31 + j);
  return a;
}

/**
 * A Gram matrix as a calibration gives it: n/2 positions (fewer than channels, as 8 × 128 tokens for a 2048-wide
 * layer), correlated channels with nonzero means, damped by 1 % of its mean diagonal.
 */
export async function calibrationGram(la: Linalg, n: number): Promise<Float32Array> {
  const positions = n / 2;
  const rand = seededRandom(n);
  const mean = Float32Array.from({ length: n }, () => 2 * (rand() - 0.5));
  const xt = Float32Array.from({ length: n * positions }, (_, i) => rand() - 0.5 + mean[Math.floor(i / positions)]);
  for (let j = 1; j < n; j++)
    for (let p = 0; p < positions; p++) xt[j * positions + p] += 0.5 * xt[(j - 1) * positions + p];
  const h = await la.matmul(xt, transpose2d(xt, n, positions), n, positions, n);
  const lambda = 0.01 * meanDiagonal(h, n);
  for (let i = 0; i < n; i++) h[i * n + i] += lambda;
  return h;
}

/** max |A·X − I|, the product on `la`'s provider. */
export async function inverseError(la: Linalg, a: Float32Array, x: Float32Array, n: number): Promise<number> {
  const p = await la.matmul(a, x, n, n, n);
  let worst = 0;
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) worst = Math.max(worst, Math.abs(p[i * n + j] - (i === j ? 1 : 0)));
  return worst;
}
