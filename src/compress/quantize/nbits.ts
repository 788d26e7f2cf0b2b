// Weight-only block quantization in com.microsoft.MatMulNBits' storage (anchors.md): per output n and block of
// `blockSize` inputs, codes q ∈ [0, 2^bits) with w ≈ (q − zero point) · scale. Our weights are [K = in, N = out].
import type { ColumnQuantizer } from '../sparsify/sparsegpt';
import { blocksOf, type NBitsOptions, type QuantizedLinear } from '../../model/quantizedLinear';
import { mapTo } from '../../util/mapTo';

/** Scale and zero point of one block's values (RTN grid). 0 is always exactly representable. */
function grid(values: number[], o: NBitsOptions): { scale: number; zp: number } {
  const levels = 2 ** o.bits - 1;
  if (o.symmetric) {
    const absmax = Math.max(...values.map(Math.abs));
    return { scale: absmax / (2 ** (o.bits - 1) - 1) || 1, zp: 2 ** (o.bits - 1) };
  }
  const lo = Math.min(0, ...values);
  const hi = Math.max(0, ...values);
  const scale = (hi - lo) / levels || 1;
  return { scale, zp: Math.min(levels, Math.max(0, Math.round(-lo / scale))) };
}

const code = (v: number, g: { scale: number; zp: number }, bits: number) =>
  Math.min(2 ** bits - 1, Math.max(0, Math.round(v / g.scale) + g.zp));

/** Builds the quantizer state for K × N weights; `gridFor` sets a block's grid from its current values. */
class Grid {
  readonly scales: Float32Array;
  readonly zps: Uint8Array;
  constructor(
    readonly K: number,
    readonly N: number,
    readonly o: NBitsOptions,
  ) {
    this.scales = new Float32Array(N * blocksOf(K, o.blockSize));
    this.zps = new Uint8Array(N * blocksOf(K, o.blockSize));
  }

  set(block: number, n: number, values: number[]): void {
    const g = grid(values, this.o);
    // Stored as float32: use the rounded scale for coding too, so codes and dequantization agree exactly.
    this.scales[n * blocksOf(this.K, this.o.blockSize) + block] = Math.fround(g.scale);
    this.zps[n * blocksOf(this.K, this.o.blockSize) + block] = g.zp;
  }

  at(k: number, n: number): { scale: number; zp: number } {
    const i = n * blocksOf(this.K, this.o.blockSize) + Math.floor(k / this.o.blockSize);
    return { scale: this.scales[i], zp: this.zps[i] };
  }

  /** Packs already-quantized weights (values on the grid) into MatMulNBits' layout. */
  pack(w: Float32Array): QuantizedLinear {
    const { K, N, o } = this;
    const blocks = blocksOf(K, o.blockSize);
    const blob = (o.blockSize * o.bits) / 8;
    const packed = new Uint8Array(N * blocks * blob);
    for (let n = 0; n < N; n++) {
      for (let k = 0; k < K; k++) {
        const q = code(w[k * N + n], this.at(k, n), o.bits);
        const b = Math.floor(k / o.blockSize);
        const within = k % o.blockSize;
        const base = (n * blocks + b) * blob;
        if (o.bits === 8) packed[base + within] = q;
        else packed[base + (within >> 1)] |= within & 1 ? q << 4 : q;
      }
    }
    let zeroPoints: Uint8Array | undefined;
    if (!o.symmetric) {
      const per = Math.ceil((blocks * o.bits) / 8);
      zeroPoints = new Uint8Array(N * per);
      for (let n = 0; n < N; n++) {
        for (let b = 0; b < blocks; b++) {
          const zp = this.zps[n * blocks + b];
          if (o.bits === 8) zeroPoints[n * per + b] = zp;
          else zeroPoints[n * per + (b >> 1)] |= b & 1 ? zp << 4 : zp;
        }
      }
    }
    return { ...o, K, N, packed, scales: this.scales, zeroPoints };
  }
}

/** Round-to-nearest quantization of W `[K, N]`; returns the packed weights and their dequantized values. */
export function quantizeRtn(
  w: Float32Array,
  K: number,
  N: number,
  o: NBitsOptions,
): { quant: QuantizedLinear; dequantized: Float32Array } {
  const g = new Grid(K, N, o);
  for (let n = 0; n < N; n++) {
    for (let b = 0; b * o.blockSize < K; b++) {
      const values: number[] = [];
      for (let k = b * o.blockSize; k < Math.min(K, (b + 1) * o.blockSize); k++) values.push(w[k * N + n]);
      g.set(b, n, values);
    }
  }
  const dequantized = mapTo(Float32Array, w, (v, idx) => {
    const gr = g.at(Math.floor(idx / N), idx % N);
    return (code(v, gr, o.bits) - gr.zp) * gr.scale;
  });
  return { quant: g.pack(dequantized), dequantized };
}

/**
 * A quantizer for the SparseGPT loop (GPTQ-style error feedback): each block's grid is set from the block's
 * weights as they are when the loop reaches it, after earlier error updates.
 */
export function gptqQuantizer(
  K: number,
  N: number,
  o: NBitsOptions,
): ColumnQuantizer & { pack(w: Float32Array): QuantizedLinear } {
  const g = new Grid(K, N, o);
  return {
    groups: {
      rows: o.blockSize,
      start(i, rows) {
        const b = i / o.blockSize;
        for (let n = 0; n < N; n++)
          g.set(
            b,
            n,
            rows.map((r) => r[n]),
          );
      },
    },
    quantize(i, n, v) {
      const gr = g.at(i, n);
      return (code(v, gr, o.bits) - gr.zp) * gr.scale;
    },
    pack: (w) => g.pack(w),
  };
}
