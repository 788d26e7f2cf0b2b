import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runCli } from '../cli';
import { demoText, stories260K, tempDir, texts, tinyMha } from '../fixtures';

test('eval --json: stories260K on TinyStories validation = the fixtures reference perplexity (5.121, NLL 1.6334)', () => {
  const r = runCli([
    'eval',
    stories260K.onnx,
    '--text',
    texts.tinyStoriesValid,
    '--seq-len',
    '256',
    '--json',
    '--provider',
    'cpu',
  ]);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.tokens, 391425);
  assert.equal(j.windows, 1535);
  assert.ok(Math.abs(j.meanNll - 1.6334) < 1e-4, `mean NLL ${j.meanNll}`);
  assert.equal(j.ppl.toFixed(3), '5.121');
  assert.equal(j.provider, 'cpu');
  assert.ok(j.seconds > 0);
});

test("eval: our NLL graph and the user's own graph (logits) measure the same perplexity", () => {
  const run = (graph: string) =>
    JSON.parse(
      runCli(['eval', tinyMha.onnx, '--text', texts.tinyStoriesValid, '--windows', '40', '--graph', graph, '--json'])
        .stdout,
    );
  const a = run('ours');
  const b = run('file');
  assert.equal(a.tokens, 40 * 255);
  assert.ok(Math.abs(a.meanNll - b.meanNll) / b.meanNll < 1e-5, `${a.meanNll} vs ${b.meanNll}`);
});

test('eval: a llama2.c checkpoint is measured through our graph', () => {
  const r = runCli([
    'eval',
    stories260K.bin,
    '--text',
    texts.tinyStoriesValid,
    '--seq-len',
    '256',
    '--windows',
    '20',
    '--json',
  ]);
  const o = runCli([
    'eval',
    stories260K.onnx,
    '--text',
    texts.tinyStoriesValid,
    '--seq-len',
    '256',
    '--windows',
    '20',
    '--json',
  ]);
  assert.ok(Math.abs(JSON.parse(r.stdout).meanNll - JSON.parse(o.stdout).meanNll) < 1e-5);
  assert.equal(JSON.parse(r.stdout).graph, 'ours');
});

for (const method of ['magnitude', 'wanda-sp', 'flap', 'obs']) {
  test(`prune --method ${method} --ratio 0.8: masks on disk, parameters at the ratio, masked perplexity above dense`, () => {
    const out = path.join(tempDir(), 'pruned');
    const r = runCli([
      'prune',
      stories260K.onnx,
      '--method',
      method,
      '--ratio',
      '0.8',
      '--calib',
      demoText,
      '--eval',
      texts.tinyStoriesValid,
      '--seq-len',
      '128',
      '--calib-windows',
      '16',
      '--eval-windows',
      '30',
      '--out',
      out,
      '--json',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.ok(Math.abs(j.ratio - 0.8) < 0.01, `ratio ${j.ratio}`);
    assert.equal(j.totalParams, 292800);
    assert.ok(j.ppl > j.pplDense && Number.isFinite(j.ppl), `ppl ${j.ppl} dense ${j.pplDense}`);
    assert.equal(j.masks, path.join(out, 'masks.json'));
    const masks = JSON.parse(fs.readFileSync(j.masks, 'utf8'));
    assert.equal(masks.layers.length, 5);
    assert.equal(masks.params, j.params);
    assert.equal(Boolean(masks.bias), method === 'flap');
    assert.deepEqual(fs.readdirSync(out).sort(), ['masks.json', 'prune.json']);
  });
}

test('prune: an impossible budget is refused before any work, nothing written', () => {
  const dir = tempDir();
  const r = runCli([
    'prune',
    stories260K.onnx,
    '--method',
    'wanda-sp',
    '--ratio',
    '0.1',
    '--calib',
    demoText,
    '--out',
    path.join(dir, 'x'),
  ]);
  assert.notEqual(r.code, 0);
  assert.match(
    r.stderr,
    /--ratio 0\.1 is impossible: embeddings, norms and lm_head alone keep 0\.224 of the parameters/,
  );
  assert.deepEqual(fs.readdirSync(dir), []);
});
