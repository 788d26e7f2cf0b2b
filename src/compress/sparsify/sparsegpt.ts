// SparseGPT (paper-spec §4): OBS pruning with the upper Cholesky factor of H⁻¹, 128-column blocks, mask selection
// per block (unstructured, maskSelection.ts) or per M columns (N:M), updates of the remaining columns; optional joint
// quantization (GPTQ-style error feedback) through `quantizeColumn`. Paper layout W [rows = outputs, cols = inputs];
// ours is [in, out], so "column i" below is our input row i.
import { damped } from '../../linalg/inverse';
import type { Linalg } from '../../linalg/graphs';
import { inverseUpperFactor } from '../../linalg/inverseCholesky';
import { SPARSEGPT_BLOCK as BLOCK, type SparsityPattern } from './pattern';
import { selectBlockMask, type MaskSelection } from './maskSelection';
import { mapTo } from '../../util/mapTo';

/**
 * Inside a block, columns are processed in sub-blocks of this many: the sequential OBS updates stay inside the
 * sub-block (JS), the rest of the block gets them as one product (ONNX Runtime). The arithmetic is the
 * reference's; only the order of the additions differs. 16 was the fastest of 8, 16 and 32 on the MHA fixture's
 * shapes (JS work shrinks with the sub-block, ONNX Runtime calls grow); bench sparsegpt-reference.
 */
const SUB_BLOCK = 16;

export interface ColumnQuantizer {
  /**
   * Quantization groups of `rows` inputs: `start` is called when the loop reaches a group's first input `i`, with
   * the current weights of the group's inputs.
   */
  groups?: { rows: number; start(i: number, rows: Float32Array[]): void };
  /** The quantized value of weight (input i, output c). */
  quantize(i: number, c: number, v: number): number;
}

/**
 * What SparseGPT needs of a layer's inputs, computed once and shared by every weight that reads them (q, k and v;
 * gate and up) and by every sparsity level tried: U with H⁻¹ = UᵀU, and the inputs that never fire.
 */
export interface ObsFactor {
  inDim: number;
  u: Float64Array;
  dead: Uint8Array;
}

/**
 * H = 2/n Σ xxᵀ from the Gram matrix over `count` positions, damped; dead inputs get a unit diagonal (and zero
 * weights). Its own function, so that the float64 H (1 GB for a 7B down_proj) is garbage before the factor is made.
 */
function dampedHessian(
  gram: Float64Array,
  count: number,
  inDim: number,
  percdamp: number,
): { damped: Float32Array; dead: Uint8Array } {
  const h = mapTo(Float64Array, gram, (v) => (2 * v) / count);
  const dead = new Uint8Array(inDim);
  for (let i = 0; i < inDim; i++) {
    if (h[i * inDim + i] === 0) {
      h[i * inDim + i] = 1;
      dead[i] = 1;
    }
  }
  return { damped: damped(h, inDim, percdamp), dead };
}

/** SparseGPT's factor of the damped H⁻¹ of a layer's inputs (paper-spec §4). */
export async function obsFactor(
  la: Linalg,
  gram: Float64Array,
  count: number,
  inDim: number,
  percdamp = 0.01,
): Promise<ObsFactor> {
  const h = dampedHessian(gram, count, inDim, percdamp);
  return { inDim, u: await inverseUpperFactor(la, h.damped, inDim), dead: h.dead };
}

export interface SparseGptOptions {
  quant?: ColumnQuantizer;
  /** Unstructured masks: one threshold per block (default, as the reference) or per output. */
  selection?: MaskSelection;
}

/** `U[from, to]ᵀ`, `[t2 − t1, f2 − f1]`: the factor's rows `from`, columns `to`, transposed for the update product. */
function factorBlockTransposed(u: Float64Array, inDim: number, from: [number, number], to: [number, number]) {
  const [f1, f2] = from;
  const [t1, t2] = to;
  const b = f2 - f1;
  const ut = new Float32Array((t2 - t1) * b);
  for (let j = 0; j < t2 - t1; j++) for (let k = 0; k < b; k++) ut[j * b + k] = u[(f1 + k) * inDim + t1 + j];
  return ut;
}

/**
 * Subtracts `U[from, to]ᵀ · err[from]` from the host rows `to` of W: the deferred OBS updates, as one product.
 * `err` holds the block's error rows `[block, outDim]` from input `errBase` on.
 */
async function applyDeferred(
  la: Linalg,
  W: Float32Array[],
  u: Float64Array,
  inDim: number,
  outDim: number,
  err: Float32Array,
  from: [number, number],
  to: [number, number],
  errBase: number,
): Promise<void> {
  const [f1, f2] = from;
  const [t1, t2] = to;
  const errRows = err.subarray((f1 - errBase) * outDim, (f2 - errBase) * outDim);
  const delta = await la.matmul(factorBlockTransposed(u, inDim, from, to), errRows, t2 - t1, f2 - f1, outDim);
  for (let j = 0; j < t2 - t1; j++) {
    const row = W[t1 + j];
    for (let c = 0, o = j * outDim; c < outDim; c++) row[c] -= delta[o + c];
  }
}

/** w²/d² of the block's inputs i1..i2, `[i2 − i1, outDim]`: the OBS error of pruning each weight alone. */
function blockScores(
  W: Float32Array[],
  d: (i: number) => number,
  i1: number,
  i2: number,
  outDim: number,
): Float64Array {
  const scores = new Float64Array((i2 - i1) * outDim);
  for (let i = i1; i < i2; i++) {
    const row = W[i];
    const dd = d(i) * d(i);
    for (let c = 0, o = (i - i1) * outDim; c < outDim; c++) scores[o + c] = (row[c] * row[c]) / dd;
  }
  return scores;
}

/**
 * Prunes (and quantizes) the inputs i1..i2 of W, one at a time, with their OBS updates inside the block (per
 * sub-block in JS, deferred to one product for the rest of the block). Returns the block's error rows, which the
 * caller applies to the later inputs.
 */
async function pruneBlock(
  la: Linalg,
  W: Float32Array[],
  f: ObsFactor,
  outDim: number,
  p: SparsityPattern | undefined,
  o: SparseGptOptions,
  [i1, i2]: [number, number],
): Promise<Float32Array> {
  const { u, inDim } = f;
  const quant = o.quant;
  const d = (i: number) => u[i * inDim + i];
  // N:M groups must not straddle a sub-block (their mask reads current weights); otherwise no sub-blocks.
  const sub = p?.kind === 'nm' && SUB_BLOCK % p.m !== 0 ? BLOCK : SUB_BLOCK;
  const err = new Float32Array((i2 - i1) * outDim);
  const pruned =
    p?.kind === 'unstructured'
      ? selectBlockMask(blockScores(W, d, i1, i2, outDim), i2 - i1, outDim, p.sparsity, o.selection ?? 'block')
      : new Uint8Array((i2 - i1) * outDim);
  for (let s1 = i1; s1 < i2; s1 += sub) {
    const s2 = Math.min(s1 + sub, i2);
    for (let i = s1; i < s2; i++) {
      const r = i - i1;
      if (p?.kind === 'nm' && r % p.m === 0) {
        // N:M on the current, already updated weights of inputs i..i+M.
        for (let c = 0; c < outDim; c++) {
          const group = Array.from({ length: Math.min(p.m, i2 - i) }, (_, k) => k).sort(
            (a, b) => (W[i + a][c] / d(i + a)) ** 2 - (W[i + b][c] / d(i + b)) ** 2 || a - b,
          );
          if (group.length === p.m) for (let t = 0; t < p.n; t++) pruned[(r + group[t]) * outDim + c] = 1;
        }
      }
      if (quant?.groups && i % quant.groups.rows === 0) {
        const end = Math.min(i + quant.groups.rows, inDim);
        if (W.length < end)
          throw new Error(`internal error: the group at input ${i} reads up to ${end}; ${W.length} on the host`);
        quant.groups.start(i, W.slice(i, end));
      }
      const di = d(i);
      const row = W[i];
      const e = err.subarray(r * outDim, (r + 1) * outDim);
      for (let c = 0, m = r * outDim; c < outDim; c++) {
        const q = pruned[m + c] ? 0 : quant ? quant.quantize(i, c, row[c]) : row[c];
        e[c] = (row[c] - q) / di;
        row[c] = q;
      }
      // OBS update of the sub-block's remaining inputs.
      for (let j = i + 1; j < s2; j++) {
        const fij = u[i * inDim + j];
        if (fij === 0) continue;
        const next = W[j];
        for (let c = 0; c < outDim; c++) next[c] -= e[c] * fij;
      }
    }
    if (s2 < i2) await applyDeferred(la, W, u, inDim, outDim, err, [s1, s2], [s2, i2], i1);
  }
  return err;
}

/** Prunes (and optionally quantizes) W `[in, out]` with the factor of its inputs. Returns new weights, same layout. */
export async function sparsegpt(
  la: Linalg,
  w: Float32Array,
  inDim: number,
  outDim: number,
  f: ObsFactor,
  p: SparsityPattern | undefined,
  o: SparseGptOptions = {},
): Promise<Float32Array> {
  const { u, dead } = f;
  // The host holds the finished inputs and, from the current block's start on, as many as the block or a
  // quantization group reads; the later ones are held where the linear algebra runs and come over a block at a
  // time, updated.
  const ahead = Math.max(BLOCK, o.quant?.groups?.rows ?? 0);
  // Copies of the inputs' weights, dead ones zeroed: the first `ahead` on the host, the rest held.
  const rowsFrom = (i1: number, i2: number) => {
    const rows = w.slice(i1 * outDim, i2 * outDim);
    for (let i = i1; i < i2; i++) if (dead[i]) rows.fill(0, (i - i1) * outDim, (i - i1 + 1) * outDim);
    return rows;
  };
  const W: Float32Array[] = [];
  const take = (rows: Float32Array, count: number) => {
    for (let r = 0; r < count; r++) W.push(rows.subarray(r * outDim, (r + 1) * outDim));
  };
  take(rowsFrom(0, Math.min(ahead, inDim)), Math.min(ahead, inDim));
  const heldRows = inDim > ahead ? la.residentRows(rowsFrom(ahead, inDim), inDim - ahead, outDim) : undefined;
  try {
    for (let i1 = 0; i1 < inDim; i1 += BLOCK) {
      const i2 = Math.min(i1 + BLOCK, inDim);
      const err = await pruneBlock(la, W, f, outDim, p, o, [i1, i2]);
      // Lazy batch update of every later input, W[i2:] -= U[i1:i2, i2:]ᵀ · Err: of those on the host here, of the
      // held ones where they are, and the next block's inputs come over.
      const onHost = W.length;
      if (i2 < onHost) await applyDeferred(la, W, u, inDim, outDim, err, [i1, i2], [i2, onHost], i1);
      if (heldRows?.rows) {
        const ut = factorBlockTransposed(u, inDim, [i1, i2], [onHost, inDim]);
        const count = Math.min(BLOCK, heldRows.rows);
        take(await heldRows.updateAndTake(ut, err, i2 - i1, count), count);
      }
    }
  } finally {
    heldRows?.release();
  }
  const out = new Float32Array(inDim * outDim);
  W.forEach((row, i) => out.set(row, i * outDim));
  return out;
}
