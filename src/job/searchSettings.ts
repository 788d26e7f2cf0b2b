// The settings a search runs under: its arguments and schedule, the budget checked before calibration, and the
// checkpoint a resumed search continues from.
import * as fs from 'node:fs';
import { DEFAULT_GRANULARITY, DEFAULT_SEED, DEFAULT_TOLERANCE, defaultFitnessWindows } from './defaults';
import { uniformUnits } from '../compress/importance/select';
import { attentionUnitCount } from '../compress/importance/units';
import type { Decoder } from '../model/decoder';
import {
  candidateFromKeep,
  candidateParams,
  searchSpace,
  withinBudget,
  type SearchSpace,
} from '../compress/search/space';
import { PRESETS, type SearchCheckpoint, type SearchSchedule } from '../compress/search/evolution';
import type { OutputFolder } from '../util/outputFolder';
import { UserError } from '../util/errors';
import type { SearchOptions } from './searchTypes';
import type { JobContext, ModelJobRequest } from './context';
import { checkRatio } from './prune';
import { checkSchedule } from './options';
import { maskArguments, type ArgumentValues } from './jobArguments';

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
export function searchSetup(ctx: JobContext, o: SearchOptions) {
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
export function resumeCheckpoint(
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
