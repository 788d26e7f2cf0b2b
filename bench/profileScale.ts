// `npm run bench -- profile-scale`: the profile search (`sparsify --profile search`) on a SmolLM-135M-shaped model
// with RANDOM weights, fp32 and fp16 side by side: its database's bytes on disk, the time to build it, the search's
// time per generation, and peak RSS; and the database a TinyLlama-1.1B- and a Llama-2-7B-shaped fp16 model would
// need (computed from the same layout, not run).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { machine, timedCli, validText, workDir, writeResults } from './lib';
import { SHAPES, writeRandomModel, type Shape } from './randomModels';
import { levelBytes } from '../src/compress/profile/levelCodec';
import { sparsityLevels } from '../src/compress/profile/space';
import { SPARSITY_MAX, SPARSITY_SPAN, SPARSITY_STEP } from '../src/compress/profile/profileStage';
import type { WeightStageReport } from '../src/job/weightStage';
import type { FloatType } from '../src/model/decoder';

const GENERATIONS = 4;
const SETUP = ['--seq-len', '256', '--calib-windows', '16', '--eval-windows', '4', '--provider', 'cpu'];
/** The search's levels at 50 %, as profileStage.ts makes them. */
const LEVELS = sparsityLevels(0.5, SPARSITY_STEP, SPARSITY_SPAN, SPARSITY_MAX);

/** Parameters of a shape's seven linears, all layers. */
function linearParams(s: Shape): number {
  const headDim = s.headDim ?? s.hidden / s.heads;
  const attn = 2 * s.hidden * s.heads * headDim + 2 * s.hidden * s.kvHeads * headDim;
  return s.layers * (attn + 3 * s.hidden * s.intermediate);
}

/** Bytes of the database for `params` linear weights: as now (type, packed), and as before (fp32, dense). */
const databaseBytes = (params: number, type: FloatType) =>
  LEVELS.reduce((a, l) => a + levelBytes(params, 1 - l, type), 0);
const formerBytes = (params: number) => LEVELS.length * params * 4;

const gib = (b: number) => `${(b / 2 ** 30).toFixed(2)} GiB`;

export async function benchProfileScale(): Promise<void> {
  const dir = path.join(workDir, 'profile-scale');
  fs.mkdirSync(dir, { recursive: true });
  const shape = SHAPES['smollm-135m'];
  const runs = (['float32', 'float16'] as const).map((type) => {
    const model = writeRandomModel(shape, type, path.join(dir, `smollm-135m-${type}`));
    const out = path.join(dir, `out-${type}`);
    fs.rmSync(out, { recursive: true, force: true });
    const r = timedCli([
      'sparsify',
      model,
      '--sparsity',
      '0.5',
      '--profile',
      'search',
      '--profile-generations',
      String(GENERATIONS),
      '--calib',
      validText,
      ...SETUP,
      '--out',
      out,
      '--json',
    ]);
    const report = JSON.parse(r.stdout) as WeightStageReport;
    const search = report.profile!.search!;
    const weightBytes = fs.statSync(path.join(path.dirname(model), 'model.onnx_data')).size;
    const row = {
      type,
      weightBytes,
      databaseBytes: search.database.bytes,
      formerDatabaseBytes: formerBytes(linearParams(shape)),
      databaseSeconds: search.database.seconds,
      searchSecondsPerGeneration: search.seconds / GENERATIONS,
      evaluations: search.evaluations,
      jobSeconds: r.seconds,
      maxRssBytes: r.maxRssBytes,
    };
    console.log(`smollm-135m ${type}: ${JSON.stringify(row)}`);
    fs.rmSync(out, { recursive: true, force: true });
    return row;
  });
  const projected = (['tinyllama-1.1b', 'llama-2-7b'] as const).map((name) => {
    const params = linearParams(SHAPES[name]);
    return { name, params, databaseBytes: databaseBytes(params, 'float16'), formerDatabaseBytes: formerBytes(params) };
  });
  const md = [
    `RANDOM weights (bench/randomModels.ts), ${machine()}, CPU execution provider. \`sparsify --sparsity 0.5 --profile search --profile-generations ${GENERATIONS}\` with ${SETUP.slice(0, 6).join(' ')}: every linear pruned by SparseGPT at ${LEVELS.length} levels (${LEVELS[0]}–${LEVELS.at(-1)}) into the database, then the search; each model in its own process, one after the other. "before" = the database as it was stored until this change (fp32, dense), computed from the same linears.`,
    '',
    '| SmolLM-135M shape | weights | database on disk | before | build | search, per generation | whole job | peak RSS |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...runs.map(
      (r) =>
        `| ${r.type === 'float16' ? 'fp16' : 'fp32'} | ${gib(r.weightBytes)} | ${gib(r.databaseBytes)} | ${gib(r.formerDatabaseBytes)} | ${r.databaseSeconds.toFixed(0)} s | ${r.searchSecondsPerGeneration.toFixed(1)} s | ${r.jobSeconds.toFixed(0)} s | ${gib(r.maxRssBytes)} |`,
    ),
    '',
    `Computed from the same layout (not run): ${projected.map((p) => `a ${p.name}-shaped fp16 model's database is ${gib(p.databaseBytes)} (before: ${gib(p.formerDatabaseBytes)})`).join('; ')}.`,
  ].join('\n');
  writeResults('profile-scale', { machine: machine(), weights: 'random', levels: LEVELS, runs, projected }, md);
}
