// What `compress` reports (report.json), a type of its own so that the job and the markdown renderer both read it.
import type { Method } from '../compress/importance/scores';
import type { Granularity } from '../compress/importance/units';
import type { LayerReformReport } from '../compress/reform/reformation';
import type { ReformMethod } from '../compress/reform/reformLayer';
import type { ProfileReport } from '../compress/profile/profileStage';
import type { Latency } from '../runtime/latency';
import type { ModelSummary } from './inspect';
import type { SearchOutcome } from './searchTypes';
import type { PplSet } from './stagePerplexity';
import type { ModelMeasure } from './measureModel';
import type { StageTime } from './stageClock';

/** `report.json`; `compress --json` prints it. */
export interface CompressReport {
  version: 1;
  out: string;
  model: string;
  method: 'search' | Method;
  granularity: Granularity;
  ratio: number;
  targetRatio: number;
  params: { before: number; after: number };
  fileBytes: { before: number; after: number };
  kvCacheBytesPerToken: { before: number; after: number };
  /** Held-out perplexity when held-out text was given, else on the calibration windows. */
  ppl: PplSet;
  pplCalibration: PplSet;
  pplHeldOut?: PplSet & { text: string };
  reformation?: { method: ReformMethod; seconds: number; layers: LayerReformReport[] };
  search?: Pick<
    SearchOutcome,
    'evaluations' | 'tokens' | 'seconds' | 'history' | 'fitness' | 'schedule' | 'evaluated' | 'droppedLayers'
  >;
  original: ModelSummary;
  compressed: ModelSummary;
  latency: {
    provider: string;
    original: Latency;
    compressed: Latency;
    decodeSpeedup: number;
    prefillSpeedup: number;
    /** How the latencies were measured ("median of 5 interleaved runs of 64 decode steps"), for every view. */
    runs: string;
  };
  /** With a weight stage's --profile owl / search: the per-linear levels. */
  profile?: ProfileReport;
  /** With a weight stage: original, structured (searched + reformed) and final model side by side. */
  stages?: ModelMeasure[];
  notes: string[];
  seconds: number;
  /** Each stage's wall time, in order (absent in reports written before it was kept). */
  stageTimes?: StageTime[];
}
