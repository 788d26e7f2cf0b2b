// Which weights of a SparseGPT block are pruned (paper-spec §4): the reference selects with one threshold over the
// whole block of 128 inputs × all outputs; per output is the stricter pattern some sparse kernels need.
// Both take exactly ⌊sparsity · group⌋ weights per group, ties broken by input index, so the total is exact.

/** How the unstructured mask of a block is chosen: one threshold for the block (the reference), or per output. */
export type MaskSelection = 'block' | 'output';

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
 * Marks in `pruned` the `k` lowest of `count` scores read through `at(t)` (t = 0..count−1) and written to
 * `pruned[index(t)]`: below the k-th value all, at it in order of t until k are marked.
 */
function markLowest(
  count: number,
  k: number,
  at: (t: number) => number,
  index: (t: number) => number,
  pruned: Uint8Array,
): void {
  if (k <= 0) return;
  // Float64, as the scores are: a rounded copy would not compare equal to them.
  const values = new Float64Array(count);
  for (let t = 0; t < count; t++) values[t] = at(t);
  const threshold = kthSmallest(values, k - 1);
  let marked = 0;
  for (let t = 0; t < count; t++) {
    if (at(t) < threshold) {
      pruned[index(t)] = 1;
      marked++;
    }
  }
  for (let t = 0; t < count && marked < k; t++) {
    if (at(t) === threshold) {
      pruned[index(t)] = 1;
      marked++;
    }
  }
}

/**
 * The pruned entries `[rows, outDim]` of a block whose scores are `score(r, c)` = w²/d² (row r = the block's r-th
 * input): ⌊sparsity · rows · outDim⌋ of them with `block` selection, ⌊sparsity · rows⌋ per output with `output`.
 */
export function selectBlockMask(
  rows: number,
  outDim: number,
  sparsity: number,
  score: (r: number, c: number) => number,
  selection: MaskSelection,
): Uint8Array {
  const pruned = new Uint8Array(rows * outDim);
  if (selection === 'block') {
    markLowest(
      rows * outDim,
      Math.floor(sparsity * rows * outDim),
      (t) => score(Math.floor(t / outDim), t % outDim),
      (t) => t,
      pruned,
    );
  } else {
    const k = Math.floor(sparsity * rows);
    for (let c = 0; c < outDim; c++)
      markLowest(
        rows,
        k,
        (r) => score(r, c),
        (r) => r * outDim + c,
        pruned,
      );
  }
  return pruned;
}
