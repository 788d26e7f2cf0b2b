import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadDecoder } from '../../src/model/recognise';
import { fullMask, maskedShapes, maskVectors } from '../../src/compress/subnet';
import { selectGlobal, selectUniform, inheritingRatio, topK } from '../../src/compress/importance/select';
import { attentionUnitCount, unitChannels, attentionUnitParams } from '../../src/compress/importance/units';
import { layerParamCount } from '../../src/model/params';
import { UserError } from '../../src/util/errors';
import { stories260K } from '../fixtures';

test('GQA: KV groups keeping different numbers of query heads are refused', () => {
  const d = loadDecoder(stories260K.onnx); // 8 heads, 4 KV heads: groups of 2
  const mask = fullMask(d);
  mask[2].heads[0] = false; // group 0 keeps 1, the others 2
  assert.throws(
    () => maskedShapes(d, mask),
    (e: unknown) =>
      e instanceof UserError &&
      /layer 2: KV groups keep different numbers of query heads \(1, 2, 2, 2\)/.test(e.message),
  );
});

test('masked shapes: whole KV groups, uniform query heads per group, rotary pairs keep their frequencies', () => {
  const d = loadDecoder(stories260K.onnx);
  const mask = fullMask(d);
  mask[0].heads = [false, false, true, true, true, true, true, true]; // drop KV group 0
  mask[1].heads = [true, false, true, false, true, false, true, false]; // one query head per group
  mask[2].pairs = [false, true, false, true];
  const s = maskedShapes(d, mask);
  assert.deepEqual([s[0].heads, s[0].kvHeads, s[0].headDim], [6, 3, 8]);
  assert.deepEqual([s[1].heads, s[1].kvHeads], [4, 4]);
  assert.deepEqual([s[2].headDim, s[2].ropePairs, s[2].attnScale], [4, [1, 3], 1 / Math.sqrt(8)]);
});

test('mask vectors zero exactly the channels of removed heads and pairs (both halves of a pair)', () => {
  const d = loadDecoder(stories260K.onnx);
  const mask = fullMask(d);
  mask[0].heads[7] = false;
  mask[0].heads[6] = false;
  mask[0].pairs[1] = false;
  const v = maskVectors(d, mask).attn[0];
  const zeros = [...v.keys()].filter((i) => v[i] === 0);
  const expected = [...Array(6).keys()]
    .flatMap((h) => [h * 8 + 1, h * 8 + 5])
    .concat([...Array(16).keys()].map((k) => 48 + k))
    .sort((a, b) => a - b);
  assert.deepEqual(zeros, expected);
});

test('unit parameter counts add up to the layer count', () => {
  const d = loadDecoder(stories260K.onnx);
  const s = d.layers[0];
  const hidden = d.config.hidden;
  for (const g of ['head', 'channel'] as const) {
    const units = attentionUnitCount(s, g);
    const attn = units * attentionUnitParams(s, g, hidden, { qkv: false });
    assert.equal(
      attn,
      layerParamCount(s, hidden, { qkv: false, o: false, down: false }) - 2 * hidden - 3 * hidden * s.intermediate,
    );
    const all = new Set(Array.from({ length: units }, (_, u) => unitChannels(s, g, u).q).flat());
    assert.equal(all.size, s.heads * s.headDim, `${g}: units cover every q channel once`);
  }
});

test('selection lands on the requested inheriting ratio (within one unit) and is deterministic', () => {
  const d = loadDecoder(stories260K.onnx);
  const scores = d.layers.map((s, i) => ({
    attn: Float64Array.from({ length: s.kvHeads }, (_, u) => Math.sin(i * 7 + u)),
    mlp: Float64Array.from({ length: s.intermediate }, (_, c) => Math.cos(i * 3 + c)),
  }));
  for (const ratio of [0.9, 0.8, 0.7, 0.6, 0.5]) {
    const u = selectUniform(d, scores, 'head', ratio * 292800);
    assert.ok(Math.abs(inheritingRatio(d, u) - ratio) < 0.005, `uniform ${ratio}: ${inheritingRatio(d, u)}`);
    const g = selectGlobal(d, scores, 'head', ratio * 292800);
    assert.ok(Math.abs(inheritingRatio(d, g) - ratio) < 0.02, `global ${ratio}: ${inheritingRatio(d, g)}`);
    assert.deepEqual(selectUniform(d, scores, 'head', ratio * 292800), u);
  }
  assert.deepEqual(topK(Float64Array.from([1, 3, 3, 0]), 2), [false, true, true, false]);
});
