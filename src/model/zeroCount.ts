// How many of a linear's weights are exactly zero, for the reports' sparsity column, counted in the form the weight
// is stored in: widening a 7B's fp16 linears to fp32, or dequantizing its int4 codes, in a JS loop took minutes of
// the final measurement.
import type { Weight } from './decoder';
import { blockZeroPoint, blocksOf, type QuantizedWeight } from './quantizedLinear';

/** Zeros of a 16-bit float (fp16, bf16): every bit but the sign clear. */
function halfZeros(bytes: Uint8Array): number {
  const h = new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2);
  let zeros = 0;
  for (let i = 0; i < h.length; i++) if ((h[i] & 0x7fff) === 0) zeros++;
  return zeros;
}

/**
 * Zeros of a MatMulNBits weight: (code − zero point) · scale is zero where the code is the zero point or the
 * block's scale is zero. Per packed byte, a table gives how many of its codes equal the zero point.
 */
function quantizedZeros(q: QuantizedWeight): number {
  const [packed, scales, zeroPoints] = [q.packed(), q.scales(), q.zeroPoints?.()];
  const blocks = blocksOf(q.K, q.blockSize);
  const blob = (q.blockSize * q.bits) / 8;
  const perByte = 8 / q.bits;
  const tables = new Map<number, Uint8Array>();
  const tableFor = (zp: number) => {
    let t = tables.get(zp);
    if (!t) {
      t = Uint8Array.from({ length: 256 }, (_, b) =>
        q.bits === 8 ? Number(b === zp) : Number((b & 15) === zp) + Number(b >> 4 === zp),
      );
      tables.set(zp, t);
    }
    return t;
  };
  let zeros = 0;
  for (let n = 0; n < q.N; n++)
    for (let b = 0; b < blocks; b++) {
      // The last block may be cut short by K: its padding codes are not weights.
      const codes = Math.min(q.blockSize, q.K - b * q.blockSize);
      if (scales[n * blocks + b] === 0) {
        zeros += codes;
        continue;
      }
      const zp = blockZeroPoint(q, zeroPoints, n, b);
      const table = tableFor(zp);
      const at = (n * blocks + b) * blob;
      const whole = Math.floor(codes / perByte);
      for (let i = 0; i < whole; i++) zeros += table[packed[at + i]];
      // An odd count of int4 codes: the last byte's low nibble only.
      if (whole * perByte < codes && (packed[at + whole] & 15) === zp) zeros++;
    }
  return zeros;
}

export function zeroCount(w: Weight): number {
  if (w.quant) return quantizedZeros(w.quant);
  if (w.stored && w.stored.type !== 'float32') return halfZeros(w.stored.read());
  const v = w.read();
  let zeros = 0;
  for (let i = 0; i < v.length; i++) if (v[i] === 0) zeros++;
  return zeros;
}
