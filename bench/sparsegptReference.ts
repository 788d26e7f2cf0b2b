// Our SparseGPT against the reference algorithm, side by side in one run: the same layer-by-layer pipeline, the
// same calibration windows (three seeds), only the per-weight kernel differs. The reference kernel is
// bench/reference/sparsegpt_numpy.py (the reference's steps in NumPy float32: PyTorch is not installed here);
// kernel seconds are summed over all weights, both on this machine's threads.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MaskedEvaluator } from '../src/compress/maskedEvaluator';
import { fullMask } from '../src/compress/subnet';
import { transformLinears } from '../src/compress/sparsify/layerwiseWeights';
import { sparsegpt } from '../src/compress/sparsify/sparsegpt';
import { factorCache } from '../src/compress/sparsify/sparsifyDecoder';
import { linalgOn } from '../src/linalg/graphs';
import { memoryWeight, type Decoder } from '../src/model/decoder';
import { perplexity } from '../src/runtime/perplexity';
import { transpose2d } from '../src/model/transpose';
import { BASELINE_SETUP } from './baselines';
import { benchData, machine, MODELS, root, workDir, writeResults } from './lib';

const SPARSITY = 0.5;
const SEEDS = [0, 1, 2];
const script = path.join(root, 'bench', 'reference', 'sparsegpt_numpy.py');

async function pruneAll(
  d: Decoder,
  windows: number[][],
  kernel: 'ours' | 'reference',
): Promise<{ decoder: Decoder; seconds: number }> {
  let seconds = 0;
  const la = linalgOn({ provider: 'cpu' });
  const factors = factorCache(la);
  const decoder = await transformLinears(
    d,
    windows,
    true,
    async (w, at, stats) => {
      const [K, N] = w.shape;
      const st = stats![at.point];
      if (kernel === 'ours') {
        const t0 = performance.now();
        const values = await sparsegpt(la, w.read(), K, N, await factors(stats!, at.point), {
          kind: 'unstructured',
          sparsity: SPARSITY,
        });
        seconds += (performance.now() - t0) / 1000;
        return memoryWeight(at.name, [K, N], values);
      }
      const dir = fs.mkdtempSync(path.join(workDir, 'sparsegpt-ref-'));
      try {
        const [wFile, gFile, outFile] = ['w.f32', 'gram.f64', 'out.f32'].map((f) => path.join(dir, f));
        fs.writeFileSync(wFile, transpose2d(w.read(), K, N));
        fs.writeFileSync(gFile, st.gram);
        const r = spawnSync(
          'python3',
          [script, wFile, gFile, String(st.count), String(N), String(K), String(SPARSITY), outFile],
          { encoding: 'utf8', env: { ...process.env, OPENBLAS_CORETYPE: '', OPENBLAS_L2_SIZE: '' } },
        );
        if (r.status !== 0) throw new Error(`reference kernel failed: ${r.stderr}`);
        seconds += Number(r.stdout.trim());
        const bytes = fs.readFileSync(outFile);
        return memoryWeight(
          at.name,
          [K, N],
          transpose2d(new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4), N, K),
        );
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    },
    { provider: 'cpu' },
  );
  return { decoder, seconds };
}

export async function benchSparsegptReference(): Promise<void> {
  const rows: {
    model: string;
    dense: number;
    ours: number[];
    reference: number[];
    oursSeconds: number;
    referenceSeconds: number;
  }[] = [];
  for (const m of MODELS) {
    const row = {
      model: m.name,
      dense: 0,
      ours: [] as number[],
      reference: [] as number[],
      oursSeconds: 0,
      referenceSeconds: 0,
    };
    for (const seed of SEEDS) {
      const data = benchData(m.file, { ...BASELINE_SETUP, seed });
      const ppl = async (x: Decoder) =>
        perplexity(await (await MaskedEvaluator.open(x, { provider: 'cpu' })).nll(fullMask(x), data.heldOut));
      row.dense = await ppl(data.decoder);
      // Interleaved, so that the machine's load falls on both alike.
      const ours = await pruneAll(data.decoder, data.calib, 'ours');
      const reference = await pruneAll(data.decoder, data.calib, 'reference');
      row.ours.push(await ppl(ours.decoder));
      row.reference.push(await ppl(reference.decoder));
      row.oursSeconds += ours.seconds;
      row.referenceSeconds += reference.seconds;
      console.log(
        m.name,
        seed,
        row.ours.at(-1),
        row.reference.at(-1),
        ours.seconds.toFixed(2),
        reference.seconds.toFixed(2),
      );
    }
    rows.push(row);
  }
  const stats = (a: number[]) => {
    const mean = a.reduce((x, y) => x + y, 0) / a.length;
    return `${mean.toFixed(3)} ± ${Math.sqrt(a.reduce((x, y) => x + (y - mean) ** 2, 0) / (a.length - 1)).toFixed(3)}`;
  };
  const md = [
    `SparseGPT ${SPARSITY * 100}% unstructured, ours (one threshold per block, the default) vs the reference algorithm (bench/reference/sparsegpt_numpy.py, NumPy float32), in the same layer-by-layer pipeline on calibration seeds ${SEEDS.join(', ')} (${BASELINE_SETUP.calibWindows} windows of ${BASELINE_SETUP.seqLen}); held-out perplexity mean ± standard deviation over the seeds, and the kernels' seconds summed over every weight and seed (H → pruned weights, both with the machine's default threads: OpenBLAS and ONNX Runtime one per core). ${machine()}.`,
    '',
    '| model | dense | ours | reference | ours − reference | kernel seconds ours | kernel seconds reference | ours / reference |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows.map(
      (r) =>
        `| ${r.model} | ${r.dense.toFixed(3)} | ${stats(r.ours)} | ${stats(r.reference)} | ${((r.ours.reduce((a, b) => a + b, 0) - r.reference.reduce((a, b) => a + b, 0)) / SEEDS.length).toFixed(4)} | ${r.oursSeconds.toFixed(2)} | ${r.referenceSeconds.toFixed(2)} | ${(r.oursSeconds / r.referenceSeconds).toFixed(2)} |`,
    ),
  ].join('\n');
  writeResults('sparsegpt-reference', { machine: machine(), sparsity: SPARSITY, seeds: SEEDS, rows }, md);
}
