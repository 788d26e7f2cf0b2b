import * as fs from 'node:fs';
import * as path from 'node:path';
import { consecutiveWindows, sampledWindows, textWindows } from '../text/windows';
import {
  DEFAULT_CALIB_WINDOWS,
  DEFAULT_GRANULARITY,
  DEFAULT_SEED,
  DEFAULT_TOLERANCE,
  defaultFitnessWindows,
} from './defaults';
import { perplexity } from '../runtime/perplexity';
import { denseCalibration } from '../compress/calibration';
import { uniformUnits } from '../compress/importance/select';
import type { Method } from '../compress/importance/scores';
import { INIT_METHODS, initialPopulation } from '../compress/search/seeds';
import type { Granularity } from '../compress/importance/units';
import { fullMask } from '../compress/subnet';
import { MaskedEvaluator } from '../compress/maskedEvaluator';
import { compensationBiases } from '../compress/importance/compensation';
import type { Decoder } from '../model/decoder';
import { maskLayers, MASKS_FILE, writeMasksFile } from '../compress/masksFile';
import {
  candidateCompensation,
  candidateFromKeep,
  candidateMask,
  candidateParams,
  searchSpace,
  withinBudget,
  type SearchSpace,
} from '../compress/search/space';
import { attentionUnitCount } from '../compress/importance/units';
import { DEFAULT_HALVING, Fitness } from '../compress/search/fitness';
import { evolve, PRESETS, type SearchCheckpoint, type SearchSchedule } from '../compress/search/evolution';
import { OutputFolder } from '../util/outputFolder';
import { throwIfCancelled, UserError } from '../util/errors';
import { writeJsonAtomic } from '../util/atomicWrite';
import type { SearchOptions, SearchOutcome, SearchRequest, SearchResult } from './searchTypes';
import { openContext, type JobContext, type ModelJobRequest } from './context';
import { checkRatio } from './prune';
import { checkSchedule } from './options';
import { JOB_ARGUMENTS, maskArguments, recordArguments, type ArgumentValues } from './jobArguments';

export type { SearchOptions, SearchOutcome, SearchRequest, SearchResult } from './searchTypes';

export const SEARCH_CHECKPOINT = 'search-checkpoint.json';

/** A checkpoint cut short (a full disk or a crash, before writes were atomic) cannot be continued from. */
function readCheckpoint(file: string, folder: string): SearchCheckpoint & { settings?: unknown } {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new UserError(
      `--resume: the checkpoint ${file} cannot be read (${(e as Error).message}); start afresh without --resume (this discards ${folder})`,
    );
  }
}

/**
 * Whether the search can start, known before calibration: the ratio must be possible, the budget window at least
 * one unit wide, and the first seed (the paper's uniform selection at the ratio) in it. Which units that seed keeps
 * depends on the scores, but how many does not, so any scores (zeros here) give its size.
 */
function checkBudget(d: Decoder, sp: SearchSpace, ratio: number, tolerance: number, compensation: boolean): void {
  checkRatio(d, ratio, sp.granularity);
  // A window narrower than the smallest unit a mutation adds or removes is met by luck only: the search then fails
  // after calibration, unable to sample candidates.
  const step = Math.min(sp.mlpUnitParams, ...sp.attnUnitParams);
  if (sp.budget.max - sp.budget.min < step) {
    const needed = Math.ceil((step / sp.totalParams) * 1e4) / 1e4;
    throw new UserError(
      `--tolerance ${tolerance} is narrower than the smallest step of the search (one unit: ${step} parameters, ${(step / sp.totalParams).toFixed(5)} of the model); give --tolerance ${needed} or more`,
    );
  }
  const zeros = d.layers.map((s) => ({
    attn: new Float64Array(attentionUnitCount(s, sp.granularity)),
    mlp: new Float64Array(s.intermediate),
  }));
  const keep = uniformUnits(d, zeros, sp.granularity, ratio * sp.totalParams);
  const first = candidateFromKeep(keep.attn, keep.mlp, compensation ? false : undefined);
  if (withinBudget(sp, first)) return;
  const params = candidateParams(sp, first);
  const needed = Math.ceil((ratio - params / sp.totalParams) * 1e4) / 1e4;
  throw new UserError(
    `--ratio ${ratio} with --tolerance ${tolerance}: the search starts from a uniform selection of ${params} parameters (ratio ${(params / sp.totalParams).toFixed(4)}), ` +
      `outside the budget window [${(ratio - tolerance).toFixed(4)}, ${ratio}] at ${sp.granularity} granularity; give --tolerance ${needed} or more${sp.granularity === 'head' ? ', or --granularity channel for finer steps' : ''}`,
  );
}

/** The arguments a search's checkpoint and result depend on, as resolved for this job (see jobArguments.ts). */
export function searchArguments(ctx: JobContext, r: SearchOptions & ModelJobRequest): ArgumentValues {
  const s = searchSchedule(r);
  return {
    ...maskArguments(ctx.decoder.source.path, ctx.seqLen, r),
    '--fitness-windows': r.fitnessWindows ?? defaultFitnessWindows(ctx.seqLen),
    '--tolerance': r.tolerance ?? DEFAULT_TOLERANCE,
    '--preset/--generations/--population': `${s.generations} generations × ${s.population} candidates (${s.mutants} mutants, ${s.crossovers} crossovers, ${s.randoms} random; ${s.parents} parents)`,
    '--halving': r.halving ?? true,
    '--bias-compensation': r.biasCompensation ?? true,
    '--depth': Boolean(r.depth),
    '--init': r.init ?? 'all',
  };
}

export function searchSchedule(o: SearchOptions): SearchSchedule {
  const s: SearchSchedule = { ...PRESETS[o.preset ?? 'paper'], ...o.schedule };
  return { ...s, population: s.mutants + s.crossovers + s.randoms };
}

/** The settings a search runs under, resolved from its options; a checkpoint resumes only under equal ones. */
function searchSetup(ctx: JobContext, o: SearchOptions) {
  checkSchedule(o.schedule);
  const d = ctx.decoder;
  const schedule = searchSchedule(o);
  const granularity = o.granularity ?? DEFAULT_GRANULARITY;
  const seed = o.seed ?? DEFAULT_SEED;
  const halving = o.halving ?? true;
  const compensation = o.biasCompensation ?? true;
  const sp = searchSpace(d, granularity, o.ratio, o.tolerance ?? DEFAULT_TOLERANCE, { compensation, depth: o.depth });
  checkBudget(d, sp, o.ratio, o.tolerance ?? DEFAULT_TOLERANCE, compensation);
  if (o.depth && !sp.maxDrop)
    ctx.emit({ type: 'log', message: `depth search applies below a 0.7 ratio; at ${o.ratio} no layer is dropped` });
  const settings = {
    model: d.source.path,
    ratio: o.ratio,
    granularity,
    seed,
    halving,
    compensation,
    depth: sp.maxDrop,
    schedule,
    seqLen: ctx.seqLen,
    calibTokens: ctx.calibIds.length,
    init: o.init ?? 'all',
  };
  return { schedule, granularity, seed, halving, compensation, sp, settings };
}

/** With --resume, the checkpoint in `folder` when there is one, checked against this job's settings. */
function resumeCheckpoint(
  ctx: JobContext,
  o: SearchOptions,
  folder: OutputFolder,
  settings: unknown,
): SearchCheckpoint | undefined {
  const checkpointFile = folder.file(SEARCH_CHECKPOINT);
  if (!o.resume || !fs.existsSync(checkpointFile)) return undefined;
  const resume = readCheckpoint(checkpointFile, folder.tmp);
  if (resume.version !== 2)
    throw new UserError(
      `--resume: the checkpoint in ${folder.tmp} was written by an older version of the search (format ${resume.version}); start afresh without --resume`,
    );
  if (JSON.stringify(resume.settings) !== JSON.stringify(settings))
    throw new UserError(
      `--resume: the checkpoint in ${folder.tmp} was made with other settings; use the same arguments or start afresh`,
    );
  ctx.emit({ type: 'log', message: `resuming the search after generation ${resume.generation}` });
  return resume;
}

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
  const evaluator = await MaskedEvaluator.open(d, ctx.session, means);
  const windows = consecutiveWindows(ctx.calibIds, ctx.seqLen, o.fitnessWindows ?? defaultFitnessWindows(ctx.seqLen));
  const fitness = new Fitness(d, sp, evaluator, windows, halving ? DEFAULT_HALVING : undefined);
  ctx.emit({
    type: 'stage',
    stage: 'search',
    detail: `${schedule.generations} generations × ${schedule.population} candidates`,
  });
  const { best, checkpoint } = await evolve(
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
          best: { params: b.params, ppl: Math.exp(b.fitness), layers: maskLayers(candidateMask(d, sp, b.candidate)) },
        }),
      checkpoint: (c) => writeJsonAtomic(folder.file(SEARCH_CHECKPOINT), { ...c, settings }),
    },
    resume,
  );
  // The report compares against the paper's initialisation: finish it where early rejection dropped it.
  const init = (await fitness.evaluate(seeds[0])).full!;
  await evaluator.release();
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
  const evaluator = await MaskedEvaluator.open(ctx.decoder, ctx.session, s.compensationMeans);
  const none = s.compensate.map(() => ({ attn: false, mlp: false }));
  const [dense, init, best] = [
    await evaluator.nll(fullMask(ctx.decoder), ev, none),
    await evaluator.nll(s.initMask, ev, none),
    await evaluator.nll(s.mask, ev, s.compensate),
  ];
  await evaluator.release();
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
