// `--profile` end to end on stories260K: the searched sparsity profile keeps the average exactly and the report
// holds it; mixed int4/int8 stays within int4's file size + 10 %; OWL levels average the target; bad combinations
// are refused before any work.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runCli } from '../cli';
import { demoText, stories260K, tempDir } from '../fixtures';

const COMMON = ['--seq-len', '128', '--calib-windows', '8', '--eval-windows', '8', '--provider', 'cpu', '--json'];

function run(args: string[]) {
  const r = runCli(args);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
}

const mean = (levels: number[][]) => levels.flat().reduce((a, b) => a + b, 0) / levels.flat().length;

test('sparsify --profile search: per-linear levels that average 0.5 exactly, found by a search that improved its fitness', () => {
  const out = path.join(tempDir(), 's');
  const r = run([
    'sparsify',
    stories260K.onnx,
    '--sparsity',
    '0.5',
    '--profile',
    'search',
    '--profile-generations',
    '3',
    '--calib',
    demoText,
    '--out',
    out,
    ...COMMON,
  ]);
  assert.match(r.stage, /searched per-layer profile/);
  assert.equal(r.profile.of, 'sparsity');
  assert.equal(r.profile.levels.length, 5);
  assert.ok(Math.abs(r.profile.average - 0.5) < 1e-12, `average ${r.profile.average}`);
  assert.ok(new Set(r.profile.levels.flat()).size > 1, 'not uniform');
  assert.ok(
    r.profile.search.ppl < r.profile.search.startPpl,
    `${r.profile.search.ppl} vs ${r.profile.search.startPpl}`,
  );
  assert.ok(Math.abs(r.after.zeroFraction - 0.5) < 0.01, `zeros ${r.after.zeroFraction}`);
  assert.ok(!fs.existsSync(path.join(out, 'profile-database')), 'the database is removed');
  // 13 levels 0.2–0.8 of fp32 linears, packed: Σ(1 − level) · 4 bytes + 13 bitmask bits per weight, 53 % of 13 · 4.
  const linears = r.profile.levels.length * (2 * 64 * 64 + 2 * 64 * 32 + 3 * 64 * 172); // q, o; k, v (4 KV heads); MLP
  const ratio = r.profile.search.database.bytes / (13 * 4 * linears);
  assert.ok(Math.abs(ratio - (6.5 * 4 + 13 / 8) / 52) < 0.01, `database ${r.profile.search.database.bytes} B`);
});

test('sparsify --profile owl: one level per layer, averaging the target', () => {
  const r = run([
    'sparsify',
    stories260K.onnx,
    '--sparsity',
    '0.6',
    '--profile',
    'owl',
    '--calib',
    demoText,
    '--out',
    path.join(tempDir(), 'o'),
    ...COMMON,
  ]);
  for (const layer of r.profile.levels) assert.equal(new Set(layer).size, 1);
  assert.ok(Math.abs(mean(r.profile.levels) - 0.6) < 1e-9);
  assert.ok(Math.max(...r.profile.levels.flat()) - Math.min(...r.profile.levels.flat()) <= 0.16 + 1e-9, 'spread ≤ 2λ');
});

test('quantize --bits 4 --profile search: int4 and int8 linears within the file size of uniform int4 + 10 %', () => {
  const dir = tempDir();
  const int4 = run([
    'quantize',
    stories260K.onnx,
    '--bits',
    '4',
    '--calib',
    demoText,
    '--out',
    path.join(dir, 'u'),
    ...COMMON,
  ]);
  const mixed = run([
    'quantize',
    stories260K.onnx,
    '--bits',
    '4',
    '--profile',
    'search',
    '--profile-generations',
    '2',
    '--calib',
    demoText,
    '--out',
    path.join(dir, 'm'),
    ...COMMON,
  ]);
  assert.equal(mixed.profile.of, 'bits');
  assert.ok(mixed.profile.levels.flat().every((b: number) => b === 4 || b === 8));
  assert.ok(mixed.profile.levels.flat().includes(8), 'some linears are int8');
  assert.ok(mixed.after.fileBytes <= 1.1 * int4.after.fileBytes, `${mixed.after.fileBytes} vs ${int4.after.fileBytes}`);
  assert.ok(mixed.after.fileBytes > int4.after.fileBytes);
});

test('--profile: N:M, owl without --sparsity, int8 search, a bad generation count (and SparseGPT N:M across its blocks) are refused before any work', () => {
  const dir = tempDir();
  for (const [args, msg] of [
    [
      ['sparsify', stories260K.onnx, '--sparsity', '1:3', '--calib', demoText, '--out', path.join(dir, 'e')],
      /--sparsity 1:3: SparseGPT needs M to divide its block of 128 inputs/,
    ],
    [
      [
        'sparsify',
        stories260K.onnx,
        '--sparsity',
        '2:4',
        '--profile',
        'search',
        '--calib',
        demoText,
        '--out',
        path.join(dir, 'a'),
      ],
      /--profile search spreads unstructured sparsity over the layers; N:M \(2:4\)/,
    ],
    [
      [
        'quantize',
        stories260K.onnx,
        '--bits',
        '8',
        '--profile',
        'search',
        '--calib',
        demoText,
        '--out',
        path.join(dir, 'b'),
      ],
      /--profile search with --bits alone mixes int4 and int8 .*give --bits 4/,
    ],
    [
      [
        'sparsify',
        stories260K.onnx,
        '--sparsity',
        '0.5',
        '--profile',
        'search',
        '--profile-generations',
        '0',
        '--calib',
        demoText,
        '--out',
        path.join(dir, 'c'),
      ],
      /'--profile-generations <n>' argument '0' is invalid\. expected a whole number, 1 or more/,
    ],
    [
      [
        'quantize',
        stories260K.onnx,
        '--bits',
        '4',
        '--profile',
        'owl',
        '--calib',
        demoText,
        '--out',
        path.join(dir, 'd'),
      ],
      /argument 'owl' is invalid\. Allowed choices are uniform, search/,
    ],
  ] as const) {
    const r = runCli([...args]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, msg);
  }
  assert.deepEqual(fs.readdirSync(dir), []);
});

test('options that would be ignored are refused: --mask-selection off SparseGPT unstructured, profile flags without a weight stage', () => {
  const dir = tempDir();
  const common = (o: string) => ['--calib', demoText, '--out', path.join(dir, o)];
  const cases: [string[], RegExp][] = [
    [
      [
        'sparsify',
        stories260K.onnx,
        '--method',
        'wanda',
        '--sparsity',
        '0.5',
        '--mask-selection',
        'output',
        ...common('a'),
      ],
      /--mask-selection applies to SparseGPT; wanda always compares the weights of each output/,
    ],
    [
      ['sparsify', stories260K.onnx, '--sparsity', '2:4', '--mask-selection', 'block', ...common('b')],
      /--mask-selection applies to unstructured sparsity; 2:4 chooses within each group of 4 inputs/,
    ],
    [
      ['quantize', stories260K.onnx, '--bits', '4', '--mask-selection', 'block', ...common('c')],
      /unknown option '--mask-selection'/,
    ],
    [
      ['sparsify', stories260K.onnx, '--sparsity', '0.5', '--profile-generations', '3', ...common('d')],
      /--profile-generations sets the generations of --profile search: give --profile search too/,
    ],
    [
      ['compress', stories260K.onnx, '--ratio', '0.8', '--method', 'flap', '--profile', 'owl', ...common('e')],
      /--profile applies to the weight stage's levels: give --sparsity and\/or --bits/,
    ],
    [
      ['compress', stories260K.onnx, '--ratio', '0.8', '--bits', '4', '--mask-selection', 'output', ...common('f')],
      /--mask-selection applies to the weight stage's sparsity: give --sparsity with a fraction/,
    ],
    [
      ['compress', stories260K.onnx, '--ratio', '0.8', '--sparsity', '0.5', '--gptq', ...common('g')],
      /--gptq applies to the weight stage's quantization: give --bits 4 or 8/,
    ],
  ];
  for (const [args, msg] of cases) {
    const r = runCli(args);
    assert.notEqual(r.code, 0, args.join(' '));
    assert.match(r.stderr, msg);
  }
  assert.deepEqual(fs.readdirSync(dir), []);
});

test('compress --sparsity 0.5 --profile search: the profile runs after the structured stage, on its smaller model', () => {
  const out = path.join(tempDir(), 'c');
  const r = run([
    'compress',
    stories260K.onnx,
    '--ratio',
    '0.8',
    '--method',
    'flap',
    '--sparsity',
    '0.5',
    '--profile',
    'search',
    '--profile-generations',
    '2',
    '--calib',
    demoText,
    '--out',
    out,
    '--seq-len',
    '128',
    '--calib-windows',
    '8',
    '--provider',
    'cpu',
    '--json',
  ]);
  assert.equal(r.profile.kind, 'search');
  assert.ok(Math.abs(r.profile.average - 0.5) < 1e-12);
  assert.ok(Math.abs(r.stages[2].zeroFraction - 0.5) < 0.01, `zeros ${r.stages[2].zeroFraction}`);
  assert.ok(r.params.after < 0.81 * r.params.before, 'the structured stage shrank the model first');
  // The stage table reuses the measure stage's passes (at 7B each is minutes) rather than repeating them.
  assert.equal(r.stages[1].ppl, r.ppl.after, 'the reformed stage: its masked evaluation');
  assert.equal(r.stages[2].ppl, r.ppl.exported, 'the final stage: the exported file, measured once');
});
