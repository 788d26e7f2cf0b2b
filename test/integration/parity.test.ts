// The dense re-emission of a recognised model must be the same network as the user's original graph:
// this is what proves recognition right (design.md, "Layers").
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { loadDecoder } from '../../src/model/recognise';
import { buildDecoderGraph } from '../../src/graph/decoderGraph';
import { modelToBuffer } from '../../src/onnx/writeModel';
import { createSession, ort } from '../../src/runtime/session';
import { emptyPast, int64, presentToPast } from '../../src/runtime/kvCache';
import { generateGreedy } from '../../src/runtime/generate';
import { loadModelTokenizer } from '../../src/text/tokenizer';
import type { Decoder } from '../../src/model/decoder';
import { stories260K, tinyMha } from '../fixtures';

async function ourSession(d: Decoder) {
  const built = buildDecoderGraph(d, { kvCache: true, head: 'logits', masks: false });
  return (await createSession(modelToBuffer(built.model, built.tensors), { provider: 'cpu' })).session;
}

function maxAbsDiff(a: ort.Tensor, b: ort.Tensor): number {
  assert.deepEqual(a.dims, b.dims);
  const x = a.data as Float32Array;
  const y = b.data as Float32Array;
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i] - y[i]));
  return m;
}

/** Two rows of real text ids; the second is right-padded by 5 positions through attention_mask. */
function batch(d: Decoder, S: number) {
  const ids = Array.from({ length: 2 * S }, (_, i) => 3 + ((i * 37) % (d.config.vocab - 3)));
  const mask = Array.from({ length: 2 * S }, (_, i) => (i >= S && i % S >= S - 5 ? 0 : 1));
  const pos = Array.from({ length: 2 * S }, (_, i) => i % S);
  return { input_ids: int64(ids, [2, S]), attention_mask: int64(mask, [2, S]), position_ids: int64(pos, [2, S]) };
}

for (const [name, fx] of [
  ['stories260K (GQA)', stories260K],
  ['tinystories-llama-mha (MHA)', tinyMha],
] as const) {
  test(`${name}: re-emitted dense graph gives the original logits (full sequence, batch 2, padding)`, async () => {
    const d = loadDecoder(fx.onnx);
    const ours = await ourSession(d);
    const orig = (await createSession(fx.onnx, { provider: 'cpu' })).session;
    const feeds = { ...batch(d, 24), ...emptyPast(orig, d.layers, 2) };
    const a = await ours.run(feeds);
    const b = await orig.run(feeds);
    assert.ok(maxAbsDiff(a.logits, b.logits) <= 1e-4, `logits differ by ${maxAbsDiff(a.logits, b.logits)}`);
    for (let i = 0; i < d.config.layers; i++)
      assert.ok(maxAbsDiff(a[`present.${i}.key`], b[`present.${i}.key`]) <= 1e-4);
  });

  test(`${name}: same logits with the KV cache (prefill, then 8 decode steps)`, async () => {
    const d = loadDecoder(fx.onnx);
    const sessions = [await ourSession(d), (await createSession(fx.onnx, { provider: 'cpu' })).session];
    const prompt = [1, 403, 407, 261, 378, 432, 383, 286, 261, 376];
    const logits: ort.Tensor[][] = [[], []];
    for (const [k, s] of sessions.entries()) {
      let past = emptyPast(s, d.layers, 1);
      let step = prompt;
      const all = [...prompt];
      for (let t = 0; t <= 8; t++) {
        const start = all.length - step.length;
        const out = await s.run({
          input_ids: int64(step, [1, step.length]),
          attention_mask: int64(new Array(all.length).fill(1), [1, all.length]),
          position_ids: int64(
            step.map((_, i) => start + i),
            [1, step.length],
          ),
          ...past,
        });
        logits[k].push(out.logits as ort.Tensor);
        past = presentToPast(out, d.config.layers);
        step = [10 + t * 7]; // a fixed continuation, identical for both sessions
        all.push(step[0]);
      }
    }
    for (let t = 0; t < logits[0].length; t++) {
      const diff = maxAbsDiff(logits[0][t], logits[1][t]);
      assert.ok(diff <= 1e-4, `step ${t}: logits differ by ${diff}`);
    }
  });
}

for (const [name, file, oracle] of [
  ['stories260K .onnx', stories260K.onnx, stories260K.greedy],
  ['stories260K llama2.c .bin', stories260K.bin, stories260K.greedy],
  ['tinystories-llama-mha .onnx', tinyMha.onnx, tinyMha.greedy],
  ['tinystories-llama-mha llama2.c .bin', tinyMha.bin, tinyMha.greedy],
] as const) {
  test(`${name}: greedy decoding from BOS through the re-emitted graph reproduces the oracle story`, async () => {
    const d = loadDecoder(file);
    const tok = loadModelTokenizer(file, d.config.vocab);
    const ids = await generateGreedy(await ourSession(d), d.layers, [1], { maxTokens: 256, stopIds: [1] });
    assert.equal(`${tok.decode(ids)}\n`, fs.readFileSync(oracle, 'utf8'));
  });
}
