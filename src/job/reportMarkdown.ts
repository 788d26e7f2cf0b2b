import { describeReformError, type ModuleReformError } from '../compress/reform/reformError';
import * as path from 'node:path';
import type { CompressReport } from './compressReport';
import type { PplSet } from './stagePerplexity';
import { pplText } from './measureModel';
import { describeTimes } from './stageClock';
import { tokensPerSecondText } from '../util/tokensPerSecond';

const mib = (b: number) => `${(b / 2 ** 20).toFixed(2)} MiB`;
const pct = (a: number, b: number) => `${((a / b) * 100).toFixed(1)}%`;

function pplRows(name: string, p: PplSet): string[] {
  return [
    `| ${name} | ${p.before.toFixed(3)} | ${p.search.toFixed(3)} | ${p.after.toFixed(3)} | ${p.exported.toFixed(3)} | ${p.tokens} |`,
  ];
}

/** `report.md`: the same numbers as `report.json`, for people. */
export function renderReport(r: CompressReport): string {
  const L = r.compressed.layers;
  const O = r.original.layers;
  return [
    `# Compression report: ${path.basename(path.dirname(r.model))}/${path.basename(r.model)}`,
    '',
    `Method: **${r.method}** (${r.granularity} granularity)${r.reformation ? `, reformation: ${r.reformation.method}` : ', no reformation'}. Target inheriting ratio ${r.targetRatio}, achieved ${r.ratio.toFixed(4)}.`,
    '',
    '| | original | compressed | ratio |',
    '| --- | ---: | ---: | ---: |',
    `| parameters | ${r.params.before} | ${r.params.after} | ${pct(r.params.after, r.params.before)} |`,
    `| file size | ${mib(r.fileBytes.before)} | ${mib(r.fileBytes.after)} | ${pct(r.fileBytes.after, r.fileBytes.before)} |`,
    `| KV cache per token | ${r.kvCacheBytesPerToken.before} B | ${r.kvCacheBytesPerToken.after} B | ${pct(r.kvCacheBytesPerToken.after, r.kvCacheBytesPerToken.before)} |`,
    `| prefill ${r.latency.original.prefillTokens} tokens | ${r.latency.original.prefillMs.toFixed(2)} ms | ${r.latency.compressed.prefillMs.toFixed(2)} ms | ${r.latency.prefillSpeedup.toFixed(2)}× faster |`,
    `| decode | ${tokensPerSecondText(r.latency.original.decodeTokensPerSecond)} tok/s | ${tokensPerSecondText(r.latency.compressed.decodeTokensPerSecond)} tok/s | ${r.latency.decodeSpeedup.toFixed(2)}× faster |`,
    '',
    `Latency: batch 1, ${r.latency.provider} execution provider, ${r.latency.runs}.`,
    ...(r.stageTimes ? ['', `Time: ${describeTimes(r.stageTimes, r.seconds)}.`] : []),
    '',
    '## Perplexity',
    '',
    '| text | original | masks only (+ any compensation biases) | reformed (masked graph) | exported model.onnx | tokens |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
    ...pplRows('calibration', r.pplCalibration),
    ...(r.pplHeldOut ? pplRows(`held-out (${path.basename(r.pplHeldOut.text)})`, r.pplHeldOut) : []),
    '',
    '## Layers',
    '',
    '| layer | heads | KV heads | head dim | MLP | params | o_proj error before → after | down_proj error before → after |',
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...L.map((l, i) => {
      const e = r.reformation?.layers[i];
      const err = (x?: ModuleReformError) => (x ? describeReformError(x) : '—');
      return `| ${i} | ${l.heads}/${O[i].heads} | ${l.kvHeads}/${O[i].kvHeads} | ${l.headDim}/${O[i].headDim} | ${l.intermediate}/${O[i].intermediate} | ${l.params} | ${err(e?.o)} | ${err(e?.down)} |`;
    }),
    '',
    'Errors are relative output errors ‖(Ŵ − W)X‖² / ‖WX‖² on the calibration inputs: with the removed channels simply dropped, and after reformation.',
    ...(r.stages
      ? [
          '',
          '## Stages',
          '',
          '| stage | params | zero weights | file | resident memory | perplexity | decode tok/s |',
          '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
          ...r.stages.map(
            (s) =>
              `| ${s.stage} | ${s.params} | ${(s.zeroFraction * 100).toFixed(1)}% | ${mib(s.fileBytes)} | ${mib(s.residentBytes)} | ${pplText(s.ppl, 3)} | ${tokensPerSecondText(s.latency.decodeTokensPerSecond)} |`,
          ),
        ]
      : []),
    ...r.notes.map((n) => `\n> ${n}`),
    ...(r.search
      ? [
          '',
          `Search: ${r.search.evaluations} candidates evaluated (${r.search.tokens} tokens) in ${r.search.seconds.toFixed(1)} s; fitness perplexity ${r.search.fitness.best.toFixed(3)} (OBS initialisation ${r.search.fitness.init.toFixed(3)})${r.search.droppedLayers ? `; the last ${r.search.droppedLayers} of ${O.length} layers are dropped` : ''}.`,
        ]
      : []),
    '',
  ].join('\n');
}
