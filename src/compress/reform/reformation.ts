// Sequential reformation (paper-spec §1.6, design.md "Numerics"): layer by layer, each layer's calibration inputs
// come from the already pruned and reformed layers before it; o_proj's inputs are captured with the layer's
// unpruned q/k/v, then down_proj's inputs with the unpruned gate/up after the reformed attention.
import type { Decoder } from '../../model/decoder';
import { memoryWeight } from '../../model/decoder';
import { decoderSession } from '../../runtime/decoderSession';
import { captureStats, type ActivationStats } from '../../runtime/activationStats';
import { IO } from '../../build/decoderGraph';
import { ort, type SessionOptions } from '../../runtime/session';
import { isDropped, maskVectors, type LayerMask, type SubnetMask } from '../subnet';
import { reformLayer, type ReformOptions, type ReformResult } from './reformLayer';
import type { CompensationFlags } from '../importance/compensation';

export interface LayerReformReport {
  layer: number;
  o: { errorBefore: number; errorAfter: number };
  down: { errorBefore: number; errorAfter: number };
  seconds: number;
}

const full = (m: LayerMask): LayerMask => ({ heads: m.heads.map(() => true), pairs: m.pairs.map(() => true), mlp: m.mlp.map(() => true) });

function feeds(d: Decoder, mask: SubnetMask, inputs: readonly string[]): Record<string, ort.Tensor> {
  const v = maskVectors(d, mask);
  const out: Record<string, ort.Tensor> = {};
  d.layers.forEach((_, i) => {
    if (inputs.includes(IO.attnMask(i))) out[IO.attnMask(i)] = new ort.Tensor('float32', v.attn[i], [v.attn[i].length]);
    if (inputs.includes(IO.mlpMask(i))) out[IO.mlpMask(i)] = new ort.Tensor('float32', v.mlp[i], [v.mlp[i].length]);
  });
  return out;
}

/** Statistics of one capture point of layer `l`, with `mask` applied to the model up to that layer. */
async function layerInputs(d: Decoder, mask: SubnetMask, l: number, point: 'o_in' | 'down_in', windows: number[][], o: SessionOptions): Promise<ActivationStats> {
  const s = await decoderSession(d, { kvCache: false, head: 'nll', masks: true, capture: [l], capturePoints: [point], stopAfterLayer: l }, o);
  const stats = await captureStats(s.session, windows, [l], { extraFeeds: feeds(d, mask, s.session.inputNames) });
  return stats.get(l)![point];
}

const keptRows = (v: Float32Array) => Array.from(v.keys()).filter((i) => v[i] !== 0);

/** Layer `l` with its o_proj or down_proj reformed, and the fitted bias added to the layer's own. */
function replace(d: Decoder, l: number, key: 'o' | 'down', r: ReformResult): Decoder {
  const name = key === 'o' ? `model.layers.${l}.self_attn.o_proj` : `model.layers.${l}.mlp.down_proj`;
  const biasKey = key === 'o' ? 'oBias' : 'downBias';
  const lw = d.layerWeights[l];
  const w = memoryWeight(`${name}.weight`, lw[key].shape, r.weight);
  const own = lw[biasKey]?.read();
  const bias = r.bias && memoryWeight(`${name}.bias`, [r.bias.length], Float32Array.from(r.bias, (v, c) => v + (own ? own[c] : 0)));
  const layerWeights = d.layerWeights.map((x, i) => (i === l ? { ...x, [key]: w, ...(bias ? { [biasKey]: bias } : {}) } : x));
  return { ...d, layerWeights };
}

/**
 * The decoder with every layer's o_proj and down_proj reformed for `mask` (full shapes; omitted rows zero). A
 * module `bias` marks (the masks' compensation biases) is refitted with a bias of its own.
 */
export async function reformDecoder(d: Decoder, mask: SubnetMask, windows: number[][], opts: ReformOptions, session: SessionOptions, onLayer?: (r: LayerReformReport) => void, bias?: CompensationFlags): Promise<{ decoder: Decoder; layers: LayerReformReport[] }> {
  let cur = d;
  const reports: LayerReformReport[] = [];
  const hidden = d.config.hidden;
  const vectors = maskVectors(d, mask);
  for (let l = 0; l < d.layers.length; l++) {
    if (isDropped(mask[l])) continue; // nothing of it is kept, nothing to refit
    const t0 = performance.now();
    const s = d.layers[l];
    // o_proj: layers before l pruned and reformed, layer l's attention unpruned.
    const before = mask.map((m, i) => (i < l ? m : full(m)));
    const inO = await layerInputs(cur, before, l, 'o_in', windows, session);
    const o = await reformLayer(cur.layerWeights[l].o.read(), inO, s.heads * s.headDim, hidden, keptRows(vectors.attn[l]), opts, bias?.[l].attn);
    cur = replace(cur, l, 'o', o);
    // down_proj: layer l's attention pruned and reformed, its gate/up unpruned.
    const attnPruned = mask.map((m, i) => (i < l ? m : i === l ? { ...full(m), heads: m.heads, pairs: m.pairs } : full(m)));
    const inD = await layerInputs(cur, attnPruned, l, 'down_in', windows, session);
    const down = await reformLayer(cur.layerWeights[l].down.read(), inD, s.intermediate, hidden, keptRows(vectors.mlp[l]), opts, bias?.[l].mlp);
    cur = replace(cur, l, 'down', down);
    const report = { layer: l, o: { errorBefore: o.errorBefore, errorAfter: o.errorAfter }, down: { errorBefore: down.errorBefore, errorAfter: down.errorAfter }, seconds: (performance.now() - t0) / 1000 };
    reports.push(report);
    onLayer?.(report);
  }
  return { decoder: cur, layers: reports };
}
