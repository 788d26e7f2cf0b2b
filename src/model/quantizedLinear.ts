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

/**
 * A quantized linear as a weight holds it: its layout at hand, each array read when a graph, the export or a
 * dequantization asks for it (a graph's initializers read one at a time). A 7B's int4 codes and scales are 3.8 GiB:
 * read from where they lie (the model file, the job's new-weights file) rather than held.
 */
export interface QuantizedWeight extends NBitsOptions, QuantizedParts {
  K: number;
  N: number;
}

/** A quantized linear's arrays, each read when called. */
export interface QuantizedParts {
  packed: () => Uint8Array;
  scales: () => Float32Array;
  /** Asymmetric only. */
  zeroPoints?: () => Uint8Array;
}

/** What a quantized linear is without its arrays. */
export const quantizedLayout = (q: QuantizedLinear | QuantizedWeight): Omit<QuantizedWeight, keyof QuantizedParts> => ({
  K: q.K,
  N: q.N,
  bits: q.bits,
  blockSize: q.blockSize,
  symmetric: q.symmetric,
});

/** Its arrays, in `QuantizedParts` order. */
export const quantizedArrays = (q: QuantizedLinear): (Uint8Array | Float32Array)[] => [
  q.packed,
  q.scales,
  ...(q.zeroPoints ? [q.zeroPoints] : []),
];

/** A quantized linear held in memory, as a weight holds it. */
export const heldQuantized = (q: QuantizedLinear): QuantizedWeight => ({
  ...quantizedLayout(q),
  packed: () => q.packed,
  scales: () => q.scales,
  ...(q.zeroPoints ? { zeroPoints: () => q.zeroPoints! } : {}),
});

/** The arrays of `q`, read. */
export const readQuantized = (q: QuantizedWeight): QuantizedLinear => ({
  ...quantizedLayout(q),
  packed: q.packed(),
  scales: q.scales(),
  zeroPoints: q.zeroPoints?.(),
});

/** The zero point of output `n`'s block `b`: stored per block (packed two to a byte at int4), else 2^(bits−1). */
export function blockZeroPoint(
  q: Pick<QuantizedLinear, 'K' | 'blockSize' | 'bits'>,
  zeroPoints: Uint8Array | undefined,
  n: number,
  b: number,
): number {
  if (!zeroPoints) return 2 ** (q.bits - 1);
  const z = zeroPoints[n * Math.ceil((blocksOf(q.K, q.blockSize) * q.bits) / 8) + (q.bits === 8 ? b : b >> 1)];
  return q.bits === 8 ? z : b & 1 ? z >> 4 : z & 15;
}

/** The float weights `[K, N]` a MatMulNBits weight stands for. */
export function dequantize(q: QuantizedLinear): Float32Array {
  const blocks = blocksOf(q.K, q.blockSize);
  const blob = (q.blockSize * q.bits) / 8;
  const out = new Float32Array(q.K * q.N);
  for (let n = 0; n < q.N; n++) {
    for (let k = 0; k < q.K; k++) {
      const b = Math.floor(k / q.blockSize);
      const within = k % q.blockSize;
      const byte = q.packed[(n * blocks + b) * blob + (q.bits === 8 ? within : within >> 1)];
      const code = q.bits === 8 ? byte : within & 1 ? byte >> 4 : byte & 15;
      out[k * q.N + n] = (code - blockZeroPoint(q, q.zeroPoints, n, b)) * q.scales[n * blocks + b];
    }
  }
  return out;
}
