// Reformation of one layer on synthetic inputs (the math only; the fixture models are in the integration tests).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_REFORM, reformLayer, type ReformInputs } from '../../src/compress/reform/reformLayer';
import { seededRandom } from '../../src/util/random';
import { linalgOn, type Linalg } from '../../src/linalg/graphs';
import { NotPositiveDefinite } from '../../src/linalg/inverseCholesky';

const la = linalgOn({ provider: 'cpu' });

const N = 400; // samples
const n = 12; // inputs
const m = 5; // outputs

function problem(seed: number) {
  const rand = seededRandom(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(rand() + 1e-12)) * Math.cos(2 * Math.PI * rand());
  // Correlated inputs with a non-zero mean, as activations after SiLU or attention are.
  const mix = Float64Array.from({ length: n * n }, () => gauss() * 0.4);
  const x = new Float64Array(N * n);
  for (let s = 0; s < N; s++) {
    const z = Array.from({ length: n }, gauss);
    for (let j = 0; j < n; j++) x[s * n + j] = 0.5 + j * 0.1 + z[j] + z.reduce((a, v, k) => a + v * mix[k * n + j], 0);
  }
  const w = Float32Array.from({ length: n * m }, gauss);
  const stats: ReformInputs = { gram: new Float64Array(n * n), sum: new Float64Array(n), count: N };
  for (let s = 0; s < N; s++) {
    for (let i = 0; i < n; i++) {
      stats.sum[i] += x[s * n + i];
      for (let j = 0; j < n; j++) stats.gram[i * n + j] += x[s * n + i] * x[s * n + j];
    }
  }
  /** Σ ‖x·W' + b − x·W‖² over the samples. */
  const error = (w2: Float32Array, b?: Float32Array) => {
    let e = 0;
    for (let s = 0; s < N; s++) {
      for (let c = 0; c < m; c++) {
        let d = b ? b[c] : 0;
        for (let j = 0; j < n; j++) d += x[s * n + j] * (w2[j * m + c] - w[j * m + c]);
        e += d * d;
      }
    }
    return e;
  };
  return { w, stats, error };
}

test('reformation with a bias: keeping every row returns W and a zero bias', async () => {
  const { w, stats } = problem(1);
  const r = await reformLayer(
    la,
    w,
    stats,
    n,
    m,
    Array.from({ length: n }, (_, i) => i),
    DEFAULT_REFORM,
    true,
  );
  assert.ok(r.weight.every((v, i) => Math.abs(v - w[i]) < 1e-4));
  assert.ok(
    r.bias!.every((v) => Math.abs(v) < 1e-3),
    `bias ${r.bias}`,
  );
});

test('reformation with a bias fits better than without, and better than FLAP compensation (kept rows as they are + mean bias)', async () => {
  const { w, stats, error } = problem(2);
  const keep = [0, 2, 3, 5, 8, 9, 11];
  const plain = await reformLayer(la, w, stats, n, m, keep, DEFAULT_REFORM);
  const withBias = await reformLayer(la, w, stats, n, m, keep, DEFAULT_REFORM, true);
  const dropped = Float32Array.from(w, (v, i) => (keep.includes(Math.floor(i / m)) ? v : 0));
  const flap = new Float32Array(m);
  for (let j = 0; j < n; j++)
    if (!keep.includes(j)) for (let c = 0; c < m; c++) flap[c] += (stats.sum[j] / N) * w[j * m + c];
  const [ePlain, eBias, eFlap, eDrop] = [
    error(plain.weight),
    error(withBias.weight, withBias.bias),
    error(dropped, flap),
    error(dropped),
  ];
  assert.equal(plain.bias, undefined);
  assert.ok(
    eBias < ePlain && eBias < eFlap && eFlap < eDrop,
    `with bias ${eBias}, without ${ePlain}, FLAP ${eFlap}, dropped ${eDrop}`,
  );
  // The reported errors are the same quantities, relative to the layer's output energy.
  assert.ok(
    Math.abs(withBias.errorAfter / withBias.errorBefore - eBias / eFlap) < 0.02 * (eBias / eFlap),
    `${withBias.errorAfter / withBias.errorBefore} vs ${eBias / eFlap}`,
  );
});

test('a refit that breaks down is not kept: the rows are dropped with FLAP’s bias, and the result says so', async () => {
  const { w, stats, error } = problem(3);
  const keep = [0, 2, 3, 5, 8, 9, 11];
  const flap = new Float32Array(m);
  for (let j = 0; j < n; j++)
    if (!keep.includes(j)) for (let c = 0; c < m; c++) flap[c] += (stats.sum[j] / N) * w[j * m + c];
  const dropped = Float32Array.from(w, (v, i) => (keep.includes(Math.floor(i / m)) ? v : 0));
  // The real linear algebra with its solve made to break down: far off, or failing on a matrix it cannot factor.
  const broken = [
    {
      ...la,
      solveProduct: async (...a: Parameters<Linalg['solveProduct']>) =>
        (await la.solveProduct(...a)).map((v) => v * 1e6),
    },
    {
      ...la,
      solveProduct: async () => {
        throw new NotPositiveDefinite(3);
      },
    },
  ];
  for (const [i, b] of broken.entries()) {
    const r = await reformLayer(b, w, stats, n, m, keep, DEFAULT_REFORM, true);
    assert.equal(r.discarded, true);
    assert.deepEqual(r.weight, dropped, 'the kept rows as they are');
    assert.ok(
      r.bias!.every((v, c) => Math.abs(v - flap[c]) < 1e-4),
      `FLAP's bias: ${r.bias} vs ${flap}`,
    );
    assert.equal(r.errorAfter, r.errorBefore);
    assert.ok(i === 0 ? r.refitError! > 1e6 * r.errorBefore : Number.isNaN(r.refitError), `refit ${r.refitError}`);
    assert.ok(Math.abs(error(r.weight, r.bias) - error(dropped, flap)) < 1e-6 * error(dropped, flap));
  }
});
