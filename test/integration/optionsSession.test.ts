// A model ONNX Runtime refuses is blamed on the model, by name, with ORT's first line, not on the execution
// provider (issue 15 #9).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createSession } from '../../src/runtime/session';
import { readOnnxFile } from '../../src/onnx/modelFile';
import { UserError } from '../../src/util/errors';
import { runCli } from '../cli';
import { copyDir, demoText, stories260K, tempDir } from '../fixtures';

const refusedModel = (file: RegExp) => (e: unknown) =>
  e instanceof UserError && file.test(e.message) && !/is not available/.test(e.message);

test('eval of a model stamped with an opset ONNX Runtime refuses: the file and ORT\'s reason, not "cpu is not available"', () => {
  const dir = copyDir(path.dirname(stories260K.onnx), path.join(tempDir(), 'm'));
  const file = path.join(dir, 'model.onnx');
  const m = readOnnxFile(file).model;
  for (const o of m.opsetImport ?? []) if (!o.domain) o.version = 99;
  fs.writeFileSync(
    file,
    (m.constructor as unknown as { encode(x: unknown): { finish(): Uint8Array } }).encode(m).finish(),
  );
  const r = runCli(['eval', file, '--text', demoText, '--windows', '1', '--seq-len', '64', '--provider', 'cpu']);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /subnet-search: ONNX Runtime refused to load .*m\/model\.onnx: .*Opset 99/);
  assert.doesNotMatch(r.stderr, /execution provider 'cpu' is not available/);
});

test('a cut file, on cpu and on auto: the model is at fault', async () => {
  const cut = path.join(tempDir(), 'cut.onnx');
  fs.writeFileSync(cut, fs.readFileSync(stories260K.onnx).subarray(0, 600_000));
  for (const provider of ['cpu', 'auto'] as const) {
    await assert.rejects(
      createSession(cut, { provider }),
      refusedModel(/^ONNX Runtime refused to load .*cut\.onnx: .*[Pp]rotobuf parsing failed/),
    );
  }
});

test('a graph built in memory is named by what it was built from', async () => {
  await assert.rejects(
    createSession(new Uint8Array([1, 2, 3, 4]), { provider: 'cpu', describe: 'x/model.onnx' }),
    refusedModel(/^ONNX Runtime refused to load the graph built from x\/model\.onnx: /),
  );
});

test('an accelerator that cannot start while the CPU loads the model is still reported as not available', async () => {
  // Where onnxruntime-node's installer was skipped, cuda is missing and fails on any model; elsewhere it may open.
  const r = await createSession(stories260K.onnx, { provider: 'cuda' }).then(
    (s) => s,
    (e: unknown) => e,
  );
  if (!(r instanceof Error)) return;
  assert.match(r.message, /^execution provider 'cuda' is not available on this machine/);
});
