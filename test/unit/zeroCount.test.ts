// Zeros counted in a weight's stored form (16-bit floats, MatMulNBits codes) equal those of its float values.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { zeroCount } from '../../src/model/zeroCount';
import { newWeight } from '../../src/model/decoder';
import { NewWeights } from '../../src/model/newWeights';
import { quantizeRtn } from '../../src/compress/quantize/nbits';
import { seededRandom } from '../../src/util/random';

/** K × N values with about a third of them zero, and -0 among them. */
function values(K: number, N: number, seed: number): Float32Array {
  const rand = seededRandom(seed);
  return Float32Array.from({ length: K * N }, () => {
    const r = rand();
    return r < 0.3 ? 0 : r < 0.35 ? -0 : r - 0.6;
  });
}

const zerosOf = (v: Float32Array) => v.reduce((a, x) => a + (x === 0 ? 1 : 0), 0);

test('fp32, fp16 and bf16 weights: the zeros of their values', () => {
  const v = values(40, 24, 1);
  for (const type of ['float32', 'float16', 'bfloat16'] as const) {
    const w = newWeight('w', [40, 24], v, type);
    assert.equal(zeroCount(w), zerosOf(w.read()), type);
  }
});

test('int4 and int8, symmetric and asymmetric, K cut short of a block, a block of scale 0', () => {
  // K = 45: the last block of 32 holds 13 codes (an odd count: the int4 byte's high nibble is padding).
  const [K, N] = [45, 6];
  for (const o of [
    { bits: 4 as const, blockSize: 32, symmetric: true },
    { bits: 4 as const, blockSize: 16, symmetric: false },
    { bits: 8 as const, blockSize: 32, symmetric: true },
    { bits: 8 as const, blockSize: 16, symmetric: false },
  ]) {
    const v = values(K, N, o.bits + o.blockSize);
    // Output 2's first block all zero: its scale is zero.
    for (let k = 0; k < o.blockSize; k++) v[k * N + 2] = 0;
    const { quant, dequantized } = quantizeRtn(v, K, N, o);
    const w = new NewWeights().quantized('q', [K, N], quant);
    const name = `int${o.bits} ${o.symmetric ? 'symmetric' : 'asymmetric'} block ${o.blockSize}`;
    assert.ok(zerosOf(dequantized) > zerosOf(v) * 0.9, `${name}: zeros survive quantization`);
    assert.equal(zeroCount(w), zerosOf(dequantized), name);
  }
});
