// Importance of attention units and MLP channels, from weights and calibration activation statistics.
// Layouts: q/k/v/gate/up are [hidden, out] (a channel is a column), o/down are [in, hidden] (a channel is a row).
import type { Decoder } from '../../model/decoder';
import { columnNorms, variance, type LayerStats } from '../../runtime/activationStats';
import { dampedInverseDiagonal } from '../../linalg/inverse';
import type { Linalg } from '../../linalg/graphs';
import { attentionUnitCount, unitChannels, type Granularity } from './units';
import { mapTo } from '../../util/mapTo';

export const METHODS = ['magnitude', 'wanda-sp', 'flap', 'obs'] as const;
export type Method = (typeof METHODS)[number];

export interface LayerScores {
  attn: Float64Array; // per attention unit
  mlp: Float64Array; // per MLP channel
}

/** Per input channel j of an [in, out] matrix: f(row j). */
function perRow(
  w: Float32Array,
  rows: number,
  cols: number,
  f: (row: Float32Array, j: number) => number,
): Float64Array {
  return Float64Array.from({ length: rows }, (_, j) => f(w.subarray(j * cols, (j + 1) * cols), j));
}

const sumSq = (r: Float32Array) => r.reduce((a, v) => a + v * v, 0);
const meanAbs = (r: Float32Array) => r.reduce((a, v) => a + Math.abs(v), 0) / r.length;

/** Per output channel c of an [in, out] matrix: Σ_j W[j,c]² / Hinv[j,j] (paper-spec §1.3 row score). */
function obsOutputScores(w: Float32Array, rows: number, cols: number, hinvDiag: Float64Array): Float64Array {
  const out = new Float64Array(cols);
  for (let j = 0; j < rows; j++) {
    const inv = 1 / hinvDiag[j];
    for (let c = 0; c < cols; c++) out[c] += w[j * cols + c] * w[j * cols + c] * inv;
  }
  return out;
}

/** diag((2·XXᵀ/N + λI)⁻¹), the OBS saliency denominator. */
async function inverseHessianDiagonal(
  la: Linalg,
  st: { dim: number; gram: Float64Array; count: number },
): Promise<Float64Array> {
  const n = st.dim;
  const h = mapTo(Float32Array, st.gram, (v) => (2 * v) / st.count);
  return dampedInverseDiagonal(la, h, n);
}

function standardize(x: Float64Array): Float64Array {
  const m = x.reduce((a, v) => a + v, 0) / x.length;
  const sd = Math.sqrt(x.reduce((a, v) => a + (v - m) ** 2, 0) / Math.max(1, x.length - 1)) || 1;
  return x.map((v) => (v - m) / sd);
}

function aggregate(
  channelScore: Float64Array,
  units: number,
  channelsOf: (u: number) => number[],
  how: 'sum' | 'mean',
): Float64Array {
  return Float64Array.from({ length: units }, (_, u) => {
    const ch = channelsOf(u);
    const s = ch.reduce((a, c) => a + channelScore[c], 0);
    return how === 'sum' ? s : s / ch.length;
  });
}

/** Layer `i`'s scores for `method`; `st` holds the dense model's activation statistics of that layer. */
export async function scoreLayer(
  la: Linalg,
  d: Decoder,
  i: number,
  st: LayerStats,
  method: Method,
  g: Granularity,
): Promise<LayerScores> {
  const hidden = d.config.hidden;
  const s = d.layers[i];
  const w = d.layerWeights[i];
  const qd = s.heads * s.headDim;
  const o = w.o.read();
  const down = w.down.read();
  const units = attentionUnitCount(s, g);
  const qChannels = (u: number) => unitChannels(s, g, u).q;
  let attnCh: Float64Array;
  let mlpCh: Float64Array;
  switch (method) {
    case 'magnitude': // Mag-sp: ‖W[:, j]‖₂ of the o_proj / down_proj column (paper-spec §3)
      attnCh = perRow(o, qd, hidden, (r) => Math.sqrt(sumSq(r)));
      mlpCh = perRow(down, s.intermediate, hidden, (r) => Math.sqrt(sumSq(r)));
      return { attn: aggregate(attnCh, units, qChannels, 'sum'), mlp: mlpCh };
    case 'wanda-sp': {
      // mean_i |W_ij| · ‖X_j‖₂ (paper-spec §3)
      const xo = columnNorms(st.o_in);
      const xd = columnNorms(st.down_in);
      attnCh = perRow(o, qd, hidden, (r, j) => meanAbs(r) * xo[j]);
      mlpCh = perRow(down, s.intermediate, hidden, (r, j) => meanAbs(r) * xd[j]);
      return { attn: aggregate(attnCh, units, qChannels, 'sum'), mlp: mlpCh };
    }
    case 'flap': {
      // WIFV: Var(x_j)·‖W[:, j]‖², attention squared; standardized per layer (paper-spec §3)
      const vo = variance(st.o_in);
      const vd = variance(st.down_in);
      attnCh = standardize(perRow(o, qd, hidden, (r, j) => (vo[j] * sumSq(r)) ** 2));
      mlpCh = standardize(perRow(down, s.intermediate, hidden, (r, j) => vd[j] * sumSq(r)));
      return { attn: aggregate(attnCh, units, qChannels, 'mean'), mlp: mlpCh };
    }
    case 'obs': {
      // Φ = W² / [(2XXᵀ)⁻¹]_jj, rows of Q/K/V/U/G + columns of O/D (paper-spec §1.3)
      // One after another: each inverse holds a few copies of its matrix.
      const [hx, ho, hm, hd] = [
        await inverseHessianDiagonal(la, st.attn_in),
        await inverseHessianDiagonal(la, st.o_in),
        await inverseHessianDiagonal(la, st.mlp_in),
        await inverseHessianDiagonal(la, st.down_in),
      ];
      const kvd = s.kvHeads * s.headDim;
      const qRow = obsOutputScores(w.q.read(), hidden, qd, hx);
      const kRow = obsOutputScores(w.k.read(), hidden, kvd, hx);
      const vRow = obsOutputScores(w.v.read(), hidden, kvd, hx);
      const oCol = perRow(o, qd, hidden, (r, j) => sumSq(r) / ho[j]);
      const attn = Float64Array.from({ length: units }, (_, u) => {
        const ch = unitChannels(s, g, u);
        return ch.q.reduce((a, c) => a + qRow[c] + oCol[c], 0) + ch.kv.reduce((a, c) => a + kRow[c] + vRow[c], 0);
      });
      const gRow = obsOutputScores(w.gate.read(), hidden, s.intermediate, hm);
      const uRow = obsOutputScores(w.up.read(), hidden, s.intermediate, hm);
      const dCol = perRow(down, s.intermediate, hidden, (r, j) => sumSq(r) / hd[j]);
      return { attn, mlp: mapTo(Float64Array, dCol, (v, c) => v + gRow[c] + uRow[c]) };
    }
  }
}

/**
 * FLAP's bias compensation: the pruned channels' mean contribution Σ_{j pruned} x̄_j · W[j, :] becomes a bias of
 * o_proj / down_proj, so removing them shifts the output by nothing on average.
 */
export function compensationBias(
  w: Float32Array,
  hidden: number,
  xbar: Float64Array,
  keep: (j: number) => boolean,
): Float32Array {
  const b = new Float32Array(hidden);
  for (let j = 0; j < xbar.length; j++) {
    if (keep(j)) continue;
    for (let c = 0; c < hidden; c++) b[c] += xbar[j] * w[j * hidden + c];
  }
  return b;
}
