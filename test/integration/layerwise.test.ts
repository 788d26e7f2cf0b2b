// Calibration runs decoder layer by decoder layer (design.md "Scale"): what one layer's graph measures on the
// previous layer's outputs must equal what a whole-model graph measures from the token ids.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadDecoder } from '../../src/model/recognise';
import { denseLayerwise } from '../../src/compress/calibration';
import { decoderSession } from '../../src/runtime/decoderSession';
import { calibrationInputs, runPass, type LayerStats } from '../../src/runtime/activationStats';
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
