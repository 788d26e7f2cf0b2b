// Defaults and valid ranges of the job's options, in one place: the CLI's options, the job functions, the VS Code
// settings (package.json contributes.configuration; test/unit/defaults.test.ts keeps them equal to SETTINGS) and
// the Compress form (the webview receives its lists and the ratio's range from the host in its init message).
// The tokenizer reads only as far as the window counts reach: context.ts.
import { METHODS, type Method } from '../compress/importance/scores';
import type { Granularity } from '../compress/importance/units';
import { PROVIDERS, type ProviderChoice } from '../runtime/session';

/** SparseGPT-style calibration windows sampled for activation statistics. */
export const DEFAULT_CALIB_WINDOWS = 64;

/** Held-out windows `sparsify` / `quantize` measure perplexity on. */
export const DEFAULT_EVAL_WINDOWS = 64;

/** Consecutive fitness / reformation windows: about 10k tokens (paper-spec §1.8). */
export const defaultFitnessWindows = (seqLen: number) => Math.ceil(10240 / seqLen);

/**
 * The inheriting ratio, the fraction of all parameters to keep: one valid range for the CLI, the job (search and
 * baselines alike), the settings and the form, strictly between 0 and 1. Whether a ratio is possible for a given
 * model (embeddings and one head per layer stay) is checked against the model (job/prune.ts `checkRatio`).
 */
export const RATIO = { exclusiveMinimum: 0, exclusiveMaximum: 1, default: 0.8 } as const;
export const isRatio = (n: number) => n > RATIO.exclusiveMinimum && n < RATIO.exclusiveMaximum;

/** The search's budget window is [ratio − tolerance, ratio] of all parameters. */
export const DEFAULT_TOLERANCE = 0.01;
export const DEFAULT_GRANULARITY: Granularity = 'head';
export const DEFAULT_SEED = 0;
/** Quantization block size along the input dimension (MatMulNBits). */
export const DEFAULT_BLOCK_SIZE = 32;
export const DEFAULT_PROVIDER: ProviderChoice = 'auto';
/** ONNX Runtime intra-op threads; 0: its default (one per core). */
export const DEFAULT_THREADS = 0;

export { PROVIDERS };

/** What `compress --method` chooses (the search, or a baseline instead of it), with the label the Compress form shows. */
const METHOD_LABELS: Record<'search' | Method, string> = {
  search: 'evolutionary search',
  magnitude: 'magnitude',
  'wanda-sp': 'Wanda-sp',
  flap: 'FLAP',
  obs: 'OBS importance',
};
export const COMPRESS_METHODS = (['search', ...METHODS] as const).map((m) => [m, METHOD_LABELS[m]] as const);

/** The extension's settings (package.json contributes.configuration, keys without `subnetSearch.`): defaults and ranges. */
export const SETTINGS = {
  executionProvider: { default: DEFAULT_PROVIDER, enum: PROVIDERS },
  threads: { default: DEFAULT_THREADS, minimum: 0 },
  defaultRatio: {
    default: RATIO.default,
    exclusiveMinimum: RATIO.exclusiveMinimum,
    exclusiveMaximum: RATIO.exclusiveMaximum,
  },
  calibrationFile: { default: '' },
  outputLocation: { default: '' },
} as const;
