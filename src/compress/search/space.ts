// The search space of paper-spec §1.1 over our units: per layer, which attention units and which MLP channels
// are kept, with per-layer keep ratios inside the ranges of the paper's Table 1.
import type { Decoder } from '../../model/decoder';
import { layerCounts, totalCounts } from '../../model/params';
import { attentionUnitCount, attentionUnitParams, layerMaskFromUnits, mlpChannelParams, type Granularity } from '../importance/units';
import { outerParams } from '../importance/select';
import type { SubnetMask } from '../subnet';
import { compensationBiasParams, type CompensationFlags } from '../importance/compensation';

/**
 * One candidate: per layer, the kept attention-unit indices and kept MLP-channel indices (sorted), and whether
 * o_proj / down_proj get FLAP's compensation bias for what they lose (only in a space with compensation).
 */
export interface Candidate {
  layers: { attn: number[]; mlp: number[]; attnBias?: boolean; mlpBias?: boolean }[];
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
  /** Parameters that do not depend on the masks, and per-unit costs. */
  fixedParams: number;
  attnUnitParams: number[];
  mlpUnitParams: number;
  /** Whether compensation biases are part of the space, and what each one costs per layer. */
  compensation: boolean;
  biasParams: { attn: number; mlp: number }[];
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

export function searchSpace(d: Decoder, g: Granularity, ratio: number, tolerance: number, compensation = false): SearchSpace {
  const hidden = d.config.hidden;
  const biases = { qkv: Boolean(d.layerWeights[0]?.qBias) };
  const attnUnits = d.layers.map((s) => attentionUnitCount(s, g));
  const mlpUnits = d.layers.map((s) => s.intermediate);
  const attnUnitParams = d.layers.map((s) => attentionUnitParams(s, g, hidden, biases));
  const per = layerCounts(d);
  const fixedParams = outerParams(d) + d.layers.reduce((a, _, i) => a + per[i].params - attnUnits[i] * attnUnitParams[i] - mlpUnits[i] * mlpChannelParams(hidden), 0);
  const totalParams = totalCounts(d).params;
  const layerTotal = totalParams - outerParams(d);
  const ranges = paperRanges((ratio * totalParams - outerParams(d)) / layerTotal, Math.min(...attnUnits));
  return {
    granularity: g,
    attnUnits,
    mlpUnits,
    attnRange: ranges.attn,
    mlpRange: ranges.mlp,
    fixedParams,
    attnUnitParams,
    mlpUnitParams: mlpChannelParams(hidden),
    compensation,
    biasParams: compensationBiasParams(d),
    totalParams,
    // At most what the user asked for, and at least `tolerance` below it (the paper's parameter window).
    budget: { min: (ratio - tolerance) * totalParams, max: ratio * totalParams },
  };
}

export function candidateParams(sp: SearchSpace, c: Candidate): number {
  const bias = (i: number, l: Candidate['layers'][number]) => (l.attnBias ? sp.biasParams[i].attn : 0) + (l.mlpBias ? sp.biasParams[i].mlp : 0);
  return c.layers.reduce((a, l, i) => a + l.attn.length * sp.attnUnitParams[i] + l.mlp.length * sp.mlpUnitParams + bias(i, l), sp.fixedParams);
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
  return d.layers.map((s, i) => layerMaskFromUnits(s, sp.granularity, bools(sp.attnUnits[i], c.layers[i].attn), bools(sp.mlpUnits[i], c.layers[i].mlp)));
}

export const candidateCompensation = (c: Candidate): CompensationFlags => c.layers.map((l) => ({ attn: Boolean(l.attnBias), mlp: Boolean(l.mlpBias) }));

/** A stable key for the evaluation cache. */
export function candidateKey(c: Candidate): string {
  const b = (on?: boolean) => (on ? '+b' : '');
  return c.layers.map((l) => `${l.attn.join(',')}${b(l.attnBias)}|${l.mlp.join(',')}${b(l.mlpBias)}`).join(';');
}

/** The candidate a selected mask corresponds to (masks from `selectUniform` over the same granularity). */
export function candidateFromKeep(keepAttn: boolean[][], keepMlp: boolean[][], bias?: boolean): Candidate {
  const idx = (b: boolean[]) => b.flatMap((v, i) => (v ? [i] : []));
  return { layers: keepAttn.map((a, i) => ({ attn: idx(a), mlp: idx(keepMlp[i]), ...(bias === undefined ? {} : { attnBias: bias, mlpBias: bias }) })) };
}
