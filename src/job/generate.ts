import * as path from 'node:path';
import { whyNotRunnable } from '../model/decoder';
import type { ProviderChoice } from '../runtime/session';
import { decoderSession, modelFileSession } from '../runtime/decoderSession';
import { generateGreedy } from '../runtime/generate';
import { loadModelTokenizer } from '../text/tokenizer';
import { UserError } from '../util/errors';
import { checkRequest } from './options';
import { loadRunnableDecoder } from './context';

const DEFAULT_MAX_TOKENS = 256;

export interface GenerateRequest {
  prompt: string;
  /** Tokens in all, the prompt included (default: 256, or the model's context where that is shorter). */
  maxTokens?: number;
  provider: ProviderChoice;
  threads?: number;
  original?: boolean;
  tokenizer?: string;
  /** Where the model may not fit the memory there is (`memoryCheck`), said before it is loaded. */
  onWarning?: (message: string) => void;
}

export interface GenerateResult {
  text: string;
  ids: number[];
  tokens: number;
  seconds: number;
  provider: string;
}

/** Greedy text from a model, through the graph we emit for it (or the user's original file). */
export async function generateText(model: string, r: GenerateRequest): Promise<GenerateResult> {
  checkRequest(r);
  const d = loadRunnableDecoder(model, r.tokenizer, r.onWarning);
  const tok = loadModelTokenizer(model, d.config.vocab, r.tokenizer);
  const notRunnable = whyNotRunnable(d);
  if (r.original && notRunnable)
    throw new UserError(
      `--original needs a model file that runs as it is; ${path.basename(model)}: ${notRunnable}. Without --original it generates through our graph of its weights`,
    );
  const context = d.config.maxPositions;
  const maxTokens = r.maxTokens ?? Math.min(DEFAULT_MAX_TOKENS, context);
  const prompt = tok.encode(r.prompt, { bos: true });
  // Past its context a model's positions are ones it never saw: what `eval --seq-len` refuses too.
  if (maxTokens > context)
    throw new UserError(
      `--max-tokens ${maxTokens} is more than the model's context of ${context} tokens (the prompt included); use at most ${context}`,
    );
  if (prompt.length >= maxTokens)
    throw new UserError(
      `the prompt is ${prompt.length} tokens, which leaves none to generate within --max-tokens ${maxTokens} (the prompt included)`,
    );
  const session = { provider: r.provider, threads: r.threads };
  const s = r.original
    ? await modelFileSession(d.source.path, d, session)
    : await decoderSession(d, { kvCache: true, head: 'logits', masks: false }, session);
  const t0 = performance.now();
  // llama2.c convention: a generated BOS ends the story.
  const ids = await generateGreedy(s.session, d.layers, prompt, {
    maxTokens,
    stopIds: [d.config.bosTokenId, d.config.eosTokenId],
  });
  const seconds = (performance.now() - t0) / 1000;
  return { text: tok.decode(ids), ids, tokens: ids.length, seconds, provider: s.provider };
}
