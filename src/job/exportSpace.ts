// A full disk found at the export would cost all the work before it (at 7B, most of an hour): the bytes the export
// and the weights computed on the way will take are checked against the output's disk before the heavy steps.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { NEW_WEIGHTS } from '../util/outputFolder';
import { floatBytes, linearWeightsOf, type Decoder, type FloatType } from '../model/decoder';
import { NEW_WEIGHTS_MEMORY_LIMIT } from '../model/newWeights';
import { totalCounts, weightSize } from '../model/params';
import type { WeightStage } from '../compress/sparsify/sparsifyDecoder';
import { checkFreeSpace } from '../util/freeSpace';

export interface ExportPlan {
  /** The model the export is made from: the masks' slice once they are known, else the original. */
  model: Decoder;
  /** The fraction of its parameters the export keeps: compress's --ratio before the masks are chosen, else 1. */
  kept?: number;
  /** The export's float type (default: the model's own). */
  dtype?: FloatType;
  stage?: WeightStage;
  /** Bytes of the weights reformation computes (model/newWeights.ts holds them beside the export). */
  reformedBytes?: number;
}

/**
 * Bytes per linear weight the weight stage computes (model/newWeights.ts): packed when quantized, else in the model's
 * precision; none counted for a searched sparsity profile, whose levels may leave a linear as it is.
 */
function stagedBytesPerLinearWeight(p: ExportPlan): number {
  const bits = p.stage?.quant?.bits;
  if (!p.stage || (p.stage.profile === 'search' && !bits)) return 0;
  return bits ? bits / 8 : floatBytes(p.model.weightType);
}

/**
 * Bytes the job writes into its output folder: the export (its linears at the weight stage's bits, the rest at
 * its float type) and the computed weights past what memory holds (`new-weights.bin`, removed only at the end).
 * Quantization scales and the graph are left out: an estimate from below, so a disk that might do is not refused.
 */
export function exportSpaceNeed(p: ExportPlan): number {
  const all = totalCounts(p.model).params;
  const other = all - linearWeightsOf(p.model).reduce((a, w) => a + weightSize(w), 0);
  // Pruning takes parameters from the linears only: embeddings, lm_head and norms stay whole.
  const linear = Math.max(0, (p.kept ?? 1) * all - other);
  const floats = floatBytes(p.dtype ?? p.model.weightType);
  const bits = p.stage?.quant?.bits;
  const exported = other * floats + linear * (bits ? bits / 8 : floats);
  const staged = linear * stagedBytesPerLinearWeight(p);
  return exported + Math.max(0, (p.reformedBytes ?? 0) + staged - NEW_WEIGHTS_MEMORY_LIMIT);
}

/**
 * Refuses (an environment error, exit 74) a job whose export `dir`'s disk cannot hold. A killed job's
 * `new-weights.bin` there (kept for --resume) is emptied before this job writes its own: its space counts as free.
 */
export function checkExportSpace(dir: string, p: ExportPlan): void {
  const stale = path.join(dir, NEW_WEIGHTS);
  checkFreeSpace(
    dir,
    exportSpaceNeed(p) - (fs.existsSync(stale) ? fs.statSync(stale).size : 0),
    'the export (with the weights computed on the way)',
    'free some space there, or give an --out on a disk with more room',
  );
}
