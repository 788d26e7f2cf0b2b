// `search`: the evolutionary search for the sub-network to keep, alone (masks.json) or as `compress`'s first stage.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { consecutiveWindows, sampledWindows, textWindows } from '../text/windows';
import { DEFAULT_CALIB_WINDOWS, defaultFitnessWindows } from './defaults';
import { perplexity } from '../runtime/perplexity';
import { denseCalibration } from '../compress/calibration';
import type { Method } from '../compress/importance/scores';
import { INIT_METHODS, initialPopulation } from '../compress/search/seeds';
import type { Granularity } from '../compress/importance/units';
import { fullMask } from '../compress/subnet';
import { MaskedEvaluator } from '../compress/maskedEvaluator';
import { compensationBiases } from '../compress/importance/compensation';
import { maskLayers, MASKS_FILE, writeMasksFile } from '../compress/masksFile';
import { candidateCompensation, candidateMask } from '../compress/search/space';
import { DEFAULT_HALVING, Fitness } from '../compress/search/fitness';
import { evolve } from '../compress/search/evolution';
import { OutputFolder } from '../util/outputFolder';
import { throwIfCancelled, UserError } from '../util/errors';
import { writeJsonAtomic } from '../util/atomicWrite';
import type { SearchOptions, SearchOutcome, SearchRequest, SearchResult } from './searchTypes';
import { openContext, type JobContext } from './context';
import { JOB_ARGUMENTS, recordArguments } from './jobArguments';
import { resumeCheckpoint, SEARCH_CHECKPOINT, searchArguments, searchSetup } from './searchSettings';

export type { SearchOptions, SearchOutcome, SearchRequest, SearchResult } from './searchTypes';

/** Importance scores of the initial population's methods and the compensation means, on sampled calibration windows. */
function calibrate(
  ctx: JobContext,
  o: SearchOptions,
  methods: readonly Method[],
  granularity: Granularity,
  seed: number,
) {
  ctx.emit({ type: 'stage', stage: 'calibration statistics' });
  return denseCalibration(
    ctx.decoder,
    sampledWindows(ctx.calibIds, ctx.seqLen, o.calibWindows ?? DEFAULT_CALIB_WINDOWS, seed),
    methods,
    granularity,
    {
      ...ctx.session,
      signal: ctx.signal ?? o.signal,
      onLayer: (done, total) =>
        ctx.emit({ type: 'progress', stage: 'calibration statistics', done, total, unit: 'layers' }),
    },
  );
}

/** The search stage: its checkpoint lives in `folder` (an output folder being written), so a rerun can resume. */
export async function runSearch(ctx: JobContext, o: SearchOptions, folder: OutputFolder): Promise<SearchOutcome> {
  const d = ctx.decoder;
  const { schedule, granularity, seed, halving, compensation, sp, settings } = searchSetup(ctx, o);
  const resume = resumeCheckpoint(ctx, o, folder, settings);
  const methods = o.init === 'obs' ? (['obs'] as const) : INIT_METHODS;
  const calibration = await calibrate(ctx, o, methods, granularity, seed);
  const seeds = initialPopulation(d, sp, calibration.scores, methods, o.ratio);
  const means = compensation ? calibration.means : undefined;
  // Thousands of evaluations that only rank candidates: fp16 products where the provider runs them (fp32 elsewhere).
  const evaluator = await MaskedEvaluator.open(d, { ...ctx.session, compute: 'fastest' }, means);
  const windows = consecutiveWindows(ctx.calibIds, ctx.seqLen, o.fitnessWindows ?? defaultFitnessWindows(ctx.seqLen));
  const fitness = new Fitness(d, sp, evaluator, windows, halving ? DEFAULT_HALVING : undefined);
  ctx.emit({
    type: 'stage',
    stage: 'search',
    detail: `${schedule.generations} generations × ${schedule.population} candidates`,
  });
  let searched: Awaited<ReturnType<typeof evolve>>;
  let init: number;
  try {
    searched = await evolve(
      sp,
      seeds,
      fitness,
      schedule,
      seed,
      {
        signal: o.signal,
        onCandidate: (e) => ctx.emit({ type: 'candidate', ...e, of: schedule.population }),
        onGeneration: (summary, b) =>
          ctx.emit({
            type: 'generation',
            summary,
            generations: schedule.generations,
            best: {
              params: b.params,
              ppl: Math.exp(b.fitness),
              layers: maskLayers(candidateMask(d, sp, b.candidate)),
            },
          }),
        checkpoint: (c) => writeJsonAtomic(folder.file(SEARCH_CHECKPOINT), { ...c, settings }),
      },
      resume,
    );
    // The report compares against the paper's initialisation: finish it where early rejection dropped it.
    init = (await fitness.evaluate(seeds[0])).full!;
  } finally {
    // Also on a cancel or an error: it holds the model's weights.
    await evaluator.release();
  }
  const { best, checkpoint } = searched;
  const seedFitness = seeds.map((c) => fitness.record(c)?.full).filter((f): f is number => f !== undefined);
  const mask = candidateMask(d, sp, best.candidate);
  const compensate = candidateCompensation(best.candidate);
  return {
    mask,
    compensate,
    droppedLayers: best.candidate.drop ?? 0,
    bias: compensate.some((c) => c.attn || c.mlp)
      ? compensationBiases(d, mask, calibration.means, compensate)
      : undefined,
    compensationMeans: means,
    initMask: candidateMask(d, sp, seeds[0]),
    ratio: best.params / sp.totalParams,
    params: best.params,
    totalParams: sp.totalParams,
    granularity,
    schedule,
    seed,
    halving,
    fitness: {
      init: Math.exp(init),
      bestSeed: Math.exp(Math.min(...seedFitness)),
      best: Math.exp(best.fitness),
      tokensPerEvaluation: windows.length * (ctx.seqLen - 1),
    },
    evaluations: fitness.evaluations,
    tokens: fitness.tokens,
    seconds: checkpoint.seconds,
    provider: evaluator.provider,
    history: checkpoint.history,
    evaluated: checkpoint.evaluated,
  };
}

/** Held-out perplexity of the dense model, the paper's initialisation and the result. */
async function heldOutPerplexity(
  ctx: JobContext,
  r: SearchRequest,
  s: SearchOutcome,
  evalText: string,
): Promise<SearchResult['heldOut']> {
  throwIfCancelled(r.signal, 'the held-out perplexity');
  ctx.emit({ type: 'stage', stage: 'held-out perplexity' });
  const ev = textWindows(evalText, ctx.tokenizer, ctx.seqLen, r.evalWindows);
  const none = s.compensate.map(() => ({ attn: false, mlp: false }));
  const {
    sums: [dense, init, best],
  } = await MaskedEvaluator.measure(
    ctx.decoder,
    ctx.session,
    s.compensationMeans,
    [
      { mask: fullMask(ctx.decoder), compensate: none },
      { mask: s.initMask, compensate: none },
      { mask: s.mask, compensate: s.compensate },
    ],
    ev,
  );
  return {
    text: path.resolve(evalText),
    tokens: best.tokens,
    dense: perplexity(dense),
    init: perplexity(init),
    best: perplexity(best),
  };
}

export async function searchModel(r: SearchRequest): Promise<SearchResult> {
  const ctx = await openContext({ ...r, evalOnCalib: false });
  const out = new OutputFolder(r.out, { resume: r.resume });
  try {
    // Inside the try: the folder just made for nothing is removed again.
    if (r.resume && !fs.existsSync(out.file(SEARCH_CHECKPOINT))) {
      throw new UserError(`--resume: no checkpoint in ${out.tmp}; start without --resume`);
    }
    recordArguments(out, { fixed: searchArguments(ctx, r), later: {} }, r.resume);
    const s = await runSearch(ctx, r, out);
    const heldOut = r.evalText ? await heldOutPerplexity(ctx, r, s, r.evalText) : undefined;
    const { mask, initMask: _, bias, compensationMeans: __, ...rest } = s;
    const result: SearchResult = { ...rest, out: path.resolve(r.out), masks: path.resolve(r.out, MASKS_FILE), heldOut };
    throwIfCancelled(r.signal, 'writing the masks');
    writeMasksFile(out.file(MASKS_FILE), mask, {
      model: ctx.decoder.source.path,
      method: 'search',
      granularity: s.granularity,
      params: s.params,
      totalParams: s.totalParams,
      bias,
    });
    writeJsonAtomic(out.file('search.json'), result);
    fs.rmSync(out.file(JOB_ARGUMENTS), { force: true });
    out.commit();
    return result;
  } catch (e) {
    // A failed or cancelled search keeps its temporary folder only when it has a checkpoint to resume from.
    throw out.fail(e, [SEARCH_CHECKPOINT]);
  }
}
