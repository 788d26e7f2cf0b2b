// A linear weight stored block-quantized in com.microsoft.MatMulNBits' layout (anchors.md): what a model file holds
// and what our graphs emit. Producing it (round-to-nearest, GPTQ) is compress/quantize's work.

export interface NBitsOptions {
  bits: 4 | 8;
  blockSize: number;
  /** Symmetric: zero point 2^(bits−1), not stored; asymmetric: a zero point per block. */
  symmetric: boolean;
}

export interface QuantizedLinear extends NBitsOptions {
  K: number;
  N: number;
  /** `[N, blocks, blockSize · bits / 8]` */
  packed: Uint8Array;
  /** `[N · blocks]` */
  scales: Float32Array;
  /** `[N · ceil(blocks · bits / 8)]`, asymmetric only */
  zeroPoints?: Uint8Array;
}

export const blocksOf = (K: number, blockSize: number) => Math.ceil(K / blockSize);

/** The float weights `[K, N]` a MatMulNBits weight stands for. */
export function dequantize(q: QuantizedLinear): Float32Array {
  const blocks = blocksOf(q.K, q.blockSize);
  const blob = (q.blockSize * q.bits) / 8;
  const per = Math.ceil((blocks * q.bits) / 8);
  const out = new Float32Array(q.K * q.N);
  for (let n = 0; n < q.N; n++) {
    for (let k = 0; k < q.K; k++) {
      const b = Math.floor(k / q.blockSize);
      const within = k % q.blockSize;
      const byte = q.packed[(n * blocks + b) * blob + (q.bits === 8 ? within : within >> 1)];
      const code = q.bits === 8 ? byte : within & 1 ? byte >> 4 : byte & 15;
      let zp = 2 ** (q.bits - 1);
      if (q.zeroPoints) {
        const z = q.zeroPoints[n * per + (q.bits === 8 ? b : b >> 1)];
        zp = q.bits === 8 ? z : b & 1 ? z >> 4 : z & 15;
      }
      out[k * q.N + n] = (code - zp) * q.scales[n * blocks + b];
    }
  }
  return out;
}
