// `compress`'s first stage: the sub-network to keep (masks from an interrupted run, a search, or a baseline).
import * as fs from 'node:fs';
import { DEFAULT_GRANULARITY } from './defaults';
import type { Method } from '../compress/importance/scores';
import type { Granularity } from '../compress/importance/units';
import { maskedParams, type SubnetMask } from '../compress/subnet';
import { outerParams } from '../compress/importance/select';
import { MASKS_FILE, readMasksFile, writeMasksFile } from '../compress/masksFile';
import { withBiases, type CompensationBias } from '../compress/importance/compensation';
import { totalCounts } from '../model/params';
import type { Decoder } from '../model/decoder';
import type { OutputFolder } from '../util/outputFolder';
import { writeJsonAtomic } from '../util/atomicWrite';
import type { JobContext } from './context';
import { baselineMask } from './prune';
import { runSearch } from './search';
import type { SearchOutcome } from './searchTypes';
import type { CompressReport } from './compressReport';
import type { CompressRequest } from './compressRequest';

/** The report's `search` section, kept beside the masks so that a job resumed from them still reports its search. */
export const SEARCH_SECTION = 'search-summary.json';

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

/** The sub-network a compression keeps, and the model its masks apply to. */
export interface ChosenMasks {
  mask: SubnetMask;
  bias?: CompensationBias;
  search?: SearchSection;
  granularity: Granularity;
  /** The original with the compensation biases of FLAP or of a compensated search (or the original itself). */
  model: Decoder;
}

/** 1. Which sub-network: from a finished earlier run's masks, a (resumed) search, or a baseline; masks.json written. */
export async function chooseMasks(
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
  if (r.resume && fs.existsSync(out.file(MASKS_FILE))) {
    ctx.emit({ type: 'log', message: 'resuming with the masks of the interrupted run' });
    ({
      mask,
      meta: { bias },
    } = readMasksFile(out.file(MASKS_FILE), d));
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
  writeMasksFile(out.file(MASKS_FILE), mask, {
    model: d.source.path,
    method,
    granularity,
    params,
    totalParams: total,
    bias,
  });
  return { mask, bias, search, granularity, model };
}
