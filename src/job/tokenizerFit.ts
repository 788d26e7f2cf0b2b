// Whether the tokenizer's ids mean to the model what the tokenizer means: a tokenizer of the right size but another
// vocabulary passes every structural check, and a job on it runs to the end on nonsense (perplexity 8450 at
// vocabulary 512). One short forward pass on the text catches it before the heavy steps.
import * as path from 'node:path';
import type { Decoder } from '../model/decoder';
import type { TextTokenizer } from '../text/tokenizer';
import { decoderSession } from '../runtime/decoderSession';
import { perplexity, windowsNll } from '../runtime/perplexity';
import type { SessionOptions } from '../runtime/session';
import { UserError } from '../util/errors';

/** Tokens of the probe: a stable mean loss, and one short forward pass even for a large model. */
export const PROBE_TOKENS = 128;

/**
 * Uniform guessing has perplexity = the vocabulary size; a model that has learnt anything does better on real text.
 * A random-weight model (bench/randomModels.ts: weights of std 0.02, logits of spread ~0.02·√hidden) sits at 1 to
 * ~2.3× the vocabulary; a trained model fed another vocabulary's ids far above it (stories260K: 16×). Above this
 * many times the vocabulary the job is refused; between 1× and it, a warning says so.
 */
export const REFUSE_FACTOR = 4;

/**
 * The dense model's perplexity on the first tokens of `ids` (the text as `tok` tokenizes it): a UserError naming
 * the tokenizer, the model and the text when it is far worse than uniform guessing, a warning when merely worse.
 */
export async function checkTokenizerFits(
  d: Decoder,
  tok: TextTokenizer,
  ids: number[],
  text: string,
  session: SessionOptions,
): Promise<string | undefined> {
  const window = ids.slice(0, Math.min(PROBE_TOKENS, d.config.maxPositions));
  if (window.length < 2) return undefined;
  const s = await decoderSession(
    d,
    { kvCache: false, head: 'nll', masks: false },
    { provider: session.provider, threads: session.threads },
  );
  let ppl: number;
  try {
    ppl = perplexity(await windowsNll(s.session, [window]));
  } finally {
    await s.session.release();
  }
  const vocab = d.config.vocab;
  const what = `the model's perplexity on the first ${window.length} tokens of ${path.basename(text)} is ${ppl.toFixed(0)}, ${(ppl / vocab).toFixed(1)}× that of uniform guessing over its ${vocab} tokens`;
  if (ppl > REFUSE_FACTOR * vocab) {
    throw new UserError(
      `tokenizer ${tok.source} does not match model ${d.source.path}: ${what}; pass the model's own tokenizer with --tokenizer (same size, different vocabulary)`,
    );
  }
  return ppl > vocab
    ? `${what}: the tokenizer (${tok.source}) may not match the model, or the model is untrained`
    : undefined;
}
