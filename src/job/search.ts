import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadDecoder } from '../model/recognise';
import { loadModelTokenizer } from '../text/tokenizer';
import { consecutiveWindows, defaultSeqLen, sampledWindows, tokenizeFile } from '../text/windows';
import type { ProviderChoice } from '../runtime/session';
import { perplexity } from '../runtime/perplexity';
import { denseLayerStats } from '../compress/calibration';
import { layerScores } from '../compress/importance/scores';
import { globalUnits, uniformUnits } from '../compress/importance/select';
import type { Granularity } from '../compress/importance/units';
import { fullMask } from '../compress/subnet';
import { MaskedEvaluator } from '../compress/maskedEvaluator';
import { toMasksFile } from '../compress/masksFile';
import { candidateFromKeep, candidateMask, searchSpace, type Candidate } from '../compress/search/space';
import { DEFAULT_HALVING, Fitness } from '../compress/search/fitness';
import { evolve, PRESETS, type GenerationSummary, type SearchCheckpoint, type SearchSchedule } from '../compress/search/evolution';
import { OutputFolder } from '../util/outputFolder';
import { UserError } from '../util/errors';
import type { JobListener } from './protocol';

export interface SearchRequest {
  model: string;
  ratio: number;
  calib: string;
  out: string;
  granularity?: Granularity;
  preset?: keyof typeof PRESETS;
  schedule?: Partial<SearchSchedule>;
  seed?: number;
  /** Half-width of the budget window on the inheriting ratio (paper: a parameter range). */
  tolerance?: number;
  seqLen?: number;
  /** Fitness windows: consecutive windows from the start of the calibration text (paper: 5 × 2048 tokens). */
  fitnessWindows?: number;
  calibWindows?: number;
  /**
   * `obs`: the paper's initialisation (OBS importance, uniform ratio). `all` (default): the initial population
   * also holds the Wanda-sp, magnitude and FLAP selections, so the search starts from the best training-free mask.
   */
  init?: 'obs' | 'all';
  /** Early rejection on a first rung of windows (successive halving); off = the paper's plain schedule. */
  halving?: boolean;
  evalText?: string;
  evalWindows?: number;
  provider: ProviderChoice;
  resume?: boolean;
  tokenizer?: string;
  signal?: AbortSignal;
  onEvent?: JobListener;
}

/** What `search --json` prints; also `search.json` in the output folder. */
export interface SearchResult {
  out: string;
  masks: string;
  ratio: number;
  params: number;
  totalParams: number;
  granularity: Granularity;
  schedule: SearchSchedule;
  seed: number;
  halving: boolean;
  /** Fitness perplexities: the OBS initialisation, the best seed of the initial population, the result. */
  fitness: { init: number; bestSeed: number; best: number; tokensPerEvaluation: number };
  heldOut?: { text: string; tokens: number; dense: number; init: number; best: number };
  evaluations: number;
  tokens: number;
  seconds: number;
  provider: string;
  history: GenerationSummary[];
  /** (params, perplexity) of every fully evaluated candidate. */
  evaluated: [number, number][];
}

const CHECKPOINT = 'search-checkpoint.json';
const INIT_METHODS = ['obs', 'wanda-sp', 'magnitude', 'flap'] as const;

export async function searchModel(r: SearchRequest): Promise<SearchResult> {
  if (!(r.ratio > 0 && r.ratio < 1)) throw new UserError(`--ratio ${r.ratio} must be in (0, 1): the fraction of parameters to keep`);
  const schedule: SearchSchedule = { ...PRESETS[r.preset ?? 'paper'], ...r.schedule };
  if (schedule.mutants + schedule.crossovers + schedule.randoms !== schedule.population) {
    schedule.population = schedule.mutants + schedule.crossovers + schedule.randoms;
  }
  const granularity = r.granularity ?? 'head';
  const seed = r.seed ?? 0;
  const halving = r.halving ?? true;
  const emit = r.onEvent ?? (() => {});
  const d = loadDecoder(r.model);
  const tok = loadModelTokenizer(r.model, d.config.vocab, r.tokenizer);
  const seqLen = r.seqLen ?? defaultSeqLen(d.config.maxPositions);
  const sp = searchSpace(d, granularity, r.ratio, r.tolerance ?? 0.01);
  const out = new OutputFolder(r.out, { resume: r.resume });
  const settings = { model: path.resolve(r.model), ratio: r.ratio, granularity, seed, halving, schedule, seqLen, calib: path.resolve(r.calib), init: r.init ?? 'all' };
  try {
    let resume: (SearchCheckpoint & { settings?: unknown }) | undefined;
    if (r.resume) {
      if (!fs.existsSync(out.file(CHECKPOINT))) throw new UserError(`--resume: no checkpoint in ${out.tmp}; start without --resume`);
      resume = JSON.parse(fs.readFileSync(out.file(CHECKPOINT), 'utf8'));
      if (JSON.stringify(resume!.settings) !== JSON.stringify(settings)) throw new UserError(`--resume: the checkpoint in ${out.tmp} was made with other settings; use the same arguments or start afresh`);
      emit({ type: 'log', message: `resuming after generation ${resume!.generation}` });
    }
    const ids = tokenizeFile(r.calib, tok);
    emit({ type: 'stage', stage: 'calibration statistics' });
    const stats = await denseLayerStats(d, sampledWindows(ids, seqLen, r.calibWindows ?? 64, seed), { provider: r.provider });
    const target = r.ratio * sp.totalParams;
    const seeds: Candidate[] = [];
    for (const method of r.init === 'obs' ? (['obs'] as const) : INIT_METHODS) {
      const scores = await layerScores(d, stats, method, granularity);
      const keep = method === 'flap' ? globalUnits(d, scores, granularity, target) : uniformUnits(d, scores, granularity, target);
      seeds.push(candidateFromKeep(keep.attn, keep.mlp));
    }
    const init = seeds[0];
    const evaluator = await MaskedEvaluator.open(d, { provider: r.provider });
    const windows = consecutiveWindows(ids, seqLen, r.fitnessWindows ?? Math.ceil(10240 / seqLen));
    const fitness = new Fitness(d, sp, evaluator, windows, halving ? DEFAULT_HALVING : undefined);
    emit({ type: 'stage', stage: 'search', detail: `${schedule.generations} generations × ${schedule.population} candidates` });
    const { best, checkpoint } = await evolve(sp, seeds, fitness, schedule, seed, {
      signal: r.signal,
      onCandidate: (e) => emit({ type: 'candidate', ...e, of: schedule.population }),
      onGeneration: (summary, b) => emit({ type: 'generation', summary, generations: schedule.generations, best: { params: b.params, ppl: Math.exp(b.fitness), layers: toMasksFile(candidateMask(d, sp, b.candidate), { model: '', method: 'search', granularity, ratio: 0, params: 0, totalParams: 0 }).layers } }),
      checkpoint: (c) => fs.writeFileSync(out.file(CHECKPOINT), JSON.stringify({ ...c, settings })),
    }, resume);
    // Generation 0 evaluates every seed in full.
    const seedFitness = seeds.filter((c) => fitness.cache.get(Fitness.key(c))?.full !== undefined).map((c) => fitness.cache.get(Fitness.key(c))!.full!);
    const initFitness = fitness.cache.get(Fitness.key(init))!.full!;
    const bestMask = candidateMask(d, sp, best.candidate);
    let heldOut: SearchResult['heldOut'];
    if (r.evalText) {
      emit({ type: 'stage', stage: 'held-out perplexity' });
      const ev = consecutiveWindows(tokenizeFile(r.evalText, tok), seqLen, r.evalWindows);
      const [dense, i0, b] = [await evaluator.nll(fullMask(d), ev), await evaluator.nll(candidateMask(d, sp, init), ev), await evaluator.nll(bestMask, ev)];
      heldOut = { text: path.resolve(r.evalText), tokens: b.tokens, dense: perplexity(dense), init: perplexity(i0), best: perplexity(b) };
    }
    const result: SearchResult = {
      out: path.resolve(r.out),
      masks: path.resolve(r.out, 'masks.json'),
      ratio: best.params / sp.totalParams,
      params: best.params,
      totalParams: sp.totalParams,
      granularity,
      schedule,
      seed,
      halving,
      fitness: { init: Math.exp(initFitness), bestSeed: Math.exp(Math.min(...seedFitness)), best: Math.exp(best.fitness), tokensPerEvaluation: windows.length * (seqLen - 1) },
      heldOut,
      evaluations: checkpoint.evaluations,
      tokens: checkpoint.tokens,
      seconds: checkpoint.seconds,
      provider: evaluator.provider,
      history: checkpoint.history,
      evaluated: checkpoint.evaluated,
    };
    fs.writeFileSync(out.file('masks.json'), `${JSON.stringify(toMasksFile(bestMask, { model: path.resolve(r.model), method: 'search', granularity, ratio: result.ratio, params: best.params, totalParams: sp.totalParams }))}\n`);
    fs.writeFileSync(out.file('search.json'), `${JSON.stringify(result)}\n`);
    out.commit();
    return result;
  } catch (e) {
    // A failed or cancelled search keeps its temporary folder only when it has a checkpoint to resume from.
    if (!fs.existsSync(out.file(CHECKPOINT))) out.abort();
    throw e;
  }
}
