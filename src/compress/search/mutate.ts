// Mutation (Algorithm 1 with the errata of paper-spec §1.4) and crossover of candidates.
import type { Rng } from '../../util/random';
import type { Candidate, Range, SearchSpace } from './space';

export interface MutationRates {
  ratio: number; // P_s: resample a layer's keep ratio
  mask: number; // P_m: resample which units are kept
  depth: number; // P_d: resample how many last layers are dropped
}

/** α: the fraction of a mask a mutation keeps (paper: 0.8). */
const SIMILARITY = 0.8;

/** The keep counts a range allows for `n` units (at least one unit). */
export function allowedCounts(n: number, r: Range): number[] {
  const counts = new Set<number>();
  for (let x = r.max; x >= r.min - 1e-9; x -= r.step) counts.add(Math.max(1, Math.min(n, Math.round(x * n))));
  return [...counts].sort((a, b) => a - b);
}

/**
 * A new mask with `k` kept units that shares α·min(|kept|, k) of them with `kept` (chosen at random) and draws the
 * rest uniformly from the other units: the paper's rejection loop replaced by direct sampling (paper-spec §1.4),
 * which also works when k < α·N.
 */
export function mutateMask(rng: Rng, kept: number[], n: number, k: number): number[] {
  const share = Math.min(Math.floor(SIMILARITY * Math.min(kept.length, k)), k);
  const from = rng.sample(kept, share);
  const chosen = new Set(from);
  const rest = rng.sample(
    Array.from({ length: n }, (_, i) => i).filter((i) => !chosen.has(i)),
    k - share,
  );
  return [...from, ...rest].sort((a, b) => a - b);
}

function mutateGene(rng: Rng, kept: number[], n: number, range: Range, rates: MutationRates): number[] {
  let k = kept.length;
  if (rng.next() < rates.ratio) {
    const counts = allowedCounts(n, range);
    k = counts[rng.int(counts.length)];
  }
  // Algorithm 1: an unchanged ratio keeps its mask with probability 1 − P_m.
  if (k === kept.length && rng.next() >= rates.mask) return kept;
  return mutateMask(rng, kept, n, k);
}

/** A module's compensation bias flips with the ratio-mutation probability (it is a choice like the ratio). */
const mutateBias = (rng: Rng, on: boolean | undefined, rates: MutationRates) =>
  rng.next() < rates.ratio ? !on : Boolean(on);

export function mutate(rng: Rng, sp: SearchSpace, c: Candidate, rates: MutationRates): Candidate {
  const layers = c.layers.map((l, i) => ({
    attn: mutateGene(rng, l.attn, sp.attnUnits[i], sp.attnRange, rates),
    mlp: mutateGene(rng, l.mlp, sp.mlpUnits[i], sp.mlpRange, rates),
    ...(sp.compensation
      ? { attnBias: mutateBias(rng, l.attnBias, rates), mlpBias: mutateBias(rng, l.mlpBias, rates) }
      : {}),
  }));
  if (!sp.maxDrop) return { layers };
  return { layers, drop: rng.next() < rates.depth ? rng.int(sp.maxDrop + 1) : (c.drop ?? 0) };
}

/**
 * Uniform crossover per layer and module: each gene (a module's mask with its compensation bias) comes whole
 * from one parent (as the released code does).
 */
export function crossover(rng: Rng, a: Candidate, b: Candidate): Candidate {
  const layers = a.layers.map((la, i) => {
    const attn = rng.next() < 0.5 ? la : b.layers[i];
    const mlp = rng.next() < 0.5 ? la : b.layers[i];
    return {
      attn: attn.attn,
      mlp: mlp.mlp,
      ...(attn.attnBias === undefined ? {} : { attnBias: attn.attnBias, mlpBias: mlp.mlpBias }),
    };
  });
  return a.drop === undefined ? { layers } : { layers, drop: rng.next() < 0.5 ? a.drop : b.drop };
}
