// Inputs that pass every structural check but are wrong are refused or warned of, specifically, before any heavy
// step (issue 15 #8): a tokenizer of the right size with another vocabulary, a config.json whose rope_theta or
// rms_norm_eps contradicts the graph, binary / non-UTF-8 text, CRLF text.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runCli } from '../cli';
import { copyDir, fixture, stories260K, tempDir, texts, tinyMha } from '../fixtures';
import { compressModel } from '../../src/job/compress';
import { evaluateModel } from '../../src/job/evaluate';
import { loadDecoder } from '../../src/model/recognise';
import { UserError } from '../../src/util/errors';
import { randomDecoder, tokenizerFile } from '../../bench/randomModels';
import { loadTokenizerFile } from '../../src/text/tokenizer';
import { tokenizePrefix } from '../../src/text/windows';
import { checkTokenizerFits } from '../../src/job/tokenizerFit';
import { shuffledTokenizer } from '../../bench/adversarialHarness';

const noInternal = (stderr: string) => assert.doesNotMatch(stderr, /internal error|\n\s+at /);

test("a tokenizer of the model's size but another vocabulary is refused before the job, naming both files", async () => {
  const dir = tempDir();
  const other = shuffledTokenizer(dir);
  const r = runCli([
    'eval',
    stories260K.onnx,
    '--text',
    texts.tinyStoriesValid,
    '--seq-len',
    '64',
    '--windows',
    '2',
    '--tokenizer',
    other,
    '--provider',
    'cpu',
  ]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(
    r.stderr,
    /tokenizer .*other\.tokenizer\.json does not match model .*stories260K-llama\/model\.onnx: the model's perplexity on the first \d+ tokens of tinystories_valid_head\.txt is \d+, [\d.]+× that of uniform guessing over its 512 tokens/,
  );
  noInternal(r.stderr);
  const out = path.join(dir, 'out');
  await assert.rejects(
    compressModel({
      model: tinyMha.onnx,
      ratio: 0.8,
      calib: texts.tinyStoriesValid,
      out,
      tokenizer: other,
      seqLen: 64,
      preset: 'quick',
      provider: 'cpu',
    }),
    (e: unknown) => e instanceof UserError && /does not match model/.test(e.message),
  );
  assert.deepEqual(fs.readdirSync(dir), ['other.tokenizer.json'], 'no output folder was started');
});

test('the real fixtures pass the tokenizer check with each of their tokenizers, on both texts, silently', async () => {
  for (const model of [stories260K.onnx, stories260K.bin, tinyMha.onnx]) {
    for (const tokenizer of [
      undefined,
      fixture('llama2c', 'tok512.bin'),
      fixture('llama2c', 'tok512.tokenizer.json'),
    ]) {
      for (const text of [texts.tinyStoriesValid, texts.wikitext2]) {
        const r = await evaluateModel({ model, text, tokenizer, seqLen: 64, windows: 1, provider: 'cpu' });
        assert.deepEqual(r.warnings, [], `${model} ${tokenizer} ${text}`);
      }
    }
  }
});

test('a config.json whose rope_theta or rms_norm_eps disagrees with the graph is refused, naming the file, the key and both values', () => {
  for (const [key, from, to, graph] of [
    ['rope_theta', '"rope_theta": 10000.0', '"rope_theta": 500000.0', '10000'],
    ['rms_norm_eps', '"rms_norm_eps": 1e-05', '"rms_norm_eps": 1e-06', '0.00001'],
  ]) {
    const dir = copyDir(path.dirname(stories260K.onnx), path.join(tempDir(), 'm'));
    const config = path.join(dir, 'config.json');
    const text = fs.readFileSync(config, 'utf8');
    assert.ok(text.includes(from));
    fs.writeFileSync(config, text.replace(from, to));
    const r = runCli(['inspect', path.join(dir, 'model.onnx')]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(
        `${config.replace(/[.]/g, '\\.')}: ${key} is [\\d.e-]+ but model\\.onnx computes with ${key} = ${graph}; the config does not belong to this model`,
      ),
    );
    noInternal(r.stderr);
  }
});

test("without rope_theta / rms_norm_eps in config.json, the graph's values are used; our exports read back consistently", () => {
  const dir = copyDir(path.dirname(tinyMha.onnx), path.join(tempDir(), 'm'));
  const config = path.join(dir, 'config.json');
  const json = JSON.parse(fs.readFileSync(config, 'utf8')) as Record<string, unknown>;
  delete json.rope_theta;
  delete json.rms_norm_eps;
  fs.writeFileSync(config, JSON.stringify(json));
  const d = loadDecoder(path.join(dir, 'model.onnx'));
  assert.ok(
    Math.abs(d.config.ropeTheta - 10000) < 0.1 && Math.abs(d.config.normEps - 1e-5) < 1e-9,
    `${d.config.ropeTheta} ${d.config.normEps}`,
  );
  const out = path.join(tempDir(), 'conv');
  assert.equal(runCli(['convert', stories260K.bin, '--out', out]).code, 0);
  assert.equal(runCli(['inspect', path.join(out, 'model.onnx')]).code, 0);
});

test('binary, non-UTF-8 and directory "texts" are refused naming the option and the byte; CRLF text is warned of (its line ends are kept)', () => {
  const dir = tempDir();
  const latin1 = path.join(dir, 'latin1.txt');
  fs.writeFileSync(latin1, Buffer.from('Once upon a time, a caf\xe9 opened.\n'.repeat(50), 'latin1'));
  const crlf = path.join(dir, 'crlf.txt');
  fs.writeFileSync(crlf, fs.readFileSync(texts.tinyStoriesValid, 'utf8').slice(0, 20000).replace(/\n/g, '\r\n'));
  const evalOn = (text: string, flag = '--text') =>
    runCli(['eval', stories260K.onnx, flag, text, '--seq-len', '64', '--windows', '2', '--provider', 'cpu']);
  for (const [text, message] of [
    [stories260K.bin, /--text .*stories260K\.bin: a NUL byte at byte \d+; this is a binary file, not text/],
    [
      latin1,
      /--text .*latin1\.txt: not UTF-8 text \(byte 0xe9 at offset 23 begins no valid UTF-8 sequence\); convert it to UTF-8/,
    ],
    [dir, /--text .*: not a file \(a text file is needed/],
  ] as const) {
    const r = evalOn(text);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, message);
    noInternal(r.stderr);
  }
  const r = evalOn(crlf);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /warning: --text .*crlf\.txt has Windows \(CRLF\) line ends; they are kept as they are/);
  // A job's calibration text goes through the same check, before anything is written.
  const out = path.join(dir, 'out');
  const p = runCli([
    'prune',
    stories260K.onnx,
    '--method',
    'magnitude',
    '--ratio',
    '0.8',
    '--calib',
    latin1,
    '--out',
    out,
    '--provider',
    'cpu',
  ]);
  assert.equal(p.code, 2, p.stderr);
  assert.match(p.stderr, /--calib .*latin1\.txt: not UTF-8 text/);
  assert.ok(!fs.existsSync(out) && !fs.existsSync(`${out}.partial`));
});

test('a random-weight model (about uniform predictions) is warned of, not refused: the margin above the vocabulary', async () => {
  const tok = loadTokenizerFile(tokenizerFile());
  const d = randomDecoder(
    {
      layers: 2,
      hidden: 576,
      heads: 9,
      kvHeads: 3,
      intermediate: 256,
      tied: false,
      ropeTheta: 10000,
      maxPositions: 2048,
    },
    'float32',
  );
  const warning = await checkTokenizerFits(d, tok, tokenizePrefix(texts.wikitext2, tok, 128), texts.wikitext2, {
    provider: 'cpu',
  });
  assert.match(
    warning ?? '',
    /perplexity on the first 128 tokens of wikitext2_test_joined\.txt is \d+, 1\.\d× that of uniform guessing over its 32000 tokens: the tokenizer .* may not match the model, or the model is untrained/,
  );
});

test('a tokenizer.json without the fields of a tokenizer is a user error naming the file, not an internal one', () => {
  const file = path.join(tempDir(), 'empty.tokenizer.json');
  fs.writeFileSync(file, '{}');
  const r = runCli([
    'eval',
    stories260K.onnx,
    '--text',
    texts.tinyStoriesValid,
    '--seq-len',
    '64',
    '--windows',
    '1',
    '--tokenizer',
    file,
  ]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(
    r.stderr,
    /empty\.tokenizer\.json: not a tokenizer this tool can read \(.*"model".*\); pass a Hugging Face tokenizer\.json or a llama2\.c tokenizer \.bin/,
  );
  noInternal(r.stderr);
});
