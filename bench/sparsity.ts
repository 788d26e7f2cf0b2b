// SparseGPT / Wanda / magnitude at 50% unstructured and 2:4, and int8 / int4 (RTN, GPTQ) on both models:
// held-out perplexity; int4 and int8 file size, resident memory and decode tokens/s vs fp32 in the same run.
import { MaskedEvaluator } from '../src/compress/maskedEvaluator';
import { fullMask } from '../src/compress/subnet';
import { sparsifyDecoder, SPARSIFY_METHODS, type WeightStage } from '../src/compress/sparsify/sparsifyDecoder';
import { parsePattern } from '../src/compress/sparsify/pattern';
import type { Decoder } from '../src/model/decoder';
import { perplexity } from '../src/runtime/perplexity';
import { measureModels, type ModelMeasure } from '../src/job/measureModel';
import { BASELINE_SETUP } from './baselines';
import { benchData, machine, MODELS, writeResults } from './lib';

const PATTERNS = ['0.5', '2:4'];

export async function benchSparsity(): Promise<void> {
  const rows: {
    model: string;
    dense: number;
    sparse: Record<string, Record<string, number>>;
    quant: Record<string, number>;
    measures: ModelMeasure[];
  }[] = [];
  for (const m of MODELS) {
    const data = benchData(m.file, BASELINE_SETUP);
    const d = data.decoder;
    const ppl = async (x: Decoder) =>
      perplexity(await (await MaskedEvaluator.open(x, { provider: 'cpu' })).nll(fullMask(x), data.heldOut));
    const run = (s: WeightStage) => sparsifyDecoder(d, data.calib, s, { provider: 'cpu' });
    const sparse: Record<string, Record<string, number>> = {};
    for (const method of SPARSIFY_METHODS) {
      sparse[method] = {};
      for (const p of PATTERNS)
        sparse[method][p] = await ppl(await run({ sparsity: { method, pattern: parsePattern(p) } }));
      console.log(m.name, method, sparse[method]);
    }
    const quant: Record<string, number> = {};
    const models: Record<string, Decoder> = {};
    for (const bits of [8, 4] as const) {
      for (const gptq of [false, true]) {
        const q = await run({ quant: { bits, blockSize: 32, symmetric: true, gptq } });
        quant[`int${bits} ${gptq ? 'GPTQ' : 'RTN'}`] = await ppl(q);
        if (!gptq) models[`int${bits}`] = q;
      }
    }
    const measures = await measureModels(
      [
        { stage: 'fp32', decoder: d, file: m.file },
        { stage: 'int8', decoder: models.int8 },
        { stage: 'int4', decoder: models.int4 },
      ],
      data.heldOut.slice(0, 32),
      { provider: 'cpu' },
    );
    rows.push({ model: m.name, dense: await ppl(d), sparse, quant, measures });
  }
  const mib = (b: number) => (b / 2 ** 20).toFixed(2);
  const md = [
    `Held-out perplexity after one-shot sparsity of every linear layer (same calibration and held-out text as the baselines table; SparseGPT and Wanda calibrated layer by layer on the ${BASELINE_SETUP.calibWindows} windows) and after weight-only quantization (MatMulNBits, block 32, symmetric; embeddings and lm_head fp32). ${machine()}.`,
    '',
    `| model | dense | ${SPARSIFY_METHODS.flatMap((s) => PATTERNS.map((p) => `${s} ${p === '0.5' ? '50%' : p}`)).join(' | ')} | int8 RTN | int8 GPTQ | int4 RTN | int4 GPTQ |`,
    `| --- | ---: | ${SPARSIFY_METHODS.flatMap(() => PATTERNS.map(() => '---:')).join(' | ')} | ---: | ---: | ---: | ---: |`,
    ...rows.map(
      (r) =>
        `| ${r.model} | ${r.dense.toFixed(3)} | ${SPARSIFY_METHODS.flatMap((s) => PATTERNS.map((p) => r.sparse[s][p].toFixed(3))).join(' | ')} | ${['int8 RTN', 'int8 GPTQ', 'int4 RTN', 'int4 GPTQ'].map((k) => r.quant[k].toFixed(3)).join(' | ')} |`,
    ),
    '',
    'Quantized files vs fp32, measured side by side (CPU provider, batch 1, prefill 128 then 64 decode steps, median of 5 interleaved runs; resident memory = RSS growth of a fresh process that loads the model and runs one step). Sparse models are stored dense: same file size and speed as fp32 on this provider.',
    '',
    '| model | format | file | file / fp32 | resident memory | decode tok/s | decode vs fp32 | perplexity (32 windows) |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows.flatMap((r) =>
      r.measures.map(
        (x) =>
          `| ${r.model} | ${x.stage} | ${mib(x.fileBytes)} MiB | ${(x.fileBytes / r.measures[0].fileBytes).toFixed(3)} | ${mib(x.residentBytes)} MiB | ${x.latency.decodeTokensPerSecond.toFixed(0)} | ${(x.latency.decodeTokensPerSecond / r.measures[0].latency.decodeTokensPerSecond).toFixed(2)}× | ${x.ppl.toFixed(3)} |`,
      ),
    ),
  ].join('\n');
  writeResults('sparsity', { machine: machine(), rows }, md);
}
