// The rotary embedding of an onnxruntime-genai builder graph, read from the cos/sin caches it stores (`cos_cache`,
// `sin_cache`: [context, headDim/2], row t = cos/sin of t · f_p): the builder writes θ and rope scaling nowhere
// else. Read: plain frequencies f_p = θ^(−2p/headDim), and Llama 3.x's `llama3` rescaling with the parameters every
// released Llama 3.1 / 3.2 / 3.3 has (low 1, high 4, original context 8192; the factor read from the slowest pair).
// Anything else baked into the caches is refused.
import { UserError } from '../../util/errors';
import { ropeInverseFrequencies, type Llama3RopeScaling } from '../rope';
import type { FloatType } from '../decoder';

/** The frequency of pair `p`, from the latest row whose angle is still below π (atan2 is exact there). */
function frequency(cos: Float32Array, sin: Float32Array, half: number, p: number): number {
  const rows = cos.length / half;
  const first = Math.atan2(sin[half + p], cos[half + p]);
  const t = Math.max(1, Math.min(rows - 1, Math.floor(3 / Math.max(first, 1e-12))));
  return Math.atan2(sin[t * half + p], cos[t * half + p]) / t;
}

/**
 * `x` as configs state such values (θ 10000 or 500000, factor 32): to the fewest significant digits (up to 4)
 * within what the caches' precision can tell.
 */
function asConfigsState(x: number, within: number): number {
  for (let digits = 1; digits <= 4; digits++) {
    const round = Number(x.toPrecision(digits));
    if (Math.abs(round / x - 1) < within) return round;
  }
  return x;
}

/** θ from the pairs `ps` (each gives θ = f_p^(−headDim/2p)), geometric mean. */
function thetaOf(f: number[], ps: number[], headDim: number, roundWithin: number): number {
  const logs = ps.map((p) => (Math.log(f[p]) * -headDim) / (2 * p));
  return asConfigsState(Math.exp(logs.reduce((a, b) => a + b, 0) / logs.length), roundWithin);
}

const LLAMA3 = { lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 8192 };

export interface BuilderRope {
  ropeTheta: number;
  ropeScaling?: Llama3RopeScaling;
}

/**
 * How closely frequencies read from caches stored in each precision match, and how close θ must be to a rounded
 * value to be taken as it: fp16 caches hold angles to about 1e-3, bf16 ones (8 significant bits) to about 8e-3.
 */
const TOLERANCES: Record<FloatType, [match: number, roundWithin: number]> = {
  float32: [1e-3, 1e-4],
  float16: [1e-2, 2e-3],
  bfloat16: [5e-2, 1.6e-2],
};

/** `precision`: the type the caches are stored in. */
export function builderRope(
  cos: Float32Array,
  sin: Float32Array,
  headDim: number,
  fileName: string,
  precision: FloatType,
): BuilderRope {
  const half = headDim / 2;
  if (cos.length !== sin.length || cos.length % half || cos.length < 2 * half || half < 2)
    throw new UserError(`${fileName}: cos_cache / sin_cache are not [context, ${half}] tables`);
  const f = Array.from({ length: half }, (_, p) => frequency(cos, sin, half, p));
  const [tolerance, roundWithin] = TOLERANCES[precision];
  const matches = (c: BuilderRope) =>
    ropeInverseFrequencies({ ...c, headDim }).every((x, p) => Math.abs(f[p] / x - 1) < tolerance);
  const pairs = Array.from({ length: half - 1 }, (_, j) => j + 1);
  const plain = { ropeTheta: thetaOf(f, pairs, headDim, roundWithin) };
  if (matches(plain)) return plain;
  // llama3 keeps the fast pairs (wavelength < 8192 / 4): θ from those, the factor from the slowest pair.
  const theta0 = thetaOf(f, [1], headDim, roundWithin);
  const fast = pairs.filter((p) => (2 * Math.PI) / theta0 ** ((-2 * p) / headDim) < 8192 / 4);
  const ropeTheta = thetaOf(f, fast.length ? fast : [1], headDim, roundWithin);
  const factor = asConfigsState(ropeTheta ** ((-2 * (half - 1)) / headDim) / f[half - 1], roundWithin);
  const scaled: BuilderRope = { ropeTheta, ropeScaling: { type: 'llama3', factor, ...LLAMA3 } };
  if (factor > 1 && matches(scaled)) return scaled;
  throw new UserError(
    `${fileName}: its cos/sin caches are neither plain rotary frequencies θ^(−2p/d) nor Llama 3.x's llama3 rescaling (low 1, high 4, original context 8192); builder graphs with other rope scaling are not read`,
  );
}
