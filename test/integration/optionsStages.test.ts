// `quantize` without any text, and Ctrl-C in sparsify / quantize / prune (issue 15 #13).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runCli } from '../cli';
import { cliPath, demoText, stories260K, tempDir, tinyMha } from '../fixtures';

test('quantize by round-to-nearest runs without a text and says the perplexity was not measured', () => {
  const out = path.join(tempDir(), 'q');
  const r = runCli(['quantize', stories260K.onnx, '--bits', '8', '--out', out, '--provider', 'cpu', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout);
  assert.equal(report.before.ppl, null);
  assert.equal(report.after.ppl, null);
  assert.ok(report.after.fileBytes < report.before.fileBytes * 0.5);
  assert.ok(
    report.notes.some((n: string) =>
      /perplexity not measured: no text was given \(pass --eval <file> or --calib <file>/.test(n),
    ),
  );
  assert.ok(fs.existsSync(path.join(out, 'model.onnx')));
  const text = runCli([
    'quantize',
    stories260K.onnx,
    '--bits',
    '4',
    '--out',
    path.join(tempDir(), 'q4'),
    '--provider',
    'cpu',
  ]);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /original: perplexity not measured, file/);
  assert.doesNotMatch(text.stdout, /NaN/);
});

/** The command, interrupted once (as one Ctrl-C) when its stderr first shows `at`: exit 130, no output folder. */
async function interruptedAt(args: string[], at: RegExp) {
  const out = path.join(tempDir(), 'x');
  const child = spawn(process.execPath, [cliPath, ...args, '--out', out, '--provider', 'cpu'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  let sent = false;
  child.stderr.on('data', (b: Buffer) => {
    stderr += b.toString();
    if (!sent && at.test(stderr)) sent = child.kill('SIGINT');
  });
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  assert.ok(sent, `never saw ${at}: ${stderr}`);
  assert.equal(code, 130, stderr);
  assert.match(stderr, /subnet-search: cancelled/);
  assert.doesNotMatch(stderr, /internal error/);
  assert.ok(!fs.existsSync(out) && !fs.existsSync(`${out}.partial`));
}

const CALIB = ['--calib', demoText, '--calib-windows', '64', '--seq-len', '256'];

test('Ctrl-C during sparsify exits 130, cancelled, nothing written', async () => {
  await interruptedAt(['sparsify', tinyMha.onnx, '--sparsity', '0.5', ...CALIB], /sparsegpt 50% unstructured…/);
});

test('Ctrl-C during quantize --gptq exits 130, cancelled, nothing written', async () => {
  await interruptedAt(
    ['quantize', tinyMha.onnx, '--bits', '4', '--gptq', ...CALIB],
    /int4 symmetric block 32 \(GPTQ\)…/,
  );
});

test('Ctrl-C during prune exits 130, cancelled, nothing written', async () => {
  await interruptedAt(
    ['prune', tinyMha.onnx, '--method', 'wanda-sp', '--ratio', '0.8', ...CALIB],
    /calibration statistics…/,
  );
});
