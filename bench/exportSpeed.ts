// The searched + reformed model exported (physically sliced) and timed against the original ONNX in one run.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readMasksFile } from '../src/compress/masksFile';
import { compensatedModules } from '../src/compress/importance/compensation';
import { reformDecoder } from '../src/compress/reform/reformation';
import { DEFAULT_REFORM } from '../src/compress/reform/reformLayer';
import { sliceDecoder } from '../src/compress/subnet';
import { writeModelFiles } from '../src/compress/exportModel';
import { totalCounts } from '../src/model/params';
import { measureLatency } from '../src/runtime/latency';
import { BASELINE_SETUP } from './baselines';
import { SEARCH_RATIOS } from './search';
import { searchMasksFile } from './reform';
import { benchData, machine, MODELS, workDir, writeResults } from './lib';

export async function benchExportSpeed(): Promise<void> {
  const rows: {
    model: string;
    ratio: number;
    params: number;
    originalTps: number;
    compressedTps: number;
    speedup: number;
    target: number;
    originalPrefillMs: number;
    compressedPrefillMs: number;
  }[] = [];
  for (const m of MODELS) {
    const data = benchData(m.file, BASELINE_SETUP);
    const d = data.decoder;
    for (const ratio of SEARCH_RATIOS) {
      const file = searchMasksFile(m.file, ratio);
      if (!fs.existsSync(file)) throw new Error(`${file} missing: run \`npm run bench -- search\` first`);
      const { mask, meta } = readMasksFile(file, d);
      const reformed = await reformDecoder(
        d,
        mask,
        data.calib,
        DEFAULT_REFORM,
        { provider: 'cpu' },
        undefined,
        meta.bias && compensatedModules(meta.bias),
      );
      const small = sliceDecoder(reformed.decoder, mask);
      const dir = path.join(workDir, `export-${m.name}-${ratio}`);
      fs.rmSync(dir, { recursive: true, force: true });
      fs.mkdirSync(dir, { recursive: true });
      writeModelFiles(small, dir, undefined);
      const [lo, lc] = await measureLatency(
        [
          { file: m.file, layers: d.layers },
          { file: path.join(dir, 'model.onnx'), layers: small.layers },
        ],
        { provider: 'cpu', prompt: 128, decode: 128, reps: 9, vocab: d.config.vocab },
      );
      const p = totalCounts(small).params / totalCounts(d).params;
      rows.push({
        model: m.name,
        ratio,
        params: p,
        originalTps: lo.decodeTokensPerSecond,
        compressedTps: lc.decodeTokensPerSecond,
        speedup: lc.decodeTokensPerSecond / lo.decodeTokensPerSecond,
        target: 0.8 / p,
        originalPrefillMs: lo.prefillMs,
        compressedPrefillMs: lc.prefillMs,
      });
      console.log(
        `${m.name} ${ratio}: decode ${lo.decodeTokensPerSecond.toFixed(0)} → ${lc.decodeTokensPerSecond.toFixed(0)} tok/s`,
      );
    }
  }
  const md = [
    `Searched + reformed model exported (physically sliced) vs the original ONNX: batch 1, prefill 128 tokens then 128 decode steps with the KV cache, CPU provider, median of 9 interleaved runs, ${machine()}. Target: speed-up ≥ 0.8 × 1/ratio.`,
    '',
    '| model | ratio | exported params / original | prefill ms (orig → exported) | decode tok/s original | decode tok/s exported | speed-up | target |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows.map(
      (s) =>
        `| ${s.model} | ${s.ratio} | ${s.params.toFixed(4)} | ${s.originalPrefillMs.toFixed(2)} → ${s.compressedPrefillMs.toFixed(2)} | ${s.originalTps.toFixed(0)} | ${s.compressedTps.toFixed(0)} | ${s.speedup.toFixed(2)}× | ${s.target.toFixed(2)}× |`,
    ),
  ].join('\n');
  writeResults('export-speed', { machine: machine(), rows }, md);
}
