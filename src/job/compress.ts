// `compress`: masks (search, or a baseline) → reformation → physically smaller export → report, in one job.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { consecutiveWindows, textWindows } from '../text/windows';
import { DEFAULT_GRANULARITY, defaultFitnessWindows } from './defaults';
import type { SessionOptions } from '../runtime/session';
import { measureLatency, type Latency } from '../runtime/latency';
import type { Method } from '../compress/importance/scores';
import type { Granularity } from '../compress/importance/units';
import { maskedParams, sliceDecoder, type SubnetMask } from '../compress/subnet';
import { outerParams } from '../compress/importance/select';
import { MASKS_FILE, readMasksFile, writeMasksFile } from '../compress/masksFile';
import { compensatedModules, withBiases, type CompensationBias } from '../compress/importance/compensation';
import { reformDecoder } from '../compress/reform/reformation';
import { DEFAULT_REFORM, type ReformMethod } from '../compress/reform/reformLayer';
import { writeModelFiles } from '../compress/exportModel';
import { totalCounts } from '../model/params';
import type { Decoder } from '../model/decoder';
import { summarize } from './inspect';
import { OutputFolder } from '../util/outputFolder';
import { writeFileAtomic, writeJsonAtomic } from '../util/atomicWrite';
import { throwIfCancelled } from '../util/errors';
import { openContext, type JobContext, type ModelJobRequest } from './context';
import { baselineMask } from './prune';
import { runSearch, searchArguments, SEARCH_CHECKPOINT, type SearchOptions, type SearchOutcome } from './search';
import { JOB_ARGUMENTS, maskArguments, recordArguments, type ArgumentValues, type JobArguments } from './jobArguments';
import { checkWeightStageRequest } from './options';
import type { JobListener } from './protocol';
import { renderReport } from './reportMarkdown';
import type { CompressReport } from './compressReport';
import { stagePerplexities } from './stagePerplexity';
import type { WeightStage } from '../compress/sparsify/sparsifyDecoder';
import type { ProfileReport } from '../compress/profile/profileStage';
import { describeStage, weightStagePass } from './weightStage';
import { honestNotes, measureModels } from './measureModel';

export interface CompressRequest extends SearchOptions, ModelJobRequest {
  /** `search` (default) or a baseline that replaces it. */
  method?: 'search' | Method;
  reform?: boolean;
  reformMethod?: ReformMethod;
  onEvent?: JobListener;
  /** Sparsity and/or quantization after reformation (the two seeds composed). */
  weightStage?: WeightStage;
}

const MASKS = MASKS_FILE;
/** The report's `search` section, kept beside the masks so that a job resumed from them still reports its search. */
const SEARCH_SECTION = 'search-summary.json';

type SearchSection = NonNullable<CompressReport['search']>;

function searchSection(s: SearchOutcome): SearchSection {
  return {
    evaluations: s.evaluations,
    tokens: s.tokens,
    seconds: s.seconds,
    history: s.history,
    fitness: s.fitness,
    schedule: s.schedule,
    evaluated: s.evaluated,
    droppedLayers: s.droppedLayers,
  };
}

/** An interrupted job's search section; absent for a folder from before it was kept. */
function readSearchSection(out: OutputFolder): SearchSection | undefined {
  try {
    return JSON.parse(fs.readFileSync(out.file(SEARCH_SECTION), 'utf8')) as SearchSection;
  } catch {
    return undefined;
  }
}

/** What the masks depend on (`fixed`) and what only reformation, export and the weight stage use (`later`). */
function compressArguments(ctx: JobContext, r: CompressRequest, method: 'search' | Method): JobArguments {
  const masks =
    method === 'search'
      ? searchArguments(ctx, r)
      : {
          ...maskArguments(ctx.decoder.source.path, ctx.seqLen, r),
          '--bias-compensation': r.biasCompensation ?? method === 'flap',
        };
  const reformWindows: ArgumentValues =
    method === 'search' ? {} : { '--fitness-windows': r.fitnessWindows ?? defaultFitnessWindows(ctx.seqLen) };
  return {
    fixed: { '--method': method, ...masks },
    later: {
      '--reform': r.reform ?? true,
      '--reform-method': r.reformMethod ?? DEFAULT_REFORM.method,
      ...reformWindows,
      '--sparsity/--bits': r.weightStage ? describeStage(r.weightStage) : null,
    },
  };
}

/** The sub-network a compression keeps, and the model its masks apply to. */
interface ChosenMasks {
  mask: SubnetMask;
  bias?: CompensationBias;
  search?: SearchSection;
  granularity: Granularity;
  /** The original with the compensation biases of FLAP or of a compensated search (or the original itself). */
  model: Decoder;
}

/** 1. Which sub-network: from a finished earlier run's masks, a (resumed) search, or a baseline; masks.json written. */
async function chooseMasks(
  ctx: JobContext,
  r: CompressRequest,
  method: 'search' | Method,
  out: OutputFolder,
): Promise<ChosenMasks> {
  const d = ctx.decoder;
  let mask: SubnetMask;
  let bias: CompensationBias | undefined;
  let search: SearchSection | undefined;
  let granularity: Granularity = r.granularity ?? DEFAULT_GRANULARITY;
  if (r.resume && fs.existsSync(out.file(MASKS))) {
    ctx.emit({ type: 'log', message: 'resuming with the masks of the interrupted run' });
    ({
      mask,
      meta: { bias },
    } = readMasksFile(out.file(MASKS), d));
    search = method === 'search' ? readSearchSection(out) : undefined;
  } else if (method === 'search') {
    const outcome = await runSearch(ctx, { ...r, resume: r.resume }, out);
    mask = outcome.mask;
    bias = outcome.bias;
    search = searchSection(outcome);
    writeJsonAtomic(out.file(SEARCH_SECTION), search);
  } else {
    const b = await baselineMask(ctx, { ...r, method });
    mask = b.mask;
    bias = b.bias;
    granularity = b.granularity;
  }
  const model = bias ? withBiases(d, bias) : d;
  const params = maskedParams(model, mask, outerParams(d));
  const total = totalCounts(d).params;
  writeMasksFile(out.file(MASKS), mask, {
    model: d.source.path,
    method,
    granularity,
    params,
    totalParams: total,
    bias,
  });
  return { mask, bias, search, granularity, model };
}

/**
 * 2. Reformation of o_proj / down_proj on calibration windows. It starts from the original weights and refits a
 * module with a compensation bias together with its bias (least squares with an intercept): the compensation bias
 * as it is, added to refitted rows, would count the removed channels' mean twice.
 */
async function reformStage(
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
async function exportStage(
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
      out.file('profile-database'),
      ctx.session,
      ctx.emit,
    ));
  }
  // Reformation's and the weight stage's loops check the signal per layer; the fitting after the last does not.
  throwIfCancelled(r.signal, 'export');
  writeModelFiles(final, out.tmp, ctx.tokenizer);
  return { small, final, profile, exportedFile: out.file('model.onnx') };
}

/** 4. Measurements: perplexity at every stage, of the exported file too, and latency side by side. */
async function measureStage(
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
  const measured = await stagePerplexities(
    { original: d, masked: models.masked, reformed: models.reformed, mask: models.mask, exportedFile, exported: final },
    heldOut ? [calib, heldOut] : [calib],
    ctx.session,
  );
  const [pplCalibration, heldOutPpl] = measured.sets;
  const pplHeldOut = heldOutPpl && { ...heldOutPpl, text: path.resolve(r.evalText!) };
  // With a weight stage every stage is measured side by side (latency included); without, the two files are timed.
  const stages = r.weightStage
    ? await measureModels(
        [
          { stage: 'original', decoder: d, file: d.source.format === 'onnx' ? d.source.path : undefined },
          { stage: `${method} + reformation`, decoder: small },
          { stage: `+ ${describeStage(r.weightStage)}`, decoder: final, file: exportedFile },
        ],
        heldOut ?? calib,
        ctx.session,
      )
    : undefined;
  const [original, compressed] = stages
    ? [stages[0].latency, stages[2].latency]
    : await timeAgainstOriginal(d, exportedFile, final, ctx.session);
  return { pplCalibration, pplHeldOut, stages, latency: { provider: measured.provider, original, compressed } };
}

/** 5. The report: sizes before and after, perplexities, latency, and the honest notes. */
function compressReport(
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
  },
): CompressReport {
  const d = ctx.decoder;
  const { m, final, exportedFile, profile, measured } = parts;
  const { pplCalibration, pplHeldOut, stages, latency } = measured;
  const { original: lo, compressed: lc } = latency;
  const originalSummary = summarize(d);
  const compressed = {
    ...summarize({ ...final, source: { ...final.source, path: exportedFile } }),
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
    },
    stages,
    ...(profile ? { profile } : {}),
    notes: [...ctx.warnings, ...(stages ? honestNotes(stages[1], stages[2], Boolean(r.weightStage?.sparsity)) : [])],
    seconds: parts.seconds,
  };
}

export async function compressModel(r: CompressRequest): Promise<CompressReport> {
  const t0 = performance.now();
  checkWeightStageRequest(r.weightStage);
  const ctx = await openContext({ ...r, evalOnCalib: false });
  const method = r.method ?? 'search';
  // The held-out text is read before any heavy step, so a wrong path fails at once.
  const heldOut = r.evalText ? textWindows(r.evalText, ctx.tokenizer, ctx.seqLen, r.evalWindows) : undefined;
  const out = new OutputFolder(r.out, { resume: r.resume });
  try {
    const honoured = recordArguments(out, compressArguments(ctx, r, method), r.resume);
    if (honoured.length)
      ctx.emit({
        type: 'log',
        message: `resuming with new arguments for the stages after the masks: ${honoured.join(', ')}`,
      });
    const m = await chooseMasks(ctx, r, method, out);
    const calib = consecutiveWindows(ctx.calibIds, ctx.seqLen, r.fitnessWindows ?? defaultFitnessWindows(ctx.seqLen));
    const { reformed, reformation } = await reformStage(ctx, r, m, calib);
    const { small, final, profile, exportedFile } = await exportStage(ctx, r, reformed, m.mask, calib, out);
    const measured = await measureStage(
      ctx,
      r,
      method,
      { masked: m.model, reformed, mask: m.mask, small, final, exportedFile },
      calib,
      heldOut,
    );
    const report = compressReport(ctx, r, method, {
      m,
      reformation,
      final,
      exportedFile,
      profile,
      measured,
      seconds: (performance.now() - t0) / 1000,
    });
    // The last await is behind us: a cancel seen here is the last one that can stop the commit.
    throwIfCancelled(r.signal, 'writing the report');
    out.markModelFinished();
    writeJsonAtomic(out.file('report.json'), report, 2);
    writeFileAtomic(out.file('report.md'), renderReport(report));
    for (const f of [SEARCH_CHECKPOINT, SEARCH_SECTION, JOB_ARGUMENTS]) fs.rmSync(out.file(f), { force: true });
    out.commit();
    return report;
  } catch (e) {
    // The checkpoint or masks stay under the temporary name for --resume; the output folder itself never holds a
    // half-written model.
    throw out.fail(e, [SEARCH_CHECKPOINT, MASKS]);
  }
}

/** Decode and prefill latency of the original and the exported model, interleaved on the same provider. */
async function timeAgainstOriginal(
  d: Decoder,
  exportedFile: string,
  final: Decoder,
  session: SessionOptions,
): Promise<Latency[]> {
  // A llama2.c input has no ONNX file to time: its dense re-emission stands in for it.
  const dir = d.source.format === 'onnx' ? undefined : fs.mkdtempSync(path.join(os.tmpdir(), 'subnet-search-dense-'));
  if (dir) writeModelFiles(d, dir, undefined);
  try {
    const originalFile = dir ? path.join(dir, 'model.onnx') : d.source.path;
    return await measureLatency(
      [
        { file: originalFile, layers: d.layers },
        { file: exportedFile, layers: final.layers },
      ],
      { ...session, prompt: Math.min(128, d.config.maxPositions / 2), decode: 64, reps: 5, vocab: d.config.vocab },
    );
  } finally {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  }
}
