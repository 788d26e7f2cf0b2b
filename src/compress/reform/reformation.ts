// Sequential reformation (paper-spec §1.6, design.md "Numerics"): layer by layer, each layer's calibration inputs
// come from the already pruned and reformed layers before it; o_proj's inputs are captured with the layer's
// unpruned q/k/v, then down_proj's inputs with the unpruned gate/up after the reformed attention.
import { floatBytes, memoryWeight, type Decoder, type Weight } from '../../model/decoder';
import { NewWeights } from '../../model/newWeights';
import { weightSize } from '../../model/params';
import { biasName, linearName } from '../../model/names';
import { layerInputs } from '../../runtime/activationStats';
import { isDropped, maskVectors, type LayerMask, type SubnetMask } from '../subnet';
import { passLayer, type LayerwiseOptions } from '../calibration';
import { linalgOn } from '../../linalg/graphs';
import { reformLayer, type ReformInputs, type ReformOptions } from './reformLayer';
import type { ModuleReformError } from './reformError';
import type { CompensationFlags } from '../importance/compensation';

export interface LayerReformReport {
  layer: number;
  o: ModuleReformError;
  down: ModuleReformError;
  seconds: number;
}

const full = (m: LayerMask): LayerMask => ({
  heads: m.heads.map(() => true),
  pairs: m.pairs.map(() => true),
  mlp: m.mlp.map(() => true),
});

/** A module with every row kept: nothing refitted, no error before or after. */
const UNCHANGED: ModuleReformError = { errorBefore: 0, errorAfter: 0, allKept: true };

const keptRows = (v: Float32Array) => Array.from(v.keys()).filter((i) => v[i] !== 0);

/**
 * Bytes of the weights `reformDecoder` computes for `mask`: each o_proj / down_proj that loses rows is refitted in
 * its full shape, in the model's precision.
 */
export function reformedWeightBytes(d: Decoder, mask: SubnetMask): number {
  const vectors = maskVectors(d, mask);
  const bytes = (w: Weight) => weightSize(w) * floatBytes(d.weightType);
  return d.layers.reduce((a, _, l) => {
    if (isDropped(mask[l])) return a;
    const lw = d.layerWeights[l];
    return a + (vectors.attn[l].includes(0) ? bytes(lw.o) : 0) + (vectors.mlp[l].includes(0) ? bytes(lw.down) : 0);
  }, 0);
}

/** Layer `l` with its o_proj or down_proj replaced (when `weight` is given) and `bias` added to the layer's own. */
function replace(
  d: Decoder,
  l: number,
  key: 'o' | 'down',
  store: NewWeights,
  weight?: Float32Array,
  bias?: Float32Array,
): Decoder {
  const biasKey = key === 'o' ? 'oBias' : 'downBias';
  const lw = d.layerWeights[l];
  const w = weight && store.weight(linearName(l, key), lw[key].shape, weight, d.weightType);
  const own = lw[biasKey]?.read();
  const b =
    bias &&
    memoryWeight(
      biasName(l, biasKey),
      [bias.length],
      Float32Array.from(bias, (v, c) => v + (own ? own[c] : 0)),
    );
  const layerWeights = d.layerWeights.map((x, i) =>
    i === l ? { ...x, ...(w ? { [key]: w } : {}), ...(b ? { [biasKey]: b } : {}) } : x,
  );
  return { ...d, layerWeights };
}

/**
 * The decoder with every layer's o_proj and down_proj reformed for `mask` (full shapes; omitted rows zero). A
 * module `bias` marks (the masks' compensation biases) is refitted with a bias of its own.
 */
export async function reformDecoder(
  d: Decoder,
  mask: SubnetMask,
  windows: number[][],
  opts: ReformOptions,
  session: LayerwiseOptions,
  onLayer?: (r: LayerReformReport) => void,
  bias?: CompensationFlags,
): Promise<{ decoder: Decoder; layers: LayerReformReport[] }> {
  const la = linalgOn(session);
  const store = session.newWeights ?? new NewWeights();
  let cur = d;
  const reports: LayerReformReport[] = [];
  const hidden = d.config.hidden;
  const vectors = maskVectors(d, mask);
  // The inputs of layer l: the calibration windows through layers 0..l−1, already pruned and reformed.
  let input = layerInputs(d, windows);
  const last = d.layers.length - 1;
  try {
    for (let l = 0; l <= last; l++) {
      const t0 = performance.now();
      const s = d.layers[l];
      const pass = (layerMask: LayerMask, point: 'o_in' | 'down_in') =>
        passLayer(cur, l, input, { ...session, points: [point], layerMask, keepOutput: false });
      // A dropped layer keeps nothing to refit; it still passes its (residual) output on.
      let errors: Pick<LayerReformReport, 'o' | 'down'> | undefined;
      if (!isDropped(mask[l])) {
        // A module that keeps every row has nothing to refit (the fit would give W back): no pass, no new weight.
        const refit = async (key: 'o' | 'down', kept: number[], n: number, inputs: () => Promise<ReformInputs>) => {
          const withBias = bias?.[l][key === 'o' ? 'attn' : 'mlp'];
          if (kept.length === n) {
            // A flagged module still gets its (zero) bias tensor, as the masks' parameter count has it.
            if (withBias) cur = replace(cur, l, key, store, undefined, new Float32Array(hidden));
            return UNCHANGED;
          }
          const w = cur.layerWeights[l][key].read();
          const r = await reformLayer(la, w, await inputs(), n, hidden, kept, opts, withBias);
          cur = replace(cur, l, key, store, r.weight, r.bias);
          return {
            errorBefore: r.errorBefore,
            errorAfter: r.errorAfter,
            ...(r.discarded ? { discarded: true, refitError: r.refitError } : {}),
          };
        };
        // o_proj: layer l's attention unpruned.
        const o = await refit(
          'o',
          keptRows(vectors.attn[l]),
          s.heads * s.headDim,
          async () => (await pass(full(mask[l]), 'o_in')).stats.o_in!,
        );
        // down_proj: layer l's attention pruned and reformed, its gate/up unpruned.
        const down = await refit(
          'down',
          keptRows(vectors.mlp[l]),
          s.intermediate,
          async () =>
            (await pass({ ...full(mask[l]), heads: mask[l].heads, pairs: mask[l].pairs }, 'down_in')).stats.down_in!,
        );
        errors = { o, down };
      }
      if (l < last) {
        const next = (await passLayer(cur, l, input, { ...session, points: [], layerMask: mask[l], keepOutput: true }))
          .next!;
        input.hidden?.release();
        input = next;
      }
      if (errors) {
        const report = { layer: l, ...errors, seconds: (performance.now() - t0) / 1000 };
        reports.push(report);
        onLayer?.(report);
      }
    }
  } finally {
    // Also on a cancel or an error: the spilled hidden states are the job's own temporaries.
    input.hidden?.release();
  }
  return { decoder: cur, layers: reports };
}
