import { loadDecoder } from '../model/recognise';
import { fitsInMemory } from '../runtime/decoderSession';
import type { Decoder } from '../model/decoder';
import { loadModelTokenizer, type TextTokenizer } from '../text/tokenizer';
import { checkTextFile } from '../text/textCheck';
import { defaultSeqLen, sampledPoolTokens, tokenizePrefix, windowTokens } from '../text/windows';
import type { ProviderChoice } from '../runtime/session';
import { UserError } from '../util/errors';
import type { JobListener } from './protocol';
import { DEFAULT_CALIB_WINDOWS, defaultFitnessWindows } from './defaults';
import type { LayerwiseOptions } from '../compress/calibration';
import { checkRequest } from './options';
import { checkTokenizerFits } from './tokenizerFit';
import { memoryCheck } from './memoryCheck';

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
  /** ONNX Runtime intra-op threads (0 or absent: its default). */
  threads?: number;
  tokenizer?: string;
  /** Cancels the job between layers, batches and candidates. */
  signal?: AbortSignal;
}

/** What every compression stage works from: the recognised model, its tokenizer and the calibration tokens. */
export interface JobContext {
  decoder: Decoder;
  tokenizer: TextTokenizer;
  seqLen: number;
  /** The calibration text's first tokens, as many as the job's stages use (`calibrationTokens`). */
  calibIds: number[];
  provider: ProviderChoice;
  threads?: number;
  signal?: AbortSignal;
  /** What every stage's ONNX Runtime sessions and layer loops are opened with. */
  session: LayerwiseOptions;
  emit: JobListener;
  /** What the input checks warn of (CRLF text, predictions worse than uniform guessing), already emitted; reports repeat them as notes. */
  warnings: string[];
}

/** What a job does with its calibration text, as far as its request says: how many tokens of it to tokenize. */
export interface CalibrationUse {
  /** SparseGPT-style sampled windows for the statistics of the importance scores (default 64). */
  calibWindows?: number;
  /** Consecutive fitness / reformation windows from the start of the text (default ~10k tokens). */
  fitnessWindows?: number;
  evalText?: string;
  evalWindows?: number;
  /**
   * Whether, without `evalText`, the job measures perplexity on the calibration text's consecutive windows (all of
   * them unless `evalWindows`), as `prune` does. Default true, the safe side: `compress` and `search` never do and
   * may pass false.
   */
  evalOnCalib?: boolean;
}

/**
 * The most calibration tokens any stage of a job reads (Infinity: the whole text): the pool the sampled
 * calibration windows are drawn from (`sampledPoolTokens`), the fitness / reformation windows, and the
 * perplexity windows on the calibration text when there is no held-out text. The defaults are those of
 * defaults.ts.
 */
export function calibrationTokens(r: CalibrationUse, seqLen: number): number {
  return Math.max(
    sampledPoolTokens(seqLen, r.calibWindows ?? DEFAULT_CALIB_WINDOWS),
    windowTokens(seqLen, r.fitnessWindows ?? defaultFitnessWindows(seqLen)),
    r.evalText || r.evalOnCalib === false ? 0 : windowTokens(seqLen, r.evalWindows),
  );
}

/**
 * The model, its tokenizer and the calibration tokens, the texts checked (`checkTextFile`) and the tokenizer tried on
 * the calibration text (`checkTokenizerFits`) before any heavy step. `calibIds` holds the first `calibrationTokens(r)` tokens of
 * the calibration text (the whole text when it is shorter): every window any stage takes from it is the same as
 * from the whole text's tokens (sampled windows are drawn from a bounded prefix, see `sampledWindows`).
 */
export async function openContext(
  r: {
    model: string;
    calib: string;
    seqLen?: number;
    tokenizer?: string;
    provider: ProviderChoice;
    threads?: number;
    signal?: AbortSignal;
    onEvent?: JobListener;
  } & CalibrationUse,
): Promise<JobContext> {
  let calibIds: number[] = [];
  const emit = r.onEvent ?? (() => {});
  const { decoder, tokenizer, seqLen, warnings } = await openModel(
    { ...r, onWarning: (message) => emit({ type: 'warning', message }) },
    { '--calib': r.calib, '--eval': r.evalText },
    (m) => {
      calibIds = tokenizePrefix(r.calib, m.tokenizer, calibrationTokens(r, m.seqLen));
      return { text: r.calib, ids: calibIds };
    },
  );
  const session: LayerwiseOptions = { provider: r.provider, threads: r.threads, signal: r.signal };
  return {
    decoder,
    tokenizer,
    seqLen,
    calibIds,
    provider: r.provider,
    threads: r.threads,
    signal: r.signal,
    session,
    emit,
    warnings,
  };
}

/** The recognised model, its tokenizer, the window length, and what the input checks warn of. */
export interface ModelSetup {
  decoder: Decoder;
  tokenizer: TextTokenizer;
  seqLen: number;
  warnings: string[];
}

/**
 * The one setup path of every job over a model and its texts: every numeric field of the request under the CLI's
 * rules (before the model is read), the texts checked (`checkTexts`), the model recognised and checked against the
 * memory there is (`memoryCheck`), its tokenizer loaded, the window length checked against the model's context, and
 * the tokenizer tried (`checkTokenizerFits`) on the tokens `probe` gives (it tokenizes what its job needs anyway)
 * before any heavy step. Each warning goes to `onWarning` as it is found (the tokenizer's try is the first step that
 * holds every weight: a job the system stops there has said why it might), and all but the memory's are returned
 * for the reports.
 */
export async function openModel(
  r: Parameters<typeof checkRequest>[0] & {
    model: string;
    seqLen?: number;
    tokenizer?: string;
    provider: ProviderChoice;
    threads?: number;
    signal?: AbortSignal;
    onWarning?: (message: string) => void;
  },
  texts: Record<string, string | undefined>,
  probe: (m: ModelSetup) => { text: string; ids: number[] } | undefined,
): Promise<ModelSetup> {
  checkRequest(r);
  const warnings: string[] = [];
  const warn = (w: string) => {
    warnings.push(w);
    r.onWarning?.(w);
  };
  checkTexts(texts).forEach(warn);
  // About the machine, not the model: said, but not among the warnings a report keeps.
  const decoder = loadRunnableDecoder(r.model, r.tokenizer, r.onWarning);
  const tokenizer = loadModelTokenizer(r.model, decoder.config.vocab, r.tokenizer);
  const seqLen = r.seqLen ?? defaultSeqLen(decoder.config.maxPositions);
  if (seqLen < 2 || seqLen > decoder.config.maxPositions)
    throw new UserError(`--seq-len ${seqLen} must be between 2 and the model's context ${decoder.config.maxPositions}`);
  const m = { decoder, tokenizer, seqLen, warnings };
  const p = probe(m);
  const fit =
    p && (await checkTokenizerFits(decoder, tokenizer, p.ids, p.text, { provider: r.provider, threads: r.threads }));
  if (fit) warn(fit);
  return m;
}

/**
 * `file` recognised, for a job that runs it: a llama2.c checkpoint is turned into graphs that hold its weights
 * themselves, and above the in-memory limit every session would write a temporary copy of all of them (design.md
 * "Scale": no copies of the weights), so such a file is converted once by the user instead. Refused where its
 * weights cannot be held in memory (on Linux, unless SUBNET_SEARCH_MEMORY_CHECK=warn); `warn` hears where a job may
 * run out of memory (`memoryCheck`).
 */
export function loadRunnableDecoder(file: string, tokenizer?: string, warn?: (message: string) => void): Decoder {
  const d = loadDecoder(file);
  if (d.source.format === 'llama2c' && !fitsInMemory(d, { kvCache: false, head: 'nll', masks: false }))
    throw new UserError(
      `${file} holds over 1 GiB of weights in llama2.c format, which every ONNX Runtime session would copy; convert it once with \`subnet-search convert ${file} --out DIR${tokenizer ? ` --tokenizer ${tokenizer}` : ''}\` and run on DIR/model.onnx`,
    );
  const memory = memoryCheck(d);
  if (memory) warn?.(memory);
  return d;
}

/** `checkTextFile` on each text given, keyed by its option: the warnings of all of them. */
export function checkTexts(files: Record<string, string | undefined>): string[] {
  return Object.entries(files).flatMap(([role, file]) => (file ? checkTextFile(file, role) : []));
}
