// The masked evaluation graph must measure exactly what physically removing the masked weights gives.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadDecoder } from '../../src/model/recognise';
import type { Decoder } from '../../src/model/decoder';
import { MaskedEvaluator } from '../../src/compress/maskedEvaluator';
import { droppedLayer, fullMask, sliceDecoder, maskedParams, type SubnetMask } from '../../src/compress/subnet';
import { outerParams } from '../../src/compress/importance/select';
import { totalCounts } from '../../src/model/params';
import { decoderSession } from '../../src/runtime/decoderSession';
import { windowsNll } from '../../src/runtime/perplexity';
import { seededRandom } from '../../src/util/random';
import { denseCalibration } from '../../src/compress/calibration';
import { compensationBiases, withBiases } from '../../src/compress/importance/compensation';
import { relDiff, stories260K, tempDir, texts, tinyMha, tokenWindows } from '../fixtures';
import { writeModelFiles } from '../../src/compress/exportModel';
import { createSession } from '../../src/runtime/session';
import * as fs from 'node:fs';
import * as path from 'node:path';

function windowsFor(d: Decoder, file: string, n: number) {
  return tokenWindows(file, d.config.vocab, texts.tinyStoriesValid, 128, n);
}

/** A mask that drops, per layer, KV groups / query heads, rotary pairs and MLP channels at seeded random. */
function randomMask(d: Decoder, what: 'heads' | 'pairs' | 'mlp' | 'all', seed: number): SubnetMask {
  const rand = seededRandom(seed);
  return fullMask(d).map((m, i) => {
    const s = d.layers[i];
    const group = s.heads / s.kvHeads;
    if (what === 'heads' || what === 'all') {
      // drop one KV group (with all its query heads); with GQA, also keep only the first query head of every group
      const drop = Math.floor(rand() * s.kvHeads);
      m.heads = m.heads.map(
        (_, h) => Math.floor(h / group) !== drop && (i % 2 === 0 || group === 1 || h % group === 0),
      );
    }
    if (what === 'pairs' || what === 'all') m.pairs = m.pairs.map((_, p) => p === 0 || rand() > 0.4);
    if (what === 'mlp' || what === 'all') m.mlp = m.mlp.map(() => rand() > 0.3);
    return m;
  });
}

for (const [name, file] of [
  ['stories260K (GQA)', stories260K.onnx],
  ['tinystories-llama-mha (MHA)', tinyMha.onnx],
] as const) {
  test(`${name}: all-ones masks give the dense model's perplexity (≤ 1e-5)`, async () => {
    const d = loadDecoder(file);
    const windows = windowsFor(d, file, 24);
    const masked = await (await MaskedEvaluator.open(d, { provider: 'cpu' })).nll(fullMask(d), windows);
    const dense = await windowsNll(
      (await decoderSession(d, { kvCache: false, head: 'nll', masks: false }, { provider: 'cpu' })).session,
      windows,
    );
    assert.equal(masked.tokens, 24 * 127);
    assert.ok(relDiff(masked.nll, dense.nll) <= 1e-5, `masked ${masked.nll} vs dense ${dense.nll}`);
  });

  for (const what of ['heads', 'pairs', 'mlp', 'all'] as const) {
    test(`${name}: masking ${what} = physically removing them (perplexity ≤ 1e-4, parameters exact)`, async () => {
      const d = loadDecoder(file);
      const windows = windowsFor(d, file, 16);
      const mask = randomMask(d, what, 7);
      const masked = await (await MaskedEvaluator.open(d, { provider: 'cpu' })).nll(mask, windows);
      const small = sliceDecoder(d, mask);
      const sliced = await windowsNll(
        (await decoderSession(small, { kvCache: false, head: 'nll', masks: false }, { provider: 'cpu' })).session,
        windows,
      );
      assert.ok(relDiff(masked.nll, sliced.nll) <= 1e-4, `masked ${masked.nll} vs sliced ${sliced.nll}`);
      assert.equal(totalCounts(small).params, maskedParams(d, mask, outerParams(d)));
      assert.ok(totalCounts(small).params < totalCounts(d).params);
      const dense = await (await MaskedEvaluator.open(d, { provider: 'cpu' })).nll(fullMask(d), windows);
      assert.ok(masked.nll > dense.nll, 'removing weights of a trained model costs likelihood');
    });
  }

  test(`${name}: dropping the last layer whole in the masks = removing it from the model (perplexity ≤ 1e-4, parameters exact)`, async () => {
    const d = loadDecoder(file);
    const windows = windowsFor(d, file, 16);
    const mask = randomMask(d, 'all', 5);
    mask[d.layers.length - 1] = droppedLayer(d.layers[d.layers.length - 1]);
    const masked = await (await MaskedEvaluator.open(d, { provider: 'cpu' })).nll(mask, windows);
    const small = sliceDecoder(d, mask);
    assert.equal(small.layers.length, d.layers.length - 1);
    const sliced = await windowsNll(
      (await decoderSession(small, { kvCache: false, head: 'nll', masks: false }, { provider: 'cpu' })).session,
      windows,
    );
    assert.ok(relDiff(masked.nll, sliced.nll) <= 1e-4, `masked ${masked.nll} vs sliced ${sliced.nll}`);
    assert.equal(totalCounts(small).params, maskedParams(d, mask, outerParams(d)));
    // Exported, it reads back with one layer fewer and measures the same.
    const dir = tempDir();
    writeModelFiles(small, dir, undefined);
    assert.equal(
      JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')).num_hidden_layers,
      d.layers.length - 1,
    );
    const back = loadDecoder(path.join(dir, 'model.onnx'));
    assert.equal(back.layers.length, d.layers.length - 1);
    const exported = await windowsNll(
      (await createSession(path.join(dir, 'model.onnx'), { provider: 'cpu' })).session,
      windows,
      { layers: back.layers },
    );
    assert.ok(relDiff(exported.nll, sliced.nll) <= 1e-5, `exported ${exported.nll} vs sliced ${sliced.nll}`);
  });

  test(`${name}: in-graph bias compensation (some modules) = the sliced model with FLAP's biases (NLL ≤ 1e-6)`, async () => {
    const d = loadDecoder(file);
    const windows = windowsFor(d, file, 16);
    const { means } = await denseCalibration(d, windowsFor(d, file, 8), [], 'head', { provider: 'cpu' });
    const mask = randomMask(d, 'all', 11);
    const flags = d.layers.map((_, i) => ({ attn: i % 2 === 0, mlp: i % 3 !== 1 }));
    const inGraph = await (await MaskedEvaluator.open(d, { provider: 'cpu' }, means)).nll(mask, windows, flags);
    const bias = compensationBiases(d, mask, means, flags);
    assert.deepEqual(
      bias.map((b) => [Boolean(b.o), Boolean(b.down)]),
      flags.map((f) => [f.attn, f.mlp]),
    );
    const biased = sliceDecoder(withBiases(d, bias), mask);
    const sliced = await windowsNll(
      (await decoderSession(biased, { kvCache: false, head: 'nll', masks: false }, { provider: 'cpu' })).session,
      windows,
    );
    assert.ok(relDiff(inGraph.nll, sliced.nll) <= 1e-6, `in-graph ${inGraph.nll} vs sliced with biases ${sliced.nll}`);
    const plain = await (await MaskedEvaluator.open(d, { provider: 'cpu' })).nll(mask, windows);
    assert.ok(
      relDiff(inGraph.nll, plain.nll) > 1e-5,
      `the compensation changes the measurement: ${inGraph.nll} vs ${plain.nll}`,
    );
    const dense = await (await MaskedEvaluator.open(d, { provider: 'cpu' }, means)).nll(fullMask(d), windows);
    const denseRef = await (await MaskedEvaluator.open(d, { provider: 'cpu' })).nll(fullMask(d), windows);
    assert.ok(relDiff(dense.nll, denseRef.nll) <= 1e-5, 'nothing removed, nothing compensated');
  });
}
