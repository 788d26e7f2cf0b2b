// The disk a job's export needs, estimated before the work from the model and the options (stories260K, real weights).
import { test } from 'node:test';
import * as fs from 'node:fs';
import * as path from 'node:path';
import assert from 'node:assert/strict';
import { loadDecoder } from '../../src/model/recognise';
import { linearWeightsOf } from '../../src/model/decoder';
import { totalCounts } from '../../src/model/params';
import { NEW_WEIGHTS_MEMORY_LIMIT } from '../../src/model/newWeights';
import { checkExportSpace, exportSpaceNeed } from '../../src/job/exportSpace';
import { EnvironmentError } from '../../src/util/errors';
import { NEW_WEIGHTS } from '../../src/util/outputFolder';
import { fullMask, sliceDecoder } from '../../src/compress/subnet';
import { reformedWeightBytes } from '../../src/compress/reform/reformation';
import { stories260K, tempDir } from '../fixtures';

const d = loadDecoder(stories260K.onnx);
const all = totalCounts(d).params;
const linear = linearWeightsOf(d).reduce((a, w) => a + w.shape[0] * w.shape[1], 0);
const rtn = (bits: 4 | 8) => ({ quant: { bits, blockSize: 32, symmetric: true, gptq: false } });
const magnitude = {
  sparsity: { method: 'magnitude' as const, pattern: { kind: 'unstructured' as const, sparsity: 0.5 } },
};

test('the export at its float type, its linears at the bits asked, a fraction of it before the masks', () => {
  assert.equal(exportSpaceNeed({ model: d }), all * 4);
  assert.equal(exportSpaceNeed({ model: d, dtype: 'float16' }), all * 2);
  assert.equal(exportSpaceNeed({ model: d, stage: rtn(4) }), (all - linear) * 4 + linear / 2);
  assert.equal(exportSpaceNeed({ model: d, kept: 0.5 }), all * 2);
  // Sparsified linears (here 0.3 MB) stay in memory: no file beside the export.
  assert.equal(exportSpaceNeed({ model: d, stage: magnitude }), all * 4);
});

test('computed weights past what memory holds are counted: they lie beside the export until the end', () => {
  const reformedBytes = NEW_WEIGHTS_MEMORY_LIMIT + 1000;
  assert.equal(exportSpaceNeed({ model: d, reformedBytes }), all * 4 + 1000);
  assert.equal(exportSpaceNeed({ model: d, reformedBytes, stage: magnitude }), all * 4 + 1000 + linear * 4);
  // Quantized linears are kept packed.
  assert.equal(
    exportSpaceNeed({ model: d, reformedBytes, stage: rtn(8) }),
    (all - linear) * 4 + linear + 1000 + linear,
  );
});

test('reformation refits, in full shape, each o_proj and down_proj that loses rows', () => {
  const mask = fullMask(d);
  assert.equal(reformedWeightBytes(d, mask), 0);
  mask[0].mlp[3] = false;
  mask[1].pairs[0] = false;
  const [o, down] = [d.layerWeights[1].o.shape, d.layerWeights[0].down.shape];
  assert.equal(reformedWeightBytes(d, mask), (o[0] * o[1] + down[0] * down[1]) * 4);
  assert.ok(totalCounts(sliceDecoder(d, mask)).params < all);
});

test("a killed job's new-weights file, emptied before this job writes its own, counts as free space", () => {
  const dir = tempDir();
  const s = fs.statfsSync(dir);
  // More computed weights than the disk has room for, beyond the export itself.
  const plan = { model: d, reformedBytes: s.bavail * s.bsize + 2 ** 31 };
  assert.throws(() => checkExportSpace(dir, plan), EnvironmentError);
  // A sparse file: as large as those weights, taking no room itself.
  fs.writeFileSync(path.join(dir, NEW_WEIGHTS), '');
  fs.truncateSync(path.join(dir, NEW_WEIGHTS), plan.reformedBytes);
  checkExportSpace(dir, plan);
});
