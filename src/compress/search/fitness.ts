// Fitness = perplexity of a candidate on the fitness windows (paper-spec §1.5), with two savings the paper does
// not have: a cache of evaluated candidates, and early rejection on a first rung of windows (successive halving).
import { createHash } from 'node:crypto';
import type { Decoder } from '../../model/decoder';
import type { MaskedEvaluator } from '../maskedEvaluator';
import { candidateCompensation, candidateKey, candidateMask, type Candidate, type SearchSpace } from './space';

export interface FitnessRecord {
  /** Summed NLL and token count on the first rung of windows (all windows without halving). */
  rungNll: number;
  rungTokens: number;
  /** Mean NLL on all fitness windows; absent when the candidate was rejected on the first rung. */
  full?: number;
}

export const rungMean = (r: FitnessRecord) => r.rungNll / r.rungTokens;

export interface HalvingOptions {
  /** Fraction of the fitness windows in the first rung. */
  firstRung: number;
  /** Reject when the first-rung NLL exceeds the bar (the k-th best candidate's) by more than this relative margin. */
  margin: number;
}

export const DEFAULT_HALVING: HalvingOptions = { firstRung: 0.2, margin: 0 };

export class Fitness {
  cache = new Map<string, FitnessRecord>();
  tokens = 0;
  evaluations = 0;
  private readonly rung: number[][];
  private readonly rest: number[][];

  constructor(private readonly d: Decoder, private readonly sp: SearchSpace, private readonly evaluator: MaskedEvaluator, windows: number[][], readonly halving?: HalvingOptions) {
    const n = halving ? Math.max(1, Math.round(windows.length * halving.firstRung)) : windows.length;
    this.rung = windows.slice(0, n);
    this.rest = windows.slice(n);
  }

  static key(c: Candidate): string {
    return createHash('sha1').update(candidateKey(c)).digest('hex');
  }

  /**
   * Evaluates `c` (from the cache when seen before). With halving and a `threshold` (the worst parent's first-rung
   * mean NLL), a candidate clearly worse on the first rung is not evaluated further.
   */
  async evaluate(c: Candidate, threshold?: number): Promise<FitnessRecord> {
    const key = Fitness.key(c);
    let rec = this.cache.get(key);
    if (rec?.full !== undefined) return rec;
    const mask = candidateMask(this.d, this.sp, c);
    const compensate = candidateCompensation(c);
    if (!rec) {
      const r = await this.evaluator.nll(mask, this.rung, compensate);
      this.tokens += r.tokens;
      this.evaluations++;
      rec = { rungNll: r.nll, rungTokens: r.tokens };
    }
    const rejected = this.halving !== undefined && threshold !== undefined && rungMean(rec) > threshold * (1 + this.halving.margin);
    if (!rejected) {
      const rest = this.rest.length ? await this.evaluator.nll(mask, this.rest, compensate) : { nll: 0, tokens: 0 };
      this.tokens += rest.tokens;
      rec = { ...rec, full: (rec.rungNll + rest.nll) / (rec.rungTokens + rest.tokens) };
    }
    this.cache.set(key, rec);
    return rec;
  }
}
