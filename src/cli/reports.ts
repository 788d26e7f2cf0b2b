// The plain-text summaries the CLI prints at the end of `compress`, `sparsify` and `quantize`.
import * as path from 'node:path';
import type { CompressReport } from '../job/compressReport';
import type { ProfileReport } from '../compress/profile/profileStage';
import type { WeightStageReport } from '../job/weightStage';
import { pplText } from '../job/measureModel';
import { describeRuns } from '../runtime/latency';
import { formatBytes } from '../util/formatBytes';
import { describeTimes } from '../job/stageClock';
import { tokensPerSecondText } from '../util/tokensPerSecond';

/** "profile: search, sparsity 0.2–0.8 per linear (average 0.5000); fitness perplexity … → …; database …". */
function profileLine(p: ProfileReport): string {
  const levels = p.levels.flat();
  const level = (v: number) => String(+v.toFixed(3));
  const s = p.search;
  const search = s
    ? `; fitness perplexity ${s.startPpl.toFixed(3)} → ${s.ppl.toFixed(3)} in ${s.evaluations} evaluations over ${s.generations.length} generations; database ${formatBytes(s.database.bytes)} on disk (removed), built in ${s.database.seconds.toFixed(0)} s`
    : '';
  return `profile: ${p.kind}, ${p.of} ${level(Math.min(...levels))}–${level(Math.max(...levels))} per ${p.kind === 'owl' ? 'layer' : 'linear'} (average ${p.average.toFixed(4)})${search}`;
}

export function printWeightStage(r: WeightStageReport): string {
  const row = (m: WeightStageReport['before']) =>
    `${m.stage}: perplexity ${pplText(m.ppl, 4)}, file ${(m.fileBytes / 2 ** 20).toFixed(2)} MiB, resident ${(m.residentBytes / 2 ** 20).toFixed(1)} MiB, decode ${tokensPerSecondText(m.latency.decodeTokensPerSecond)} tok/s, ${(m.zeroFraction * 100).toFixed(1)}% zero weights`;
  return [
    row(r.before),
    row(r.after),
    ...(r.profile ? [profileLine(r.profile)] : []),
    `decode speeds: ${describeRuns(r.after.latency)}`,
    `time: ${describeTimes(r.stageTimes, r.seconds)}`,
    ...r.notes.map((n) => `note: ${n}`),
    `model: ${path.join(r.out, 'model.onnx')}`,
  ].join('\n');
}

export function printReport(r: CompressReport): string {
  const p = r.ppl;
  return [
    `compressed ${r.params.before} → ${r.params.after} parameters (ratio ${r.ratio.toFixed(4)}), file ${(r.fileBytes.before / 2 ** 20).toFixed(2)} → ${(r.fileBytes.after / 2 ** 20).toFixed(2)} MiB`,
    `perplexity${r.pplHeldOut ? ' (held-out)' : ' (calibration)'}: original ${p.before.toFixed(3)}, ${r.method === 'search' ? 'searched' : r.method} masks ${p.search.toFixed(3)}, reformed ${p.after.toFixed(3)}, exported file ${p.exported.toFixed(3)}`,
    `decode ${tokensPerSecondText(r.latency.original.decodeTokensPerSecond)} → ${tokensPerSecondText(r.latency.compressed.decodeTokensPerSecond)} tokens/s (${r.latency.decodeSpeedup.toFixed(2)}×) on ${r.latency.provider}, ${r.latency.runs}`,
    ...(r.stages ?? []).map(
      (m) =>
        `  ${m.stage}: perplexity ${pplText(m.ppl, 3)}, file ${(m.fileBytes / 2 ** 20).toFixed(2)} MiB, decode ${tokensPerSecondText(m.latency.decodeTokensPerSecond)} tok/s`,
    ),
    ...(r.profile ? [profileLine(r.profile)] : []),
    ...(r.stageTimes ? [`time: ${describeTimes(r.stageTimes, r.seconds)}`] : []),
    ...r.notes.map((n) => `note: ${n}`),
    `model: ${path.join(r.out, 'model.onnx')}`,
    `report: ${path.join(r.out, 'report.md')}`,
  ].join('\n');
}
