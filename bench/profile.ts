// Per-linear profiles (paper-spec §4) against uniform SparseGPT at the same total sparsity, and mixed int4/int8
// against uniform int4 at its file size + 10 %: held-out perplexity on both TinyStories models, side by side.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MaskedEvaluator } from '../src/compress/maskedEvaluator';
import { fullMask } from '../src/compress/subnet';
import { sparsifyDecoder, type WeightStage } from '../src/compress/sparsify/sparsifyDecoder';
import {
  bitsProfile,
  sparsityProfile,
  type ProfileKind,
  type ProfileReport,
} from '../src/compress/profile/profileStage';
import { PROFILE_SCHEDULE } from '../src/compress/profile/search';
import { writeModelFiles } from '../src/compress/exportModel';
import { modelFileBytes } from '../src/onnx/modelFile';
import type { Decoder } from '../src/model/decoder';
import { perplexity } from '../src/runtime/perplexity';
import { BASELINE_SETUP } from './baselines';
import { benchData, machine, MODELS, workDir, writeResults } from './lib';

const SPARSITIES = [0.5, 0.6];
const KINDS: ProfileKind[] = ['uniform', 'owl', 'search'];
/** PROFILE_GENERATIONS=N shortens a trial run; anything but a whole number ≥ 1 is refused. */
function generationsOverride(): { generations: number } | Record<string, never> {
  const text = process.env.PROFILE_GENERATIONS;
  if (text === undefined) return {};
  const generations = Number(text);
  if (!(Number.isInteger(generations) && generations >= 1))
    throw new Error(`PROFILE_GENERATIONS=${text}: expected a whole number, 1 or more`);
  return { generations };
}
const schedule = { ...PROFILE_SCHEDULE, ...generationsOverride() };

interface Row {
  model: string;
  sparsity: number;
  dense: number;
  ppl: Record<string, number>;
  average: Record<string, number>;
  seconds: Record<string, number>;
  search?: ProfileReport['search'];
}

export async function benchProfile(): Promise<void> {
  const rows: Row[] = [];
  const bits: {
    model: string;
    dense: number;
    int4: { ppl: number; bytes: number };
    mixed: { ppl: number; bytes: number; int8Share: number; seconds: number };
  }[] = [];
  for (const m of MODELS) {
    const data = benchData(m.file, BASELINE_SETUP);
    const d = data.decoder;
    const ppl = async (x: Decoder) => {
      const e = await MaskedEvaluator.open(x, { provider: 'cpu' });
      try {
        return perplexity(await e.nll(fullMask(x), data.heldOut));
      } finally {
        await e.release();
      }
    };
    const o = { provider: 'cpu' as const };
    const scratch = path.join(workDir, 'profile-database');
    const dense = await ppl(d);
    for (const sparsity of SPARSITIES) {
      const row: Row = { model: m.name, sparsity, dense, ppl: {}, average: {}, seconds: {} };
      const stage: WeightStage = { sparsity: { method: 'sparsegpt', pattern: { kind: 'unstructured', sparsity } } };
      for (const kind of KINDS) {
        const t0 = performance.now();
        const p = await sparsityProfile(d, data.calib, stage, { kind, scratch, schedule }, o);
        const pruned = await sparsifyDecoder(d, data.calib, { sparsity: { ...stage.sparsity!, profile: p.levels } }, o);
        row.seconds[kind] = (performance.now() - t0) / 1000;
        row.ppl[kind] = await ppl(pruned);
        row.average[kind] = p.average;
        if (p.search) row.search = p.search;
        console.log(
          m.name,
          sparsity,
          kind,
          row.ppl[kind].toFixed(3),
          `avg ${p.average.toFixed(4)}`,
          `${row.seconds[kind].toFixed(0)} s`,
        );
      }
      rows.push(row);
    }
    const quant = { bits: 4 as const, blockSize: 32, symmetric: true, gptq: false };
    const size = (x: Decoder) => {
      const dir = fs.mkdtempSync(path.join(workDir, 'profile-file-'));
      try {
        writeModelFiles(x, dir, undefined);
        return modelFileBytes(path.join(dir, 'model.onnx'));
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    };
    const int4 = await sparsifyDecoder(d, data.calib, { quant }, o);
    const t0 = performance.now();
    const p = await bitsProfile(d, data.calib, { quant }, { kind: 'search', scratch, schedule }, o);
    const mixed = await sparsifyDecoder(d, data.calib, { quant: { ...quant, profile: p.levels } }, o);
    const seconds = (performance.now() - t0) / 1000;
    bits.push({
      model: m.name,
      dense,
      int4: { ppl: await ppl(int4), bytes: size(int4) },
      mixed: { ppl: await ppl(mixed), bytes: size(mixed), int8Share: (p.average - 4) / 4, seconds },
    });
    console.log(bits.at(-1));
  }
  const reduction = (r: Row, k: string) => 1 - (r.ppl[k] - r.dense) / (r.ppl.uniform - r.dense);
  const md = [
    `SparseGPT (one threshold per block) at the same total sparsity over the linears, uniform vs OWL's outlier-weighted per-layer levels (M = 5, λ = 0.08) vs the searched per-linear profile (EvoPress-style: levels ±6 steps of 0.05, ${schedule.generations} generations × ${schedule.offspring} offspring, fitness on all ${BASELINE_SETUP.calibWindows} calibration windows); every model then pruned layer by layer on the ${BASELINE_SETUP.calibWindows} calibration windows and measured on the ${BASELINE_SETUP.heldOutWindows} held-out windows. "reduction" = how much of uniform's perplexity increase over dense the profile removes. ${machine()}.`,
    '',
    '| model | sparsity | dense | uniform | OWL | searched | average (searched) | reduction OWL | reduction searched | search time |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows.map(
      (r) =>
        `| ${r.model} | ${r.sparsity * 100}% | ${r.dense.toFixed(3)} | ${r.ppl.uniform.toFixed(3)} | ${r.ppl.owl.toFixed(3)} | ${r.ppl.search.toFixed(3)} | ${r.average.search.toFixed(4)} | ${(100 * reduction(r, 'owl')).toFixed(0)}% | ${(100 * reduction(r, 'search')).toFixed(0)}% | ${r.seconds.search.toFixed(0)} s |`,
    ),
    '',
    `Mixed int4/int8 per linear (RTN, block 32, symmetric) searched under the file size of uniform int4 + 10 %, against uniform int4; held-out perplexity and the exported file's size.`,
    '',
    '| model | dense | uniform int4 | file | mixed int4/int8 | file | file / int4 | int8 share of linear weights | search time |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...bits.map(
      (b) =>
        `| ${b.model} | ${b.dense.toFixed(3)} | ${b.int4.ppl.toFixed(3)} | ${(b.int4.bytes / 2 ** 20).toFixed(2)} MiB | ${b.mixed.ppl.toFixed(3)} | ${(b.mixed.bytes / 2 ** 20).toFixed(2)} MiB | ${(b.mixed.bytes / b.int4.bytes).toFixed(3)} | ${(100 * b.mixed.int8Share).toFixed(1)}% | ${b.mixed.seconds.toFixed(0)} s |`,
    ),
  ].join('\n');
  writeResults('profile', { machine: machine(), schedule, rows, bits }, md);
}
