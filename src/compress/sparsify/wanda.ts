// Wanda (paper-spec §5): score |W_ij|·‖X_j‖₂, pruned per output (each output's inputs compete), no weight update.
// Layout [in, out]: output c is a column, input j a row.
import type { SparsityPattern } from './pattern';

/** Zeroes the lowest-scoring weights of every output; `score(j, c)` defaults to magnitude. */
export function pruneByScore(
  w: Float32Array,
  inDim: number,
  outDim: number,
  p: SparsityPattern,
  inputNorm?: Float64Array,
): Float32Array {
  const out = Float32Array.from(w);
  const score = (j: number, c: number) => Math.abs(w[j * outDim + c]) * (inputNorm ? inputNorm[j] : 1);
  const idx = Array.from({ length: inDim }, (_, j) => j);
  for (let c = 0; c < outDim; c++) {
    if (p.kind === 'unstructured') {
      const k = Math.floor(p.sparsity * inDim);
      const order = [...idx].sort((a, b) => score(a, c) - score(b, c) || a - b);
      for (let t = 0; t < k; t++) out[order[t] * outDim + c] = 0;
    } else {
      for (let g = 0; g + p.m <= inDim; g += p.m) {
        const group = idx.slice(g, g + p.m).sort((a, b) => score(a, c) - score(b, c) || a - b);
        for (let t = 0; t < p.n; t++) out[group[t] * outDim + c] = 0;
      }
    }
  }
  return out;
}
