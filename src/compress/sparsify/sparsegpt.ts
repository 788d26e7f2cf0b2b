// SparseGPT (paper-spec §4): OBS pruning with the upper Cholesky factor of H⁻¹, 128-column blocks, mask selection
// per block and output (unstructured) or per M columns (N:M), updates of the remaining columns; optional joint quantization
// (GPTQ-style error feedback) through `quantizeColumn`. Paper layout W [rows = outputs, cols = inputs]; ours is
// [in, out], so "column i" below is our input row i.
import { dampedInverse } from '../../linalg/inverse';
import { matmul } from '../../linalg/graphs';
import { choleskyUpper } from './cholesky';
import type { SparsityPattern } from './pattern';
import { mapTo } from '../../util/mapTo';

const BLOCK = 128;

export interface ColumnQuantizer {
  /** Called when the loop reaches input `i` (group starts), with the current weights of the group's inputs. */
  startGroup?(i: number, rows: Float32Array[]): void;
  /** The quantized value of weight (input i, output c). */
  quantize(i: number, c: number, v: number): number;
}

/**
 * Prunes (and optionally quantizes) W `[in, out]` given the Gram matrix of its inputs (Σ xxᵀ over `count`
 * positions). Returns the new weights in the same layout.
 */
export async function sparsegpt(w: Float32Array, inDim: number, outDim: number, gram: Float64Array, count: number, p: SparsityPattern | undefined, quant?: ColumnQuantizer, percdamp = 0.01): Promise<Float32Array> {
  // H = 2/n Σ xxᵀ; dead inputs get a unit diagonal and zero weights.
  const h = mapTo(Float64Array, gram, (v) => (2 * v) / count);
  const W = Array.from({ length: inDim }, (_, i) => Float32Array.from(w.subarray(i * outDim, (i + 1) * outDim)));
  for (let i = 0; i < inDim; i++) {
    if (h[i * inDim + i] === 0) {
      h[i * inDim + i] = 1;
      W[i].fill(0);
    }
  }
  const hinv = await dampedInverse(h, inDim, percdamp);
  const U = choleskyUpper(hinv, inDim);
  const u = (i: number, j: number) => U[i * inDim + j];

  for (let i1 = 0; i1 < inDim; i1 += BLOCK) {
    const i2 = Math.min(i1 + BLOCK, inDim);
    const err = Array.from({ length: i2 - i1 }, () => new Float32Array(outDim));
    // Unstructured: per output, the block's lowest W²/diag(U)² go (the reference shares one threshold across
    // outputs; per output, every row gets exactly the requested sparsity, as Wanda's comparison group does).
    let pruned: Uint8Array | undefined;
    if (p?.kind === 'unstructured') {
      const b = i2 - i1;
      const k = Math.floor(p.sparsity * b);
      pruned = new Uint8Array(b * outDim);
      const order = Array.from({ length: b }, (_, r) => r);
      const score = (r: number, c: number) => (W[i1 + r][c] * W[i1 + r][c]) / (u(i1 + r, i1 + r) * u(i1 + r, i1 + r));
      for (let c = 0; c < outDim; c++) {
        order.sort((x, y) => score(x, c) - score(y, c) || x - y);
        for (let t = 0; t < k; t++) pruned[order[t] * outDim + c] = 1;
      }
    }
    const nmMask = new Uint8Array((i2 - i1) * outDim);
    for (let i = i1; i < i2; i++) {
      const r = i - i1;
      if (p?.kind === 'nm' && r % p.m === 0) {
        // N:M on the current, already updated weights of inputs i..i+M.
        for (let c = 0; c < outDim; c++) {
          const group = Array.from({ length: Math.min(p.m, i2 - i) }, (_, k) => k).sort((a, b) => (W[i + a][c] ** 2) / u(i + a, i + a) ** 2 - (W[i + b][c] ** 2) / u(i + b, i + b) ** 2 || a - b);
          if (group.length === p.m) for (let t = 0; t < p.n; t++) nmMask[(r + group[t]) * outDim + c] = 1;
        }
      }
      if (quant?.startGroup) quant.startGroup(i, W.slice(i, inDim));
      const d = u(i, i);
      for (let c = 0; c < outDim; c++) {
        const prune = p?.kind === 'unstructured' ? pruned![r * outDim + c] : p?.kind === 'nm' ? nmMask[r * outDim + c] : 0;
        const q = prune ? 0 : quant ? quant.quantize(i, c, W[i][c]) : W[i][c];
        const e = (W[i][c] - q) / d;
        W[i][c] = q;
        err[r][c] = e;
      }
      // OBS update of the block's remaining inputs.
      for (let j = i + 1; j < i2; j++) {
        const f = u(i, j);
        if (f === 0) continue;
        const row = W[j];
        const e = err[r];
        for (let c = 0; c < outDim; c++) row[c] -= e[c] * f;
      }
    }
    // Lazy batch update of every later input: W[i2:] -= U[i1:i2, i2:]ᵀ · Err (through ONNX Runtime).
    if (i2 < inDim) {
      const b = i2 - i1;
      const rest = inDim - i2;
      const ut = new Float32Array(rest * b);
      for (let j = 0; j < rest; j++) for (let k = 0; k < b; k++) ut[j * b + k] = u(i1 + k, i2 + j);
      const e = new Float32Array(b * outDim);
      err.forEach((row, k) => e.set(row, k * outDim));
      const delta = await matmul(ut, e, rest, b, outDim);
      for (let j = 0; j < rest; j++) {
        const row = W[i2 + j];
        for (let c = 0; c < outDim; c++) row[c] -= delta[j * outDim + c];
      }
    }
  }
  const out = new Float32Array(inDim * outDim);
  W.forEach((row, i) => out.set(row, i * outDim));
  return out;
}
