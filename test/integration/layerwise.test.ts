// Calibration runs decoder layer by decoder layer (design.md "Scale"): what one layer's graph measures on the
// previous layer's outputs must equal what a whole-model graph measures from the token ids.
import { test } from 'node:test';
import * as fs from 'node:fs';
import * as os from 'node:os';
import assert from 'node:assert/strict';
import { loadDecoder } from '../../src/model/recognise';
import { denseLayerwise } from '../../src/compress/calibration';
import { decoderSession, fitsInMemory } from '../../src/runtime/decoderSession';
import { MaskedEvaluator, maskFeeds, maskedGraph } from '../../src/compress/maskedEvaluator';
import { layerwiseNll } from '../../src/compress/layerwiseNll';
import { fullMask } from '../../src/compress/subnet';
import { calibrationInputs, mean, runPass, type LayerStats } from '../../src/runtime/activationStats';
import { CAPTURE_POINTS } from '../../src/graph/decoderGraph';
import { stories260K, texts, tinyMha, tokenWindows } from '../fixtures';

/** max |a − b| / max |b| */
function relMaxDiff(a: Float64Array, b: Float64Array): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return diff / scale;
}

for (const [name, file] of [
  ['stories260K (GQA)', stories260K.onnx],
  ['TinyStories MHA', tinyMha.onnx],
] as const) {
  test(`${name}: layer-by-layer statistics = the whole-model capture (Gram and sum ≤ 1e-5 relative)`, async () => {
    const d = loadDecoder(file);
    const windows = tokenWindows(file, d.config.vocab, texts.tinyStoriesValid, 128, 10);
    const layers = d.layers.map((_, i) => i);
    const whole = await decoderSession(
      d,
      { kvCache: false, head: 'nll', masks: false, capture: layers },
      { provider: 'cpu' },
    );
    const reference: LayerStats[] = [];
    for (const l of layers)
      reference.push((await runPass(whole.session, calibrationInputs(windows), l)).stats as LayerStats);
    const seen: number[] = [];
    const layerwise = await denseLayerwise(
      d,
      windows,
      CAPTURE_POINTS,
      { provider: 'cpu', onLayer: (done) => seen.push(done) },
      (_, st) => st,
    );
    assert.deepEqual(seen, [0, ...layers.map((l) => l + 1)], 'progress after every layer');
    for (const l of layers) {
      for (const p of CAPTURE_POINTS) {
        const [a, b] = [layerwise[l][p], reference[l][p]];
        assert.equal(a.count, b.count);
        assert.ok(relMaxDiff(a.gram, b.gram) <= 1e-5, `layer ${l} ${p} Gram: ${relMaxDiff(a.gram, b.gram)}`);
        assert.ok(relMaxDiff(a.sum, b.sum) <= 1e-5, `layer ${l} ${p} sum: ${relMaxDiff(a.sum, b.sum)}`);
      }
    }
  });
}

test('a layer pass is cancelled between batches', async () => {
  const d = loadDecoder(stories260K.onnx);
  const windows = tokenWindows(stories260K.onnx, d.config.vocab, texts.tinyStoriesValid, 64, 8);
  const controller = new AbortController();
  controller.abort();
  await assert.rejects(
    denseLayerwise(d, windows, ['o_in'], { provider: 'cpu', signal: controller.signal }, () => 0),
    { name: 'AbortError' },
  );
});

test('hidden states over the memory limit go to disk: the same statistics bit for bit, and no file left', async () => {
  const d = loadDecoder(tinyMha.onnx);
  const windows = tokenWindows(tinyMha.onnx, d.config.vocab, texts.tinyStoriesValid, 128, 10);
  const before = new Set(fs.readdirSync(os.tmpdir()).filter((f) => f.startsWith('subnet-search-hidden-')));
  const inMemory = await denseLayerwise(d, windows, ['o_in', 'down_in'], { provider: 'cpu' }, (_, st) => st);
  // One batch of 4 windows fits; the other two batches of every layer go to disk.
  const batchBytes = 4 * 127 * d.config.hidden * 4;
  const spilled: number[] = [];
  const onDisk = await denseLayerwise(
    d,
    windows,
    ['o_in', 'down_in'],
    { provider: 'cpu', hiddenMemoryLimit: batchBytes },
    (_, st) => {
      spilled.push(fs.readdirSync(os.tmpdir()).filter((f) => f.startsWith('subnet-search-hidden-')).length);
      return st;
    },
  );
  for (const l of d.layers.keys()) {
    for (const p of ['o_in', 'down_in'] as const) {
      assert.deepEqual(onDisk[l][p].gram, inMemory[l][p].gram, `layer ${l} ${p}`);
      assert.deepEqual(onDisk[l][p].sum, inMemory[l][p].sum);
    }
  }
  assert.ok(
    spilled.slice(1).every((n) => n >= before.size + 1),
    `a spill folder while layers 1.. ran: ${spilled}`,
  );
  const after = fs.readdirSync(os.tmpdir()).filter((f) => f.startsWith('subnet-search-hidden-') && !before.has(f));
  assert.deepEqual(after, [], 'every spill folder removed');
});

test('a masked, compensated evaluation layer by layer = the one-session evaluation (per window ≤ 1e-5)', async () => {
  const d = loadDecoder(tinyMha.onnx);
  assert.ok(fitsInMemory(d, { kvCache: false, head: 'nll', masks: true }), 'the fixture fits one graph');
  const windows = tokenWindows(tinyMha.onnx, d.config.vocab, texts.tinyStoriesValid, 128, 6);
  const means = await denseLayerwise(d, windows, ['o_in', 'down_in'], { provider: 'cpu' }, (_, st) => ({
    o: mean(st.o_in),
    down: mean(st.down_in),
  }));
  // Every other head and every third MLP channel removed, the first layer's attention compensated only.
  const mask = fullMask(d).map((m) => ({
    ...m,
    heads: m.heads.map((_, h) => h % 2 === 0),
    mlp: m.mlp.map((_, c) => c % 3 !== 0),
  }));
  const compensate = d.layers.map((_, l) => ({ attn: true, mlp: l > 0 }));
  const e = await MaskedEvaluator.open(d, { provider: 'cpu' }, means);
  const one = await e.nll(mask, windows, compensate);
  await e.release();
  const feeds = maskFeeds(d, mask, means, compensate);
  const layered = (await layerwiseNll(d, windows, maskedGraph(means), feeds, { provider: 'cpu' })).nll;
  assert.equal(layered.tokens, one.tokens);
  assert.equal(layered.perWindow.length, windows.length);
  layered.perWindow.forEach((v, w) =>
    assert.ok(
      Math.abs(v - one.perWindow[w]) <= 1e-5 * Math.abs(one.perWindow[w]),
      `window ${w}: ${v} vs ${one.perWindow[w]}`,
    ),
  );
});
