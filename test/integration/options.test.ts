// Bad option values are refused at once, with what was expected, before any heavy work (issue 15 #7, #11).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { runCli } from '../cli';
import { cliPath, copyDir, demoText, stories260K, tempDir } from '../fixtures';
import { compressModel } from '../../src/job/compress';
import { evaluateModel } from '../../src/job/evaluate';
import { runWeightStage } from '../../src/job/weightStage';
import { exportDecoder, writeModelFiles } from '../../src/compress/exportModel';
import { readOnnxFile } from '../../src/onnx/modelFile';
import { loadDecoder } from '../../src/model/recognise';
import { loadModelTokenizer } from '../../src/text/tokenizer';
import { UserError } from '../../src/util/errors';

const COMPRESS = [
  'compress',
  stories260K.onnx,
  '--ratio',
  '0.8',
  '--calib',
  demoText,
  '--preset',
  'quick',
  '--seq-len',
  '128',
  '--provider',
  'cpu',
];

/** Refused with `message`, exit ≠ 0, no stack trace, no job started, nothing written. */
function refused(args: string[], message: RegExp) {
  const dir = tempDir();
  const r = runCli([...args, '--out', path.join(dir, 'out')]);
  assert.notEqual(r.code, 0, `${args.join(' ')} ran`);
  assert.match(r.stderr, message);
  assert.doesNotMatch(r.stderr, /\n\s+at |internal error|calibration statistics/);
  assert.deepEqual(fs.readdirSync(dir), [], 'nothing written');
}

test('eval --seq-len abc / --windows 0 are refused instead of printing NaN or "fewer than one window"', () => {
  const evalArgs = ['eval', stories260K.onnx, '--text', demoText];
  refused(
    [...evalArgs, '--seq-len', 'abc'],
    /option '--seq-len <n>' argument 'abc' is invalid\. expected a whole number, 2 or more/,
  );
  refused(
    [...evalArgs, '--windows', '0'],
    /option '--windows <n>' argument '0' is invalid\. expected a whole number, 1 or more/,
  );
});

test('compress: counts of 0, a block size "abc", a population of 1, N:M with a huge M, a tolerance of 0 are refused', () => {
  for (const [flag, value, expects] of [
    ['--block-size', 'abc', /one of 16, 32, 64, 128, 256/],
    ['--block-size', '512', /one of 16, 32, 64, 128, 256 \(the block sizes ONNX Runtime's MatMulNBits accepts\)/],
    ['--generations', '0', /whole number, 1 or more/],
    ['--population', '0', /whole number, 3 or more/],
    ['--population', '1', /whole number, 3 or more/],
    ['--calib-windows', '0', /whole number, 1 or more/],
    ['--fitness-windows', '0', /whole number, 1 or more/],
    ['--sparsity', '1:1000000', /N:M needs M ≤ 64/],
    ['--tolerance', '0', /above 0 and below 1/],
    ['--ratio', '1.5', /strictly between 0 and 1/],
  ] as const) {
    refused(
      [...COMPRESS, flag, value],
      new RegExp(`option '${flag} <\\w>' argument '${value}' is invalid\\. .*${expects.source}`),
    );
  }
});

test('sparsify / quantize / prune / generate check their numbers the same way', () => {
  refused(
    ['sparsify', stories260K.onnx, '--sparsity', '1:1000000', '--method', 'magnitude'],
    /argument '1:1000000' is invalid\. N:M needs M ≤ 64/,
  );
  refused(
    ['quantize', stories260K.onnx, '--bits', '4', '--block-size', '24'],
    /argument '24' is invalid\. expected one of 16, 32, 64, 128, 256/,
  );
  refused(
    ['prune', stories260K.onnx, '--method', 'magnitude', '--ratio', '0.8', '--calib', demoText, '--calib-windows', '0'],
    /argument '0' is invalid\. expected a whole number, 1 or more/,
  );
  const g = runCli(['generate', stories260K.onnx, '--max-tokens', 'x']);
  assert.notEqual(g.code, 0);
  assert.match(g.stderr, /argument 'x' is invalid\. expected a whole number, 1 or more/);
});

test('search / compress: an impossible --ratio or a budget window too narrow is refused before calibration', () => {
  refused([...COMPRESS.map((a) => (a === '0.8' ? '0.01' : a))], /--ratio 0\.01 is impossible: .*minimum ratio 0\.\d+/);
  refused(
    ['search', ...COMPRESS.slice(1), '--tolerance', '0.00001'],
    /--tolerance 0\.00001 is narrower than the smallest step of the search \(one unit: 192 parameters, 0\.00066 of the model\); give --tolerance 0\.0007 or more/,
  );
});

test("the job API (the extension's and library callers' requests) applies the same rules before reading anything", async () => {
  const dir = tempDir();
  const isUser = (m: RegExp) => (e: unknown) => e instanceof UserError && m.test(e.message);
  await assert.rejects(
    compressModel({
      model: stories260K.onnx,
      ratio: 0.8,
      calib: demoText,
      out: path.join(dir, 'a'),
      calibWindows: 0,
      provider: 'cpu',
    }),
    isUser(/^--calib-windows 0: expected a whole number, 1 or more$/),
  );
  await assert.rejects(
    compressModel({
      model: stories260K.onnx,
      ratio: 0.8,
      calib: demoText,
      out: path.join(dir, 'b'),
      schedule: { generations: 0 },
      provider: 'cpu',
    }),
    isUser(/^--generations 0: /),
  );
  await assert.rejects(
    evaluateModel({ model: stories260K.onnx, text: demoText, seqLen: Number.NaN, provider: 'cpu' }),
    isUser(/^--seq-len NaN: /),
  );
  const stage = { sparsity: { method: 'magnitude' as const, pattern: { kind: 'nm' as const, n: 1, m: 1000000 } } };
  await assert.rejects(
    runWeightStage({ model: stories260K.onnx, out: path.join(dir, 'c'), stage, provider: 'cpu' }),
    isUser(/^--sparsity 1:1000000: N:M needs M ≤ 64/),
  );
  assert.deepEqual(fs.readdirSync(dir), []);
});

test('a config.json without num_key_value_heads is not quoted as saying one', () => {
  const dir = copyDir(path.dirname(stories260K.onnx), path.join(tempDir(), 'm'));
  const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
  delete cfg.num_key_value_heads;
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(cfg));
  const r = runCli(['inspect', path.join(dir, 'model.onnx')]);
  assert.notEqual(r.code, 0);
  assert.match(
    r.stderr,
    /config\.json has no num_key_value_heads \(read as num_attention_heads = 8\); the weights in model\.onnx give 4: add "num_key_value_heads": 4 to config\.json/,
  );
  assert.doesNotMatch(r.stderr, /says num_key_value_heads/);
});

test('a model with external data loads without a Buffer() deprecation warning, even from dependencies', () => {
  const out = path.join(tempDir(), 'ext');
  exportDecoder(loadDecoder(stories260K.onnx), out, loadModelTokenizer(stories260K.onnx, 512), {
    externalData: 'always',
  });
  const model = path.join(out, 'model.onnx');
  const text = ['--text', demoText, '--windows', '2', '--seq-len', '64', '--provider', 'cpu'];
  for (const args of [
    ['inspect', model],
    ['eval', model, ...text],
    ['eval', model, ...text, '--graph', 'ours'],
    ['quantize', model, '--bits', '4', '--out', path.join(out, 'q'), '--provider', 'cpu'],
  ]) {
    // --pending-deprecation: Node reports Buffer() calls inside node_modules too, which it otherwise hides.
    const r = spawnSync(process.execPath, ['--pending-deprecation', cliPath, ...args], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /DeprecationWarning|Buffer\(\)/);
  }
});

test('ONNX bytes fields are plain Uint8Array views: an inline fp16 tensor at an odd offset reads its own bytes', () => {
  const d = loadDecoder(stories260K.onnx);
  const out = tempDir();
  writeModelFiles({ ...d, weightType: 'float16' }, out, undefined, { externalData: 'never' });
  const init = readOnnxFile(path.join(out, 'model.onnx')).model.graph!.initializer!;
  assert.ok(
    init.every((t) => !t.rawData?.length || !Buffer.isBuffer(t.rawData)),
    'no Buffer: protobufjs took its Uint8Array path',
  );
  assert.ok(
    init.some((t) => (t.rawData?.byteOffset ?? 0) % 2 === 1),
    'the case that broke: a tensor at an odd offset',
  );
  const half = loadDecoder(path.join(out, 'model.onnx'));
  for (const [i, w] of d.layerWeights.entries()) {
    for (const k of ['q', 'k', 'v', 'o', 'gate', 'up', 'down'] as const) {
      const [a, b] = [w[k].read(), half.layerWeights[i][k].read()];
      // Buffer.slice() on the old Buffer views did not copy: odd-offset halves were read from the whole file (NaN).
      for (let j = 0; j < a.length; j++)
        assert.ok(
          Math.abs(a[j] - b[j]) <= 1e-3 * Math.max(1, Math.abs(a[j])),
          `layer ${i} ${k}[${j}]: ${a[j]} vs ${b[j]}`,
        );
    }
  }
});
