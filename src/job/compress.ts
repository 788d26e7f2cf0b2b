// `compress`: masks (search, or a baseline) → reformation → physically smaller export → report, in one job.
import * as fs from 'node:fs';
import { consecutiveWindows, textWindows } from '../text/windows';
import { DEFAULT_TOLERANCE, defaultFitnessWindows } from './defaults';
import type { Method } from '../compress/importance/scores';
import { MASKS_FILE } from '../compress/masksFile';
import { DEFAULT_REFORM } from '../compress/reform/reformLayer';
import { NEW_WEIGHTS, OutputFolder } from '../util/outputFolder';
import { NewWeights } from '../model/newWeights';
import { stageClock } from './stageClock';
import { checkExportSpace } from './exportSpace';
import { sliceDecoder } from '../compress/subnet';
import { reformedWeightBytes } from '../compress/reform/reformation';
import { writeFileAtomic, writeJsonAtomic } from '../util/atomicWrite';
import { throwIfCancelled } from '../util/errors';
import { openContext, type JobContext } from './context';
import { searchArguments, SEARCH_CHECKPOINT } from './searchSettings';
import { JOB_ARGUMENTS, maskArguments, recordArguments, type ArgumentValues, type JobArguments } from './jobArguments';
import { checkWeightStageRequest } from './options';
import { renderReport } from './reportMarkdown';
import type { CompressReport } from './compressReport';
import type { CompressRequest } from './compressRequest';
import { describeStage } from './weightStage';
import { chooseMasks, SEARCH_SECTION } from './compressMasks';
import { compressReport, exportStage, measureStage, reformStage } from './compressStages';

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

export async function compressModel(r: CompressRequest): Promise<CompressReport> {
  const t0 = performance.now();
  checkWeightStageRequest(r.weightStage);
  const clock = stageClock(r.onEvent);
  const ctx = await openContext({ ...r, onEvent: clock.emit, evalOnCalib: false });
  const method = r.method ?? 'search';
  // The held-out text is read before any heavy step, so a wrong path fails at once.
  const heldOut = r.evalText ? textWindows(r.evalText, ctx.tokenizer, ctx.seqLen, r.evalWindows) : undefined;
  const out = new OutputFolder(r.out, { resume: r.resume });
  const newWeights = new NewWeights(out.file(NEW_WEIGHTS));
  const job: JobContext = { ...ctx, session: { ...ctx.session, newWeights } };
  try {
    const honoured = recordArguments(out, compressArguments(job, r, method), r.resume);
    if (honoured.length)
      job.emit({
        type: 'log',
        message: `resuming with new arguments for the stages after the masks: ${honoured.join(', ')}`,
      });
    // The search keeps at least ratio − tolerance of the parameters: the export's least size, before hours of work.
    const exportPlan = { dtype: r.dtype, stage: r.weightStage };
    checkExportSpace(out.tmp, {
      ...exportPlan,
      model: job.decoder,
      kept: r.ratio - (r.tolerance ?? DEFAULT_TOLERANCE),
    });
    const m = await chooseMasks(job, r, method, out);
    // With the masks known (and kept for --resume), the export's size and reformation's weights as they will be.
    checkExportSpace(out.tmp, {
      ...exportPlan,
      model: sliceDecoder(job.decoder, m.mask),
      reformedBytes: (r.reform ?? true) ? reformedWeightBytes(job.decoder, m.mask) : 0,
    });
    const calib = consecutiveWindows(job.calibIds, job.seqLen, r.fitnessWindows ?? defaultFitnessWindows(job.seqLen));
    const { reformed, reformation } = await reformStage(job, r, m, calib);
    const { small, final, profile, exportedFile } = await exportStage(job, r, reformed, m.mask, calib, out);
    const measured = await measureStage(
      job,
      r,
      method,
      { masked: m.model, reformed, mask: m.mask, small, final, exportedFile },
      calib,
      heldOut,
    );
    const report = compressReport(job, r, method, {
      m,
      reformation,
      final,
      exportedFile,
      profile,
      measured,
      seconds: (performance.now() - t0) / 1000,
      stageTimes: clock.times(),
    });
    // The last await is behind us: a cancel seen here is the last one that can stop the commit.
    throwIfCancelled(r.signal, 'writing the report');
    out.markModelFinished();
    writeJsonAtomic(out.file('report.json'), report, 2);
    writeFileAtomic(out.file('report.md'), renderReport(report));
    for (const f of [SEARCH_CHECKPOINT, SEARCH_SECTION, JOB_ARGUMENTS]) fs.rmSync(out.file(f), { force: true });
    newWeights.release();
    out.commit();
    return report;
  } catch (e) {
    newWeights.release();
    // The checkpoint or masks stay under the temporary name for --resume; the output folder itself never holds a
    // half-written model.
    throw out.fail(e, [SEARCH_CHECKPOINT, MASKS_FILE]);
  }
}
