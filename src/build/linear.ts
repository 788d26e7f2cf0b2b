import { DataType } from '../onnx/proto';
import type { Weight } from '../model/decoder';
import type { GraphBuilder } from './graph';

/** A linear projection emitter: `x [..., in]` → `[..., out]`, for a weight stored as it is. */
export type Linear = (x: string, name: string) => string;

/**
 * MatMul for a float weight; com.microsoft.MatMulNBits for a block-quantized one (its packed codes, scales and
 * zero points become the initializers, so the file really holds 4 or 8 bits per weight).
 */
export function linear(g: GraphBuilder, name: string, w: Weight): Linear {
  const q = w.quant;
  if (!q) {
    const init = g.initializer(name, w.shape, () => w.read());
    return (x, n) => g.op('MatMul', [x, init], {}, n);
  }
  const blocks = Math.ceil(q.K / q.blockSize);
  const inputs = [
    g.initializer(`${name}.quant`, [q.N, blocks, (q.blockSize * q.bits) / 8], q.packed, DataType.UINT8),
    g.initializer(`${name}.scales`, [q.N * blocks], q.scales),
    ...(q.zeroPoints ? [g.initializer(`${name}.zero_points`, [q.zeroPoints.length], q.zeroPoints, DataType.UINT8)] : []),
  ];
  return (x, n) => g.op('MatMulNBits', [x, ...inputs], { K: q.K, N: q.N, bits: q.bits, block_size: q.blockSize, accuracy_level: 0 }, n, 'com.microsoft');
}
