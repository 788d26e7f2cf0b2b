// The evolutionary search of paper-spec §1.5: an importance-initialised population, then per generation mutants,
// crossovers and high-randomness mutants of the top-k parents, candidates outside the budget re-sampled before
// any evaluation, elitist top-k selection. Deterministic for a seed; checkpointed after every generation.
import { Rng } from '../../util/random';
import { median } from '../../util/median';
import { UserError } from '../../util/errors';
import { crossover, mutate, type MutationRates } from './mutate';
import { Fitness, type FitnessRecord } from './fitness';
import { candidateParams, withinBudget, type Candidate, type SearchSpace } from './space';

export interface SearchSchedule {
  generations: number;
  population: number; // candidates per generation = mutants + crossovers + randoms
  parents: number; // top-k
  mutants: number;
  crossovers: number;
  randoms: number;
}

/** The paper's schedule (100 / 10 / 50 / 30 / 20, 50 generations) and smaller ones for small models and quick runs. */
export const PRESETS: Record<'paper' | 'small' | 'quick', SearchSchedule> = {
  paper: { generations: 50, population: 100, parents: 10, mutants: 50, crossovers: 30, randoms: 20 },
  small: { generations: 20, population: 40, parents: 8, mutants: 20, crossovers: 12, randoms: 8 },
  quick: { generations: 6, population: 16, parents: 4, mutants: 8, crossovers: 4, randoms: 4 },
};

const INITIAL_RATES: MutationRates = { ratio: 0.3, mask: 0.6, depth: 0 }; // P⁰_s, P⁰_m, no depth mutation
const RATES: MutationRates = { ratio: 0.1, mask: 0.3, depth: 0.1 }; // P_s, P_m, P_d
const MAX_RESAMPLE = 200;

export interface Scored {
  candidate: Candidate;
  params: number;
  fitness: number; // full mean NLL
}

export interface GenerationSummary {
  generation: number;
  /** Perplexities of this generation's fully evaluated candidates. */
  best: number;
  median: number;
  worst: number;
  bestSoFar: number;
  rejectedEarly: number;
  evaluations: number; // cumulative, distinct candidates
  tokens: number; // cumulative
  seconds: number; // cumulative
}

export interface SearchCheckpoint {
  version: 2;
  generation: number; // last completed
  rngState: number;
  parents: Scored[];
  cache: [string, FitnessRecord][];
  history: GenerationSummary[];
  tokens: number;
  evaluations: number;
  seconds: number;
  /** Every fully evaluated candidate's (params, ppl), for the Pareto view. */
  evaluated: [number, number][];
}

export interface SearchEvents {
  /** Once per candidate when it is decided; `decided` counts this generation's decided candidates so far. */
  onCandidate?: (e: { generation: number; index: number; decided: number; params: number; ppl?: number }) => void;
  onGeneration?: (e: GenerationSummary, best: Scored) => void;
  checkpoint?: (c: SearchCheckpoint) => void;
  signal?: AbortSignal;
}

export class CancelledError extends UserError {
  constructor() {
    super('cancelled; the last completed generation is checkpointed and --resume continues from it', 130);
  }
}

/** `seeds[0]` is the importance initialisation; further seeds join the initial population as they are. */
export async function evolve(
  sp: SearchSpace,
  seeds: Candidate[],
  fitness: Fitness,
  schedule: SearchSchedule,
  seed: number,
  ev: SearchEvents = {},
  resume?: SearchCheckpoint,
): Promise<{ best: Scored; checkpoint: SearchCheckpoint }> {
  const rng = new Rng(seed);
  let parents: Scored[] = [];
  let history: GenerationSummary[] = [];
  let evaluated: [number, number][] = [];
  let start = 0;
  let secondsBefore = 0;
  if (resume) {
    rng.state = resume.rngState;
    parents = resume.parents;
    history = resume.history;
    evaluated = resume.evaluated;
    fitness.cache = new Map(resume.cache);
    fitness.tokens = resume.tokens;
    fitness.evaluations = resume.evaluations;
    secondsBefore = resume.seconds;
    start = resume.generation + 1;
  }
  const t0 = performance.now();
  const inBudget = (make: () => Candidate): Candidate => {
    for (let i = 0; i < MAX_RESAMPLE; i++) {
      const c = make();
      if (withinBudget(sp, c)) return c;
    }
    throw new UserError(
      `no candidate within the budget after ${MAX_RESAMPLE} tries; widen --tolerance or change --ratio`,
    );
  };

  for (let gen = start; gen <= schedule.generations; gen++) {
    // Generation 0: the importance-initialised seeds and high-randomness mutants of the first.
    const children: Candidate[] = [];
    if (gen === 0) {
      const init = seeds[0];
      if (!withinBudget(sp, init))
        throw new UserError(`the initial candidate (${candidateParams(sp, init)} parameters) is outside the budget`);
      children.push(...seeds.filter((c) => withinBudget(sp, c)));
      while (children.length < schedule.population) children.push(inBudget(() => mutate(rng, sp, init, INITIAL_RATES)));
    } else {
      const pick = () => parents[rng.int(parents.length)].candidate;
      for (let i = 0; i < schedule.mutants; i++) children.push(inBudget(() => mutate(rng, sp, pick(), RATES)));
      for (let i = 0; i < schedule.crossovers; i++) children.push(inBudget(() => crossover(rng, pick(), pick())));
      for (let i = 0; i < schedule.randoms; i++) children.push(inBudget(() => mutate(rng, sp, pick(), INITIAL_RATES)));
    }
    const scored: Scored[] = [];
    let rejected = 0;
    let decided = 0;
    const decide = (index: number, rec: FitnessRecord) => {
      const c = children[index];
      const params = candidateParams(sp, c);
      decided++;
      if (rec.full === undefined) {
        rejected++;
        ev.onCandidate?.({ generation: gen, index, decided, params });
        return;
      }
      scored.push({ candidate: c, params, fitness: rec.full });
      evaluated.push([params, Math.exp(rec.full)]);
      ev.onCandidate?.({ generation: gen, index, decided, params, ppl: Math.exp(rec.full) });
    };
    const cancelCheck = () => {
      if (ev.signal?.aborted) throw new CancelledError();
    };
    const evaluate = (index: number, upTo?: number) => {
      cancelCheck();
      return fitness.evaluate(children[index], upTo);
    };
    // Without halving, and for candidates already fully evaluated: the full fitness, in order.
    const pending: number[] = [];
    for (const index of children.keys()) {
      if (fitness.halving && fitness.record(children[index])?.full === undefined) pending.push(index);
      else decide(index, await evaluate(index));
    }
    // Successive halving: every new candidate on the first rung, then the most promising first, so that the bar
    // (the k-th best fully evaluated candidate) is tight early; each one goes up the rungs until it is clearly
    // worse than the bar there or reaches the full set.
    for (const index of pending) await evaluate(index, fitness.rungs[0]);
    const firstRung = new Map(pending.map((i) => [i, fitness.partialMean(fitness.record(children[i])!)]));
    pending.sort((a, b) => firstRung.get(a)! - firstRung.get(b)!);
    for (const index of pending) {
      const bar = kthBest([...parents, ...scored], schedule.parents);
      decide(index, await fitness.climb(children[index], bar && fitness.record(bar.candidate), cancelCheck));
    }
    parents = bestDistinct([...parents, ...scored], schedule.parents);
    const ppl = scored.map((s) => Math.exp(s.fitness));
    const summary: GenerationSummary = {
      generation: gen,
      best: ppl.length ? Math.min(...ppl) : NaN,
      median: ppl.length ? median(ppl) : NaN,
      worst: ppl.length ? Math.max(...ppl) : NaN,
      bestSoFar: Math.exp(parents[0].fitness),
      rejectedEarly: rejected,
      evaluations: fitness.evaluations,
      tokens: fitness.tokens,
      seconds: secondsBefore + (performance.now() - t0) / 1000,
    };
    history.push(summary);
    ev.onGeneration?.(summary, parents[0]);
    ev.checkpoint?.(snapshot(gen));
  }
  return { best: parents[0], checkpoint: snapshot(schedule.generations) };

  function snapshot(generation: number): SearchCheckpoint {
    const seconds = history.at(-1)?.seconds ?? 0;
    return {
      version: 2,
      generation,
      rngState: rng.state,
      parents,
      cache: [...fitness.cache],
      history,
      tokens: fitness.tokens,
      evaluations: fitness.evaluations,
      seconds,
      evaluated,
    };
  }
}

/** The `k` best distinct candidates by full fitness (elitist selection). */
function bestDistinct(pool: Scored[], k: number): Scored[] {
  const seen = new Set<string>();
  return [...pool]
    .sort((a, b) => a.fitness - b.fitness)
    .filter((s) => {
      const key = Fitness.key(s.candidate);
      return !seen.has(key) && seen.add(key);
    })
    .slice(0, k);
}

/** The bar a new candidate must beat to become a parent; undefined while fewer than `k` are known. */
function kthBest(pool: Scored[], k: number): Scored | undefined {
  return bestDistinct(pool, k)[k - 1];
}
