// Decode speeds as the report, the CLI and the panel print them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tokensPerSecondText } from '../../src/util/tokensPerSecond';

test('decode speeds keep three significant digits below 100 tokens a second (a 7B on a laptop CPU)', () => {
  assert.deepEqual([1.1623, 0.04123, 45.27, 99.96, 100.4, 1234.6].map(tokensPerSecondText), [
    '1.16',
    '0.0412',
    '45.3',
    '100',
    '100',
    '1235',
  ]);
});
