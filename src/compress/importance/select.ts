// Turning scores into a sub-network at a parameter budget.
import type { Decoder } from '../../model/decoder';
import { layerCounts, totalCounts } from '../../model/params';
import { maskedParams, type SubnetMask } from '../subnet';
import type { LayerScores } from './scores';
import {
  attentionUnitCount,
  attentionUnitParams,
  layerMaskFromUnits,
  mlpChannelParams,
  type Granularity,
} from './units';

/** Parameters outside the searchable layers' attention and MLP: embeddings, norms, lm_head. */
export function outerParams(d: Decoder): number {
  return totalCounts(d).params - layerCounts(d).reduce((a, l) => a + l.params, 0);
}

/** The `k` highest-scoring entries (ties broken by index, so selection is deterministic). */
export function topK(scores: Float64Array, k: number): boolean[] {
  const order = Array.from(scores.keys()).sort((a, b) => scores[b] - scores[a] || a - b);
  const keep = new Array(scores.length).fill(false);
  for (const i of order.slice(0, k)) keep[i] = true;
  return keep;
}

const biasFlags = (d: Decoder) => ({ qkv: Boolean(d.layerWeights[0]?.qBias) });

/** Largest x in [0, 1] with f(x) ≤ target, for f non-decreasing; or 0. */
function bisect(f: (x: number) => number, target: number): number {
  let lo = 0;
  let hi = 1;
  if (f(hi) <= target) return hi;
  for (let it = 0; it < 50; it++) {
    const mid = (lo + hi) / 2;
    if (f(mid) <= target) lo = mid;
    else hi = mid;
  }
  return lo;
}

/**
 * The same keep fraction in every layer (the paper's uniform initialisation, Wanda-sp and Mag-sp). Attention
 * units are coarse (a KV group can be several percent of a small model), so their count is rounded first and
 * the MLP fraction, fine-grained, is then solved to land just at or below the target parameter count.
 */
export function selectUniform(d: Decoder, scores: LayerScores[], g: Granularity, targetParams: number): SubnetMask {
  const keep = uniformUnits(d, scores, g, targetParams);
  return d.layers.map((s, i) => layerMaskFromUnits(s, g, keep.attn[i], keep.mlp[i]));
}

/** `selectUniform` at the level of units: kept attention units and MLP channels per layer. */
export function uniformUnits(
  d: Decoder,
  scores: LayerScores[],
  g: Granularity,
  targetParams: number,
): { attn: boolean[][]; mlp: boolean[][] } {
  const hidden = d.config.hidden;
  const unitParams = d.layers.map((s) => attentionUnitParams(s, g, hidden, biasFlags(d)));
  const fixed =
    outerParams(d) +
    d.layers.reduce(
      (a, s, i) =>
        a +
        layerCounts(d)[i].params -
        attentionUnitCount(s, g) * unitParams[i] -
        s.intermediate * mlpChannelParams(hidden),
      0,
    );
  const attnCount = (f: number) => d.layers.map((s) => Math.max(1, Math.round(f * attentionUnitCount(s, g))));
  const mlpCount = (f: number) => d.layers.map((s) => Math.max(1, Math.round(f * s.intermediate)));
  const params = (fa: number, fm: number) =>
    fixed +
    attnCount(fa).reduce((a, c, i) => a + c * unitParams[i], 0) +
    mlpCount(fm).reduce((a, c) => a + c * mlpChannelParams(hidden), 0);
  const fa = bisect((f) => params(f, f), targetParams);
  const fm = bisect((f) => params(fa, f), targetParams);
  const attn = attnCount(fa);
  const mlp = mlpCount(fm);
  return { attn: scores.map((s, i) => topK(s.attn, attn[i])), mlp: scores.map((s, i) => topK(s.mlp, mlp[i])) };
}

/**
 * One global ranking over every layer's attention units and MLP channels (FLAP's adaptive structure, "AL-AM"):
 * the lowest-scoring units go first, each weighed by its parameters, until the model fits the target.
 * Scores must be comparable across layers (FLAP standardizes them per layer).
 */
export function selectGlobal(d: Decoder, scores: LayerScores[], g: Granularity, targetParams: number): SubnetMask {
  const keep = globalUnits(d, scores, g, targetParams);
  return d.layers.map((s, i) => layerMaskFromUnits(s, g, keep.attn[i], keep.mlp[i]));
}

/** `selectGlobal` at the level of units. */
export function globalUnits(
  d: Decoder,
  scores: LayerScores[],
  g: Granularity,
  targetParams: number,
): { attn: boolean[][]; mlp: boolean[][] } {
  const hidden = d.config.hidden;
  type Unit = { layer: number; attn: boolean; index: number; score: number; params: number };
  const units: Unit[] = [];
  const keepAttn = d.layers.map((s) => new Array(attentionUnitCount(s, g)).fill(true));
  const keepMlp = d.layers.map((s) => new Array(s.intermediate).fill(true));
  d.layers.forEach((s, layer) => {
    const ap = attentionUnitParams(s, g, hidden, biasFlags(d));
    scores[layer].attn.forEach((score, index) => units.push({ layer, attn: true, index, score, params: ap }));
    scores[layer].mlp.forEach((score, index) =>
      units.push({ layer, attn: false, index, score, params: mlpChannelParams(hidden) }),
    );
  });
  units.sort((a, b) => a.score - b.score || a.layer - b.layer || a.index - b.index);
  let params = totalCounts(d).params;
  const left = d.layers.map((s) => ({ attn: attentionUnitCount(s, g), mlp: s.intermediate }));
  for (const u of units) {
    if (params <= targetParams) break;
    const l = left[u.layer];
    if (u.attn ? l.attn <= 1 : l.mlp <= 1) continue;
    (u.attn ? keepAttn : keepMlp)[u.layer][u.index] = false;
    if (u.attn) l.attn--;
    else l.mlp--;
    params -= u.params;
  }
  return { attn: keepAttn, mlp: keepMlp };
}

export function inheritingRatio(d: Decoder, mask: SubnetMask): number {
  return maskedParams(d, mask, outerParams(d)) / totalCounts(d).params;
}

/** The smallest model a selection can make: one attention unit and one MLP channel left in every layer. */
export function minimumParams(d: Decoder, g: Granularity): number {
  const first = (n: number) => Array.from({ length: n }, (_, i) => i === 0);
  const mask = d.layers.map((s) => layerMaskFromUnits(s, g, first(attentionUnitCount(s, g)), first(s.intermediate)));
  return maskedParams(d, mask, outerParams(d));
}
