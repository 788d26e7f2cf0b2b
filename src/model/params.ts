import type { Decoder, LayerShape, Weight } from './decoder';

/** Elements of a weight (0 for an absent optional one). */
export const weightSize = (w: Weight | undefined) => (w ? w.shape.reduce((a, b) => a * b, 1) : 0);
const bytes = (w: Weight | undefined) => (w ? weightSize(w) * w.storedBytesPerElement : 0);

export interface LayerCount {
  params: number;
  bytes: number;
}

/** Parameters of one layer given its (possibly pruned) shape; biases counted when the model has them. */
export function layerParamCount(
  shape: LayerShape,
  hidden: number,
  biases: { qkv: boolean; o: boolean; down: boolean },
): number {
  const q = shape.heads * shape.headDim;
  const kv = shape.kvHeads * shape.headDim;
  let n = 2 * hidden; // two norms
  n += hidden * (q + 2 * kv) + q * hidden; // q, k, v, o
  n += 3 * hidden * shape.intermediate; // gate, up, down
  if (biases.qkv) n += q + 2 * kv;
  if (biases.o) n += hidden;
  if (biases.down) n += hidden;
  return n;
}

export function layerCounts(d: Decoder): LayerCount[] {
  return d.layerWeights.map((lw) => {
    const ws = Object.values(lw) as Weight[];
    return { params: ws.reduce((a, w) => a + weightSize(w), 0), bytes: ws.reduce((a, w) => a + bytes(w), 0) };
  });
}

/** Every weight the model stores: embeddings, layers, final norm and lm_head (a separate copy counts). */
export function totalCounts(d: Decoder): LayerCount {
  const per = layerCounts(d);
  const outer = [
    d.embed,
    d.finalNorm,
    ...(d.config.tiedEmbeddings && d.lmHead.name === d.embed.name ? [] : [d.lmHead]),
  ];
  return {
    params: per.reduce((a, l) => a + l.params, 0) + outer.reduce((a, w) => a + weightSize(w), 0),
    bytes: per.reduce((a, l) => a + l.bytes, 0) + outer.reduce((a, w) => a + bytes(w), 0),
  };
}
