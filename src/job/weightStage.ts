// `sparsify` and `quantize` on their own: one weight stage over the whole model, exported and measured.
import * as path from 'node:path';
import {
  consecutiveWindows,
  sampledPoolTokens,
  sampledWindows,
  textWindows,
  tokenizePrefix,
  windowTokens,
} from '../text/windows';
import type { ProviderChoice } from '../runtime/session';
import { needsCalibration, type WeightStage } from '../compress/sparsify/sparsifyDecoder';
import { applyWeightStage } from '../compress/profile/applyStage';
import type { ProfileReport } from '../compress/profile/profileStage';
import { PROFILE_SCHEDULE, type ProfileGeneration } from '../compress/profile/search';
import type { LayerwiseOptions } from '../compress/calibration';
import { runnableSource, type Decoder, type FloatType } from '../model/decoder';
import { patternName } from '../compress/sparsify/pattern';
import { exportedAs, writeModelFiles } from '../compress/exportModel';
import { NEW_WEIGHTS, OutputFolder, PROFILE_DATABASE } from '../util/outputFolder';
import { NewWeights } from '../model/newWeights';
import { stageClock, type StageTime } from './stageClock';
import { checkExportSpace } from './exportSpace';
import { throwIfCancelled, UserError } from '../util/errors';
import { writeJsonAtomic } from '../util/atomicWrite';
import {
  comparisonNotes,
  honestNotes,
  measureModels,
  measureProgress,
  type ModelMeasure,
  type ModelMeasureNoText,
} from './measureModel';
import type { JobListener } from './protocol';
import { DEFAULT_CALIB_WINDOWS, DEFAULT_EVAL_WINDOWS, DEFAULT_SEED } from './defaults';
import { checkWeightStageRequest } from './options';
import type { TextTokenizer } from '../text/tokenizer';
import { openModel } from './context';
import { PROBE_TOKENS } from './tokenizerFit';

export interface WeightStageRequest {
  model: string;
  out: string;
  stage: WeightStage;
  calib?: string;
  evalText?: string;
  evalWindows?: number;
  seqLen?: number;
  calibWindows?: number;
  seed?: number;
  provider: ProviderChoice;
  threads?: number;
  signal?: AbortSignal;
  tokenizer?: string;
  onEvent?: JobListener;
  /** The export's float type (default: the model's own). */
  dtype?: FloatType;
}

/** `report.json` of sparsify / quantize; `--json` prints it. */
export interface WeightStageReport {
  out: string;
  model: string;
  stage: string;
  /** Without any text (round-to-nearest needs none) their perplexity is null: not measured, as a note says. */
  before: ModelMeasure | ModelMeasureNoText;
  after: ModelMeasure | ModelMeasureNoText;
  /** The per-linear levels, with --profile owl or search. */
  profile?: ProfileReport;
  notes: string[];
  seconds: number;
  /** Each stage's wall time, in order. */
  stageTimes: StageTime[];
}

export function describeStage(s: WeightStage): string {
  const parts: string[] = [];
  const profile =
    s.profile && s.profile !== 'uniform' ? `, ${s.profile === 'owl' ? 'OWL' : 'searched'} per-layer profile` : '';
  if (s.sparsity)
    parts.push(
      `${s.sparsity.method} ${patternName(s.sparsity.pattern)}${s.sparsity.selection === 'output' ? ' per output' : ''}${profile}`,
    );
  if (s.quant)
    parts.push(
      s.profile === 'search' && !s.sparsity
        ? `int4/int8 mixed per linear (≤ int4 size + 10 %) ${s.quant.symmetric ? 'symmetric' : 'asymmetric'} block ${s.quant.blockSize}${s.quant.gptq ? ' (GPTQ)' : ' (RTN)'}`
        : `int${s.quant.bits} ${s.quant.symmetric ? 'symmetric' : 'asymmetric'} block ${s.quant.blockSize}${s.quant.gptq ? ' (GPTQ)' : ' (RTN)'}`,
    );
  return parts.join(' + ');
}

/** The stage run on `d` with its profile; the profile's database lives in the job's own `scratch` folder. */
export async function weightStagePass(
  d: Decoder,
  windows: number[][],
  stage: WeightStage,
  scratch: string,
  o: LayerwiseOptions,
  emit: JobListener,
): Promise<{ decoder: Decoder; profile?: ProfileReport }> {
  const name = describeStage(stage);
  const schedule = { ...PROFILE_SCHEDULE, generations: stage.profileGenerations ?? PROFILE_SCHEDULE.generations };
  const onGeneration = (g: ProfileGeneration) =>
    emit({
      type: 'progress',
      stage: `${name}: profile search`,
      done: g.generation,
      total: schedule.generations,
      unit: 'generations',
    });
  return applyWeightStage(
    d,
    windows,
    stage,
    { scratch, schedule, onGeneration },
    {
      ...o,
      onLayer: (done, total) => emit({ type: 'progress', stage: name, done, total, unit: 'layers' }),
    },
  );
}

/** Why the report has no perplexity: round-to-nearest runs without any text, and none was given. */
const UNMEASURED =
  'perplexity not measured: no text was given (pass --eval <file> or --calib <file> to measure it before and after)';

/** The windows perplexity is measured on: the held-out text's, else the calibration text's, else none. */
function measureWindows(
  r: WeightStageRequest,
  tok: TextTokenizer,
  seqLen: number,
  calibIds: number[],
): number[][] | undefined {
  const n = r.evalWindows ?? DEFAULT_EVAL_WINDOWS;
  if (r.evalText) return textWindows(r.evalText, tok, seqLen, n);
  return r.calib ? consecutiveWindows(calibIds, seqLen, n) : undefined;
}

export async function runWeightStage(r: WeightStageRequest): Promise<WeightStageReport> {
  const t0 = performance.now();
  const clock = stageClock(r.onEvent);
  const emit = clock.emit;
  checkWeightStageRequest(r.stage);
  if (needsCalibration(r.stage) && !r.calib)
    throw new UserError(`${describeStage(r.stage)} needs calibration text: pass --calib <file>`);
  const probeText = r.calib ?? r.evalText;
  const {
    decoder: d,
    tokenizer: tok,
    seqLen,
    warnings,
  } = await openModel(
    { ...r, onWarning: (message) => emit({ type: 'warning', message }) },
    { '--calib': r.calib, '--eval': r.evalText },
    (m) => (probeText ? { text: probeText, ids: tokenizePrefix(probeText, m.tokenizer, PROBE_TOKENS) } : undefined),
  );
  const out = new OutputFolder(r.out);
  const newWeights = new NewWeights(out.file(NEW_WEIGHTS));
  return out.complete(async () => {
    try {
      checkExportSpace(out.tmp, { model: d, dtype: r.dtype, stage: r.stage });
      // Only the calibration tokens used: the sampled windows' pool, and the measured windows without --eval.
      const calibNeed = Math.max(
        needsCalibration(r.stage) ? sampledPoolTokens(seqLen, r.calibWindows ?? DEFAULT_CALIB_WINDOWS) : 0,
        r.evalText ? 0 : windowTokens(seqLen, r.evalWindows ?? DEFAULT_EVAL_WINDOWS),
      );
      const calibIds = r.calib ? tokenizePrefix(r.calib, tok, calibNeed) : [];
      const windows = needsCalibration(r.stage)
        ? sampledWindows(calibIds, seqLen, r.calibWindows ?? DEFAULT_CALIB_WINDOWS, r.seed ?? DEFAULT_SEED)
        : [];
      emit({ type: 'stage', stage: describeStage(r.stage) });
      const { decoder: staged, profile } = await weightStagePass(
        d,
        windows,
        r.stage,
        out.file(PROFILE_DATABASE),
        { provider: r.provider, threads: r.threads, signal: r.signal, newWeights },
        emit,
      );
      // The stage's loop checks the signal per layer; the work after the last layer does not.
      throwIfCancelled(r.signal, 'export');
      emit({ type: 'stage', stage: 'export' });
      const result = exportedAs(staged, r.dtype);
      writeModelFiles(result, out.tmp, tok);
      emit({ type: 'stage', stage: 'measure' });
      const evalWindows = measureWindows(r, tok, seqLen, calibIds);
      const [before, after] = await measureModels(
        [
          { stage: 'original', decoder: d, file: runnableSource(d) },
          { stage: describeStage(r.stage), decoder: result, file: out.file('model.onnx') },
        ],
        evalWindows,
        { provider: r.provider, threads: r.threads, signal: r.signal },
        measureProgress(emit),
      );
      const notes = [
        ...warnings,
        ...honestNotes(before, after, Boolean(r.stage.sparsity)),
        ...comparisonNotes(d, result),
        ...(evalWindows ? [] : [UNMEASURED]),
      ];
      const report: WeightStageReport = {
        out: path.resolve(r.out),
        model: d.source.path,
        stage: describeStage(r.stage),
        before,
        after,
        ...(profile ? { profile } : {}),
        notes,
        seconds: (performance.now() - t0) / 1000,
        stageTimes: clock.times(),
      };
      throwIfCancelled(r.signal, 'writing the report');
      out.markModelFinished();
      writeJsonAtomic(out.file('report.json'), report, 2);
      return report;
    } finally {
      // Before the commit: the file is the job's scratch, not part of the model.
      newWeights.release();
    }
  });
}
