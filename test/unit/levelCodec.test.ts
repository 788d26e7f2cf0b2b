// The profile database's storage (compress/profile/levelCodec.ts): every value comes back as its stored type holds
// it, packed levels hold a bitmask and their non-zeros only, and the size check's estimate is what is written.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeLevel, encodeLevel, levelBytes, levelFormat } from '../../src/compress/profile/levelCodec';
import { floatToHalf, roundToBfloat16 } from '../../src/onnx/tensorData';
import { floatBytes, type FloatType } from '../../src/model/decoder';

/** 1003 values (not a multiple of 8), a `zeros` share of them exactly zero, one −0 among the rest. */
function values(zeros: number): Float32Array {
  const v = new Float32Array(1003);
  for (let i = 0; i < v.length; i++) v[i] = ((i * 7919) % 1003) / 1003 < zeros ? 0 : Math.sin(i) * 3;
  v[v.findIndex((x) => x !== 0)] = -0;
  return v;
}

/** `bytes` at an odd offset of a larger buffer, as a file read may hand them over. */
function misaligned(bytes: Uint8Array): Uint8Array {
  const b = new Uint8Array(bytes.length + 1);
  b.set(bytes, 1);
  return b.subarray(1);
}

for (const type of ['float32', 'float16', 'bfloat16'] as FloatType[])
  for (const zeros of [0, 0.5, 0.8])
    test(`${type}, ${zeros * 100} % zeros: decoded as fed, ${zeros ? 'packed' : 'dense'}, sized as estimated`, () => {
      const v = values(zeros);
      const f = levelFormat(type);
      const bytes = encodeLevel(v, type);
      assert.equal(bytes.length < v.length * floatBytes(type), zeros > 0, 'packed where there are zeros');
      const density = v.filter((x) => x !== 0 || Object.is(x, -0)).length / v.length;
      assert.equal(bytes.length, levelBytes(v.length, density, type));
      for (const b of [bytes, misaligned(bytes)]) {
        const got = decodeLevel(b, v.length, f);
        assert.equal(got.length, v.length);
        for (let i = 0; i < v.length; i++) {
          if (type === 'float16') assert.equal(got[i], floatToHalf(v[i]), `value ${i}`);
          else if (type === 'bfloat16') assert.ok(Object.is(got[i], roundToBfloat16(v[i])), `value ${i}`);
          else assert.ok(Object.is(got[i], v[i]), `value ${i}`);
        }
      }
    });

test('formats: fp16 is stored and fed as fp16, bf16 stored as bf16 and fed widened, fp32 as it is', () => {
  assert.deepEqual(levelFormat('float16'), { stored: 'float16', fed: 'float16' });
  assert.deepEqual(levelFormat('bfloat16'), { stored: 'bfloat16', fed: 'float32' });
  assert.deepEqual(levelFormat(undefined), { stored: 'float32', fed: 'float32' });
  // 50 % zeros in fp16: 1/8 byte of mask + 1 byte of values per weight, 56 % of dense.
  assert.equal(levelBytes(8000, 0.5, 'float16') / (8000 * 2), 0.5625);
});
