// The search against every baseline at 0.8 and 0.6 on both TinyStories models (same calibration text, same
// held-out text), and early rejection vs the paper's plain schedule (same seed, same run).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { searchModel, type SearchResult } from '../src/job/search';
import type { SearchSchedule } from '../src/compress/search/evolution';
import { DEFAULT_HALVING, rungSizes } from '../src/compress/search/fitness';
import { BASELINE_SETUP } from './baselines';
import { machine, MODELS, splitText, workDir, writeResults } from './lib';

export const SEARCH_RATIOS = [0.8, 0.6];
export const BENCH_SCHEDULE: SearchSchedule = {
  generations: 20,
  population: 24,
  parents: 6,
  mutants: 12,
  crossovers: 7,
  randoms: 5,
};
const FITNESS_WINDOWS = 40;

async function run(
  model: string,
  ratio: number,
  halving: boolean,
  variant: { depth?: boolean; biasCompensation?: boolean; seed?: number } = {},
): Promise<SearchResult> {
  const { calibFile, heldOutFile } = splitText();
  const suffix = `${variant.depth ? '-depth' : ''}${variant.biasCompensation === false ? '-masks-only' : ''}${variant.seed ? `-seed${variant.seed}` : ''}`;
  const out = path.join(
    workDir,
    `search-${path.basename(path.dirname(model))}-${ratio}-${halving ? 'halving' : 'plain'}${suffix}`,
  );
  fs.rmSync(out, { recursive: true, force: true });
  fs.rmSync(`${out}.partial`, { recursive: true, force: true });
  return searchModel({
    model,
    ratio,
    calib: calibFile,
    out,
    provider: 'cpu',
    seed: 0,
    halving,
    ...variant,
    schedule: BENCH_SCHEDULE,
    seqLen: BASELINE_SETUP.seqLen,
    calibWindows: BASELINE_SETUP.calibWindows,
    fitnessWindows: FITNESS_WINDOWS,
    evalText: heldOutFile,
    evalWindows: BASELINE_SETUP.heldOutWindows,
  });
}

export async function benchSearch(): Promise<void> {
  const baselines = JSON.parse(fs.readFileSync(path.join(__dirname, 'results', 'baselines.json'), 'utf8')) as {
    rows: { model: string; method: string; ratio: number; ppl: number; achieved: number }[];
  };
  const rows: { model: string; ratio: number; halving: SearchResult; plain: SearchResult }[] = [];
  for (const m of MODELS) {
    for (const ratio of SEARCH_RATIOS) {
      const halving = await run(m.file, ratio, true);
      const plain = await run(m.file, ratio, false);
      rows.push({ model: m.name, ratio, halving, plain });
      console.log(
        `${m.name} ${ratio}: search ${halving.heldOut!.best.toFixed(3)} (plain ${plain.heldOut!.best.toFixed(3)}), tokens ${halving.tokens} vs ${plain.tokens}`,
      );
    }
  }
  const base = (model: string, ratio: number) => baselines.rows.filter((r) => r.model === model && r.ratio === ratio);
  const methods = [...new Set(baselines.rows.map((r) => r.method))];
  const rungs = rungSizes(FITNESS_WINDOWS, DEFAULT_HALVING);
  const md = [
    `Held-out perplexity of the searched sub-network vs every baseline at the same inheriting ratio (whole-head granularity, same calibration text and held-out text as the baselines table; search budget [ratio − 0.01, ratio]). Search: ${BENCH_SCHEDULE.generations} generations × ${BENCH_SCHEDULE.population} candidates (top ${BENCH_SCHEDULE.parents}), fitness on ${FITNESS_WINDOWS} windows × ${BASELINE_SETUP.seqLen} of the calibration text, seed 0, CPU, ${machine()}.`,
    '',
    `| model | ratio | ${methods.join(' | ')} | **search** | search ratio | candidates | search time |`,
    `| --- | ---: | ${methods.map(() => '---:').join(' | ')} | ---: | ---: | ---: | ---: |`,
    ...rows.map(
      (r) =>
        `| ${r.model} | ${r.ratio} | ${methods
          .map(
            (mm) =>
              base(r.model, r.ratio)
                .find((b) => b.method === mm)
                ?.ppl.toFixed(3) ?? '',
          )
          .join(
            ' | ',
          )} | **${r.halving.heldOut!.best.toFixed(3)}** | ${r.halving.ratio.toFixed(4)} | ${r.halving.evaluations} | ${r.halving.seconds.toFixed(0)} s |`,
    ),
    '',
    `Early rejection vs the plain schedule, same seed. Successive halving per generation: every new candidate is measured on the first ${rungs[0]} of the ${FITNESS_WINDOWS} fitness windows; then, most promising first, each goes on to ${rungs.slice(1).join(', ')} windows unless a paired test on the windows it has puts it more than ${DEFAULT_HALVING.z} standard errors worse than the k-th best fully evaluated candidate:`,
    '',
    `| model | ratio | ${COMPARISON_HEADER} |`,
    `| --- | ---: | ${COMPARISON_HEADER.split(' | ')
      .map(() => '---:')
      .join(' | ')} |`,
    ...rows.map((r) => `| ${r.model} | ${r.ratio} | ${comparisonCells(r.plain, r.halving)} |`),
  ].join('\n');
  writeResults(
    'search',
    {
      machine: machine(),
      schedule: BENCH_SCHEDULE,
      rows: rows.map((r) => ({ ...r, halving: withoutEvaluated(r.halving), plain: withoutEvaluated(r.plain) })),
    },
    md,
  );
}

/**
 * Early rejection vs the plain schedule on seeds other than the one its rungs and z were tuned on (seed 0 of the
 * four cells above), at 0.6, where the margins between candidates are smallest.
 */
export async function benchSearchSeeds(): Promise<void> {
  const rows: { model: string; ratio: number; seed: number; halving: SearchResult; plain: SearchResult }[] = [];
  const ratio = 0.6;
  for (const m of MODELS) {
    for (const seed of [1, 2]) {
      const halving = await run(m.file, ratio, true, { seed });
      const plain = await run(m.file, ratio, false, { seed });
      rows.push({ model: m.name, ratio, seed, halving, plain });
      console.log(
        `${m.name} ${ratio} seed ${seed}: fitness ${halving.fitness.best.toFixed(3)} (plain ${plain.fitness.best.toFixed(3)}), tokens ${halving.tokens} vs ${plain.tokens}`,
      );
    }
  }
  const md = [
    `Early rejection vs the plain schedule on seeds its rungs and z were not tuned on (they were chosen on seed 0 of the four cells above). Same schedule and texts, ${machine()}.`,
    '',
    `| model | ratio | seed | ${COMPARISON_HEADER} |`,
    `| --- | ---: | ---: | ${COMPARISON_HEADER.split(' | ')
      .map(() => '---:')
      .join(' | ')} |`,
    ...rows.map((r) => `| ${r.model} | ${r.ratio} | ${r.seed} | ${comparisonCells(r.plain, r.halving)} |`),
  ].join('\n');
  writeResults(
    'search-seeds',
    {
      machine: machine(),
      schedule: BENCH_SCHEDULE,
      rows: rows.map((r) => ({ ...r, halving: withoutEvaluated(r.halving), plain: withoutEvaluated(r.plain) })),
    },
    md,
  );
}

const COMPARISON_HEADER =
  'plain: best fitness ppl | halving: best fitness ppl | difference | plain: tokens | halving: tokens | tokens ratio | candidates (dropped early) | plain time | halving time';

function comparisonCells(plain: SearchResult, halving: SearchResult): string {
  const difference = ((halving.fitness.best - plain.fitness.best) / plain.fitness.best) * 100;
  const droppedEarly = halving.history.reduce((a, h) => a + h.rejectedEarly, 0);
  return `${plain.fitness.best.toFixed(3)} | ${halving.fitness.best.toFixed(3)} | ${difference.toFixed(2)}% | ${plain.tokens} | ${halving.tokens} | ${(halving.tokens / plain.tokens).toFixed(3)} | ${halving.evaluations} (${droppedEarly}) | ${plain.seconds.toFixed(0)} s | ${halving.seconds.toFixed(0)} s`;
}

/** The results files leave out every evaluated candidate (search.json in each output folder has them). */
const withoutEvaluated = <T extends SearchResult | undefined>(r: T) => r && { ...r, evaluated: undefined };

/**
 * Variants of the search against the default one (search.json, same schedule, seed and texts): the paper's
 * mask-only fitness (no compensation biases) at both ratios, and depth search at 0.6.
 */
export async function benchSearchVariants(): Promise<void> {
  const search = JSON.parse(fs.readFileSync(path.join(__dirname, 'results', 'search.json'), 'utf8')) as {
    rows: { model: string; ratio: number; halving: SearchResult }[];
  };
  const rows: { model: string; ratio: number; search: SearchResult; masksOnly: SearchResult; depth?: SearchResult }[] =
    [];
  for (const m of MODELS) {
    for (const ratio of SEARCH_RATIOS) {
      const base = search.rows.find((r) => r.model === m.name && r.ratio === ratio)?.halving;
      if (!base)
        throw new Error(
          `bench/results/search.json has no ${m.name} ${ratio} row: run \`npm run bench -- search\` first`,
        );
      const masksOnly = await run(m.file, ratio, true, { biasCompensation: false });
      const depth = ratio < 0.7 ? await run(m.file, ratio, true, { depth: true }) : undefined;
      rows.push({ model: m.name, ratio, search: base, masksOnly, depth });
      console.log(
        `${m.name} ${ratio}: search ${base.heldOut!.best.toFixed(3)}, masks only ${masksOnly.heldOut!.best.toFixed(3)}${depth ? `, depth ${depth.heldOut!.best.toFixed(3)} (drops ${depth.droppedLayers})` : ''}`,
      );
    }
  }
  const cell = (r?: SearchResult) =>
    r ? `${r.heldOut!.best.toFixed(3)} (fitness ${r.fitness.best.toFixed(3)}, ${r.seconds.toFixed(0)} s)` : '—';
  const md = [
    `Held-out perplexity (fitness perplexity, search time) of the search as the table above runs it (compensation biases searched) against the paper's mask-only fitness (\`--no-bias-compensation\`) and, below 0.7, depth search (\`--depth\`: a candidate may also drop its last layers, up to an eighth of them and at least one). Same schedule, seed and texts, ${machine()}.`,
    '',
    '| model | ratio | search | masks only (paper fitness) | with depth | layers dropped |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
    ...rows.map(
      (r) =>
        `| ${r.model} | ${r.ratio} | ${cell(r.search)} | ${cell(r.masksOnly)} | ${cell(r.depth)} | ${r.depth ? r.depth.droppedLayers : '—'} |`,
    ),
  ].join('\n');
  writeResults(
    'search-variants',
    {
      machine: machine(),
      schedule: BENCH_SCHEDULE,
      rows: rows.map((r) => ({
        model: r.model,
        ratio: r.ratio,
        search: withoutEvaluated(r.search),
        masksOnly: withoutEvaluated(r.masksOnly),
        depth: withoutEvaluated(r.depth),
      })),
    },
    md,
  );
}
