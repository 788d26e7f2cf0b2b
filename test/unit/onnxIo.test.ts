import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { onnx, DataType } from '../../src/onnx/proto';
import { readOnnxFile } from '../../src/onnx/modelFile';
import { readFloatTensor } from '../../src/onnx/tensorData';
import { writeModelFile } from '../../src/onnx/writeModel';
import { GraphBuilder } from '../../src/graph/graph';
import { UserError } from '../../src/util/errors';
import { tempDir } from '../fixtures';

/** A one-MatMul model `Y = X · W` with W [4, 300] (4.8 KB, so it goes to external data when asked). */
function matmulModel(dir: string, external: 'always' | 'never') {
  const g = new GraphBuilder();
  const w = Float32Array.from({ length: 4 * 300 }, (_, i) => Math.sin(i));
  const x = g.input('X', DataType.FLOAT, [1, 4]);
  g.output(g.op('MatMul', [x, g.initializer('W', [4, 300], w)]), 'Y', DataType.FLOAT, [1, 300]);
  const file = path.join(dir, 'model.onnx');
  writeModelFile(g.model('m', ''), g.tensors, file, { externalData: external });
  return { file, w };
}

test('external data: written beside the model and read back per tensor', () => {
  const dir = tempDir();
  const { file, w } = matmulModel(dir, 'always');
  assert.ok(fs.existsSync(path.join(dir, 'model.onnx_data')));
  const m = readOnnxFile(file);
  const t = m.model.graph!.initializer!.find((i) => i.name === 'W')!;
  assert.equal(t.dataLocation, onnx.TensorProto.DataLocation.EXTERNAL);
  assert.deepEqual(readFloatTensor(t, m.dir), w);
  assert.deepEqual(fs.readdirSync(dir).sort(), ['model.onnx', 'model.onnx_data'], 'no temporary files left');
});

test('external data: locations outside the model folder are refused', () => {
  const dir = tempDir();
  const { file } = matmulModel(dir, 'always');
  for (const location of ['../secret.bin', '/etc/passwd', 'sub/../../x']) {
    const m = readOnnxFile(file);
    const t = m.model.graph!.initializer!.find((i) => i.name === 'W')!;
    t.externalData!.find((e) => e.key === 'location')!.value = location;
    assert.throws(
      () => readFloatTensor(t, m.dir),
      (e: unknown) => e instanceof UserError && /outside the model's folder/.test(e.message),
      location,
    );
  }
});

test('external data: a data file that is a symlink to a file outside the model folder is refused', () => {
  const dir = tempDir();
  const { file } = matmulModel(dir, 'always');
  const outside = path.join(tempDir(), 'elsewhere.bin');
  fs.renameSync(path.join(dir, 'model.onnx_data'), outside);
  fs.symlinkSync(outside, path.join(dir, 'model.onnx_data'));
  const m = readOnnxFile(file);
  const t = m.model.graph!.initializer!.find((i) => i.name === 'W')!;
  assert.throws(
    () => readFloatTensor(t, m.dir),
    (e: unknown) => e instanceof UserError && /is a link to .*outside the model's folder/.test(e.message),
  );
});

test('external data: a missing .onnx_data file gets a specific error', () => {
  const dir = tempDir();
  const { file } = matmulModel(dir, 'always');
  fs.rmSync(path.join(dir, 'model.onnx_data'));
  const m = readOnnxFile(file);
  const t = m.model.graph!.initializer!.find((i) => i.name === 'W')!;
  assert.throws(() => readFloatTensor(t, m.dir), /external data file 'model.onnx_data' not found/);
});

test('inline weights round-trip exactly', () => {
  const dir = tempDir();
  const { file, w } = matmulModel(dir, 'never');
  assert.deepEqual(fs.readdirSync(dir), ['model.onnx']);
  const m = readOnnxFile(file);
  assert.deepEqual(
    readFloatTensor(
      m.model.graph!.initializer!.find((i) => i.name === 'W')!,
      m.dir,
    ),
    w,
  );
});

test('a truncated or non-ONNX file is refused with a specific message', () => {
  const dir = tempDir();
  const { file } = matmulModel(dir, 'never');
  const bytes = fs.readFileSync(file);
  fs.writeFileSync(path.join(dir, 'cut.onnx'), bytes.subarray(0, Math.floor(bytes.length / 2)));
  assert.throws(() => readOnnxFile(path.join(dir, 'cut.onnx')), /not a readable ONNX model|not an ONNX model/);
  fs.writeFileSync(path.join(dir, 'text.onnx'), 'hello, this is not a model\n');
  assert.throws(() => readOnnxFile(path.join(dir, 'text.onnx')), /not a readable ONNX model|not an ONNX model/);
});
