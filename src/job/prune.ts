import * as path from 'node:path';
import type { Decoder } from '../model/decoder';
import { totalCounts } from '../model/params';
import { consecutiveWindows, sampledWindows, textWindows } from '../text/windows';
import { DEFAULT_CALIB_WINDOWS, DEFAULT_GRANULARITY, DEFAULT_SEED } from './defaults';
import { perplexity } from '../runtime/perplexity';
import { denseCalibration } from '../compress/calibration';
import type { Method } from '../compress/importance/scores';
import { compensationParams, withCompensation, type CompensationBias } from '../compress/importance/compensation';
import { minimumParams, outerParams, selectGlobal, selectUniform } from '../compress/importance/select';
import type { Granularity } from '../compress/importance/units';
import { fullMask, maskedParams, type SubnetMask } from '../compress/subnet';
import { MaskedEvaluator } from '../compress/maskedEvaluator';
import { MASKS_FILE, writeMasksFile } from '../compress/masksFile';
import { OutputFolder } from '../util/outputFolder';
import { throwIfCancelled, UserError } from '../util/errors';
import { writeJsonAtomic } from '../util/atomicWrite';
import { openContext, type JobContext, type ModelJobRequest } from './context';
import type { JobListener } from './protocol';
import { ruleProblem } from './options';

export interface BaselineOptions {
  method: Method;
  ratio: number;
  granularity?: Granularity;
  calibWindows?: number;
  seed?: number;
  /** FLAP's bias compensation (on by default for `flap`, unavailable for the others). */
  biasCompensation?: boolean;
}

export interface BaselineOutcome {
  mask: SubnetMask;
  /** The model the mask applies to: with FLAP's compensation biases when they are on. */
  decoder: Decoder;
  bias?: CompensationBias;
  params: number;
  totalParams: number;
  granularity: Granularity;
}

export function checkRatio(d: Decoder, ratio: number, g: Granularity): void {
  const problem = ruleProblem('ratio', ratio);
  if (problem) throw new UserError(`--ratio ${ratio}: ${problem}`);
  const total = totalCounts(d).params;
  const minimum = minimumParams(d, g);
  if (ratio * total < minimum) {
    throw new UserError(
      `--ratio ${ratio} is impossible: embeddings, norms and lm_head alone keep ${(outerParams(d) / total).toFixed(3)} of the parameters, and every layer keeps at least one head and channel (minimum ratio ${(minimum / total).toFixed(3)})`,
    );
  }
}

/** One structured baseline (or the paper's OBS score alone) at a target inheriting ratio. */
export async function baselineMask(ctx: JobContext, o: BaselineOptions): Promise<BaselineOutcome> {
  const d = ctx.decoder;
  const granularity = o.granularity ?? DEFAULT_GRANULARITY;
  const compensate = o.biasCompensation ?? o.method === 'flap';
  if (compensate && o.method !== 'flap')
    throw new UserError('bias compensation is part of FLAP; use it with --method flap');
  checkRatio(d, o.ratio, granularity);
  ctx.emit({ type: 'stage', stage: 'calibration statistics' });
  const calibration = await denseCalibration(
    d,
    sampledWindows(ctx.calibIds, ctx.seqLen, o.calibWindows ?? DEFAULT_CALIB_WINDOWS, o.seed ?? DEFAULT_SEED),
    [o.method],
    granularity,
    {
      ...ctx.session,
      onLayer: (done, total) =>
        ctx.emit({
          type: 'progress',
          stage: `calibration statistics and ${o.method} scores`,
          done,
          total,
          unit: 'layers',
        }),
    },
  );
  const scores = calibration.scores.get(o.method)!;
  const total = totalCounts(d).params;
  const mask =
    o.method === 'flap'
      ? selectGlobal(d, scores, granularity, o.ratio * total)
      : selectUniform(d, scores, granularity, o.ratio * total);
  const comp = compensate ? withCompensation(d, mask, calibration.means) : undefined;
  const params = maskedParams(d, mask, outerParams(d)) + (comp ? compensationParams(d) : 0);
  return { mask, decoder: comp?.decoder ?? d, bias: comp?.bias, params, totalParams: total, granularity };
}

/** `evalText` defaults to the calibration text. */
export interface PruneRequest extends BaselineOptions, ModelJobRequest {
  /** Stages, per-layer progress, and warnings along the way (a CRLF text). */
  onEvent?: JobListener;
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

export async function pruneModel(r: PruneRequest): Promise<PruneResult> {
  const t0 = performance.now();
  const ctx = await openContext(r);
  checkRatio(ctx.decoder, r.ratio, r.granularity ?? DEFAULT_GRANULARITY);
  const out = new OutputFolder(r.out);
  return out.complete(async () => {
    const b = await baselineMask(ctx, r);
    throwIfCancelled(r.signal, 'the masked perplexity');
    ctx.emit({ type: 'stage', stage: 'masked perplexity' });
    const evalText = r.evalText ?? r.calib;
    const windows = r.evalText
      ? textWindows(r.evalText, ctx.tokenizer, ctx.seqLen, r.evalWindows)
      : consecutiveWindows(ctx.calibIds, ctx.seqLen, r.evalWindows);
    const denseMask = { mask: fullMask(ctx.decoder) };
    const measured = await MaskedEvaluator.measure(
      b.decoder,
      ctx.session,
      undefined,
      [{ mask: b.mask }, ...(b.decoder === ctx.decoder ? [denseMask] : [])],
      windows,
    );
    const pruned = measured.sums[0];
    const dense =
      measured.sums[1] ??
      (await MaskedEvaluator.measure(ctx.decoder, ctx.session, undefined, [denseMask], windows)).sums[0];
    throwIfCancelled(r.signal, 'writing the masks');
    writeMasksFile(out.file(MASKS_FILE), b.mask, {
      model: ctx.decoder.source.path,
      method: r.method,
      granularity: b.granularity,
      params: b.params,
      totalParams: b.totalParams,
      bias: b.bias,
    });
    const result: PruneResult = {
      out: path.resolve(r.out),
      masks: path.resolve(r.out, MASKS_FILE),
      method: r.method,
      granularity: b.granularity,
      targetRatio: r.ratio,
      ratio: b.params / b.totalParams,
      params: b.params,
      totalParams: b.totalParams,
      ppl: perplexity(pruned),
      pplDense: perplexity(dense),
      evalTokens: pruned.tokens,
      evalText: path.resolve(evalText),
      seconds: (performance.now() - t0) / 1000,
      provider: measured.provider,
    };
    writeJsonAtomic(out.file('prune.json'), result, 2);
    return result;
  });
}
