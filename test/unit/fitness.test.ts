import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_HALVING, pairedWorse, rungSizes } from '../../src/compress/search/fitness';

// The early-rejection rule on hand-made per-window NLLs (pure statistics, no model).
const tokens = new Array(40).fill(255);
const bar = Array.from({ length: 40 }, (_, i) => 255 * (1.5 + 0.3 * Math.sin(i))); // windows differ in difficulty

test('rungs: 15, 45, 65 and 85% of the windows, then all; at least two windows; none early with too few windows', () => {
  assert.deepEqual(rungSizes(40, DEFAULT_HALVING), [6, 18, 26, 34, 40]);
  assert.deepEqual(rungSizes(5, DEFAULT_HALVING), [2, 3, 4, 5]);
  assert.deepEqual(rungSizes(2, DEFAULT_HALVING), [2]);
  assert.deepEqual(rungSizes(40), [40]);
});

test('paired test: a candidate worse on every window by the same amount is dropped after two windows', () => {
  const worse = bar.map((v) => v + 255 * 0.01);
  assert.equal(pairedWorse(worse.slice(0, 2), bar, tokens, 2.5), true);
  assert.equal(pairedWorse(bar.slice(0, 6), bar, tokens, 2.5), false, 'the bar itself is not worse than the bar');
});

test('paired test: window difficulty cancels; a noisy small deficit is kept until the windows tell', () => {
  // 0.002 worse on average, ±0.02 per window: not clear on 6 windows, clear once nearly all are in.
  const noisy = bar.map((v, i) => v + 255 * (0.002 + (i % 2 ? 0.02 : -0.02)));
  assert.equal(pairedWorse(noisy.slice(0, 6), bar, tokens, 2.5), false);
  assert.equal(pairedWorse(noisy.slice(0, 38), bar, tokens, 2.5), true);
  // Better than the bar: never dropped.
  const better = bar.map((v) => v - 255 * 0.01);
  assert.equal(pairedWorse(better.slice(0, 16), bar, tokens, 2.5), false);
  // All windows known: the full fitness decides, not the test.
  assert.equal(
    pairedWorse(
      bar.map((v) => v + 1),
      bar,
      tokens,
      2.5,
    ),
    false,
  );
});
