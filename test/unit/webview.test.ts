import { test } from 'node:test';
import assert from 'node:assert/strict';
import { attentionCells, cellAt, mlpCells, paretoFront, profileCells } from '../../webview/heatmap';
import { compressArgs } from '../../src/extension/compressArgs';
import type { CompressForm } from '../../webview/protocol';

const shape = (heads: number, headDim: number, intermediate: number) => ({ heads, headDim, intermediate });

test('attention heatmap: layers × heads, removed heads 0, head-dim pruning as the kept fraction', () => {
  const h = attentionCells(
    [
      { heads: [0, 1, 3], pairs: [0, 1, 2, 3], mlp: [] },
      { heads: [0, 1, 2, 3], pairs: [0, 2], mlp: [] },
    ],
    [shape(4, 8, 10), shape(4, 8, 10)],
  );
  assert.deepEqual([h.rows, h.cols], [2, 4]);
  assert.deepEqual(Array.from(h.values), [1, 1, 0, 1, 0.5, 0.5, 0.5, 0.5]);
  assert.equal(h.colLabel(3), 'head 3');
});

test('MLP heatmap: 11008 channels of 32 layers binned into 64 blocks that read at a glance', () => {
  const layers = Array.from({ length: 32 }, (_, l) => ({
    heads: [],
    pairs: [],
    mlp: Array.from({ length: 11008 }, (_, c) => c).filter((c) => (c + l) % 4 !== 0),
  }));
  const h = mlpCells(
    layers,
    Array.from({ length: 32 }, () => shape(32, 128, 11008)),
  );
  assert.deepEqual([h.rows, h.cols], [32, 64]);
  for (const v of h.values) assert.ok(Math.abs(v - 0.75) < 0.01);
  assert.equal(h.colLabel(0), 'channels 0–171');
  assert.equal(h.colLabel(63), 'channels 10836–11007');
});

test('MLP heatmap: layers of different widths leave the missing blocks empty (NaN)', () => {
  const h = mlpCells(
    [
      { heads: [], pairs: [], mlp: [0, 1, 2, 3] },
      { heads: [], pairs: [], mlp: [0] },
    ],
    [shape(1, 2, 4), shape(1, 2, 2)],
  );
  assert.deepEqual(Array.from(h.values), [1, 1, 1, 1, 1, 0, NaN, NaN]);
});

test('cellAt maps a pointer position to the layer and column under it', () => {
  const h = attentionCells(
    Array.from({ length: 32 }, () => ({ heads: [], pairs: [0], mlp: [] })),
    Array.from({ length: 32 }, () => shape(32, 128, 1)),
  );
  assert.deepEqual(cellAt(h, 320, 320, 0, 0), { row: 0, col: 0 });
  assert.deepEqual(cellAt(h, 320, 320, 319, 319), { row: 31, col: 31 });
  assert.deepEqual(cellAt(h, 320, 320, 105, 15), { row: 1, col: 10 });
  assert.equal(cellAt(h, 320, 320, 321, 5), undefined);
});

test('Pareto front: the candidates no other beats in both parameters and perplexity', () => {
  assert.deepEqual(
    paretoFront([
      [10, 5],
      [8, 6],
      [9, 4],
      [12, 3],
      [11, 7],
      [8, 5.5],
    ]),
    [
      [8, 5.5],
      [9, 4],
      [12, 3],
    ],
  );
});

test('the form becomes the same compress command the CLI runs', () => {
  const form: CompressForm = {
    ratio: 0.7,
    granularity: 'channel',
    calib: '',
    provider: 'cpu',
    out: '/tmp/o',
    preset: 'quick',
    method: 'search',
    reform: false,
    depth: true,
    sparsity: '2:4',
    profile: 'search',
    bits: '4',
    dtype: 'fp16',
    seed: 3,
  };
  assert.deepEqual(compressArgs('/m/model.onnx', form, '/ext/sample.txt'), [
    'compress',
    '/m/model.onnx',
    '--ratio',
    '0.7',
    '--calib',
    '/ext/sample.txt',
    '--out',
    '/tmp/o',
    '--provider',
    'cpu',
    '--granularity',
    'channel',
    '--preset',
    'quick',
    '--method',
    'search',
    '--seed',
    '3',
    '--no-reform',
    '--depth',
    '--sparsity',
    '2:4',
    '--bits',
    '4',
    '--dtype',
    'fp16',
  ]);
  assert.deepEqual(
    compressArgs('/m/model.onnx', { ...form, sparsity: '0.5' }, '/ext/sample.txt').slice(-8),
    ['--sparsity', '0.5', '--profile', 'search', '--bits', '4', '--dtype', 'fp16'],
    'a fraction takes the profile',
  );
});

test('profile heatmap: layers × the seven linears, the fraction kept (sparsity) or bits / 8', () => {
  const h = profileCells({
    of: 'sparsity',
    levels: [
      [0.5, 0.4, 0.6, 0.5, 0.5, 0.5, 0.5],
      [0.3, 0.5, 0.5, 0.5, 0.7, 0.5, 0.5],
    ],
  });
  assert.equal(h.rows, 2);
  assert.equal(h.cols, 7);
  assert.ok(Math.abs(h.values[7 + 4] - 0.3) < 1e-6);
  assert.equal(h.colLabel(6), 'down_proj');
  assert.deepEqual(h.colorRange, [0.3, 0.7].map(Math.fround), 'the colours span the levels, not 0 … 1');
  assert.equal(h.describe!(h.values[7 + 4]), '70.0% sparse');
  assert.deepEqual(
    [...profileCells({ of: 'bits', levels: [[4, 8, 4, 4, 4, 4, 8]] }).values],
    [0.5, 1, 0.5, 0.5, 0.5, 0.5, 1],
  );
});
