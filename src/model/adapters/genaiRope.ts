// θ of the rotary embedding from the cos/sin caches the onnxruntime-genai builder stores (`cos_cache`, `sin_cache`:
// [context, headDim/2], row t = cos/sin of t · θ^(−2p/headDim)): the builder writes θ nowhere else. Caches that are
// not one plain geometric sequence of frequencies (rope scaling baked in, e.g. Llama 3.x's llama3 type) are refused.
import { UserError } from '../../util/errors';

/** The frequency of pair `p`, from the latest row whose angle is still below π (atan2 is exact there). */
function frequency(cos: Float32Array, sin: Float32Array, half: number, p: number): number {
  const rows = cos.length / half;
  const first = Math.atan2(sin[half + p], cos[half + p]);
  const t = Math.max(1, Math.min(rows - 1, Math.floor(3 / Math.max(first, 1e-12))));
  return Math.atan2(sin[t * half + p], cos[t * half + p]) / t;
}

export function builderRopeTheta(cos: Float32Array, sin: Float32Array, headDim: number, fileName: string): number {
  const half = headDim / 2;
  if (cos.length !== sin.length || cos.length % half || cos.length < 2 * half)
    throw new UserError(`${fileName}: cos_cache / sin_cache are not [context, ${half}] tables`);
  const f = Array.from({ length: half }, (_, p) => frequency(cos, sin, half, p));
  // f[p] = θ^(−2p/headDim): each pair p ≥ 1 gives θ; they must agree (and f[0] = 1).
  const thetas = f.slice(1).map((x, j) => x ** (-headDim / (2 * (j + 1))));
  const theta = Math.exp(thetas.reduce((a, t) => a + Math.log(t), 0) / thetas.length);
  const plain = Math.abs(f[0] - 1) < 1e-3 && f.every((x, p) => Math.abs(x / theta ** ((-2 * p) / headDim) - 1) < 1e-3);
  if (!plain)
    throw new UserError(
      `${fileName}: its cos/sin caches are not plain rotary frequencies θ^(−2p/d) (rope scaling, e.g. Llama 3.x's llama3 type, baked into the caches); builder graphs with rope scaling are not read`,
    );
  // θ as configs state it (10000, 500000): the caches' float rounding moves it by a few parts per million.
  const round = Number(theta.toPrecision(4));
  return Math.abs(round / theta - 1) < 1e-4 ? round : theta;
}
