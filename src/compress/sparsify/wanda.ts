// Wanda (paper-spec §5): score |W_ij|·‖X_j‖₂, pruned per output (each output's inputs compete), no weight update.
// Layout [in, out]: output c is a column, input j a row.
import type { SparsityPattern } from './pattern';
import { kthSmallest } from './maskSelection';

/**
 * Zeroes the lowest-scoring weights of every output; scores default to magnitude. Ties go to the lower input index,
 * as a stable sort by score would order them. The k lowest are found from the k-th score (`kthSmallest`, the
 * quickselect of SparseGPT's mask selection), not by sorting indices with a comparator, which took a minute per 7B
 * layer (200M weights).
 */
export function pruneByScore(
  w: Float32Array,
  inDim: number,
  outDim: number,
  p: SparsityPattern,
  inputNorm?: Float64Array,
): Float32Array {
  const out = Float32Array.from(w);
  const scores = new Float64Array(inDim);
  const scratch = new Float64Array(inDim);
  const k = p.kind === 'unstructured' ? Math.floor(p.sparsity * inDim) : 0;
  const taken = new Uint8Array(p.kind === 'nm' ? p.m : 0);
  for (let c = 0; c < outDim; c++) {
    for (let j = 0; j < inDim; j++) scores[j] = Math.abs(w[j * outDim + c]) * (inputNorm ? inputNorm[j] : 1);
    if (p.kind === 'unstructured') {
      if (k === 0) continue;
      scratch.set(scores);
      const kth = kthSmallest(scratch, k - 1);
      let below = 0;
      for (let j = 0; j < inDim; j++) if (scores[j] < kth) below++;
      // Of the scores equal to the k-th, the lowest indices make up the k.
      let ties = k - below;
      for (let j = 0; j < inDim; j++) if (scores[j] < kth || (scores[j] === kth && ties-- > 0)) out[j * outDim + c] = 0;
    } else {
      for (let g = 0; g + p.m <= inDim; g += p.m) {
        taken.fill(0);
        // The n lowest of the group, one at a time: m is small.
        for (let t = 0; t < p.n; t++) {
          let best = -1;
          for (let i = 0; i < p.m; i++) if (!taken[i] && (best < 0 || scores[g + i] < scores[g + best])) best = i;
          taken[best] = 1;
          out[(g + best) * outDim + c] = 0;
        }
      }
    }
  }
  return out;
}
