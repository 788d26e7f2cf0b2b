import { loadDecoder } from '../model/recognise';
import type { Decoder } from '../model/decoder';
import { loadModelTokenizer, type TextTokenizer } from '../text/tokenizer';
import { defaultSeqLen, tokenizeFile } from '../text/windows';
import type { ProviderChoice } from '../runtime/session';
import { UserError } from '../util/errors';
import type { JobListener } from './protocol';

/** What every job over a model and its calibration text is asked. */
export interface ModelJobRequest {
  model: string;
  calib: string;
  out: string;
  seqLen?: number;
  /** Held-out text for the reported perplexity. */
  evalText?: string;
  evalWindows?: number;
  provider: ProviderChoice;
  tokenizer?: string;
}

/** What every compression stage works from: the recognised model, its tokenizer and the calibration tokens. */
export interface JobContext {
  decoder: Decoder;
  tokenizer: TextTokenizer;
  seqLen: number;
  calibIds: number[];
  provider: ProviderChoice;
  emit: JobListener;
}

export function openContext(r: { model: string; calib: string; seqLen?: number; tokenizer?: string; provider: ProviderChoice; onEvent?: JobListener }): JobContext {
  const decoder = loadDecoder(r.model);
  const tokenizer = loadModelTokenizer(r.model, decoder.config.vocab, r.tokenizer);
  const seqLen = r.seqLen ?? defaultSeqLen(decoder.config.maxPositions);
  if (seqLen < 2 || seqLen > decoder.config.maxPositions) throw new UserError(`--seq-len ${seqLen} must be between 2 and the model's context ${decoder.config.maxPositions}`);
  return { decoder, tokenizer, seqLen, calibIds: tokenizeFile(r.calib, tokenizer), provider: r.provider, emit: r.onEvent ?? (() => {}) };
}
