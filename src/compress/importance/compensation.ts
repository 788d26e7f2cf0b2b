import type { Decoder } from '../../model/decoder';
import { memoryWeight } from '../../model/decoder';
import type { LayerStats } from '../../runtime/activationStats';
import type { SubnetMask } from '../subnet';
import { compensationBias } from './scores';

/** The decoder with FLAP's compensation biases on o_proj / down_proj for what the mask removes. */
export function withCompensation(d: Decoder, mask: SubnetMask, stats: Map<number, LayerStats>): { decoder: Decoder; bias: { o: number[]; down: number[] }[] } {
  const hidden = d.config.hidden;
  const bias = d.layers.map((s, i) => {
    const st = stats.get(i)!;
    const half = s.headDim / 2;
    const keepQ = (j: number) => mask[i].heads[Math.floor(j / s.headDim)] && mask[i].pairs[(j % s.headDim) % half];
    return {
      o: Array.from(compensationBias(d.layerWeights[i].o.read(), hidden, st.o_in, keepQ)),
      down: Array.from(compensationBias(d.layerWeights[i].down.read(), hidden, st.down_in, (j) => mask[i].mlp[j])),
    };
  });
  const add = (prev: Float32Array | undefined, b: number[]) => Float32Array.from(b, (v, c) => v + (prev ? prev[c] : 0));
  const layerWeights = d.layerWeights.map((w, i) => ({
    ...w,
    oBias: memoryWeight(`model.layers.${i}.self_attn.o_proj.bias`, [hidden], add(w.oBias?.read(), bias[i].o)),
    downBias: memoryWeight(`model.layers.${i}.mlp.down_proj.bias`, [hidden], add(w.downBias?.read(), bias[i].down)),
  }));
  return { decoder: { ...d, layerWeights }, bias };
}
