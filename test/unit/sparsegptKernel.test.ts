// SparseGPT's pieces against their definitions: the mask selection's exact counts, the factor of H⁻¹ without an
// inverse, and the profile space's level switches keeping the total.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { kthSmallest, selectBlockMask } from '../../src/compress/sparsify/maskSelection';
import { inverseUpperFactor } from '../../src/linalg/inverseCholesky';
import { linalgOn } from '../../src/linalg/graphs';
import { mutateProfile, profileSpace, sparsityLevels } from '../../src/compress/profile/space';
import { Rng, seededRandom } from '../../src/util/random';

const la = linalgOn({ provider: 'cpu' });

test('kthSmallest equals sorting, ties included', () => {
  const rand = seededRandom(3);
  const a = Float64Array.from({ length: 1001 }, () => Math.floor(rand() * 50));
  const sorted = [...a].sort((x, y) => x - y);
  for (const k of [0, 1, 500, 999, 1000]) assert.equal(kthSmallest(Float64Array.from(a), k), sorted[k]);
});

test('selectBlockMask: exactly ⌊s · block⌋ (block) or ⌊s · rows⌋ per output (output), the lowest scores, ties by index', () => {
  const rand = seededRandom(4);
  const rows = 40;
  const out = 7;
  const scores = Float64Array.from({ length: rows * out }, () => Math.floor(rand() * 10)); // many ties
  const block = selectBlockMask(scores, rows, out, 0.3, 'block');
  assert.equal(
    block.reduce((a, v) => a + v, 0),
    Math.floor(0.3 * rows * out),
  );
  const maxPruned = Math.max(...[...block.keys()].filter((i) => block[i]).map((i) => scores[i]));
  const minKept = Math.min(...[...block.keys()].filter((i) => !block[i]).map((i) => scores[i]));
  assert.ok(maxPruned <= minKept);
  // Ties at the threshold go by index: the first tied entries are the pruned ones.
  const tied = [...block.keys()].filter((i) => scores[i] === maxPruned);
  const prunedTied = tied.filter((i) => block[i]);
  assert.deepEqual(prunedTied, tied.slice(0, prunedTied.length));
  const perOutput = selectBlockMask(scores, rows, out, 0.3, 'output');
  for (let c = 0; c < out; c++) {
    let n = 0;
    for (let r = 0; r < rows; r++) n += perOutput[r * out + c];
    assert.equal(n, Math.floor(0.3 * rows));
  }
});

test('inverseUpperFactor (blocked above its leaf): UᵀU · H = I within 1e-3, U upper triangular', async () => {
  const n = 600;
  const rand = seededRandom(5);
  const x = Float32Array.from({ length: 2 * n * n }, () => rand() - 0.5);
  const xt = new Float32Array(n * 2 * n);
  for (let p = 0; p < 2 * n; p++) for (let j = 0; j < n; j++) xt[j * 2 * n + p] = x[p * n + j] / (2 * n);
  const h = await la.matmul(xt, x, n, 2 * n, n);
  for (let i = 0; i < n; i++) h[i * n + i] += 0.01;
  const u = await inverseUpperFactor(la, h, n);
  for (let i = 1; i < n; i++) for (let j = 0; j < i; j++) assert.equal(u[i * n + j], 0);
  const ut = new Float32Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) ut[j * n + i] = u[i * n + j];
  const product = await la.matmul(await la.matmul(ut, Float32Array.from(u), n, n, n), h, n, n, n);
  let worst = 0;
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) worst = Math.max(worst, Math.abs(product[i * n + j] - (i === j ? 1 : 0)));
  assert.ok(worst < 1e-3, `max |UᵀU·H − I| = ${worst}`);
});

test('profile space: sparsity levels contain the target; level switches keep the parameter-weighted total exactly', () => {
  const levels = sparsityLevels(0.6, 0.05, 6, 0.95);
  assert.deepEqual(levels, [0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9]);
  assert.ok(sparsityLevels(0.1234567, 0.05, 6, 0.95).includes(0.1234567), 'a target off the grid is a level');
  assert.ok(sparsityLevels(0.97, 0.05, 6, 0.95).includes(0.97), 'so is a target above the highest level');
  const units = [100, 100, 300, 300, 300, 50].map((params, i) => ({ layer: i, index: 0, params }));
  // Mixed precision: a switch stays between linears whose int8 costs the same extra bytes, not the same parameters.
  const byBytes = profileSpace(units, [4, 8], (i) => [7, 7, 9, 9, 8, 8][i]);
  assert.deepEqual(byBytes.groups, [
    [0, 1],
    [2, 3],
    [4, 5],
  ]);
  const sp = profileSpace(units, levels);
  assert.deepEqual(
    sp.groups,
    [
      [0, 1],
      [2, 3, 4],
    ],
    'the lone 50-parameter unit can never switch',
  );
  const total = (p: number[]) => units.reduce((a, u, i) => a + u.params * levels[p[i]], 0);
  const rng = new Rng(1);
  let p = units.map(() => levels.indexOf(0.6));
  for (let i = 0; i < 200; i++) {
    p = mutateProfile(rng, sp, p);
    assert.ok(Math.abs(total(p) - 0.6 * 1150) < 1e-9);
    assert.ok(p.every((l) => l >= 0 && l < levels.length));
  }
  assert.ok(
    p.some((l) => l !== levels.indexOf(0.6)),
    'the levels moved',
  );
});
