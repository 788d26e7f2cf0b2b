// Window counts every job uses when the request leaves them out, in one place (the tokenizer reads only as far as
// they reach: context.ts).

/** SparseGPT-style calibration windows sampled for activation statistics. */
export const DEFAULT_CALIB_WINDOWS = 64;

/** Held-out windows `sparsify` / `quantize` measure perplexity on. */
export const DEFAULT_EVAL_WINDOWS = 64;

/** Consecutive fitness / reformation windows: about 10k tokens (paper-spec §1.8). */
export const defaultFitnessWindows = (seqLen: number) => Math.ceil(10240 / seqLen);
