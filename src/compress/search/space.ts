// The search space of paper-spec §1.1 over our units: per layer, which attention units and which MLP channels
// are kept, with per-layer keep ratios inside the ranges of the paper's Table 1.
import type { Decoder } from '../../model/decoder';
import { layerCounts, totalCounts } from '../../model/params';
import {
  attentionUnitCount,
  attentionUnitParams,
  layerMaskFromUnits,
  mlpChannelParams,
  type Granularity,
} from '../importance/units';
import { outerParams } from '../importance/select';
import { droppedLayer, type SubnetMask } from '../subnet';
import { compensationBiasParams, type CompensationFlags } from '../importance/compensation';

/**
 * One candidate: per layer, the kept attention-unit indices and kept MLP-channel indices (sorted), and whether
 * o_proj / down_proj get FLAP's compensation bias for what they lose (only in a space with compensation).
 */
export interface Candidate {
  layers: { attn: number[]; mlp: number[]; attnBias?: boolean; mlpBias?: boolean }[];
  /** How many of the last layers are dropped whole (only in a space with depth); their genes wait unused. */
  drop?: number;
}

export interface Range {
  min: number;
  max: number;
  step: number;
}

export interface SearchSpace {
  granularity: Granularity;
  attnUnits: number[]; // per layer
  mlpUnits: number[];
  attnRange: Range; // keep ratio of attention units
  mlpRange: Range; // keep ratio of MLP channels
  /** Parameters that do not depend on the masks (each layer's own, e.g. its norms, in `layerParams`), and per-unit costs. */
  fixedParams: number;
  layerParams: number[];
  attnUnitParams: number[];
  mlpUnitParams: number;
  /** Whether compensation biases are part of the space, and what each one costs per layer. */
  compensation: boolean;
  biasParams: { attn: number; mlp: number }[];
  /** The most last layers a candidate may drop (0: no depth search). */
  maxDrop: number;
  totalParams: number;
  budget: { min: number; max: number }; // in parameters
}

/**
 * Table 1's lower bounds, read at the ratio the *layers* must keep (r_L): for a small model the embeddings are a
 * large share of all parameters, so the layers must keep less than the global ratio. The paper's rows are
 * attention ≥ max(0.6, r) and MLP ≥ max(0.1, 2r − 1.2) (90% → 0.6, 80% → 0.4, 70% → 0.2, ≤ 60% → 0.1), with
 * the 70% row's "0.3" read as 0.7 (paper-spec §1.1).
 */
export function paperRanges(layerRatio: number, attnUnits: number): { attn: Range; mlp: Range } {
  const r = Math.min(1, Math.max(0, layerRatio));
  return {
    attn: { min: Math.max(0.6, Math.min(r, 1)), max: 1, step: Math.max(0.01, 1 / attnUnits) },
    mlp: { min: Math.max(0.1, 2 * r - 1.2), max: 1, step: 0.05 },
  };
}

/**
 * Depth (paper-spec §1.1, Table 1): below a 70% inheriting ratio, up to an eighth of the layers (4 of LLaMA-7B's
 * 32), at least one, may be dropped from the end.
 */
export function maxDroppedLayers(layers: number, ratio: number): number {
  return ratio < 0.7 ? Math.min(layers - 1, Math.max(1, Math.round(layers / 8))) : 0;
}

export interface SpaceOptions {
  /** FLAP's compensation bias per module as part of each candidate. */
  compensation?: boolean;
  /** Dropping the last layers as part of each candidate (below a 0.7 ratio). */
  depth?: boolean;
}

export function searchSpace(
  d: Decoder,
  g: Granularity,
  ratio: number,
  tolerance: number,
  o: SpaceOptions = {},
): SearchSpace {
  const hidden = d.config.hidden;
  const biases = { qkv: Boolean(d.layerWeights[0]?.qBias) };
  const attnUnits = d.layers.map((s) => attentionUnitCount(s, g));
  const mlpUnits = d.layers.map((s) => s.intermediate);
  const attnUnitParams = d.layers.map((s) => attentionUnitParams(s, g, hidden, biases));
  const per = layerCounts(d);
  const layerParams = d.layers.map(
    (_, i) => per[i].params - attnUnits[i] * attnUnitParams[i] - mlpUnits[i] * mlpChannelParams(hidden),
  );
  const totalParams = totalCounts(d).params;
  const layerTotal = totalParams - outerParams(d);
  const ranges = paperRanges((ratio * totalParams - outerParams(d)) / layerTotal, Math.min(...attnUnits));
  return {
    granularity: g,
    attnUnits,
    mlpUnits,
    attnRange: ranges.attn,
    mlpRange: ranges.mlp,
    fixedParams: outerParams(d),
    layerParams,
    attnUnitParams,
    mlpUnitParams: mlpChannelParams(hidden),
    compensation: Boolean(o.compensation),
    biasParams: compensationBiasParams(d),
    maxDrop: o.depth ? maxDroppedLayers(d.layers.length, ratio) : 0,
    totalParams,
    // At most what the user asked for, and at least `tolerance` below it (the paper's parameter window).
    budget: { min: (ratio - tolerance) * totalParams, max: ratio * totalParams },
  };
}

export function candidateParams(sp: SearchSpace, c: Candidate): number {
  const bias = (i: number, l: Candidate['layers'][number]) =>
    (l.attnBias ? sp.biasParams[i].attn : 0) + (l.mlpBias ? sp.biasParams[i].mlp : 0);
  return keptLayers(c).reduce(
    (a, l, i) =>
      a + sp.layerParams[i] + l.attn.length * sp.attnUnitParams[i] + l.mlp.length * sp.mlpUnitParams + bias(i, l),
    sp.fixedParams,
  );
}

/** The layers a candidate keeps (all but the dropped last ones). */
function keptLayers(c: Candidate): Candidate['layers'] {
  return c.layers.slice(0, c.layers.length - (c.drop ?? 0));
}

export const withinBudget = (sp: SearchSpace, c: Candidate) => {
  const p = candidateParams(sp, c);
  return p >= sp.budget.min && p <= sp.budget.max;
};

export function candidateMask(d: Decoder, sp: SearchSpace, c: Candidate): SubnetMask {
  const bools = (n: number, keep: number[]) => {
    const b = new Array(n).fill(false);
    for (const i of keep) b[i] = true;
    return b;
  };
  const kept = keptLayers(c).length;
  return d.layers.map((s, i) =>
    i < kept
      ? layerMaskFromUnits(
          s,
          sp.granularity,
          bools(sp.attnUnits[i], c.layers[i].attn),
          bools(sp.mlpUnits[i], c.layers[i].mlp),
        )
      : droppedLayer(s),
  );
}

export const candidateCompensation = (c: Candidate): CompensationFlags => {
  const kept = keptLayers(c).length;
  return c.layers.map((l, i) => ({ attn: i < kept && Boolean(l.attnBias), mlp: i < kept && Boolean(l.mlpBias) }));
};

/** A stable key for the evaluation cache. */
export function candidateKey(c: Candidate): string {
  const b = (on?: boolean) => (on ? '+b' : '');
  const genes = keptLayers(c)
    .map((l) => `${l.attn.join(',')}${b(l.attnBias)}|${l.mlp.join(',')}${b(l.mlpBias)}`)
    .join(';');
  return c.drop ? `drop ${c.drop}:${genes}` : genes;
}

/** The candidate a selected mask corresponds to (masks from `selectUniform` over the same granularity). */
export function candidateFromKeep(keepAttn: boolean[][], keepMlp: boolean[][], bias?: boolean): Candidate {
  const idx = (b: boolean[]) => b.flatMap((v, i) => (v ? [i] : []));
  return {
    layers: keepAttn.map((a, i) => ({
      attn: idx(a),
      mlp: idx(keepMlp[i]),
      ...(bias === undefined ? {} : { attnBias: bias, mlpBias: bias }),
    })),
  };
}
