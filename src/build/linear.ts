import { DataType } from '../onnx/proto';
import type { FloatType, Weight } from '../model/decoder';
import type { GraphBuilder } from './graph';
import { toHalfBytes } from '../onnx/tensorData';

/** A linear projection emitter: `x [..., in]` → `[..., out]`, for a weight stored as it is. */
export type Linear = (x: string, name: string) => string;

/**
 * A float weight as an initializer in the precision it is stored in (or `as`, for newly computed values of an
 * fp16 model's export), referencing the source's bytes where they lie. Returns the value to multiply with: an fp16
 * weight is widened by a Cast inside the graph, so activations, norms and losses stay fp32 while the weight
 * itself stays fp16 in the file and in the session's memory (design.md "Scale").
 */
export function floatWeight(g: GraphBuilder, name: string, w: Weight, as: FloatType = 'float32'): { value: string; half: boolean } {
  const s = w.stored;
  if (s?.type === 'float16' || (!s && as === 'float16')) {
    const init = g.initializer(name, w.shape, () => (s ? s.read() : toHalfBytes(w.read())), DataType.FLOAT16, s?.external);
    return { value: init, half: true };
  }
  return { value: g.initializer(name, w.shape, () => (s ? s.read() : w.read()), DataType.FLOAT, s?.external), half: false };
}

/**
 * MatMul for a float weight; com.microsoft.MatMulNBits for a block-quantized one (its packed codes, scales and
 * zero points become the initializers, so the file really holds 4 or 8 bits per weight).
 */
export function linear(g: GraphBuilder, name: string, w: Weight, as: FloatType = 'float32'): Linear {
  const q = w.quant;
  if (!q) {
    const { value, half } = floatWeight(g, name, w, as);
    return (x, n) => g.op('MatMul', [x, half ? g.op('Cast', [value], { to: DataType.FLOAT }, `${n}_weight`) : value], {}, n);
  }
  const blocks = Math.ceil(q.K / q.blockSize);
  const inputs = [
    g.initializer(`${name}.quant`, [q.N, blocks, (q.blockSize * q.bits) / 8], q.packed, DataType.UINT8),
    g.initializer(`${name}.scales`, [q.N * blocks], q.scales),
    ...(q.zeroPoints ? [g.initializer(`${name}.zero_points`, [q.zeroPoints.length], q.zeroPoints, DataType.UINT8)] : []),
  ];
  return (x, n) => g.op('MatMulNBits', [x, ...inputs], { K: q.K, N: q.N, bits: q.bits, block_size: q.blockSize, accuracy_level: 0 }, n, 'com.microsoft');
}
