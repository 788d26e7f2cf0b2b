// The rules every job's numbers obey, in one place. The CLI's argument parsers and the job functions (the requests
// of the extension and of library callers) check with the same rules, so a value is refused the same way whoever
// asks, and before any heavy work: a count of 0 or a "NaN" once ran a job or fell back to a default silently.
import { SPARSEGPT_BLOCK, type SparsityPattern } from '../compress/sparsify/pattern';
import type { SearchSchedule } from '../compress/search/evolution';
import { MASK_SELECTIONS } from '../compress/sparsify/maskSelection';
import { UserError } from '../util/errors';
import { isRatio } from './defaults';

/** What a value must be, in words the user reads after the flag, and the test. */
export interface NumberRule {
  expects: string;
  ok: (n: number) => boolean;
}

const wholeAtLeast = (min: number): NumberRule => ({
  expects: `a whole number, ${min} or more`,
  ok: (n) => Number.isInteger(n) && n >= min,
});
const fraction: NumberRule = { expects: 'a fraction strictly between 0 and 1, such as 0.8', ok: (n) => n > 0 && n < 1 };

/** A quantization block: the sizes ONNX Runtime's MatMulNBits kernel accepts (measured: 512 is refused at load). */
const BLOCK_SIZES = [16, 32, 64, 128, 256];
const blockSize: NumberRule = {
  expects: `one of ${BLOCK_SIZES.join(', ')} (the block sizes ONNX Runtime's MatMulNBits accepts)`,
  ok: (n) => BLOCK_SIZES.includes(n),
};

/** The numeric fields of job requests, by field name, with the flag the CLI spells them as. */
export const RULES = {
  ratio: {
    flag: '--ratio',
    ok: isRatio,
    expects: 'a fraction of the parameters to keep, strictly between 0 and 1, such as 0.8',
  },
  tolerance: {
    flag: '--tolerance',
    ...fraction,
    expects: 'a fraction of all parameters above 0 and below 1, such as 0.01',
  },
  seqLen: { flag: '--seq-len', ...wholeAtLeast(2) },
  windows: { flag: '--windows', ...wholeAtLeast(1) },
  evalWindows: { flag: '--eval-windows', ...wholeAtLeast(1) },
  calibWindows: { flag: '--calib-windows', ...wholeAtLeast(1) },
  fitnessWindows: { flag: '--fitness-windows', ...wholeAtLeast(1) },
  generations: { flag: '--generations', ...wholeAtLeast(1) },
  // One mutant, one crossover and one random candidate: the fewest that keep every share of the preset.
  population: { flag: '--population', ...wholeAtLeast(3) },
  seed: { flag: '--seed', ...wholeAtLeast(0) },
  threads: {
    flag: '--threads',
    ...wholeAtLeast(0),
    expects: "a whole number of threads, 0 (ONNX Runtime's default) or more",
  },
  maxTokens: { flag: '--max-tokens', ...wholeAtLeast(1) },
  blockSize: { flag: '--block-size', ...blockSize },
  batch: { flag: '--batch', ...wholeAtLeast(1) },
  profileGenerations: { flag: '--profile-generations', ...wholeAtLeast(1) },
} satisfies Record<string, NumberRule & { flag: string }>;

export type RuleName = keyof typeof RULES;

/** What is wrong with a value, without the flag (commander names the flag itself), or undefined. */
export function ruleProblem(name: RuleName, value: unknown): string | undefined {
  return typeof value === 'number' && RULES[name].ok(value) ? undefined : `expected ${RULES[name].expects}`;
}

/**
 * Command-line text → number, strictly: '', 'abc' and '12abc' are refused rather than read as 0, NaN or 12.
 * Throws a UserError that says what was expected (the CLI turns it into commander's InvalidArgumentError).
 */
export function parseRuleValue(name: RuleName, text: string): number {
  const n = text.trim() === '' ? NaN : Number(text);
  const problem = ruleProblem(name, n);
  if (problem) throw new UserError(problem);
  return n;
}

/** Checks every field of a job request that has a rule (and its search schedule); absent ones take defaults later. */
export function checkRequest(r: Partial<Record<RuleName, unknown>> & { schedule?: Partial<SearchSchedule> }): void {
  for (const name of Object.keys(RULES) as RuleName[]) {
    const value = r[name];
    const problem = value === undefined ? undefined : ruleProblem(name, value);
    if (problem) throw new UserError(`${RULES[name].flag} ${String(value)}: ${problem}`);
  }
  checkSchedule(r.schedule);
}

/** The largest M of N:M sparsity: groups wider than a weight's inputs hold no group at all, so 0 % sparsity. */
export const MAX_NM_GROUP = 64;

/** `--sparsity` text: a fraction (0.5) or N:M (2:4) with 1 ≤ N < M ≤ 64; a UserError says what was expected. */
export function parseSparsity(text: string): SparsityPattern {
  const nm = /^\s*(\d+)\s*:\s*(\d+)\s*$/.exec(text);
  const pattern: SparsityPattern = nm
    ? { kind: 'nm', n: Number(nm[1]), m: Number(nm[2]) }
    : { kind: 'unstructured', sparsity: text.trim() === '' ? NaN : Number(text) };
  const problem = patternProblem(pattern);
  if (problem) throw new UserError(problem);
  return pattern;
}

function patternProblem(p: SparsityPattern): string | undefined {
  if (p.kind === 'unstructured') {
    if (p.sparsity > 0 && p.sparsity < 1) return undefined;
    // A percentage is the likely slip: say which fraction it would be.
    const percent = p.sparsity > 1 && p.sparsity < 100 ? `; for ${p.sparsity} %, give ${p.sparsity / 100}` : '';
    return `expected a fraction of zeros strictly between 0 and 1 (0.5), or N:M (2:4)${percent}`;
  }
  if (!(Number.isInteger(p.n) && Number.isInteger(p.m) && p.n >= 1 && p.n < p.m))
    return 'N:M needs 1 ≤ N < M (N zeros in every M weights), such as 2:4';
  if (p.m > MAX_NM_GROUP)
    return `N:M needs M ≤ ${MAX_NM_GROUP}: a group wider than a layer's inputs zeroes nothing (1:1000000 would leave the model dense)`;
  return undefined;
}

const patternText = (p: SparsityPattern) => (p.kind === 'nm' ? `${p.n}:${p.m}` : String(p.sparsity));

/** A weight stage asked through the job API: the same rules as `--sparsity`, `--bits` and `--block-size`. */
export function checkWeightStageRequest(
  s:
    | {
        sparsity?: { pattern: SparsityPattern; method?: string; selection?: string };
        quant?: { bits: number; blockSize: number };
        profile?: string;
        profileGenerations?: number;
      }
    | undefined,
): void {
  if (!s) return;
  const problem = s.sparsity && patternProblem(s.sparsity.pattern);
  if (problem) throw new UserError(`--sparsity ${patternText(s.sparsity!.pattern)}: ${problem}`);
  if (s.quant && s.quant.bits !== 4 && s.quant.bits !== 8) throw new UserError(`--bits ${s.quant.bits}: choose 4 or 8`);
  const nm = s.sparsity?.pattern.kind === 'nm' ? s.sparsity.pattern : undefined;
  // SparseGPT chooses N:M groups on current weights inside its 128-input blocks, as the reference does.
  if (nm && s.sparsity?.method === 'sparsegpt' && SPARSEGPT_BLOCK % nm.m !== 0)
    throw new UserError(
      `--sparsity ${patternText(nm)}: SparseGPT needs M to divide its block of ${SPARSEGPT_BLOCK} inputs (2:4, 4:8, 1:16 …); Wanda and magnitude take any M ≤ ${MAX_NM_GROUP}`,
    );
  if (s.quant) checkRequest({ blockSize: s.quant.blockSize });
  const selection = s.sparsity?.selection;
  if (selection && !(MASK_SELECTIONS as readonly string[]).includes(selection))
    throw new UserError(`--mask-selection ${selection}: choose ${MASK_SELECTIONS.join(' or ')}`);
  if (selection && (s.sparsity?.method ?? 'sparsegpt') !== 'sparsegpt')
    throw new UserError(
      `--mask-selection applies to SparseGPT; ${s.sparsity!.method} always compares the weights of each output`,
    );
  if (selection && nm)
    throw new UserError(
      `--mask-selection applies to unstructured sparsity; ${patternText(nm)} chooses within each group of ${nm.m} inputs`,
    );
  const profile = s.profile ?? 'uniform';
  if (s.profileGenerations !== undefined && profile !== 'search')
    throw new UserError('--profile-generations sets the generations of --profile search: give --profile search too');
  checkRequest({ profileGenerations: s.profileGenerations });
  if (!['uniform', 'owl', 'search'].includes(profile))
    throw new UserError(`--profile ${profile}: choose uniform, owl or search`);
  if (profile !== 'uniform' && s.sparsity?.pattern.kind === 'nm')
    throw new UserError(
      `--profile ${profile} spreads unstructured sparsity over the layers; N:M (${patternText(s.sparsity.pattern)}) is the same in every layer: give a fraction such as --sparsity 0.5`,
    );
  if (profile === 'owl' && !s.sparsity)
    throw new UserError(
      '--profile owl sets per-layer sparsity: give --sparsity (for mixed int4/int8 use --bits 4 --profile search)',
    );
  if (profile === 'search' && !s.sparsity && s.quant?.bits !== 4)
    throw new UserError(
      '--profile search with --bits alone mixes int4 and int8 under the size of int4 + 10 %: give --bits 4',
    );
}

/** A search schedule given through the job API (the CLI builds it from --preset, --generations, --population). */
export function checkSchedule(s: Partial<SearchSchedule> | undefined): void {
  if (!s) return;
  checkRequest({ generations: s.generations });
  for (const key of ['mutants', 'crossovers', 'randoms'] as const) {
    const v = s[key];
    if (v !== undefined && !(Number.isInteger(v) && v >= 0))
      throw new UserError(`schedule.${key} ${v}: expected a whole number, 0 or more`);
  }
  if (s.parents !== undefined && !(Number.isInteger(s.parents) && s.parents >= 2))
    throw new UserError(`schedule.parents ${s.parents}: expected a whole number, 2 or more (crossover needs two)`);
}

/**
 * `--population` over a preset: its mutants / crossovers / randoms keep their shares and add up to exactly the
 * population asked for (each at least one), and its parents scale with it (at least two, for crossover).
 */
export function scheduleOverrides(
  base: SearchSchedule,
  o: { generations?: number; population?: number },
): Partial<SearchSchedule> {
  const generations = o.generations === undefined ? {} : { generations: o.generations };
  if (o.population === undefined) return generations;
  const p = o.population;
  const share = (n: number) => Math.max(1, Math.round((n * p) / base.population));
  const [crossovers, randoms] = [share(base.crossovers), share(base.randoms)];
  return {
    ...generations,
    mutants: p - crossovers - randoms,
    crossovers,
    randoms,
    parents: Math.min(p, Math.max(2, Math.round((base.parents * p) / base.population))),
  };
}
