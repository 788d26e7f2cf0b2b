// SparseGPT's pieces against their definitions: the mask selection's exact counts, the factor of H⁻¹ without an
// inverse, the whole kernel (sub-blocks, deferred and held-row updates) against its column-by-column loop, and the
// profile space's level switches keeping the total.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { kthSmallest, selectBlockMask } from '../../src/compress/sparsify/maskSelection';
import { inverseUpperFactor } from '../../src/linalg/inverseCholesky';
import { obsFactor, sparsegpt, type ObsFactor } from '../../src/compress/sparsify/sparsegpt';
import type { SparsityPattern } from '../../src/compress/sparsify/pattern';
import { gptqQuantizer } from '../../src/compress/quantize/nbits';
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

/**
 * SparseGPT as paper-spec §4 states it, one input at a time: each block's mask from its weights at the block's start
 * (N:M from the group's at the group's start), and every later input updated right after each input, in float64.
 */
function columnByColumn(
  w: Float32Array,
  K: number,
  N: number,
  f: ObsFactor,
  p: SparsityPattern | undefined,
  quant?: ReturnType<typeof gptqQuantizer>,
): Float32Array {
  const W = Array.from({ length: K }, (_, i) =>
    Float64Array.from(f.dead[i] ? new Float32Array(N) : w.subarray(i * N, (i + 1) * N)),
  );
  const d = (i: number) => f.u[i * K + i];
  for (let i1 = 0; i1 < K; i1 += 128) {
    const i2 = Math.min(i1 + 128, K);
    const scores = new Float64Array((i2 - i1) * N);
    for (let i = i1; i < i2; i++) for (let c = 0; c < N; c++) scores[(i - i1) * N + c] = W[i][c] ** 2 / d(i) ** 2;
    const pruned =
      p?.kind === 'unstructured'
        ? selectBlockMask(scores, i2 - i1, N, p.sparsity, 'block')
        : new Uint8Array(scores.length);
    for (let i = i1; i < i2; i++) {
      // N:M: whole groups only (a block's last inputs short of M stay).
      if (p?.kind === 'nm' && (i - i1) % p.m === 0 && i + p.m <= i2)
        for (let c = 0; c < N; c++) {
          const group = [...Array(p.m).keys()].sort(
            (a, b) => (W[i + a][c] / d(i + a)) ** 2 - (W[i + b][c] / d(i + b)) ** 2 || a - b,
          );
          for (let t = 0; t < p.n; t++) pruned[(i - i1 + group[t]) * N + c] = 1;
        }
      const group = quant?.groups;
      if (group && i % group.rows === 0)
        group.start(
          i,
          W.slice(i, i + group.rows).map((r) => Float32Array.from(r)),
        );
      const q = W[i].map((v, c) => (pruned[(i - i1) * N + c] ? 0 : quant ? quant.quantize(i, c, v) : v));
      const e = W[i].map((v, c) => (v - q[c]) / d(i));
      W[i] = q;
      for (let j = i + 1; j < K; j++) for (let c = 0; c < N; c++) W[j][c] -= e[c] * f.u[i * K + j];
    }
  }
  const out = new Float32Array(K * N);
  W.forEach((r, i) => out.set(r, i * N));
  return out;
}

test('sparsegpt equals its column-by-column loop: unstructured, 2:4 and GPTQ with 256-input groups, a dead input', async () => {
  // 513 inputs: five blocks, so that the later rows are held (linalg residentRows) and come over block by block, the
  // last a single row, and a 256-input quantization group reaches past the block being processed.
  const [K, N, P] = [513, 24, 800];
  const rand = seededRandom(11);
  const x = Float32Array.from({ length: P * K }, (_, i) => (i % K === 7 ? 0 : rand() - 0.2));
  const gram = Float64Array.from(await la.matmulTransposedA(x, x, P, K, K));
  const w = Float32Array.from({ length: K * N }, () => rand() - 0.5);
  const f = await obsFactor(la, gram, P, K);
  assert.equal(f.dead[7], 1);
  const nbits = { bits: 4 as const, blockSize: 256, symmetric: false };
  const cases: [string, SparsityPattern | undefined, boolean][] = [
    ['unstructured 50 %', { kind: 'unstructured', sparsity: 0.5 }, false],
    ['2:4', { kind: 'nm', n: 2, m: 4 }, false],
    ['GPTQ int4, groups of 256', undefined, true],
  ];
  for (const [name, p, quantized] of cases) {
    const ours = await sparsegpt(la, w, K, N, f, p, quantized ? { quant: gptqQuantizer(K, N, nbits) } : {});
    const loop = columnByColumn(w, K, N, f, p, quantized ? gptqQuantizer(K, N, nbits) : undefined);
    const worst = ours.reduce((m, v, i) => Math.max(m, Math.abs(v - loop[i])), 0);
    assert.ok(worst < 1e-4, `${name}: max |Δ| = ${worst}`);
    assert.deepEqual(
      ours.map((v) => (v === 0 ? 1 : 0)),
      loop.map((v) => (v === 0 ? 1 : 0)),
      `${name}: the same weights pruned`,
    );
    for (let c = 0; c < N; c++) assert.equal(ours[7 * N + c], 0, "the dead input's weights are zero");
  }
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
