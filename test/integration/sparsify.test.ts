import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runCli } from '../cli';
import { demoText, stories260K, tempDir, tinyMha } from '../fixtures';
import { loadDecoder } from '../../src/model/recognise';
import { hasPattern, parsePattern } from '../../src/compress/sparsify/pattern';
import { createSession } from '../../src/runtime/session';
import { generateGreedy } from '../../src/runtime/generate';
import { readOnnxFile } from '../../src/onnx/modelFile';

const COMMON = ['--seq-len', '128', '--calib-windows', '8', '--eval-windows', '8', '--provider', 'cpu', '--json'];

function run(args: string[]) {
  const r = runCli(args);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
}

for (const method of ['sparsegpt', 'wanda', 'magnitude']) {
  for (const sparsity of ['0.5', '2:4']) {
    test(`sparsify --method ${method} --sparsity ${sparsity}: every linear has exactly the pattern; the report is honest`, () => {
      const out = path.join(tempDir(), 's');
      const r = run([
        'sparsify',
        stories260K.onnx,
        '--method',
        method,
        '--sparsity',
        sparsity,
        '--calib',
        demoText,
        '--out',
        out,
        ...COMMON,
      ]);
      const d = loadDecoder(path.join(out, 'model.onnx'));
      const p = parsePattern(sparsity);
      for (const lw of d.layerWeights)
        for (const w of [lw.q, lw.k, lw.v, lw.o, lw.gate, lw.up, lw.down])
          assert.ok(
            hasPattern(w.read(), w.shape[0], w.shape[1], p, method === 'sparsegpt' ? 'block' : 'output'),
            `${w.name} pattern`,
          );
      assert.ok(Math.abs(r.after.zeroFraction - 0.5) < 0.01, `zeros ${r.after.zeroFraction}`);
      assert.ok(r.after.ppl > r.before.ppl);
      assert.ok(r.after.fileBytes > 0.9 * r.before.fileBytes, 'dense storage: the file does not shrink');
      assert.ok(
        r.notes.some((n: string) => /stored densely/.test(n)),
        'the report says the file is not smaller',
      );
      assert.deepEqual(
        r.stageTimes.map((t: { stage: string }) => t.stage),
        ['open', `${method} ${sparsity === '0.5' ? '50% unstructured' : sparsity}`, 'export', 'measure'],
      );
    });
  }
}

test('quantize --bits 4: MatMulNBits model loads in plain onnxruntime-node, file ≤ 0.3 × fp32, generates', async () => {
  const out = path.join(tempDir(), 'q4');
  const r = run(['quantize', tinyMha.onnx, '--bits', '4', '--eval', demoText, '--out', out, ...COMMON]);
  assert.ok(r.after.fileBytes <= 0.3 * r.before.fileBytes, `${r.after.fileBytes} vs ${r.before.fileBytes}`);
  assert.ok(r.after.ppl < r.before.ppl * 1.05, `int4 perplexity ${r.after.ppl} vs ${r.before.ppl}`);
  assert.ok(r.after.latency.decodeTokensPerSecond > 0 && r.before.latency.decodeTokensPerSecond > 0);
  const ops = readOnnxFile(path.join(out, 'model.onnx')).model.graph!.node!.filter((n) => n.opType === 'MatMulNBits');
  assert.equal(ops.length, 6 * 7, 'every linear of every layer (embedding and lm_head stay fp32)');
  const d = loadDecoder(path.join(out, 'model.onnx'));
  const s = await createSession(path.join(out, 'model.onnx'), { provider: 'cpu' });
  const ids = await generateGreedy(s.session, d.layers, [1], { maxTokens: 30, stopIds: [] });
  assert.equal(ids.length, 30);
});

test('quantize --bits 8 --asymmetric --gptq and sparsify with --bits (sparse-quantized) run end to end', () => {
  const q = run([
    'quantize',
    stories260K.onnx,
    '--bits',
    '8',
    '--asymmetric',
    '--gptq',
    '--calib',
    demoText,
    '--out',
    path.join(tempDir(), 'q8'),
    ...COMMON,
  ]);
  assert.ok(Math.abs(q.after.ppl - q.before.ppl) / q.before.ppl < 0.02);
  const sq = run([
    'sparsify',
    stories260K.onnx,
    '--sparsity',
    '2:4',
    '--bits',
    '4',
    '--calib',
    demoText,
    '--out',
    path.join(tempDir(), 'sq'),
    ...COMMON,
  ]);
  assert.match(sq.stage, /sparsegpt 2:4 \+ int4 symmetric block 32 \(GPTQ\)/);
  assert.ok(sq.after.fileBytes < 0.6 * sq.before.fileBytes);
});

test('sparsify / quantize: missing calibration, bad patterns and bits are refused', () => {
  const dir = tempDir();
  for (const [args, msg] of [
    [
      ['sparsify', stories260K.onnx, '--sparsity', '0.5', '--out', path.join(dir, 'a')],
      /needs calibration text: pass --calib/,
    ],
    [
      ['sparsify', stories260K.onnx, '--sparsity', '4:2', '--calib', demoText, '--out', path.join(dir, 'b')],
      /argument '4:2' is invalid\. N:M needs 1 ≤ N < M/,
    ],
    [
      ['sparsify', stories260K.onnx, '--sparsity', '1.5', '--calib', demoText, '--out', path.join(dir, 'c')],
      /argument '1\.5' is invalid\. expected a fraction of zeros strictly between 0 and 1/,
    ],
    [
      [
        'quantize',
        stories260K.onnx,
        '--bits',
        '4',
        '--block-size',
        '24',
        '--eval',
        demoText,
        '--out',
        path.join(dir, 'd'),
      ],
      /option '--block-size <n>' argument '24' is invalid\. expected one of 16, 32, 64, 128, 256/,
    ],
  ] as const) {
    const r = runCli([...args]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, msg);
  }
  assert.deepEqual(fs.readdirSync(dir), []);
});
