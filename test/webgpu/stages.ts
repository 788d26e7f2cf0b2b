// Child process of webgpu.test.ts: the heavy stages and the search's fitness on one provider (argv[2]), on
// stories260K and a few windows, printing what the test compares as JSON. A child, so that the test can read ONNX
// Runtime's node placement from its stderr (SUBNET_SEARCH_ORT_LOG=verbose) and give it the software adapter.
import { loadDecoder } from '../../src/model/recognise';
import { denseCalibration } from '../../src/compress/calibration';
import { reformDecoder } from '../../src/compress/reform/reformation';
import { DEFAULT_REFORM } from '../../src/compress/reform/reformLayer';
import { sparsifyDecoder } from '../../src/compress/sparsify/sparsifyDecoder';
import { obsFactor, sparsegpt } from '../../src/compress/sparsify/sparsegpt';
import { fullMask } from '../../src/compress/subnet';
import { INVERSE_LEAF, linalgOn } from '../../src/linalg/graphs';
import { transpose2d } from '../../src/model/transpose';
import { seededRandom } from '../../src/util/random';
import { mapTo } from '../../src/util/mapTo';
import { MaskedEvaluator } from '../../src/compress/maskedEvaluator';
import type { ProviderChoice } from '../../src/runtime/session';
import { decoderSession } from '../../src/runtime/decoderSession';
import { perplexity, windowsNll } from '../../src/runtime/perplexity';
import { stories260K, texts, tokenWindows } from '../fixtures';

async function main(): Promise<void> {
  const o = { provider: process.argv[2] as ProviderChoice };
  const d = loadDecoder(stories260K.onnx);
  const windows = tokenWindows(stories260K.onnx, d.config.vocab, texts.tinyStoriesValid, 128, 4);
  // OBS and FLAP scores: the statistics graph, and OBS's inverses of the damped Gram matrices.
  const calibration = await denseCalibration(d, windows, ['obs', 'flap'], 'head', o);
  const scores = Object.fromEntries(
    [...calibration.scores].map(([m, layers]) => [m, layers.map((l) => [...l.attn, ...l.mlp])]),
  );
  // Reformation of a fixed mask (every second MLP channel of each layer dropped): the solves on the provider.
  const mask = fullMask(d).map((l) => ({ ...l, mlp: l.mlp.map((_, c) => c % 2 === 0) }));
  const reformed = await reformDecoder(d, mask, windows, DEFAULT_REFORM, o);
  // The search's fitness: the masked evaluation graph and its loss, on the provider.
  const { sums } = await MaskedEvaluator.measure(d, o, calibration.means, [{ mask }], windows);
  // SparseGPT at 50 %: its factor of H⁻¹ and block updates.
  const sparse = await sparsifyDecoder(
    d,
    windows,
    { sparsity: { method: 'sparsegpt', pattern: { kind: 'unstructured', sparsity: 0.5 } } },
    o,
  );
  // An inverse above INVERSE_LEAF, through the Cholesky factor: its products on the provider, 128-wide leaves in JS.
  const n = INVERSE_LEAF + 76;
  const rand = seededRandom(n);
  const xt = Float32Array.from({ length: n * 2 * n }, () => rand() - 0.5); // Xᵀ [n, 2n], XᵀX / 2n + 0.01·I
  const cpu = linalgOn({ provider: 'cpu' });
  const h = await cpu.matmul(
    xt,
    mapTo(Float32Array, transpose2d(xt, n, 2 * n), (v) => v / (2 * n)),
    n,
    2 * n,
    n,
  );
  for (let i = 0; i < n; i++) h[i * n + i] += 0.01;
  const product = await cpu.matmul(h, await linalgOn(o).inverseSpd(h, n), n, n, n);
  const largeInverseError = product.reduce((m, v, i) => Math.max(m, Math.abs(v - (i % (n + 1) === 0 ? 1 : 0))), 0);
  // SparseGPT on a 600-input layer (five blocks): the rows after the current block held on the provider between
  // blocks (linalg residentRows), with the CPU's factor, so that only the updates differ.
  const [K, N] = [600, 24];
  const x = Float32Array.from({ length: 2 * K * K }, () => rand() - 0.2);
  const factor = await obsFactor(cpu, Float64Array.from(await cpu.matmulTransposedA(x, x, 2 * K, K, K)), 2 * K, K);
  const w = Float32Array.from({ length: K * N }, () => rand() - 0.5);
  const heldRows = await sparsegpt(linalgOn(o), w, K, N, factor, { kind: 'unstructured', sparsity: 0.5 });
  // Compared by perplexity: a mask choice flipped by rounding moves single weights, not the model's quality.
  const s = await decoderSession(sparse, { kvCache: false, head: 'nll', masks: false }, o);
  const sparsePerplexity = perplexity(await windowsNll(s.session, windows));
  await s.session.release();
  console.log(
    JSON.stringify({
      scores,
      maskedNll: sums[0].nll,
      largeInverseError,
      reformErrors: reformed.layers.map((l) => l.down.errorAfter),
      sparsePerplexity,
      heldRows: Array.from(heldRows),
    }),
  );
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
