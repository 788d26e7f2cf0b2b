import { DataType } from '../onnx/proto';
import type { FloatType, Weight } from '../model/decoder';
import type { GraphBuilder } from './graph';
import { toNarrowBytes, type NarrowFloat } from '../onnx/tensorData';
import { UserError } from '../util/errors';
import { blocksOf } from '../model/quantizedLinear';

/** A linear projection emitter: `x [..., in]` → `[..., out]`, for a weight stored as it is. */
export type Linear = (x: string, name: string) => string;

/**
 * A float weight as an initializer in the precision it is stored in, or in `as` where given (an export: values
 * computed, or stored in another precision, are rounded to it), referencing the source's bytes where they lie when
 * they are in that precision. Returns the value to multiply with: a 16-bit weight is widened by a Cast inside the
 * graph (`linear` below), so activations, norms and losses stay fp32 while the weight itself stays 16-bit in the
 * file and in the session's memory (design.md "Scale").
 */
export function floatWeight(
  g: GraphBuilder,
  name: string,
  w: Weight,
  as?: FloatType,
): { value: string; narrow?: NarrowFloat } {
  if (w.fed === 'float16') return { value: g.input(name, DataType.FLOAT16, w.shape), narrow: 'float16' };
  if (w.fed) return { value: g.input(name, DataType.FLOAT, w.shape) };
  const s = w.stored;
  const type = as ?? s?.type ?? 'float32';
  const same = s?.type === type ? s : undefined;
  if (type === 'float32')
    return {
      value: g.initializer(name, w.shape, () => (same ? same.read() : w.read()), DataType.FLOAT, same?.external),
    };
  const init = g.initializer(
    name,
    w.shape,
    () => (same ? same.read() : narrowed(name, w.read(), type)),
    NARROW_TYPES[type],
    same?.external,
  );
  return { value: init, narrow: type };
}

/** fp16's largest finite value is 65504; from 65520 up, values round to infinity. */
const HALF_OVERFLOW = 65520;

/** `v` as `type` bytes; a value beyond fp16's range (a bf16 or fp32 weight exported as fp16) is refused, not made ±∞. */
function narrowed(name: string, v: Float32Array, type: NarrowFloat): Uint8Array {
  if (type === 'float16') {
    let max = 0;
    for (let i = 0; i < v.length; i++) max = Math.max(max, Math.abs(v[i]));
    if (max >= HALF_OVERFLOW)
      throw new UserError(
        `${name}: values up to ${max.toPrecision(4)} lie beyond fp16's range (±65504) and would be written as infinities; export as bf16 or fp32 (--dtype bf16 or --dtype fp32)`,
      );
  }
  return toNarrowBytes(v, type);
}

export const NARROW_TYPES: Record<NarrowFloat, DataType> = {
  float16: DataType.FLOAT16,
  bfloat16: DataType.BFLOAT16,
};

/**
 * fp16 (bf16) → fp32 of `weight` just before its product with `x`. A Cast of an initializer alone depends on nothing, so
 * ONNX Runtime runs every one of them at the start of a run and holds the whole model in fp32 at once (measured);
 * reshaping the weight to a shape computed from `x` (its dims plus 0 · x's batch size: no data is moved) makes the
 * Cast wait for `x`, so one layer's weights are widened at a time.
 */
function widenWhenNeeded(g: GraphBuilder, weight: string, dims: number[], x: string, name: string): string {
  const batch = g.op(
    'Gather',
    [g.op('Shape', [x], {}, `${name}_xshape`), g.ints([0], true)],
    { axis: 0 },
    `${name}_xbatch`,
  );
  const shape = g.op(
    'Add',
    [g.ints(dims), g.op('Mul', [batch, g.ints([0], true)], {}, `${name}_zero`)],
    {},
    `${name}_wshape`,
  );
  return g.op(
    'Cast',
    [g.op('Reshape', [weight, shape], {}, `${name}_wafter`)],
    { to: DataType.FLOAT },
    `${name}_weight`,
  );
}

/**
 * The product of an fp16 weight in fp16 arithmetic (design.md "Scale"): the fp32 activation is rounded to fp16 and
 * the product widened back, so norms, residuals and losses stay fp32 while the weight is read as stored.
 */
export function halfProduct(g: GraphBuilder, weight: string, x: string, n: string): string {
  const x16 = g.op('Cast', [x], { to: DataType.FLOAT16 }, `${n}_x16`);
  return g.op('Cast', [g.op('MatMul', [x16, weight], {}, `${n}_f16`)], { to: DataType.FLOAT }, n);
}

/**
 * MatMul for a float weight; com.microsoft.MatMulNBits for a block-quantized one (its packed codes, scales and
 * zero points become the initializers, so the file really holds 4 or 8 bits per weight). An fp16 weight is
 * multiplied in fp32 after an in-graph widening, or in fp16 where `compute` asks for it.
 */
export function linear(
  g: GraphBuilder,
  name: string,
  w: Weight,
  as?: FloatType,
  compute: 'float32' | 'float16' = 'float32',
): Linear {
  const q = w.quant;
  if (!q) {
    const { value, narrow } = floatWeight(g, name, w, as);
    if (narrow === 'float16' && compute === 'float16') return (x, n) => halfProduct(g, value, x, n);
    return (x, n) => g.op('MatMul', [x, narrow ? widenWhenNeeded(g, value, w.shape, x, n) : value], {}, n);
  }
  const blocks = blocksOf(q.K, q.blockSize);
  // Read when the graph is written, one array at a time: a 7B's codes are not all held at once.
  const inputs = [
    g.initializer(`${name}.quant`, [q.N, blocks, (q.blockSize * q.bits) / 8], q.packed, DataType.UINT8),
    g.initializer(`${name}.scales`, [q.N * blocks], q.scales),
    ...(q.zeroPoints
      ? [g.initializer(`${name}.zero_points`, [q.N * Math.ceil((blocks * q.bits) / 8)], q.zeroPoints, DataType.UINT8)]
      : []),
  ];
  return (x, n) =>
    g.op(
      'MatMulNBits',
      [x, ...inputs],
      { K: q.K, N: q.N, bits: q.bits, block_size: q.blockSize, accuracy_level: 0 },
      n,
      'com.microsoft',
    );
}
