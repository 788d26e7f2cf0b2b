import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { floatBytes, FLOAT_NAMES, intNames, linearWeightsOf, quantizedBits, type Decoder } from '../model/decoder';
import { exportedKvCache, writeModelFiles } from '../compress/exportModel';
import type { SessionOptions } from '../runtime/session';
import { modelFileSession } from '../runtime/decoderSession';
import { batchShape, perplexity, windowsNll, type NllSum } from '../runtime/perplexity';
import { latencySetup, measureLatency, type Latency } from '../runtime/latency';
import { residentBytes } from '../runtime/residentMemory';
import { totalCounts, weightSize } from '../model/params';
import { zeroCount } from '../model/zeroCount';
import { modelFileBytes } from '../onnx/modelFile';
import type { JobListener } from './protocol';

/** What a model file costs and how well it predicts: the numbers every stage of a report shows. */
export interface ModelMeasure {
  stage: string;
  provider: string;
  params: number;
  /** Weights that are exactly zero, as a fraction of the linear layers' weights. */
  zeroFraction: number;
  fileBytes: number;
  residentBytes: number;
  ppl: number;
  tokens: number;
  latency: Latency;
}

/** A model measured without any text (`quantize` by round-to-nearest runs without one): no perplexity, 0 tokens. */
export type ModelMeasureNoText = Omit<ModelMeasure, 'ppl'> & { ppl: null };

function zeroFraction(d: Decoder): number {
  const linears = linearWeightsOf(d);
  const total = linears.reduce((a, w) => a + weightSize(w), 0);
  return linears.reduce((a, w) => a + zeroCount(w), 0) / total;
}

type MeasuredModel = {
  stage: string;
  decoder: Decoder;
  file?: string;
  /** Its NLL on the same windows, already measured on `provider` (at 7B a pass is minutes): not measured again. */
  measured?: { nll: NllSum; provider: string };
};

/** A perplexity for people: `null` (no text to measure on) says so rather than printing NaN. */
export const pplText = (ppl: number | null, digits: number) => (ppl === null ? 'not measured' : ppl.toFixed(digits));

/** Where a measurement stands, for the progress bar: `what` ("perplexity of original"), `done` of `total` `unit`. */
export type MeasureProgress = (what: string, done: number, total: number, unit: string) => void;

/** A job's measure stage's progress, a bar per part ("measure: latency"). */
export const measureProgress =
  (emit: JobListener): MeasureProgress =>
  (what, done, total, unit) =>
    emit({ type: 'progress', stage: `measure: ${what}`, done, total, unit });

/** Latency runs as `MeasureProgress`: one bar for interleaved runs, one per model where they run one after another. */
export const latencyProgress =
  (onProgress: MeasureProgress | undefined, stages: string[]) => (done: number, total: number, model?: number) =>
    onProgress?.(model === undefined ? 'latency' : `latency of ${stages[model]}`, done, total, 'runs');

/**
 * Measures model files side by side: perplexity through each file as it is (on `windows`; none: not measured),
 * latency with interleaved runs on the same provider, resident memory in fresh processes. `files[i]` may be
 * omitted to export `decoders[i]` first; a model's NLL already `measured` is taken as it is.
 */
export async function measureModels(
  models: MeasuredModel[],
  windows: number[][],
  session: SessionOptions,
  onProgress?: MeasureProgress,
): Promise<ModelMeasure[]>;
export async function measureModels(
  models: MeasuredModel[],
  windows: number[][] | undefined,
  session: SessionOptions,
  onProgress?: MeasureProgress,
): Promise<(ModelMeasure | ModelMeasureNoText)[]>;
export async function measureModels(
  models: MeasuredModel[],
  windows: number[][] | undefined,
  session: SessionOptions,
  onProgress?: MeasureProgress,
): Promise<(ModelMeasure | ModelMeasureNoText)[]> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'subnet-search-measure-'));
  try {
    const files = models.map((m, i) => {
      if (m.file) return m.file;
      const dir = path.join(tmp, String(i));
      fs.mkdirSync(dir);
      writeModelFiles(m.decoder, dir, undefined);
      return path.join(dir, 'model.onnx');
    });
    const d0 = models[0].decoder;
    const latency = await measureLatency(
      files.map((file, i) => ({ file, layers: models[i].decoder.layers })),
      {
        ...session,
        ...latencySetup(d0.config.maxPositions),
        vocab: d0.config.vocab,
        halfTensors: models.some((m) => m.decoder.weightType === 'float16'),
        onRun: latencyProgress(
          onProgress,
          models.map((m) => m.stage),
        ),
      },
    );
    const nlls: { nll: NllSum | undefined; provider: string }[] = [];
    for (const [i, m] of models.entries())
      nlls.push(
        m.measured ??
          (await nllThroughFile(files[i], m.decoder, windows, session, (done) =>
            onProgress?.(`perplexity of ${m.stage}`, done, windows!.length, 'windows'),
          )),
      );
    // One bar for the fresh processes, after the perplexities (each a bar of its own).
    const resident: number[] = [];
    for (const [i, m] of models.entries()) {
      onProgress?.('resident memory', i, models.length, 'models');
      resident.push(await residentBytes(files[i], m.decoder.layers, nlls[i].provider, session.signal));
    }
    onProgress?.('resident memory', models.length, models.length, 'models');
    return models.map((m, i) => ({
      stage: m.stage,
      provider: nlls[i].provider,
      params: totalCounts(m.decoder).params,
      zeroFraction: zeroFraction(m.decoder),
      fileBytes: modelFileBytes(files[i]),
      residentBytes: resident[i],
      ppl: nlls[i].nll ? perplexity(nlls[i].nll!) : null,
      tokens: nlls[i].nll?.tokens ?? 0,
      latency: latency[i],
    }));
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/** `windows`' NLL through `file` (none without windows), in a session of its own released after. */
async function nllThroughFile(
  file: string,
  d: Decoder,
  windows: number[][] | undefined,
  session: SessionOptions,
  onBatch: (done: number) => void,
): Promise<{ nll: NllSum | undefined; provider: string }> {
  const s = await modelFileSession(file, d, session);
  try {
    const nll = windows
      ? await windowsNll(s.session, windows, {
          layers: d.layers,
          shape: batchShape(d),
          signal: session.signal,
          onBatch,
        })
      : undefined;
    return { nll, provider: s.provider };
  } finally {
    // Each holds a model's weights: one at a time.
    await s.session.release();
  }
}

/** What else differs between the original as measured and the export: another float type, a stand-in original. */
export function comparisonNotes(original: Decoder, exported: Decoder): string[] {
  const notes: string[] = [];
  const [from, to] = [original.weightType ?? 'float32', exported.weightType ?? 'float32'];
  if (from !== to)
    notes.push(
      `The export is ${to} (--dtype), the original ${from}: its file size, memory and speed differ by that too, not by the compression alone.`,
    );
  // A quantized input is worked on dequantized: without --bits the export is dense (and may be larger), with it the
  // values are rounded a second time.
  const [bits, exportedBits] = [quantizedBits(original), quantizedBits(exported)];
  if (bits.length && !exportedBits.length)
    notes.push(
      `The original's linear weights are ${intNames(bits)} (MatMulNBits) and the export's are ${to}: they were worked on dequantized, so the file can be larger than the original's; add --bits ${bits[0]} to quantize the export again.`,
    );
  if (bits.length && exportedBits.length)
    notes.push(
      `The original was already ${intNames(bits)}: its dequantized weights were quantized again to ${intNames(exportedBits)}, adding a second rounding to the first.`,
    );
  // An fp16 export's cache is fp16; any other's is fp32, like all our graphs' activations.
  const [kvFrom, kvTo] = [original.source.kvCache ?? 'float32', exportedKvCache(exported)];
  if (kvFrom !== kvTo)
    notes.push(
      `The original's KV cache is ${FLOAT_NAMES[kvFrom]}, the export's ${FLOAT_NAMES[kvTo]}: at the same KV heads each token of context takes ${floatBytes(kvTo) > floatBytes(kvFrom) ? 'twice' : 'half'} the memory.`,
    );
  if (original.source.notRunnable)
    notes.push(
      `The original file cannot run here (${original.source.notRunnable}): its weights, re-emitted by subnet-search with fp32 inputs and outputs, stand in for it in the timings and memory.`,
    );
  return notes;
}

/** Plain words where a stage bought no speed or size (the top complaint about sparsity tools, anchors.md §4). */
export function honestNotes(
  before: ModelMeasure | ModelMeasureNoText,
  after: ModelMeasure | ModelMeasureNoText,
  sparsified: boolean,
): string[] {
  const notes: string[] = [];
  const speedup = after.latency.decodeTokensPerSecond / before.latency.decodeTokensPerSecond;
  if (sparsified) {
    if (speedup < 1.1)
      notes.push(
        `${(after.zeroFraction * 100).toFixed(0)}% of the linear weights are zero, but the ${after.provider} execution provider runs them with dense kernels: decode speed ${speedup.toFixed(2)}× the original (no speed-up from sparsity).`,
      );
    if (after.fileBytes > 0.9 * before.fileBytes)
      notes.push(
        'The zeros are stored densely, so the file is not smaller; combine with --bits 4 (int4 MatMulNBits) or structured pruning (compress) to shrink it.',
      );
  }
  return notes;
}
