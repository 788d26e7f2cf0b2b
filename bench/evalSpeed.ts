// Tokens/s of the masked evaluation graph vs our dense graph vs the user's original graph, same windows, one run.
import { MaskedEvaluator } from '../src/compress/maskedEvaluator';
import { fullMask } from '../src/compress/subnet';
import { decoderSession } from '../src/runtime/decoderSession';
import { createSession } from '../src/runtime/session';
import { windowsNll } from '../src/runtime/perplexity';
import { median } from '../src/util/median';
import { benchData, machine, MODELS, writeResults } from './lib';

export async function benchEvalSpeed(): Promise<void> {
  const rows: { model: string; masked: number; dense: number; original: number }[] = [];
  for (const m of MODELS) {
    const data = benchData(m.file, { seqLen: 256, calibWindows: 1, heldOutWindows: 64 });
    const d = data.decoder;
    const masked = await MaskedEvaluator.open(d, { provider: 'cpu' });
    const dense = (await decoderSession(d, { kvCache: false, head: 'nll', masks: false }, { provider: 'cpu' })).session;
    const original = (await createSession(m.file, { provider: 'cpu' })).session;
    const runs = {
      masked: () => masked.nll(fullMask(d), data.heldOut),
      dense: () => windowsNll(dense, data.heldOut),
      original: () => windowsNll(original, data.heldOut, { layers: d.layers }),
    };
    const times: Record<keyof typeof runs, number[]> = { masked: [], dense: [], original: [] };
    // Interleaved repetitions so that machine noise hits all three alike.
    for (let rep = 0; rep < 5; rep++) {
      for (const k of Object.keys(runs) as (keyof typeof runs)[]) {
        const r = await runs[k]();
        times[k].push(r.tokens / r.seconds);
      }
    }
    rows.push({
      model: m.name,
      masked: median(times.masked),
      dense: median(times.dense),
      original: median(times.original),
    });
  }
  const md = [
    `Evaluation throughput (predicted tokens/s, median of 5 interleaved runs over 64 windows × 256, CPU provider) on ${machine()}.`,
    '',
    '| model | masked graph | our dense graph | original graph | masked / dense | masked / original |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
    ...rows.map(
      (r) =>
        `| ${r.model} | ${r.masked.toFixed(0)} | ${r.dense.toFixed(0)} | ${r.original.toFixed(0)} | ${(r.masked / r.dense).toFixed(2)} | ${(r.masked / r.original).toFixed(2)} |`,
    ),
  ].join('\n');
  writeResults('eval-speed', { machine: machine(), rows }, md);
}
