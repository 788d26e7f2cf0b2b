import { ort } from './session';
import type { LayerShape } from '../model/decoder';
import { IO } from '../build/decoderGraph';

/** Zero-length past tensors for a first step, shaped per layer (pruned layers have their own head counts). */
export function emptyPast(layers: LayerShape[], batch: number): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {};
  layers.forEach((s, i) => {
    feeds[IO.pastKey(i)] = new ort.Tensor('float32', new Float32Array(0), [batch, s.kvHeads, 0, s.headDim]);
    feeds[IO.pastValue(i)] = new ort.Tensor('float32', new Float32Array(0), [batch, s.kvHeads, 0, s.headDim]);
  });
  return feeds;
}

/** The `present.*` outputs of one step become the next step's `past_key_values.*` inputs. */
export function presentToPast(out: ort.InferenceSession.OnnxValueMapType, layers: number): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {};
  for (let i = 0; i < layers; i++) {
    feeds[IO.pastKey(i)] = out[IO.presentKey(i)] as ort.Tensor;
    feeds[IO.pastValue(i)] = out[IO.presentValue(i)] as ort.Tensor;
  }
  return feeds;
}

export function int64(values: ArrayLike<number>, dims: number[]): ort.Tensor {
  return new ort.Tensor('int64', BigInt64Array.from(Array.from(values, (v) => BigInt(v))), dims);
}
