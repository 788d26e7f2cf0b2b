import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadDecoder } from '../model/recognise';
import { totalCounts } from '../model/params';
import { loadModelTokenizer } from '../text/tokenizer';
import { consecutiveWindows, defaultSeqLen, sampledWindows, tokenizeFile } from '../text/windows';
import type { ProviderChoice } from '../runtime/session';
import { perplexity } from '../runtime/perplexity';
import { denseLayerStats } from '../compress/calibration';
import { layerScores, type Method } from '../compress/importance/scores';
import { withCompensation } from '../compress/importance/compensation';
import { inheritingRatio, minimumParams, outerParams, selectGlobal, selectUniform } from '../compress/importance/select';
import type { Granularity } from '../compress/importance/units';
import { fullMask, maskedParams } from '../compress/subnet';
import { MaskedEvaluator } from '../compress/maskedEvaluator';
import { toMasksFile } from '../compress/masksFile';
import { OutputFolder } from '../util/outputFolder';
import { UserError } from '../util/errors';

export interface PruneRequest {
  model: string;
  method: Method;
  ratio: number;
  calib: string;
  out: string;
  granularity?: Granularity;
  seqLen?: number;
  calibWindows?: number;
  /** Held-out text for the reported perplexity (default: the calibration text). */
  evalText?: string;
  evalWindows?: number;
  seed?: number;
  provider: ProviderChoice;
  /** FLAP's bias compensation (on by default for `flap`, unavailable for the others). */
  biasCompensation?: boolean;
  tokenizer?: string;
  onStage?: (stage: string) => void;
}

/** What `prune --json` prints. */
export interface PruneResult {
  out: string;
  masks: string;
  method: Method;
  granularity: Granularity;
  targetRatio: number;
  ratio: number;
  params: number;
  totalParams: number;
  ppl: number;
  pplDense: number;
  evalTokens: number;
  evalText: string;
  seconds: number;
  provider: string;
}

/** One structured baseline (or the paper's OBS score) at a target inheriting ratio: masks and masked perplexity. */
export async function pruneModel(r: PruneRequest): Promise<PruneResult> {
  if (!(r.ratio > 0 && r.ratio <= 1)) throw new UserError(`--ratio ${r.ratio} must be in (0, 1]: the fraction of parameters to keep`);
  const granularity = r.granularity ?? 'head';
  const compensate = r.biasCompensation ?? r.method === 'flap';
  if (compensate && r.method !== 'flap') throw new UserError('bias compensation is part of FLAP; use it with --method flap');
  const d = loadDecoder(r.model);
  const tok = loadModelTokenizer(r.model, d.config.vocab, r.tokenizer);
  const seqLen = r.seqLen ?? defaultSeqLen(d.config.maxPositions);
  const t0 = performance.now();
  const total = totalCounts(d).params;
  const outer = outerParams(d);
  const minimum = minimumParams(d, granularity);
  if (r.ratio * total < minimum) {
    throw new UserError(`--ratio ${r.ratio} is impossible: embeddings, norms and lm_head alone keep ${(outer / total).toFixed(3)} of the parameters, and every layer keeps at least one head and channel (minimum ratio ${(minimum / total).toFixed(3)})`);
  }
  const out = new OutputFolder(r.out);
  try {
    r.onStage?.('calibration statistics');
    const calib = sampledWindows(tokenizeFile(r.calib, tok), seqLen, r.calibWindows ?? 64, r.seed ?? 0);
    const stats = await denseLayerStats(d, calib, { provider: r.provider });
    r.onStage?.(`${r.method} scores`);
    const scores = await layerScores(d, stats, r.method, granularity);
    const mask = r.method === 'flap' ? selectGlobal(d, scores, granularity, r.ratio * total) : selectUniform(d, scores, granularity, r.ratio * total);
    const comp = compensate ? withCompensation(d, mask, stats) : undefined;
    r.onStage?.('masked perplexity');
    const evalText = r.evalText ?? r.calib;
    const windows = consecutiveWindows(tokenizeFile(evalText, tok), seqLen, r.evalWindows);
    const evaluator = await MaskedEvaluator.open(comp?.decoder ?? d, { provider: r.provider });
    const pruned = await evaluator.nll(mask, windows);
    const dense = await (comp ? await MaskedEvaluator.open(d, { provider: r.provider }) : evaluator).nll(fullMask(d), windows);
    const params = maskedParams(d, mask, outer) + (comp ? 2 * d.config.hidden * d.layers.length : 0);
    const file = toMasksFile(mask, { model: path.resolve(r.model), method: r.method, granularity, ratio: params / total, params, totalParams: total, ...(comp ? { bias: comp.bias } : {}) });
    fs.writeFileSync(out.file('masks.json'), `${JSON.stringify(file)}\n`);
    const result: PruneResult = {
      out: path.resolve(r.out),
      masks: path.resolve(r.out, 'masks.json'),
      method: r.method,
      granularity,
      targetRatio: r.ratio,
      ratio: comp ? params / total : inheritingRatio(d, mask),
      params,
      totalParams: total,
      ppl: perplexity(pruned),
      pplDense: perplexity(dense),
      evalTokens: pruned.tokens,
      evalText: path.resolve(evalText),
      seconds: (performance.now() - t0) / 1000,
      provider: evaluator.provider,
    };
    fs.writeFileSync(out.file('prune.json'), `${JSON.stringify(result, null, 2)}\n`);
    out.commit();
    return result;
  } catch (e) {
    out.abort();
    throw e;
  }
}
