// `compress`'s stages after the masks: reformation, export (with the weight stage), measurements, and the report.
import { PROFILE_DATABASE } from '../util/outputFolder';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { SessionOptions } from '../runtime/session';
import { describeRuns, latencySetup, measureLatency, type Latency } from '../runtime/latency';
import type { Method } from '../compress/importance/scores';
import { sliceDecoder, type SubnetMask } from '../compress/subnet';
import { compensatedModules } from '../compress/importance/compensation';
import { reformDecoder } from '../compress/reform/reformation';
import { DEFAULT_REFORM } from '../compress/reform/reformLayer';
import { exportedAs, exportedKvCache, writeModelFiles } from '../compress/exportModel';
import { runnableSource, type Decoder } from '../model/decoder';
import { summarize } from './inspect';
import type { OutputFolder } from '../util/outputFolder';
import { throwIfCancelled } from '../util/errors';
import type { JobContext } from './context';
import type { CompressReport } from './compressReport';
import { stagePerplexities } from './stagePerplexity';
import type { NllSum } from '../runtime/perplexity';
import type { ProfileReport } from '../compress/profile/profileStage';
import { describeStage, weightStagePass } from './weightStage';
import {
  comparisonNotes,
  honestNotes,
  latencyProgress,
  measureModels,
  measureProgress,
  type MeasureProgress,
} from './measureModel';
import type { ChosenMasks } from './compressMasks';
import type { CompressRequest } from './compressRequest';
import type { StageTime } from './stageClock';

/**
 * 2. Reformation of o_proj / down_proj on calibration windows. It starts from the original weights and refits a
 * module with a compensation bias together with its bias (least squares with an intercept): the compensation bias
 * as it is, added to refitted rows, would count the removed channels' mean twice.
 */
export async function reformStage(
  ctx: JobContext,
  r: CompressRequest,
  m: ChosenMasks,
  calib: number[][],
): Promise<{ reformed: Decoder; reformation: CompressReport['reformation'] }> {
  if (!(r.reform ?? true)) return { reformed: m.model, reformation: undefined };
  const d = ctx.decoder;
  throwIfCancelled(r.signal, 'reformation');
  ctx.emit({ type: 'stage', stage: 'reformation' });
  const rt = performance.now();
  const opts = { ...DEFAULT_REFORM, method: r.reformMethod ?? DEFAULT_REFORM.method };
  const res = await reformDecoder(
    d,
    m.mask,
    calib,
    opts,
    ctx.session,
    (l) => {
      ctx.emit({ type: 'reform', layer: l, layers: d.layers.length });
      ctx.emit({ type: 'progress', stage: 'reformation', done: l.layer + 1, total: d.layers.length, unit: 'layers' });
    },
    m.bias && compensatedModules(m.bias),
  );
  return {
    reformed: res.decoder,
    reformation: { method: opts.method, seconds: (performance.now() - rt) / 1000, layers: res.layers },
  };
}

/** 3. Export: the physically smaller model (after the weight stage, if any), written under the temporary name. */
export async function exportStage(
  ctx: JobContext,
  r: CompressRequest,
  reformed: Decoder,
  mask: SubnetMask,
  calib: number[][],
  out: OutputFolder,
) {
  ctx.emit({ type: 'stage', stage: 'export' });
  const small = sliceDecoder(reformed, mask);
  let final = small;
  let profile: ProfileReport | undefined;
  if (r.weightStage) {
    ctx.emit({ type: 'stage', stage: describeStage(r.weightStage) });
    ({ decoder: final, profile } = await weightStagePass(
      small,
      calib,
      r.weightStage,
      out.file(PROFILE_DATABASE),
      ctx.session,
      ctx.emit,
    ));
  }
  // Reformation's and the weight stage's loops check the signal per layer; the fitting after the last does not.
  throwIfCancelled(r.signal, 'export');
  final = exportedAs(final, r.dtype);
  writeModelFiles(final, out.tmp, ctx.tokenizer);
  return { small, final, profile, exportedFile: out.file('model.onnx') };
}

/** 4. Measurements: perplexity at every stage, of the exported file too, and latency side by side. */
export async function measureStage(
  ctx: JobContext,
  r: CompressRequest,
  method: 'search' | Method,
  models: {
    masked: Decoder;
    reformed: Decoder;
    mask: SubnetMask;
    small: Decoder;
    final: Decoder;
    exportedFile: string;
  },
  calib: number[][],
  heldOut: number[][] | undefined,
) {
  const d = ctx.decoder;
  const { small, final, exportedFile } = models;
  ctx.emit({ type: 'stage', stage: 'measure' });
  const onProgress = measureProgress(ctx.emit);
  const measured = await stagePerplexities(
    { original: d, masked: models.masked, reformed: models.reformed, mask: models.mask, exportedFile, exported: final },
    heldOut ? [calib, heldOut] : [calib],
    ctx.session,
    onProgress,
  );
  const [pplCalibration, heldOutPpl] = measured.sets;
  const pplHeldOut = heldOutPpl && { ...heldOutPpl, text: path.resolve(r.evalText!) };
  // With a weight stage every stage is measured side by side (latency included); without, the two files are timed.
  // The last window set's NLLs of the reformed masks (the sliced model's graph) and of the exported file are
  // reused; the original is measured through its own file, which may compute otherwise (in fp16, say).
  const last = measured.sets.length - 1;
  const reused = (nll: NllSum[]) => ({ nll: nll[last], provider: measured.provider });
  const stages = r.weightStage
    ? await measureModels(
        [
          { stage: 'original', decoder: d, file: runnableSource(d) },
          { stage: `${method} + reformation`, decoder: small, measured: reused(measured.nll.after) },
          {
            stage: `+ ${describeStage(r.weightStage)}`,
            decoder: final,
            file: exportedFile,
            measured: reused(measured.nll.exported),
          },
        ],
        heldOut ?? calib,
        ctx.session,
        onProgress,
      )
    : undefined;
  const [original, compressed] = stages
    ? [stages[0].latency, stages[2].latency]
    : await timeAgainstOriginal(d, exportedFile, final, ctx.session, onProgress);
  return { pplCalibration, pplHeldOut, stages, latency: { provider: measured.provider, original, compressed } };
}

/** 5. The report: sizes before and after, perplexities, latency, and the honest notes. */
export function compressReport(
  ctx: JobContext,
  r: CompressRequest,
  method: 'search' | Method,
  parts: {
    m: ChosenMasks;
    reformation: CompressReport['reformation'];
    final: Decoder;
    exportedFile: string;
    profile?: ProfileReport;
    measured: Awaited<ReturnType<typeof measureStage>>;
    seconds: number;
    stageTimes: StageTime[];
  },
): CompressReport {
  const d = ctx.decoder;
  const { m, final, exportedFile, profile, measured } = parts;
  const { pplCalibration, pplHeldOut, stages, latency } = measured;
  const { original: lo, compressed: lc } = latency;
  const originalSummary = summarize(d);
  const compressed = {
    ...summarize({ ...final, source: { ...final.source, path: exportedFile, kvCache: exportedKvCache(final) } }),
    file: path.join(path.resolve(r.out), 'model.onnx'),
  };
  return {
    version: 1,
    out: path.resolve(r.out),
    model: d.source.path,
    method,
    granularity: m.granularity,
    ratio: compressed.totals.params / originalSummary.totals.params,
    targetRatio: r.ratio,
    params: { before: originalSummary.totals.params, after: compressed.totals.params },
    fileBytes: { before: originalSummary.fileBytes, after: compressed.fileBytes },
    kvCacheBytesPerToken: {
      before: originalSummary.totals.kvCacheBytesPerToken,
      after: compressed.totals.kvCacheBytesPerToken,
    },
    ppl: pplHeldOut ?? pplCalibration,
    pplCalibration,
    pplHeldOut,
    reformation: parts.reformation,
    search: m.search,
    original: originalSummary,
    compressed,
    latency: {
      provider: latency.provider,
      original: lo,
      compressed: lc,
      decodeSpeedup: lc.decodeTokensPerSecond / lo.decodeTokensPerSecond,
      prefillSpeedup: lo.prefillMs / lc.prefillMs,
      runs: describeRuns(lo),
    },
    stages,
    ...(profile ? { profile } : {}),
    notes: [
      ...ctx.warnings,
      ...(stages ? honestNotes(stages[1], stages[2], Boolean(r.weightStage?.sparsity)) : []),
      ...comparisonNotes(d, final),
    ],
    seconds: parts.seconds,
    stageTimes: parts.stageTimes,
  };
}

/** Decode and prefill latency of the original and the exported model, interleaved on the same provider. */
async function timeAgainstOriginal(
  d: Decoder,
  exportedFile: string,
  final: Decoder,
  session: SessionOptions,
  onProgress: MeasureProgress,
): Promise<Latency[]> {
  // A llama2.c input (or a bf16-fed file) has no ONNX file to time here: its dense re-emission stands in for it.
  const own = runnableSource(d);
  const dir = own ? undefined : fs.mkdtempSync(path.join(os.tmpdir(), 'subnet-search-dense-'));
  if (dir) writeModelFiles(d, dir, undefined);
  try {
    const originalFile = dir ? path.join(dir, 'model.onnx') : own!;
    return await measureLatency(
      [
        { file: originalFile, layers: d.layers },
        { file: exportedFile, layers: final.layers },
      ],
      {
        ...session,
        ...latencySetup(d.config.maxPositions),
        vocab: d.config.vocab,
        halfTensors: d.weightType === 'float16' || final.weightType === 'float16',
        onRun: latencyProgress(onProgress, ['original', 'the export']),
      },
    );
  } finally {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  }
}
