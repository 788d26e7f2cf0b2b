// Each structured baseline at inheriting ratios 0.9 … 0.5 on both TinyStories models: held-out perplexity.
import { denseCalibration } from '../src/compress/calibration';
import { METHODS } from '../src/compress/importance/scores';
import { inheritingRatio, selectGlobal, selectUniform } from '../src/compress/importance/select';
import { MaskedEvaluator } from '../src/compress/maskedEvaluator';
import { fullMask } from '../src/compress/subnet';
import { totalCounts } from '../src/model/params';
import { perplexity } from '../src/runtime/perplexity';
import { withCompensation } from '../src/compress/importance/compensation';
import { benchData, machine, MODELS, writeResults } from './lib';

/** The baselines as `compress --method` offers them: FLAP with and without its bias compensation. */
export const BASELINES = [...METHODS, 'flap+bias'] as const;

export const RATIOS = [0.9, 0.8, 0.7, 0.6, 0.5];
export const BASELINE_SETUP = { seqLen: 256, calibWindows: 64, heldOutWindows: 200 };

export async function benchBaselines(): Promise<void> {
  const rows: { model: string; method: string; ratio: number; achieved: number; ppl: number }[] = [];
  const dense: Record<string, number> = {};
  for (const m of MODELS) {
    const data = benchData(m.file, BASELINE_SETUP);
    const d = data.decoder;
    const calibration = await denseCalibration(d, data.calib, METHODS, 'head', { provider: 'cpu' });
    const evaluator = await MaskedEvaluator.open(d, { provider: 'cpu' });
    dense[m.name] = perplexity(await evaluator.nll(fullMask(d), data.heldOut));
    for (const method of BASELINES) {
      const scores = calibration.scores.get(method === 'flap+bias' ? 'flap' : method)!;
      for (const ratio of RATIOS) {
        const target = ratio * totalCounts(d).params;
        const mask = method.startsWith('flap')
          ? selectGlobal(d, scores, 'head', target)
          : selectUniform(d, scores, 'head', target);
        const biased =
          method === 'flap+bias'
            ? await MaskedEvaluator.open(withCompensation(d, mask, calibration.means).decoder, { provider: 'cpu' })
            : evaluator;
        const ppl = perplexity(await biased.nll(mask, data.heldOut));
        rows.push({ model: m.name, method, ratio, achieved: inheritingRatio(d, mask), ppl });
        console.log(
          `${m.name} ${method} ${ratio}: ppl ${ppl.toFixed(3)} (ratio ${inheritingRatio(d, mask).toFixed(4)})`,
        );
      }
    }
  }
  const md = [
    `Held-out perplexity (TinyStories validation, second half, ${BASELINE_SETUP.heldOutWindows} windows × ${BASELINE_SETUP.seqLen}) after structured pruning at each inheriting ratio (fraction of all parameters kept), whole-head granularity; calibration: ${BASELINE_SETUP.calibWindows} windows sampled from the first quarter. \`flap+bias\` is FLAP with its bias compensation (adds o_proj/down_proj biases, counted in its parameters). Written by \`npm run bench\` on ${machine()}.`,
    '',
    `| model | method | dense | ${RATIOS.join(' | ')} |`,
    `| --- | --- | ---: | ${RATIOS.map(() => '---:').join(' | ')} |`,
    ...MODELS.flatMap((m) =>
      BASELINES.map(
        (method) =>
          `| ${m.name} | ${method} | ${dense[m.name].toFixed(3)} | ${RATIOS.map((r) => rows.find((x) => x.model === m.name && x.method === method && x.ratio === r)!.ppl.toFixed(3)).join(' | ')} |`,
      ),
    ),
  ].join('\n');
  writeResults('baselines', { machine: machine(), setup: BASELINE_SETUP, dense, rows }, md);
}
