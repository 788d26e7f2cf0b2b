import { onnx, DataType, dataTypeName, toNumber, bytesPerElement } from './proto';
import { isExternal, readExternalBytes } from './externalData';
import { UserError } from '../util/errors';

export function tensorDims(t: onnx.ITensorProto): number[] {
  return (t.dims ?? []).map((d) => toNumber(d));
}

export function elementCount(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

/** Bytes the tensor occupies in its stored type (the model file's cost of it). */
export function storedBytes(t: onnx.ITensorProto): number {
  return Math.ceil(elementCount(tensorDims(t)) * bytesPerElement(t.dataType ?? DataType.FLOAT));
}

/** The stored bytes of a tensor kept as raw data (inline or external), e.g. packed quantized codes. */
export function readRawBytes(t: onnx.ITensorProto, modelDir: string): Uint8Array {
  const raw = rawBytes(t, modelDir);
  if (!raw) throw new UserError(`tensor ${t.name}: no raw data`);
  return raw;
}

function rawBytes(t: onnx.ITensorProto, modelDir: string): Uint8Array | undefined {
  if (isExternal(t)) return readExternalBytes(t, modelDir, storedBytes(t));
  if (t.rawData && t.rawData.length > 0) return t.rawData;
  return undefined;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** float32 → IEEE half bits, rounded to nearest even (overflow → ±Inf, tiny values → subnormals or ±0). */
export function floatToHalf(v: number): number {
  f32[0] = v;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = mant >>> shift;
    const rest = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    return sign | (half + (rest > mid || (rest === mid && half & 1) ? 1 : 0));
  }
  const half = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  return sign | (half + (rest > 0x1000 || (rest === 0x1000 && half & 1) ? 1 : 0));
}

/** Float values as fp16 bytes (the layout of an ONNX FLOAT16 tensor's raw data). */
export function toHalfBytes(v: Float32Array): Uint8Array {
  const out = new Uint16Array(v.length);
  for (let i = 0; i < v.length; i++) out[i] = floatToHalf(v[i]);
  return new Uint8Array(out.buffer);
}

/** `v` rounded to the nearest fp16 value (as a tensor of that dtype would hold it). */
export const roundToHalf = (v: number) => halfToFloat(floatToHalf(v));

let halfTable: Float32Array | undefined;

/**
 * fp16 bytes (little-endian) → float32 values through a 65,536-entry table: a 7B model's fp16 weights are read
 * billions of elements at a time, and the table is ~20× faster than decoding each half.
 */
export function halfBytesToFloat(bytes: Uint8Array, out = new Float32Array(bytes.length / 2)): Float32Array {
  if (!halfTable) {
    halfTable = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) halfTable[h] = halfToFloat(h);
  }
  const table = halfTable;
  const halves =
    bytes.byteOffset % 2 === 0
      ? new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.length / 2)
      : new Uint16Array(bytes.slice().buffer);
  for (let i = 0; i < halves.length; i++) out[i] = table[halves[i]];
  return out;
}

export function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? NaN : s * Infinity;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}

/** float32 → bfloat16 bits: the top 16 bits, rounded to nearest even (NaN stays a quiet NaN). */
export function floatToBfloat16(v: number): number {
  f32[0] = v;
  const x = u32[0];
  if ((x & 0x7fffffff) > 0x7f800000) return ((x >>> 16) & 0x8000) | 0x7fc0;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

/** `v` rounded to the nearest bfloat16 value. */
export const roundToBfloat16 = (v: number) => {
  u32[0] = floatToBfloat16(v) << 16;
  return f32[0];
};

/** bfloat16 bytes (little-endian) → float32 values: each is the top half of a float32. */
export function bfloat16BytesToFloat(bytes: Uint8Array, out = new Float32Array(bytes.length / 2)): Float32Array {
  const halves =
    bytes.byteOffset % 2 === 0
      ? new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.length / 2)
      : new Uint16Array(bytes.slice().buffer);
  const bits = new Uint32Array(out.buffer, out.byteOffset, out.length);
  for (let i = 0; i < halves.length; i++) bits[i] = halves[i] << 16;
  return out;
}

/** The 16-bit float types a weight can be stored in besides float32. */
export type NarrowFloat = 'float16' | 'bfloat16';

/** Float values as the bytes of a `type` tensor. */
export function toNarrowBytes(v: Float32Array, type: NarrowFloat): Uint8Array {
  if (type === 'float16') return toHalfBytes(v);
  const out = new Uint16Array(v.length);
  for (let i = 0; i < v.length; i++) out[i] = floatToBfloat16(v[i]);
  return new Uint8Array(out.buffer);
}

/** The bytes of a `type` tensor as float32 values. */
export const narrowBytesToFloat = (bytes: Uint8Array, type: NarrowFloat) =>
  type === 'float16' ? halfBytesToFloat(bytes) : bfloat16BytesToFloat(bytes);

/** `v` rounded to the nearest value of `type` (as a tensor of that dtype would hold it). */
export const roundTo = (v: number, type: NarrowFloat | 'float32') =>
  type === 'float16' ? roundToHalf(v) : type === 'bfloat16' ? roundToBfloat16(v) : Math.fround(v);

/**
 * A floating-point tensor as float32, whatever its stored float type (float32, float16, bfloat16, double).
 * Integer (quantized) tensors are refused: weights must be dequantized before compression.
 */
export function readFloatTensor(t: onnx.ITensorProto, modelDir: string): Float32Array {
  const n = elementCount(tensorDims(t));
  const type = t.dataType ?? DataType.FLOAT;
  const raw = rawBytes(t, modelDir);
  const view = raw ? new DataView(raw.buffer, raw.byteOffset, raw.byteLength) : undefined;
  const out = new Float32Array(n);
  const need = Math.ceil(n * bytesPerElement(type));
  if (raw && raw.byteLength < need) {
    throw new UserError(`tensor ${t.name}: holds ${raw.byteLength} bytes, its shape [${tensorDims(t)}] needs ${need}`);
  }
  switch (type) {
    case DataType.FLOAT:
      // Little-endian hosts only (x64, arm64): the bytes are the float32 values as stored.
      if (raw) new Uint8Array(out.buffer).set(raw.subarray(0, n * 4));
      else out.set(t.floatData ?? []);
      break;
    case DataType.DOUBLE:
      if (view) for (let i = 0; i < n; i++) out[i] = view.getFloat64(i * 8, true);
      else out.set(t.doubleData ?? []);
      break;
    case DataType.FLOAT16:
      if (raw) halfBytesToFloat(raw.subarray(0, n * 2), out);
      else for (let i = 0; i < n; i++) out[i] = halfToFloat((t.int32Data ?? [])[i]);
      break;
    case DataType.BFLOAT16:
      if (raw) bfloat16BytesToFloat(raw.subarray(0, n * 2), out);
      else bfloat16BytesToFloat(new Uint8Array(Uint16Array.from(t.int32Data ?? []).buffer), out);
      break;
    default:
      throw new UserError(
        `tensor ${t.name}: stored as ${dataTypeName[type] ?? type}, not a float type; quantized input weights are not ` +
          `supported — compress the float (fp32/fp16/bf16) model and quantize afterwards`,
      );
  }
  if (!raw && n > 0 && type === DataType.FLOAT && (t.floatData ?? []).length !== n) {
    throw new UserError(
      `tensor ${t.name}: holds ${(t.floatData ?? []).length} values, its shape [${tensorDims(t)}] needs ${n}`,
    );
  }
  return out;
}
