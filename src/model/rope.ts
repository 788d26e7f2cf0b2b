// Rotary frequencies as the families define them: θ^(-2p/d) per rotary pair p, optionally rescaled by Llama 3.1's
// `rope_scaling` (transformers' `_compute_llama3_parameters`, modeling_rope_utils.py). Plain math on the config, so
// the graph builder, the reader and tests share one definition.
import { UserError } from '../util/errors';

/** `rope_scaling` of type `llama3` (Llama 3.1 / 3.2 / 3.3). */
export interface Llama3RopeScaling {
  type: 'llama3';
  factor: number;
  lowFreqFactor: number;
  highFreqFactor: number;
  originalMaxPositions: number;
}

/** The numbers `ropeInverseFrequencies` needs. */
export interface RopeConfig {
  ropeTheta: number;
  /** The original (unpruned) head dimension: the frequencies' denominator. */
  headDim: number;
  ropeScaling?: Llama3RopeScaling;
}

/**
 * `1 / θ^(2p/d)` for every rotary pair p of the original head, rescaled for `llama3`: wavelengths 2π/f above
 * `originalMaxPositions / lowFreqFactor` are slowed by `factor`, below `originalMaxPositions / highFreqFactor` kept,
 * and in between blended with `s = (originalMaxPositions / wavelength − low) / (high − low)`. The table is indexed
 * by the original pair, so a pruned layer's kept pairs keep their frequencies (paper-spec §1.7).
 */
export function ropeInverseFrequencies(c: RopeConfig): number[] {
  const base = Array.from({ length: c.headDim / 2 }, (_, p) => 1 / Math.pow(c.ropeTheta, (2 * p) / c.headDim));
  const s = c.ropeScaling;
  if (!s) return base;
  const lowFreqWavelength = s.originalMaxPositions / s.lowFreqFactor;
  const highFreqWavelength = s.originalMaxPositions / s.highFreqFactor;
  return base.map((f) => {
    const wavelength = (2 * Math.PI) / f;
    if (wavelength < highFreqWavelength) return f;
    if (wavelength > lowFreqWavelength) return f / s.factor;
    const smooth = (s.originalMaxPositions / wavelength - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
    return (1 - smooth) * (f / s.factor) + smooth * f;
  });
}

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/**
 * The RoPE scaling a `config.json` asks for: none (absent, null or type `default`), or `llama3`. Other types
 * (linear, dynamic, yarn, longrope) would change the network, so they are refused rather than read as plain RoPE.
 * transformers ≥ 5 writes `rope_parameters` (with `rope_type`); earlier versions `rope_scaling` (`type` or `rope_type`).
 */
export function readRopeScaling(hf: Record<string, unknown>, file: string): Llama3RopeScaling | undefined {
  const key = hf.rope_scaling ? 'rope_scaling' : 'rope_parameters';
  const r = hf[key] as Record<string, unknown> | null | undefined;
  if (!r || typeof r !== 'object') return undefined;
  const type = r.rope_type ?? r.type ?? 'default';
  if (type === 'default') return undefined;
  if (type !== 'llama3') {
    throw new UserError(
      `${file}: ${key} of type '${String(type)}' is not supported (read: none, default, llama3); the model's positions would be computed wrongly`,
    );
  }
  const field = (name: string, fallback?: number) => {
    const v = num(r[name]) ?? fallback;
    if (v === undefined || v <= 0) throw new UserError(`${file}: ${key} of type llama3 needs a positive '${name}'`);
    return v;
  };
  const scaling: Llama3RopeScaling = {
    type: 'llama3',
    factor: field('factor'),
    lowFreqFactor: field('low_freq_factor'),
    highFreqFactor: field('high_freq_factor'),
    // transformers falls back to max_position_embeddings when the original context is not stated.
    originalMaxPositions: field('original_max_position_embeddings', num(hf.max_position_embeddings)),
  };
  if (scaling.highFreqFactor === scaling.lowFreqFactor)
    throw new UserError(`${file}: ${key} llama3 has low_freq_factor = high_freq_factor; the blend is undefined`);
  return scaling;
}

/** `rope_scaling` as config.json writes it. */
export const ropeScalingJson = (s: Llama3RopeScaling) => ({
  rope_type: 'llama3',
  factor: s.factor,
  low_freq_factor: s.lowFreqFactor,
  high_freq_factor: s.highFreqFactor,
  original_max_position_embeddings: s.originalMaxPositions,
});
