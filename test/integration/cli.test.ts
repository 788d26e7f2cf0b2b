import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readOnnxFile } from '../../src/onnx/modelFile';
import { elementCount, tensorDims } from '../../src/onnx/tensorData';
import { loadDecoder } from '../../src/model/recognise';
import { exportDecoder } from '../../src/compress/exportModel';
import { loadModelTokenizer } from '../../src/text/tokenizer';
import { GraphBuilder } from '../../src/graph/graph';
import { writeModelFile } from '../../src/onnx/writeModel';
import { DataType } from '../../src/onnx/proto';
import { runCli } from '../cli';
import { copyDir, fixture, stories260K, tempDir, tinyMha } from '../fixtures';

for (const fx of [stories260K, tinyMha]) {
  test(`inspect --json on ${path.basename(path.dirname(fx.onnx))}: numbers equal config.json, params = sum of initializers`, () => {
    const r = runCli(['inspect', fx.onnx, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const s = JSON.parse(r.stdout);
    const cfg = JSON.parse(fs.readFileSync(fx.config, 'utf8'));
    assert.deepEqual(
      {
        layers: s.config.layers,
        heads: s.config.heads,
        kvHeads: s.config.kvHeads,
        headDim: s.config.headDim,
        hidden: s.config.hidden,
        intermediate: s.config.intermediate,
        vocab: s.config.vocab,
      },
      {
        layers: cfg.num_hidden_layers,
        heads: cfg.num_attention_heads,
        kvHeads: cfg.num_key_value_heads,
        headDim: cfg.head_dim,
        hidden: cfg.hidden_size,
        intermediate: cfg.intermediate_size,
        vocab: cfg.vocab_size,
      },
    );
    const init = readOnnxFile(fx.onnx).model.graph!.initializer!;
    const sum = init.reduce((a, t) => a + elementCount(tensorDims(t)), 0);
    assert.equal(s.totals.params, sum);
    assert.equal(s.totals.bytes, sum * 4);
    assert.equal(s.layers.length, cfg.num_hidden_layers);
    for (const l of s.layers) {
      assert.deepEqual(
        [l.heads, l.kvHeads, l.headDim, l.intermediate],
        [cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim, cfg.intermediate_size],
      );
    }
    assert.equal(
      s.layers.reduce((a: number, l: { params: number }) => a + l.params, 0) +
        2 * cfg.vocab_size * cfg.hidden_size +
        cfg.hidden_size,
      sum,
    );
  });
}

test('inspect prints a per-layer table for a llama2.c checkpoint', () => {
  const r = runCli(['inspect', stories260K.bin]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /5 layers, hidden 64, 8 heads \/ 4 KV heads × 8, MLP 172, vocab 512/);
  assert.match(r.stdout, /^total\s+260\.0K/m);
});

test('convert writes an ONNX folder from a .bin that inspects like the original and generates the oracle story', () => {
  const out = path.join(tempDir(), 'converted');
  const r = runCli(['convert', stories260K.bin, '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(fs.readdirSync(out).sort(), [
    'config.json',
    'genai_config.json',
    'generation_config.json',
    'model.onnx',
    'tokenizer.json',
    'tokenizer_config.json',
  ]);
  const a = JSON.parse(runCli(['inspect', out + '/model.onnx', '--json']).stdout);
  const b = JSON.parse(runCli(['inspect', stories260K.onnx, '--json']).stdout);
  assert.deepEqual(a.config, b.config);
  assert.equal(a.totals.params, b.totals.params);
  const g = runCli([
    'generate',
    path.join(out, 'model.onnx'),
    '--original',
    '--max-tokens',
    '256',
    '--provider',
    'cpu',
  ]);
  assert.equal(g.code, 0, g.stderr);
  assert.equal(g.stdout, fs.readFileSync(stories260K.greedy, 'utf8'));
});

test('export with external data writes model.onnx_data and the model still loads', () => {
  const d = loadDecoder(stories260K.onnx);
  const out = path.join(tempDir(), 'ext');
  exportDecoder(d, out, loadModelTokenizer(stories260K.onnx, 512), { externalData: 'always' });
  assert.ok(fs.statSync(path.join(out, 'model.onnx_data')).size > 1_000_000);
  assert.ok(fs.statSync(path.join(out, 'model.onnx')).size < 100_000);
  const r = runCli([
    'generate',
    path.join(out, 'model.onnx'),
    '--original',
    '--max-tokens',
    '256',
    '--provider',
    'cpu',
  ]);
  assert.equal(r.stdout, fs.readFileSync(stories260K.greedy, 'utf8'));
});

/** Every bad input: a specific message on stderr, exit code ≠ 0, no output folder written. */
function assertRefused(args: string[], message: RegExp) {
  const dir = tempDir();
  const out = path.join(dir, 'out');
  const r = runCli([...args, '--out', out]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, message);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  assert.deepEqual(fs.readdirSync(dir), [], 'nothing written');
  const i = runCli(['inspect', args[1]]);
  assert.notEqual(i.code, 0);
  assert.match(i.stderr, message);
}

test('bad input: a file that is not ONNX', () => {
  const f = path.join(tempDir(), 'notes.onnx');
  fs.writeFileSync(f, 'these are my notes, not a model\n');
  assertRefused(['convert', f], /not a readable ONNX model|not an ONNX model/);
});

test('bad input: a truncated ONNX', () => {
  const f = path.join(tempDir(), 'model.onnx');
  fs.writeFileSync(f, fs.readFileSync(stories260K.onnx).subarray(0, 600_000));
  assertRefused(['convert', f], /not a readable ONNX model.*truncated/);
});

function externalCopy(): string {
  const out = path.join(tempDir(), 'ext');
  exportDecoder(loadDecoder(stories260K.onnx), out, undefined, { externalData: 'always' });
  return out;
}

test('bad input: a missing .onnx_data', () => {
  const dir = externalCopy();
  fs.rmSync(path.join(dir, 'model.onnx_data'));
  assertRefused(['convert', path.join(dir, 'model.onnx')], /external data file 'model.onnx_data' not found/);
});

test('bad input: an external-data location that escapes the model folder', () => {
  const dir = externalCopy();
  const file = path.join(dir, 'model.onnx');
  const m = readOnnxFile(file).model;
  for (const t of m.graph!.initializer!)
    for (const e of t.externalData ?? []) if (e.key === 'location') e.value = '../model.onnx_data';
  fs.copyFileSync(path.join(dir, 'model.onnx_data'), path.join(dir, '..', 'model.onnx_data'));
  fs.writeFileSync(
    file,
    (m.constructor as unknown as { encode(x: unknown): { finish(): Uint8Array } }).encode(m).finish(),
  );
  assertRefused(['convert', file], /external data location '\.\.\/model\.onnx_data' is outside the model's folder/);
});

test('bad input: an ONNX that is not a decoder (a single MatMul)', () => {
  const g = new GraphBuilder();
  const x = g.input('X', DataType.FLOAT, [1, 4]);
  g.output(g.op('MatMul', [x, g.initializer('W', [4, 4], new Float32Array(16))]), 'Y', DataType.FLOAT, [1, 4]);
  const f = path.join(tempDir(), 'matmul.onnx');
  writeModelFile(g.model('m', ''), g.tensors, f);
  assertRefused(
    ['convert', f],
    /is not a recognised decoder LLM: no token embedding.*Found 1 node \(MatMul×1\) and 1 initializer/,
  );
});

test('bad input: an embedding but no decoder layers', () => {
  const g = new GraphBuilder();
  const ids = g.input('input_ids', DataType.INT64, [1, 4]);
  g.output(
    g.op('Gather', [g.initializer('model.embed_tokens.weight', [16, 4], new Float32Array(64)), ids], { axis: 0 }),
    'Y',
    DataType.FLOAT,
    [1, 4, 4],
  );
  const f = path.join(tempDir(), 'model.onnx');
  writeModelFile(g.model('m', ''), g.tensors, f);
  assertRefused(['convert', f], /no decoder layers found \(no initializer named model\.layers\.<i>/);
});

test('bad input: a fused-op graph from another exporter (onnxruntime.transformers GPT-2)', () => {
  assertRefused(
    ['convert', fixture('onnx', 'tiny-random-gpt2-ortgenai', 'past.onnx')],
    /fused runtime ops \(com\.microsoft\.EmbedLayerNormalization/,
  );
});

test('bad input: a config.json that contradicts the graph', () => {
  const dir = copyDir(path.dirname(stories260K.onnx), path.join(tempDir(), 'm'));
  const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...cfg, intermediate_size: 256 }));
  assertRefused(
    ['convert', path.join(dir, 'model.onnx')],
    /config\.json says intermediate_size = 256, but the weights in model\.onnx give 172/,
  );
});

test('bad input: a tokenizer whose vocabulary does not match the model', () => {
  const r = runCli(['generate', stories260K.onnx, '--tokenizer', fixture('llama2c', 'tokenizer.bin')]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /tokenizer tokenizer\.bin has 32000 tokens but the model's vocabulary is 512/);
});

test('an existing non-empty output folder is never overwritten', () => {
  const dir = tempDir();
  fs.writeFileSync(path.join(dir, 'mine.txt'), 'keep me');
  const r = runCli(['convert', stories260K.bin, '--out', dir]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /already exists and is not empty/);
  assert.deepEqual(fs.readdirSync(dir), ['mine.txt']);
});
