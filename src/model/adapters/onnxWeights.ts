// How an ONNX graph holds its weights, read into our `Weight`s: initializers in their stored precision (kept as
// bytes where graphs can use them), the orientation the graph multiplies them in, and MatMulNBits codes.
import type { OnnxFile } from '../../onnx/modelFile';
import { onnx, bytesPerElement, DataType } from '../../onnx/proto';
import { elementCount, readFloatTensor, readRawBytes, tensorDims } from '../../onnx/tensorData';
import { checkedRange, isExternal } from '../../onnx/externalData';
import { dequantize, readQuantized, type QuantizedWeight } from '../quantizedLinear';
import { GraphIndex, intAttr, intsAttr } from './graphIndex';
import { transpose2d } from '../transpose';
import type { FloatType, StoredBytes, Weight } from '../decoder';

/** Fused contrib ops of other exporters (onnxruntime.transformers, the genai builder) this adapter cannot read. */
export const FUSED_OPS = [
  'Attention',
  'MultiHeadAttention',
  'GroupQueryAttention',
  'EmbedLayerNormalization',
  'SkipLayerNormalization',
  'SkipSimplifiedLayerNormalization',
  'MatMulNBits',
  'RotaryEmbedding',
  'FastGelu',
  'QAttention',
];

function isTransposeSwap(node: onnx.INodeProto): boolean {
  const perm = intsAttr(node, 'perm');
  return node.opType === 'Transpose' && (!perm || (perm.length === 2 && perm[0] === 1 && perm[1] === 0));
}

/**
 * How the graph multiplies by this weight: `in-out` when it is a MatMul right operand as stored, `out-in` when the
 * graph transposes it first (Gemm transB=1, or Transpose → MatMul), `unknown` when it is not used by a product.
 * A Cast in front (an fp16 weight widened for fp32 arithmetic, as our exports do, after a Reshape that only
 * orders it: graph/linear.ts) is looked through.
 */
export function orientation(index: GraphIndex, name: string): 'in-out' | 'out-in' | 'unknown' {
  for (const u of index.usesOf(name)) {
    if (u.node.opType === 'Cast' || (u.node.opType === 'Reshape' && u.input === 0))
      return orientation(index, u.node.output?.[0] ?? '');
    if (u.node.opType === 'MatMul' && u.input === 1) return 'in-out';
    if (u.node.opType === 'Gemm' && u.input === 1) return intAttr(u.node, 'transB', 0) ? 'out-in' : 'in-out';
    if (isTransposeSwap(u.node)) {
      const out = u.node.output?.[0] ?? '';
      if (index.usesOf(out).some((v) => (v.node.opType === 'MatMul' || v.node.opType === 'Gemm') && v.input === 1))
        return 'out-in';
    }
  }
  return 'unknown';
}

const FLOAT_TYPES = new Map<number, FloatType>([
  [DataType.FLOAT, 'float32'],
  [DataType.FLOAT16, 'float16'],
  [DataType.BFLOAT16, 'bfloat16'],
]);

/** The float type of an ONNX element type (undefined: another type, double or integer). */
export const floatTypeOfElement = (t: number | null | undefined): FloatType | undefined =>
  t === null || t === undefined ? undefined : FLOAT_TYPES.get(t);

/** The float type a tensor is stored in (undefined: another type, double or integer). */
export const floatTypeOf = (t: onnx.ITensorProto): FloatType | undefined =>
  floatTypeOfElement(t.dataType ?? DataType.FLOAT);

/**
 * The bytes of a weight that graphs can use as they are, referenced where they lie: in external data, or as raw
 * data inside the `.onnx` itself (a location naming the model file, at the bytes' offset in it). fp32 weights
 * stored some other way have none; fp16 and bf16 ones keep their precision through a copy. A transposed weight has none:
 * its graph layout differs from the file's.
 */
function storedBytes(file: OnnxFile, t: onnx.ITensorProto, transposed: boolean): StoredBytes | undefined {
  const type = floatTypeOf(t);
  const bytes = elementCount(tensorDims(t)) * bytesPerElement(t.dataType!);
  const offset = !isExternal(t) && t.rawData?.length === bytes ? file.offsetOf(t.rawData) : undefined;
  const external = isExternal(t)
    ? checkedRange(t, file.dir, bytes)
    : offset !== undefined
      ? { file: file.path, offset, length: bytes }
      : undefined;
  const readable = external || (t.rawData?.length ?? 0) > 0;
  if (transposed || !type || !readable || (type === 'float32' && !external)) return undefined;
  return { type, read: () => readRawBytes(t, file.dir), external };
}

export function tensorWeight(file: OnnxFile, t: onnx.ITensorProto, transposed: boolean): Weight {
  const dims = tensorDims(t);
  const shape = transposed ? [dims[1], dims[0]] : dims;
  return {
    name: t.name ?? '',
    shape,
    storedBytesPerElement: bytesPerElement(t.dataType ?? DataType.FLOAT),
    read: () => {
      const data = readFloatTensor(t, file.dir);
      return transposed ? transpose2d(data, dims[0], dims[1]) : data;
    },
    stored: storedBytes(file, t, transposed),
  };
}

export function unsupportedFusedOps(index: GraphIndex): string[] {
  const ops = index.opTypes();
  // MatMulNBits with our initializer naming (`<weight>.quant`) is read back as a quantized weight.
  const ours = [...index.initializers.keys()].some((n) => n.endsWith('.weight.quant'));
  return [...ops.keys()].filter(
    (k) => FUSED_OPS.includes(k.split('.').pop() ?? '') && !(ours && k.endsWith('MatMulNBits')),
  );
}

/** A weight stored as MatMulNBits codes (`<name>.quant`, `.scales`, `.zero_points`), read dequantized. */
export function quantizedWeight(file: OnnxFile, index: GraphIndex, name: string): Weight | undefined {
  const codes = index.initializers.get(`${name}.quant`);
  const node = index.usesOf(`${name}.quant`).find((u) => u.node.opType === 'MatMulNBits')?.node;
  if (!codes || !node) return undefined;
  const raw = (t: onnx.ITensorProto) => () => new Uint8Array(readRawBytes(t, file.dir));
  const zp = index.initializers.get(`${name}.zero_points`);
  const scales = index.initializers.get(`${name}.scales`)!;
  // Read from the file when used, as float weights are: a quantized 7B's codes are not all held at once.
  const q: QuantizedWeight = {
    K: intAttr(node, 'K', 0),
    N: intAttr(node, 'N', 0),
    bits: intAttr(node, 'bits', 4) as 4 | 8,
    blockSize: intAttr(node, 'block_size', 32),
    symmetric: !zp,
    packed: raw(codes),
    scales: () => readFloatTensor(scales, file.dir),
    ...(zp ? { zeroPoints: raw(zp) } : {}),
  };
  return {
    name,
    shape: [q.K, q.N],
    storedBytesPerElement: q.bits / 8,
    quant: q,
    read: () => dequantize(readQuantized(q)),
  };
}
