import { ort } from './session';
import type { LayerShape } from '../model/decoder';
import { IO } from '../graph/decoderGraph';
import { halfBytesToFloat } from '../onnx/tensorData';

/** The element type `session` declares for input `name` (an fp16 model's KV cache is fp16). */
function inputType(session: ort.InferenceSession, name: string): ort.Tensor.Type {
  const m = session.inputMetadata.find((i) => i.name === name);
  return m && m.isTensor ? m.type : 'float32';
}

/**
 * Zero-length past tensors for a first step, shaped per layer (pruned layers have their own head counts), in the
 * element type the session declares for them.
 */
export function emptyPast(
  session: ort.InferenceSession,
  layers: LayerShape[],
  batch: number,
): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {};
  const empty = (name: string, s: LayerShape) => {
    const type = inputType(session, name);
    return new ort.Tensor(type, type === 'float16' ? new Uint16Array(0) : new Float32Array(0), [
      batch,
      s.kvHeads,
      0,
      s.headDim,
    ]);
  };
  layers.forEach((s, i) => {
    feeds[IO.pastKey(i)] = empty(IO.pastKey(i), s);
    feeds[IO.pastValue(i)] = empty(IO.pastValue(i), s);
  });
  return feeds;
}

/** A float output as float32 values, whatever float type the model computes in (fp16 logits are widened). */
export function floatValues(t: ort.Tensor): Float32Array {
  if (t.type === 'float32') return t.data as Float32Array;
  if (t.type === 'float16') {
    const h = t.data as Uint16Array;
    return halfBytesToFloat(new Uint8Array(h.buffer, h.byteOffset, h.byteLength));
  }
  throw new Error(`expected a float tensor, got ${t.type}`);
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
