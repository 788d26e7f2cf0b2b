// Which weights of a SparseGPT block are pruned (paper-spec §4): the reference selects with one threshold over the
// whole block of 128 inputs × all outputs; per output is the stricter pattern some sparse kernels need.
// Both take exactly ⌊sparsity · group⌋ weights per group, ties broken by input index, so the total is exact (the
// reference prunes every score ≤ its ⌊sparsity · group⌋-th smallest: one weight more per block, and any ties).

/** How the unstructured mask of a block is chosen: one threshold for the block (the reference), or per output. */
export const MASK_SELECTIONS = ['block', 'output'] as const;
export type MaskSelection = (typeof MASK_SELECTIONS)[number];

/** The k-th smallest value (0-based) of `a`, reordering `a` in place (quickselect, O(n) on average). */
export function kthSmallest(a: Float64Array, k: number): number {
  let lo = 0;
  let hi = a.length - 1;
  while (hi > lo) {
    const mid = (lo + hi) >> 1;
    const [x, y, z] = [a[lo], a[mid], a[hi]];
    const pivot = x < y ? (y < z ? y : x < z ? z : x) : x < z ? x : y < z ? z : y;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i] < pivot) i++;
      while (a[j] > pivot) j--;
      if (i <= j) {
        const t = a[i];
        a[i++] = a[j];
        a[j--] = t;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return a[k];
  }
  return a[k];
}

/**
 * Marks in `pruned` the `k` lowest of the `count` scores `scores[first + t · stride]` (t = 0..count−1), at
 * `pruned[first + t · stride]`: below the k-th value all, at it in order of t until k are marked.
 */
function markLowest(
  scores: Float64Array,
  first: number,
  stride: number,
  count: number,
  k: number,
  pruned: Uint8Array,
): void {
  if (k <= 0) return;
  const values = new Float64Array(count);
  for (let t = 0; t < count; t++) values[t] = scores[first + t * stride];
  const threshold = kthSmallest(values, k - 1);
  let marked = 0;
  for (let t = 0, at = first; t < count; t++, at += stride) {
    if (scores[at] < threshold) {
      pruned[at] = 1;
      marked++;
    }
  }
  for (let t = 0, at = first; t < count && marked < k; t++, at += stride) {
    if (scores[at] === threshold) {
      pruned[at] = 1;
      marked++;
    }
  }
}

/**
 * The pruned entries of a block from its scores `[rows, outDim]` (w²/d², row r = the block's r-th input):
 * ⌊sparsity · rows · outDim⌋ of them with `block` selection, ⌊sparsity · rows⌋ per output with `output`. Scores are
 * float64 so that the threshold compares equal to the score it came from.
 */
export function selectBlockMask(
  scores: Float64Array,
  rows: number,
  outDim: number,
  sparsity: number,
  selection: MaskSelection,
): Uint8Array {
  const pruned = new Uint8Array(rows * outDim);
  if (selection === 'block') markLowest(scores, 0, 1, rows * outDim, Math.floor(sparsity * rows * outDim), pruned);
  else for (let c = 0; c < outDim; c++) markLowest(scores, c, outDim, rows, Math.floor(sparsity * rows), pruned);
  return pruned;
}
