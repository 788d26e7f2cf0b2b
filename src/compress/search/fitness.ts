// Fitness = perplexity of a candidate on the fitness windows (paper-spec §1.5), with two savings the paper does
// not have: a cache of evaluated candidates, and early rejection on rungs of windows (successive halving).
import { createHash } from 'node:crypto';
import type { Decoder } from '../../model/decoder';
import type { MaskedEvaluator } from '../maskedEvaluator';
import type { NllSum } from '../../runtime/perplexity';
import { candidateCompensation, candidateKey, candidateMask, type Candidate, type SearchSpace } from './space';

export interface FitnessRecord {
  /** Σ −log p per fitness window, for the windows evaluated so far: a prefix, all of them once `full` is set. */
  windowNll: number[];
  /** Mean NLL per token over all fitness windows; absent while only a prefix is evaluated (rejected early). */
  full?: number;
}

export interface HalvingOptions {
  /** The rungs before the full set, as increasing fractions of the fitness windows. */
  rungs: number[];
  /** How many standard errors worse than the bar a candidate must look before it is dropped. */
  z: number;
}

/**
 * Chosen by replaying recorded plain searches (both TinyStories models, 0.8 and 0.6, and one more seed): with these
 * rungs and z every generation kept exactly the plain run's parents, so the search follows the plain trajectory
 * to the same result, at 0.40–0.49 of its tokens. Rarer checks (two rungs) cost more tokens; a lower z drops
 * candidates that would have become parents, and a diverged trajectory can end several percent apart.
 */
export const DEFAULT_HALVING: HalvingOptions = { rungs: [0.15, 0.45, 0.65, 0.85], z: 2.5 };

/**
 * Fitness on a fixed list of windows with a cache of evaluated candidates and early rejection on rungs: the
 * subnet search's and the profile search's (compress/profile/evaluator.ts) differ only in a candidate's key and
 * how its windows are measured.
 */
export abstract class WindowedFitness<C> {
  cache = new Map<string, FitnessRecord>();
  tokens = 0;
  evaluations = 0;
  /** Window counts at which a candidate may be dropped, ascending, the last one all windows. */
  readonly rungs: number[];
  private readonly windowTokens: number[];

  constructor(
    protected readonly windows: number[][],
    readonly halving?: HalvingOptions,
  ) {
    this.rungs = rungSizes(windows.length, halving);
    this.windowTokens = windows.map((w) => w.length - 1);
  }

  protected abstract key(c: C): string;
  /** Σ −log p of `c` per window of `windows` (a slice of the fitness windows). */
  protected abstract measure(c: C, windows: number[][]): Promise<NllSum>;

  record(c: C): FitnessRecord | undefined {
    return this.cache.get(this.key(c));
  }

  /** Evaluates `c` on its first `upTo` windows (all by default), reusing what is cached. */
  async evaluate(c: C, upTo = this.windows.length): Promise<FitnessRecord> {
    const key = this.key(c);
    const rec = this.cache.get(key) ?? { windowNll: [] };
    const done = rec.windowNll.length;
    if (done < upTo) {
      if (done === 0) this.evaluations++;
      const r = await this.measure(c, this.windows.slice(done, upTo));
      this.tokens += r.tokens;
      rec.windowNll = [...rec.windowNll, ...r.perWindow];
      if (rec.windowNll.length === this.windows.length) rec.full = sum(rec.windowNll) / sum(this.windowTokens);
    }
    this.cache.set(key, rec);
    return rec;
  }

  /**
   * Takes `c` up the rungs from what it has until it is clearly worse than `bar` (fully evaluated) there or has
   * every window; `beforeEach` runs before each evaluation (a cancel check).
   */
  async climb(c: C, bar: FitnessRecord | undefined, beforeEach: () => void): Promise<FitnessRecord> {
    let rec = this.record(c);
    for (const upTo of this.rungs) {
      if (rec && rec.windowNll.length >= upTo) continue;
      if (rec && bar && this.clearlyWorse(rec, bar)) break;
      beforeEach();
      rec = await this.evaluate(c, upTo);
    }
    return rec!;
  }

  /** Mean NLL per token on the windows evaluated so far, to order candidates between rungs. */
  partialMean(rec: FitnessRecord): number {
    return sum(rec.windowNll) / sum(this.windowTokens.slice(0, rec.windowNll.length));
  }

  /** Whether `rec`, evaluated on a prefix of the windows, is clearly worse than `bar`, fully evaluated. */
  clearlyWorse(rec: FitnessRecord, bar: FitnessRecord): boolean {
    return this.halving !== undefined && pairedWorse(rec.windowNll, bar.windowNll, this.windowTokens, this.halving.z);
  }
}

/** A sub-network candidate's fitness: its masks (and compensation) fed to the masked evaluation graph. */
export class Fitness extends WindowedFitness<Candidate> {
  constructor(
    private readonly d: Decoder,
    private readonly sp: SearchSpace,
    private readonly evaluator: MaskedEvaluator,
    windows: number[][],
    halving?: HalvingOptions,
  ) {
    super(windows, halving);
  }

  static key(c: Candidate): string {
    return createHash('sha1').update(candidateKey(c)).digest('hex');
  }

  protected key(c: Candidate): string {
    return Fitness.key(c);
  }

  protected measure(c: Candidate, windows: number[][]): Promise<NllSum> {
    return this.evaluator.nll(candidateMask(this.d, this.sp, c), windows, candidateCompensation(c));
  }
}

/** Window counts of the rungs for `n` fitness windows; a paired test needs two windows at least. */
export function rungSizes(n: number, halving?: HalvingOptions): number[] {
  const early = (halving?.rungs ?? []).map((f) => Math.max(2, Math.round(f * n))).filter((k) => k < n);
  return [...new Set([...early, n])];
}

/**
 * A paired test on per-window differences of mean NLL (which cancels how hard each window is), over the `n`
 * windows `candidate` has, against `bar` known on all `N` = `windowTokens.length`: worse when the mean difference
 * stays above zero by `z` standard errors, with the finite-population correction because the full fitness is the
 * mean over exactly these N windows, so the error shrinks to zero as n reaches N.
 */
export function pairedWorse(candidate: number[], bar: number[], windowTokens: number[], z: number): boolean {
  const n = candidate.length;
  const N = windowTokens.length;
  if (n < 2 || n >= N) return false;
  const d = candidate.map((v, i) => (v - bar[i]) / windowTokens[i]);
  const mean = sum(d) / n;
  const variance = d.reduce((a, x) => a + (x - mean) ** 2, 0) / (n - 1);
  const standardError = Math.sqrt(variance / n) * Math.sqrt((N - n) / (N - 1));
  return mean - z * standardError > 0;
}

const sum = (a: number[]) => a.reduce((x, y) => x + y, 0);
