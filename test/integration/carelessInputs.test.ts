// What a careless user met in a CLI pass on mid-size models (session of 2026-11-29): generation past the model's
// context, --resume with nothing to resume, a folder or a file where another is expected, and a quantized model
// compressed or quantized again without a word about it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runCli } from '../cli';
import { demoText, stories260K, tempDir } from '../fixtures';

const QUICK = [
  '--calib',
  demoText,
  '--seq-len',
  '128',
  '--calib-windows',
  '4',
  '--eval-windows',
  '2',
  '--provider',
  'cpu',
];

test('generate past the context, or with a prompt that fills --max-tokens, is refused saying what fits', () => {
  const long = runCli(['generate', stories260K.onnx, '--prompt', 'Once', '--max-tokens', '600', '--provider', 'cpu']);
  assert.equal(long.code, 2, long.stderr);
  assert.match(
    long.stderr,
    /--max-tokens 600 is more than the model's context of 512 tokens \(the prompt included\); use at most 512/,
  );
  const full = runCli(['generate', stories260K.onnx, '--prompt', 'Once upon a time', '--max-tokens', '3']);
  assert.equal(full.code, 2, full.stderr);
  assert.match(full.stderr, /the prompt is \d+ tokens, which leaves none to generate within --max-tokens 3/);
});

test('--resume without an interrupted job is refused, and leaves no .partial folder behind', () => {
  const out = path.join(tempDir(), 'typo');
  const r = runCli([
    'compress',
    stories260K.onnx,
    '--method',
    'flap',
    '--ratio',
    '0.8',
    ...QUICK,
    '--out',
    out,
    '--resume',
  ]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /--resume: no checkpoint in .*typo\.partial; start without --resume/);
  assert.ok(!fs.existsSync(`${out}.partial`) && !fs.existsSync(out));
});

test('a model folder points at its model.onnx; an existing file as --out is called a file', () => {
  const folder = runCli(['inspect', path.dirname(stories260K.onnx)]);
  assert.equal(folder.code, 2, folder.stderr);
  assert.match(folder.stderr, /: a folder; give the model file in it, .*model\.onnx/);
  const file = path.join(tempDir(), 'notes.txt');
  fs.writeFileSync(file, 'mine');
  const r = runCli(['quantize', stories260K.onnx, '--bits', '8', '--out', file]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(
    r.stderr,
    /output folder .*notes\.txt is an existing file; choose a new folder \(nothing is overwritten\)/,
  );
  assert.equal(fs.readFileSync(file, 'utf8'), 'mine');
});

test('an int4 model quantized again, or compressed without --bits, says so in its report; inspect names its storage and the pruned widths', () => {
  const dir = tempDir();
  const int4 = path.join(dir, 'int4');
  assert.equal(runCli(['quantize', stories260K.onnx, '--bits', '4', '--out', int4]).code, 0);
  const again = runCli(['quantize', path.join(int4, 'model.onnx'), '--bits', '8', '--out', path.join(dir, 'int8')]);
  assert.equal(again.code, 0, again.stderr);
  const notes = (f: string) =>
    (JSON.parse(fs.readFileSync(path.join(dir, f, 'report.json'), 'utf8')) as { notes: string[] }).notes;
  assert.ok(
    notes('int8').some((n) =>
      /^The original was already int4: its dequantized weights were quantized again to int8/.test(n),
    ),
    notes('int8').join('\n'),
  );
  const flap = path.join(dir, 'flap');
  assert.match(runCli(['inspect', path.join(int4, 'model.onnx')]).stdout, /on disk, linear weights int4\)/);
  const r = runCli([
    'compress',
    path.join(int4, 'model.onnx'),
    '--method',
    'flap',
    '--ratio',
    '0.8',
    ...QUICK,
    '--fitness-windows',
    '4',
    '--out',
    flap,
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(
    notes('flap').some((n) =>
      /^The original's linear weights are int4 \(MatMulNBits\) and the export's are float32: .*add --bits 4/.test(n),
    ),
    notes('flap').join('\n'),
  );
  // FLAP's global masks leave the layers' widths unequal: the header gives their ranges.
  assert.match(runCli(['inspect', path.join(flap, 'model.onnx')]).stdout, /\d+–\d+ .*\(per layer below\)/);
});
