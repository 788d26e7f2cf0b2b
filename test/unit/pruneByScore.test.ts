// Wanda's and magnitude's selection: the k lowest scores of every output, ties to the lower input index, exactly as
// a stable sort of the inputs by score takes them (the quickselect that replaced that sort must choose the same).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pruneByScore } from '../../src/compress/sparsify/wanda';
import type { SparsityPattern } from '../../src/compress/sparsify/pattern';
import { seededRandom } from '../../src/util/random';

/** The selection by sorting each output's inputs (score, then index), as pruneByScore first did it. */
function bySort(w: Float32Array, K: number, N: number, p: SparsityPattern, norm?: Float64Array): Float32Array {
  const out = Float32Array.from(w);
  const score = (j: number, c: number) => Math.abs(w[j * N + c]) * (norm ? norm[j] : 1);
  const order = (js: number[], c: number) => js.sort((a, b) => score(a, c) - score(b, c) || a - b);
  for (let c = 0; c < N; c++) {
    const all = Array.from({ length: K }, (_, j) => j);
    if (p.kind === 'unstructured')
      order(all, c)
        .slice(0, Math.floor(p.sparsity * K))
        .forEach((j) => (out[j * N + c] = 0));
    else
      for (let g = 0; g + p.m <= K; g += p.m)
        order(all.slice(g, g + p.m), c)
          .slice(0, p.n)
          .forEach((j) => (out[j * N + c] = 0));
  }
  return out;
}

test('pruneByScore zeroes what a stable sort by score selects, with and without ties', () => {
  const rand = seededRandom(7);
  const patterns: SparsityPattern[] = [
    { kind: 'unstructured', sparsity: 0.5 },
    { kind: 'unstructured', sparsity: 0.37 },
    { kind: 'unstructured', sparsity: 0.01 },
    { kind: 'nm', n: 2, m: 4 },
    { kind: 'nm', n: 3, m: 8 },
  ];
  for (const [K, N] of [
    [64, 24],
    [100, 7],
    [515, 9],
  ])
    for (const ties of [false, true]) {
      // With ties: weights on a grid of quarters and input norms 1–3, so many scores are equal.
      const w = Float32Array.from({ length: K * N }, () => (ties ? Math.round((rand() - 0.5) * 8) / 4 : rand() - 0.5));
      const norm = Float64Array.from({ length: K }, () => (ties ? 1 + Math.round(rand() * 2) : rand() + 0.1));
      for (const p of patterns)
        for (const n of [undefined, norm])
          assert.deepEqual(
            pruneByScore(w, K, N, p, n),
            bySort(w, K, N, p, n),
            `${K}×${N} ${JSON.stringify(p)}${ties ? ' with ties' : ''}${n ? ' (Wanda)' : ' (magnitude)'}`,
          );
    }
});
