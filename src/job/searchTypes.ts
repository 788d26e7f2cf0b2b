// The options, outcome and result of the search job (job/search.ts).
import type { Granularity } from '../compress/importance/units';
import type { SubnetMask } from '../compress/subnet';
import type { CompensationBias, CompensationFlags, CompensationMeans } from '../compress/importance/compensation';
import type { GenerationSummary, PRESETS, SearchSchedule } from '../compress/search/evolution';
import type { JobListener } from './protocol';
import type { ModelJobRequest } from './context';

export interface SearchOptions {
  ratio: number;
  granularity?: Granularity;
  preset?: keyof typeof PRESETS;
  schedule?: Partial<SearchSchedule>;
  seed?: number;
  /** The budget window is [ratio − tolerance, ratio] of all parameters. */
  tolerance?: number;
  /** Fitness windows: consecutive windows from the start of the calibration text (paper: 5 × 2048 tokens). */
  fitnessWindows?: number;
  calibWindows?: number;
  /** Early rejection on a first rung of windows (successive halving); off = the paper's plain schedule. */
  halving?: boolean;
  /**
   * `obs`: the paper's initialisation (OBS importance, uniform ratio). `all` (default): the initial population
   * also holds the Wanda-sp, magnitude and FLAP selections, so the search starts from the best training-free mask.
   */
  init?: 'obs' | 'all';
  /**
   * FLAP's bias compensation as part of the search space (default on): per module, whether o_proj / down_proj get
   * the bias that stands in for what the candidate removes. The biases count as parameters; fitness, held-out
   * perplexity and the masks file include them.
   */
  biasCompensation?: boolean;
  /** Depth search: below a 0.7 ratio a candidate may also drop the last layers whole (paper-spec §1.1). */
  depth?: boolean;
  resume?: boolean;
  signal?: AbortSignal;
}

export interface SearchRequest extends SearchOptions, ModelJobRequest {
  onEvent?: JobListener;
}

export interface SearchOutcome {
  mask: SubnetMask;
  ratio: number;
  params: number;
  totalParams: number;
  granularity: Granularity;
  schedule: SearchSchedule;
  seed: number;
  halving: boolean;
  /** Which modules of the result have a compensation bias. */
  compensate: CompensationFlags;
  /** How many last layers the result drops (depth search). */
  droppedLayers: number;
  /** The result's compensation biases (absent when it has none). */
  bias?: CompensationBias;
  /** What the masked graph needs to measure any mask with compensation (absent without it). */
  compensationMeans?: CompensationMeans;
  /** Fitness perplexities: the OBS initialisation, the best seed of the initial population, the result. */
  fitness: { init: number; bestSeed: number; best: number; tokensPerEvaluation: number };
  evaluations: number;
  tokens: number;
  seconds: number;
  provider: string;
  history: GenerationSummary[];
  /** (params, perplexity) of every fully evaluated candidate. */
  evaluated: [number, number][];
  /** The OBS initialisation's mask, for before/after comparisons. */
  initMask: SubnetMask;
}

/** What `search --json` prints; also `search.json` in the output folder. */
export type SearchResult = Omit<SearchOutcome, 'mask' | 'initMask' | 'bias' | 'compensationMeans'> & {
  out: string;
  masks: string;
  heldOut?: { text: string; tokens: number; dense: number; init: number; best: number };
};
