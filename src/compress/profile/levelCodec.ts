// How the profile database stores one unit at one level (paper-spec §4), sized for 7B: in the model's own float
// type (an fp16 model's database is half an fp32 one's), and a pruned level as a bitmask of its non-zeros and their
// values only (at 50 % sparsity, 56 % of the dense fp16 bytes). Feeds go to the fitness session in fp16 for an fp16
// model (widened in the graph like every stored weight), else in fp32 (onnxruntime-node has no bf16 tensors).
// Rounding to the model's type is what its export will hold; for a bit-width level (dequantized int4/int8 values) it
// is far below the quantization's own error.
import { floatBytes, type FloatType } from '../../model/decoder';
import { toNarrowBytes } from '../../onnx/tensorData';

/** What the fitness session is fed: fp16 values as their 16-bit patterns, or fp32. */
export type FeedValues = Uint16Array | Float32Array;
export type FeedType = 'float16' | 'float32';

export interface LevelFormat {
  stored: FloatType;
  fed: FeedType;
}

export const levelFormat = (weightType: FloatType | undefined): LevelFormat => ({
  stored: weightType ?? 'float32',
  fed: weightType === 'float16' ? 'float16' : 'float32',
});

/** Bytes of `n` values at `density` (non-zeros / n) as `encodeLevel` writes them: the smaller of dense and packed. */
export const levelBytes = (n: number, density: number, t: FloatType) =>
  Math.min(n * floatBytes(t), Math.ceil(n / 8) + Math.ceil(density * n) * floatBytes(t));

/** The values' bit patterns in the stored type: one 16- or 32-bit word per value. */
function storedWords(values: Float32Array, t: FloatType): Uint16Array | Uint32Array {
  if (t === 'float32') return new Uint32Array(values.buffer, values.byteOffset, values.length);
  const bytes = toNarrowBytes(values, t);
  return new Uint16Array(bytes.buffer, bytes.byteOffset, values.length);
}

/**
 * `values` in the stored type, packed (bitmask, then the non-zero words) where that is smaller: so a level is packed
 * exactly when its bytes are fewer than its dense words'.
 */
export function encodeLevel(values: Float32Array, t: FloatType): Uint8Array {
  const words = storedWords(values, t);
  let nonZeros = 0;
  for (let i = 0; i < words.length; i++) if (words[i] !== 0) nonZeros++;
  const n = words.length;
  const maskBytes = Math.ceil(n / 8);
  if (maskBytes + nonZeros * floatBytes(t) >= n * floatBytes(t))
    return new Uint8Array(words.buffer, words.byteOffset, words.byteLength);
  const out = new Uint8Array(maskBytes + nonZeros * floatBytes(t));
  const kept = t === 'float32' ? new Uint32Array(nonZeros) : new Uint16Array(nonZeros);
  let k = 0;
  for (let i = 0; i < n; i++)
    if (words[i] !== 0) {
      out[i >> 3] |= 1 << (i & 7);
      kept[k++] = words[i];
    }
  out.set(new Uint8Array(kept.buffer), maskBytes);
  return out;
}

/** The words of `n` values from `encodeLevel`'s bytes, zeros restored where packed. */
function storedWordsOf(bytes: Uint8Array, n: number, t: FloatType): Uint16Array | Uint32Array {
  const W = t === 'float32' ? Uint32Array : Uint16Array;
  // Words must be aligned: a file read may hand over a buffer at any offset.
  const wordsAt = (b: Uint8Array) => {
    const a = b.byteOffset % floatBytes(t) === 0 ? b : b.slice();
    return new W(a.buffer as ArrayBuffer, a.byteOffset, a.byteLength / floatBytes(t));
  };
  if (bytes.length === n * floatBytes(t)) return wordsAt(bytes);
  const kept = wordsAt(bytes.subarray(Math.ceil(n / 8)));
  const words = new W(n);
  let k = 0;
  for (let i = 0; i < n; i++) if (bytes[i >> 3] & (1 << (i & 7))) words[i] = kept[k++];
  return words;
}

/** What the fitness session is fed for `encodeLevel`'s bytes: fp16 patterns as they are, bf16 widened exactly to fp32. */
export function decodeLevel(bytes: Uint8Array, n: number, f: LevelFormat): FeedValues {
  const words = storedWordsOf(bytes, n, f.stored);
  if (f.stored === 'float16') return words as Uint16Array;
  if (f.stored === 'float32') return new Float32Array(words.buffer, words.byteOffset, n);
  const out = new Float32Array(n);
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < n; i++) bits[i] = words[i] << 16;
  return out;
}
