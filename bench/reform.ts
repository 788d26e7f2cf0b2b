// Reformation on every mask set (the search's and each baseline's) at 0.8 and 0.6 on both models: held-out
// perplexity before and after, closed form vs ADMM on quality and time.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { denseCalibration } from '../src/compress/calibration';
import { selectGlobal, selectUniform } from '../src/compress/importance/select';
import {
  compensatedModules,
  compensationBiases,
  withBiases,
  type CompensationBias,
} from '../src/compress/importance/compensation';
import { MaskedEvaluator } from '../src/compress/maskedEvaluator';
import { readMasksFile } from '../src/compress/masksFile';
import { reformDecoder } from '../src/compress/reform/reformation';
import { DEFAULT_REFORM, type ReformMethod } from '../src/compress/reform/reformLayer';
import type { SubnetMask } from '../src/compress/subnet';
import type { Decoder } from '../src/model/decoder';
import { totalCounts } from '../src/model/params';
import { perplexity } from '../src/runtime/perplexity';
import { BASELINE_SETUP } from './baselines';
import { SEARCH_RATIOS } from './search';
import { benchData, machine, MODELS, workDir, writeResults } from './lib';

export const searchMasksFile = (model: string, ratio: number) =>
  path.join(workDir, `search-${path.basename(path.dirname(model))}-${ratio}-halving`, 'masks.json');

interface Row {
  model: string;
  ratio: number;
  masks: string;
  before: number;
  closedForm: number;
  closedFormSeconds: number;
  admm?: number;
  admmSeconds?: number;
}

export async function benchReform(): Promise<void> {
  const rows: Row[] = [];
  for (const m of MODELS) {
    const data = benchData(m.file, BASELINE_SETUP);
    const d = data.decoder;
    const calibration = await denseCalibration(d, data.calib, ['magnitude', 'wanda-sp', 'flap', 'obs'], 'head', {
      provider: 'cpu',
    });
    const ppl = async (model: Decoder, mask: SubnetMask) =>
      perplexity(await (await MaskedEvaluator.open(model, { provider: 'cpu' })).nll(mask, data.heldOut));
    // As `compress` does: from the original weights, modules with a compensation bias refitted with a bias.
    const reform = async (mask: SubnetMask, bias: CompensationBias | undefined, method: ReformMethod) => {
      const t0 = performance.now();
      const r = await reformDecoder(
        d,
        mask,
        data.calib,
        { ...DEFAULT_REFORM, method },
        { provider: 'cpu' },
        undefined,
        bias && compensatedModules(bias),
      );
      return { decoder: r.decoder, seconds: (performance.now() - t0) / 1000, ppl: await ppl(r.decoder, mask) };
    };
    for (const ratio of SEARCH_RATIOS) {
      const target = ratio * totalCounts(d).params;
      const sets: { name: string; mask: SubnetMask; bias?: CompensationBias; admm: boolean }[] = [];
      const searchMasks = searchMasksFile(m.file, ratio);
      if (fs.existsSync(searchMasks)) {
        const { mask, meta } = readMasksFile(searchMasks, d);
        sets.push({ name: 'search', mask, bias: meta.bias, admm: true });
      }
      for (const method of ['magnitude', 'wanda-sp', 'flap', 'obs'] as const) {
        const scores = calibration.scores.get(method)!;
        const mask =
          method === 'flap' ? selectGlobal(d, scores, 'head', target) : selectUniform(d, scores, 'head', target);
        sets.push({ name: method, mask, admm: method === 'wanda-sp' });
        if (method === 'flap')
          sets.push({ name: 'flap+bias', mask, bias: compensationBiases(d, mask, calibration.means), admm: false });
      }
      for (const set of sets) {
        const before = await ppl(set.bias ? withBiases(d, set.bias) : d, set.mask);
        const cf = await reform(set.mask, set.bias, 'closed-form');
        const ad = set.admm ? await reform(set.mask, set.bias, 'admm') : undefined;
        rows.push({
          model: m.name,
          ratio,
          masks: set.name,
          before,
          closedForm: cf.ppl,
          closedFormSeconds: cf.seconds,
          admm: ad?.ppl,
          admmSeconds: ad?.seconds,
        });
        console.log(
          `${m.name} ${ratio} ${set.name}: ${before.toFixed(3)} → ${cf.ppl.toFixed(3)} (${cf.seconds.toFixed(1)} s)${ad ? `, ADMM ${ad.ppl.toFixed(3)} (${ad.seconds.toFixed(1)} s)` : ''}`,
        );
      }
    }
  }
  const f = (x?: number) => (x === undefined ? '—' : x.toFixed(3));
  const md = [
    `Held-out perplexity before → after reformation of o_proj / down_proj (closed-form ridge least squares; ADMM ρ = 1, 30 iterations, for the search and Wanda-sp masks; modules with a compensation bias — FLAP+bias's, those the search chose — are refitted with a bias, i.e. least squares with an intercept), same held-out and calibration text as the baselines table (reformation on the ${BASELINE_SETUP.calibWindows} calibration windows × ${BASELINE_SETUP.seqLen}). Time = the whole layer-by-layer reformation. ${machine()}.`,
    '',
    '| model | ratio | masks | before | closed form | time | ADMM | time |',
    '| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |',
    ...rows.map(
      (r) =>
        `| ${r.model} | ${r.ratio} | ${r.masks} | ${f(r.before)} | **${f(r.closedForm)}** | ${r.closedFormSeconds.toFixed(1)} s | ${f(r.admm)} | ${r.admmSeconds ? `${r.admmSeconds.toFixed(1)} s` : '—'} |`,
    ),
  ].join('\n');
  writeResults('reform', { machine: machine(), rows }, md);
}
