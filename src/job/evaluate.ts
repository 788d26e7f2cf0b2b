import { whyNotRunnable } from '../model/decoder';
import * as path from 'node:path';
import { textWindows } from '../text/windows';
import type { ProviderChoice } from '../runtime/session';
import { decoderSession, modelFileSession } from '../runtime/decoderSession';
import { batchShape, perplexity, windowsNll } from '../runtime/perplexity';
import { UserError } from '../util/errors';
import { openModel } from './context';

export interface EvalRequest {
  model: string;
  text: string;
  seqLen?: number;
  windows?: number;
  provider: ProviderChoice;
  threads?: number;
  /** `file`: run the .onnx as it is (logits); `ours`: our re-emitted graph with an NLL head (faster, same numbers). */
  graph?: 'file' | 'ours';
  tokenizer?: string;
  batch?: number;
  onProgress?: (done: number, total: number) => void;
  /** Each check's warning as it is found: the input's (also in the result's `warnings`) and the memory's. */
  onWarning?: (message: string) => void;
}

/** What `eval --json` prints. */
export interface EvalResult {
  model: string;
  text: string;
  ppl: number;
  meanNll: number;
  tokens: number;
  windows: number;
  seqLen: number;
  seconds: number;
  provider: string;
  graph: 'file' | 'ours';
  /** What the input checks warn of (CRLF text, predictions worse than uniform guessing). */
  warnings: string[];
}

/** Perplexity with the WikiText protocol: consecutive windows of `seqLen`, loss on every position but the first. */
export async function evaluateModel(r: EvalRequest): Promise<EvalResult> {
  let windows: number[][] = [];
  const {
    decoder: d,
    seqLen,
    warnings,
  } = await openModel(r, { '--text': r.text }, (m) => {
    windows = textWindows(r.text, m.tokenizer, m.seqLen, r.windows);
    return { text: r.text, ids: windows[0] };
  });
  const notRunnable = whyNotRunnable(d);
  const graph = r.graph ?? (notRunnable ? 'ours' : 'file');
  if (graph === 'file' && notRunnable)
    throw new UserError(
      `${path.basename(r.model)} cannot be evaluated as it is: ${notRunnable}; evaluate it with our graph (--graph ours)`,
    );
  const s =
    graph === 'file'
      ? await modelFileSession(d.source.path, d, { provider: r.provider, threads: r.threads })
      : await decoderSession(
          d,
          { kvCache: false, head: 'nll', masks: false },
          { provider: r.provider, threads: r.threads },
        );
  const sum = await windowsNll(s.session, windows, {
    layers: d.layers,
    shape: batchShape(d),
    batch: r.batch,
    onBatch: (n) => r.onProgress?.(n, windows.length),
  });
  return {
    model: path.resolve(r.model),
    text: path.resolve(r.text),
    ppl: perplexity(sum),
    meanNll: sum.nll / sum.tokens,
    tokens: sum.tokens,
    windows: windows.length,
    seqLen,
    seconds: sum.seconds,
    provider: s.provider,
    graph,
    warnings,
  };
}
