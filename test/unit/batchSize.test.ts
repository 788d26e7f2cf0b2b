import { test } from 'node:test';
import assert from 'node:assert/strict';
import { batchFor, batchShape } from '../../src/runtime/perplexity';
import { layerInputs } from '../../src/runtime/activationStats';
import { SHAPES, randomDecoder, scaleShape } from '../../bench/randomModels';

// Windows are `--seq-len` tokens long (text/windows.ts), and that length is what a batch is sized by.
const windows = (n: number, tokens: number) => Array.from({ length: n }, () => new Array<number>(tokens).fill(1));

test('a batch of windows keeps the logits and the attention scores within 64 MiB, down to one window', () => {
  // Llama-2-7B's 32 heads at 2048 tokens: 512 MiB of scores a window, so one window a batch.
  assert.equal(batchFor(2048, { vocab: 32000, heads: 32 }), 1);
  // The scale bench's layers (32 heads) at 512 tokens: 32 MiB of scores a window.
  assert.equal(batchFor(512, { heads: 32 }, 4), 2);
  // A 32k vocabulary at 512 tokens: the logits bound it (64 MiB a window) before the 16 MiB of scores.
  assert.equal(batchFor(512, { vocab: 32000, heads: 16 }), 1);
  // The fixtures keep the former batches (8 to evaluate, 4 a layer pass): stories260K (8 heads, 512 tokens) at
  // exactly 8 MiB a window, the MHA fixture (6 heads) at 512 tokens.
  assert.equal(batchFor(512, { vocab: 512, heads: 8 }), 8);
  assert.equal(batchFor(512, { heads: 8 }, 4), 4);
  assert.equal(batchFor(512, { vocab: 512, heads: 6 }), 8);
  assert.equal(batchFor(100, {}), 8);
});

test('layer passes batch by the most heads of any layer, and evaluations by those and the vocabulary', () => {
  const d = randomDecoder(SHAPES['qwen2.5-0.5b'], 'float32');
  assert.deepEqual(batchShape(d), { vocab: 32000, heads: 14 });
  // 14 heads × 2048² fp32 scores are 224 MiB a window.
  assert.equal(layerInputs(d, windows(64, 2048)).batch, 1);
  assert.equal(layerInputs(d, windows(64, 256)).batch, 4);
  assert.equal(layerInputs(randomDecoder(scaleShape(2), 'float32'), windows(8, 512)).batch, 2);
});
