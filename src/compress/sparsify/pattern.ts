import type { MaskSelection } from './maskSelection';

/** SparseGPT's block of inputs: its masks are chosen per block (paper-spec §4). */
export const SPARSEGPT_BLOCK = 128;

/** Unstructured sparsity (a fraction of each output's weights) or N:M (N zeros in every M consecutive inputs). */
export type SparsityPattern = { kind: 'unstructured'; sparsity: number } | { kind: 'nm'; n: number; m: number };

export function parsePattern(s: string): SparsityPattern {
  const nm = /^(\d+):(\d+)$/.exec(s);
  if (nm) {
    const [n, m] = [Number(nm[1]), Number(nm[2])];
    if (n < 1 || n >= m) throw new Error(`N:M sparsity needs 0 < N < M, got ${s}`);
    return { kind: 'nm', n, m };
  }
  const v = Number(s);
  if (!(v > 0 && v < 1))
    throw new Error(`--sparsity must be a fraction in (0, 1) such as 0.5, or N:M such as 2:4; got ${s}`);
  return { kind: 'unstructured', sparsity: v };
}

export const patternName = (p: SparsityPattern) =>
  p.kind === 'nm' ? `${p.n}:${p.m}` : `${Math.round(p.sparsity * 100)}% unstructured`;

/**
 * Whether a weight `[in, out]` has the pattern exactly: the requested fraction of zeros (rounded down) in every
 * output column (`output`) or in every block of `BLOCK` inputs × all outputs (`block`, SparseGPT's default), or at
 * least N zeros in every group of M consecutive inputs of every output.
 */
export function hasPattern(
  w: Float32Array,
  inDim: number,
  outDim: number,
  p: SparsityPattern,
  selection: MaskSelection = 'output',
): boolean {
  if (p.kind === 'unstructured' && selection === 'block') {
    for (let i1 = 0; i1 < inDim; i1 += SPARSEGPT_BLOCK) {
      const i2 = Math.min(i1 + SPARSEGPT_BLOCK, inDim);
      const zeros = w.subarray(i1 * outDim, i2 * outDim).reduce((a, v) => a + (v === 0 ? 1 : 0), 0);
      if (zeros < Math.floor(p.sparsity * (i2 - i1) * outDim)) return false;
    }
    return true;
  }
  for (let c = 0; c < outDim; c++) {
    if (p.kind === 'unstructured') {
      let zeros = 0;
      for (let j = 0; j < inDim; j++) if (w[j * outDim + c] === 0) zeros++;
      if (zeros < Math.floor(p.sparsity * inDim)) return false;
    } else {
      for (let g = 0; g + p.m <= inDim; g += p.m) {
        let zeros = 0;
        for (let j = g; j < g + p.m; j++) if (w[j * outDim + c] === 0) zeros++;
        if (zeros < p.n) return false;
      }
    }
  }
  return true;
}
