// The weights a job computes, held in memory up to a limit and beyond it in the job's own file (model/newWeights.ts):
// the same values either way, in the model's precision, and the file gone once released.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { copyAs, demoText, stories260K, tempDir, tokenWindows } from '../fixtures';
import { NewWeights } from '../../src/model/newWeights';
import { newWeight, linearWeightsOf, type Decoder } from '../../src/model/decoder';
import { loadDecoder } from '../../src/model/recognise';
import { sparsifyDecoder } from '../../src/compress/sparsify/sparsifyDecoder';
import { reformDecoder } from '../../src/compress/reform/reformation';
import { DEFAULT_REFORM } from '../../src/compress/reform/reformLayer';
import { fullMask } from '../../src/compress/subnet';
import { gptqQuantizer, quantizeRtn } from '../../src/compress/quantize/nbits';
import { dequantize, readQuantized } from '../../src/model/quantizedLinear';
import { writeModelFiles } from '../../src/compress/exportModel';
import { seededRandom } from '../../src/util/random';

const values = (n: number, seed: number) => {
  const rand = seededRandom(seed);
  return Float32Array.from({ length: n }, () => rand() - 0.5);
};

test('new weights past the memory limit go to the file and read back as held ones do, in their type', () => {
  const file = path.join(tempDir(), 'new-weights.bin');
  // The first fp32 weight (4 × 6 × 4 bytes) fits the limit; every later one goes to the file.
  const store = new NewWeights(file, 96);
  for (const [i, type] of (['float32', 'float32', 'float16', 'bfloat16'] as const).entries()) {
    const v = values(24, i);
    const w = store.weight(`w${i}`, [4, 6], v, type);
    const held = newWeight(`w${i}`, [4, 6], v, type);
    assert.deepEqual(w.read(), held.read(), `${type} #${i}: the same values`);
    assert.deepEqual(w.stored?.read(), held.stored?.read(), `${type} #${i}: the same stored bytes`);
    assert.equal(w.storedBytesPerElement, held.storedBytesPerElement);
    assert.equal(store.spilledBytes, [0, 96, 144, 192][i], `${type} #${i}: bytes in the file`);
  }
  assert.equal(fs.statSync(file).size, 192);
  const spilled = store.weight('late', [2, 2], values(4, 9));
  store.release();
  assert.equal(fs.existsSync(file), false, 'released: the file is removed');
  assert.throws(() => spilled.read(), /late: read after its job's new weights were released/);
  store.release();
  // A killed job's file, left in its folder for --resume: released even where this job never wrote one.
  fs.writeFileSync(file, 'left by a killed job');
  new NewWeights(file).release();
  assert.equal(fs.existsSync(file), false, 'a stale file is not renamed into place with the model');
});

test('a quantized linear keeps only its packed form, in memory or in the file, and reads back the values it was quantized to', () => {
  const [K, N] = [64, 24];
  const w = values(K * N, 3);
  const file = path.join(tempDir(), 'new-weights.bin');
  const spilling = new NewWeights(file, 0);
  for (const o of [
    { bits: 4 as const, blockSize: 32, symmetric: true },
    { bits: 8 as const, blockSize: 16, symmetric: false },
  ]) {
    const rtn = quantizeRtn(w, K, N, o);
    assert.deepEqual(new NewWeights().quantized('q', [K, N], rtn.quant).read(), rtn.dequantized, `RTN int${o.bits}`);
    const before = spilling.spilledBytes;
    const spilled = spilling.quantized('q', [K, N], rtn.quant);
    assert.deepEqual(spilled.read(), rtn.dequantized, `RTN int${o.bits} from the file`);
    assert.deepEqual(readQuantized(spilled.quant!), rtn.quant, `int${o.bits}: the same codes, scales, zero points`);
    const arrays = [rtn.quant.packed, rtn.quant.scales, rtn.quant.zeroPoints ?? new Uint8Array(0)];
    assert.equal(
      spilling.spilledBytes - before,
      arrays.reduce((a, x) => a + x.byteLength, 0),
      'all in the file',
    );
    // GPTQ's loop sets each block's grid when it reaches it and rounds every value onto it.
    const g = gptqQuantizer(K, N, o);
    const onGrid = new Float32Array(K * N);
    for (let i = 0; i < K; i += o.blockSize) {
      const rows = Array.from({ length: o.blockSize }, (_, r) => w.subarray((i + r) * N, (i + r + 1) * N));
      g.groups!.start(i, rows);
      for (let r = i; r < i + o.blockSize; r++)
        for (let n = 0; n < N; n++) onGrid[r * N + n] = g.quantize(r, n, w[r * N + n]);
    }
    assert.deepEqual(dequantize(g.pack(onGrid)), onGrid, `GPTQ int${o.bits}`);
  }
  spilling.release();
});

/** Every linear's values and stored bytes. */
const linears = (d: Decoder) => linearWeightsOf(d).map((w) => [w.name, w.read(), w.stored?.read()]);

test('SparseGPT and reformation of an fp16 model: the same weights with every new one in the file as in memory', async () => {
  const model = copyAs(stories260K.onnx, 'float16');
  const d = loadDecoder(model);
  const windows = tokenWindows(model, d.config.vocab, demoText, 64, 4);
  const stage = {
    sparsity: { method: 'sparsegpt' as const, pattern: { kind: 'unstructured' as const, sparsity: 0.5 } },
  };
  const file = path.join(tempDir(), 'new-weights.bin');
  const inFile = new NewWeights(file, 0);
  const sparse = await sparsifyDecoder(d, windows, stage, { provider: 'cpu', newWeights: inFile });
  const linearBytes = linearWeightsOf(d).reduce((a, w) => a + 2 * w.shape[0] * w.shape[1], 0);
  assert.equal(inFile.spilledBytes, linearBytes, 'every sparsified linear in the file, in fp16');
  assert.deepEqual(linears(sparse), linears(await sparsifyDecoder(d, windows, stage, { provider: 'cpu' })));
  assert.equal(sparse.layerWeights[0].q.stored?.type, 'float16', 'kept in the model precision');

  const mask = fullMask(d).map((m) => ({ ...m, mlp: m.mlp.map((_, c) => c % 4 !== 0) }));
  const before = inFile.spilledBytes;
  const reformed = await reformDecoder(d, mask, windows, DEFAULT_REFORM, { provider: 'cpu', newWeights: inFile });
  assert.ok(inFile.spilledBytes > before, 'the reformed down_proj weights went to the file');
  const held = await reformDecoder(d, mask, windows, DEFAULT_REFORM, { provider: 'cpu' });
  assert.deepEqual(linears(reformed.decoder), linears(held.decoder));
  inFile.release();
  assert.equal(fs.existsSync(file), false);
});

test('GPTQ int4 with every packed linear in the file: the export is byte-identical to the one from memory', async () => {
  const d = loadDecoder(stories260K.onnx);
  const windows = tokenWindows(stories260K.onnx, d.config.vocab, demoText, 64, 4);
  const stage = { quant: { bits: 4 as const, blockSize: 32, symmetric: false, gptq: true } };
  const file = path.join(tempDir(), 'new-weights.bin');
  const inFile = new NewWeights(file, 0);
  const exported = async (newWeights?: NewWeights) => {
    const dir = tempDir();
    writeModelFiles(await sparsifyDecoder(d, windows, stage, { provider: 'cpu', newWeights }), dir, undefined);
    return fs.readFileSync(path.join(dir, 'model.onnx'));
  };
  const fromFile = await exported(inFile);
  assert.ok(inFile.spilledBytes > 0);
  assert.ok(fromFile.equals(await exported()), 'the same model file');
  inFile.release();
});
