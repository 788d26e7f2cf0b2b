// fp16 and bf16 end to end (design.md "Scale"): fp16 and bf16 copies of the real MHA fixture, written by our own
// exporter, are read, evaluated, compressed and exported in their precision; unchanged weights in external data are
// referenced, not copied.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadDecoder } from '../../src/model/recognise';
import { memoryWeight, type Decoder } from '../../src/model/decoder';
import { buildDecoderGraph } from '../../src/graph/decoderGraph';
import { modelToBuffer } from '../../src/onnx/writeModel';
import { readOnnxFile } from '../../src/onnx/modelFile';
import { DataType } from '../../src/onnx/proto';
import { decoderSession } from '../../src/runtime/decoderSession';
import { createSession } from '../../src/runtime/session';
import { arithmeticFor } from '../../src/runtime/halfArithmetic';
import { perplexity, windowsNll } from '../../src/runtime/perplexity';
import {
  bfloat16BytesToFloat,
  floatToBfloat16,
  floatToHalf,
  halfToFloat,
  roundToBfloat16,
} from '../../src/onnx/tensorData';
import { floatWeight, NARROW_TYPES } from '../../src/graph/linear';
import { GraphBuilder } from '../../src/graph/graph';
import { cliPath, copyAs, relDiff, tempDir, texts, tinyMha, tokenWindows } from '../fixtures';
import { runCli } from '../cli';

const windows = () => tokenWindows(tinyMha.onnx, 512, texts.tinyStoriesValid, 128, 12);

const DENSE = { kvCache: false, head: 'nll', masks: false } as const;

/** NLL of `w` through the graph we build for `d`, one session (released after). */
async function ourNll(d: Decoder, w: number[][], compute?: 'float16' | 'float32') {
  const s = await decoderSession(d, DENSE, { provider: 'cpu', compute });
  try {
    return await windowsNll(s.session, w);
  } finally {
    await s.session.release();
  }
}

test('fp16 ↔ fp32: every half converts to float and back exactly', () => {
  for (let h = 0; h < 65536; h++) {
    const f = halfToFloat(h);
    if (Number.isNaN(f)) continue;
    assert.equal(floatToHalf(f), h, `half 0x${h.toString(16)}`);
  }
  assert.equal(floatToHalf(1 + 2 ** -11), floatToHalf(1), 'a tie rounds to even');
  assert.equal(halfToFloat(floatToHalf(70000)), Infinity);
});

test('bf16 ↔ fp32: every bf16 converts to float and back exactly, ties round to even', () => {
  const bits = new Uint16Array(1);
  for (let h = 0; h < 65536; h++) {
    bits[0] = h;
    const [f] = bfloat16BytesToFloat(new Uint8Array(bits.buffer));
    if (Number.isNaN(f)) continue;
    assert.equal(floatToBfloat16(f), h, `bf16 0x${h.toString(16)}`);
  }
  assert.equal(floatToBfloat16(1 + 2 ** -8), floatToBfloat16(1), 'a tie rounds to even');
  assert.equal(floatToBfloat16(1 + 3 * 2 ** -8), floatToBfloat16(1 + 2 ** -6), 'and up to even');
  assert.equal(roundToBfloat16(Math.sqrt(2048)), 45.25, "Gemma's √hidden in bf16");
});

for (const type of ['float16', 'bfloat16'] as const)
  test(`a ${type} copy of the MHA model evaluates within 1e-3 of fp32, through its own graph and ours, and its weights are referenced in place`, async () => {
    const file = copyAs(tinyMha.onnx, type);
    const init = readOnnxFile(file).model.graph!.initializer!;
    assert.equal(
      init.find((t) => t.name === 'model.layers.0.mlp.down_proj.weight')?.dataType,
      NARROW_TYPES[type],
      `weights stored as ${type}`,
    );
    const d = loadDecoder(file);
    assert.equal(d.weightType, type);
    assert.equal(d.layerWeights[0].down.stored?.external?.file, `${file}_data`, 'referenced where they lie');
    const w = windows();
    const reference = perplexity(
      await windowsNll((await createSession(tinyMha.onnx, { provider: 'cpu' })).session, w, { layers: d.layers }),
    );
    const own = perplexity(
      await windowsNll((await createSession(file, { provider: 'cpu' })).session, w, { layers: d.layers }),
    );
    const ours = perplexity(await ourNll(d, w));
    assert.ok(relDiff(own, reference) <= 1e-3, `${type} file ${own} vs fp32 ${reference}`);
    assert.ok(relDiff(ours, reference) <= 1e-3, `our graph over ${type} ${ours} vs fp32 ${reference}`);
    // Both widen the same 16-bit weights and multiply in fp32.
    assert.ok(relDiff(ours, own) <= 1e-6, `our graph ${ours} vs the file ${own}`);
  });

test('fp16 arithmetic: layer products take fp16 operands, the head stays fp32, and it evaluates within 1e-3', async () => {
  const d = loadDecoder(copyAs(tinyMha.onnx, 'float16'));
  const build = { ...DENSE, compute: 'float16' } as const;
  const nodes = buildDecoderGraph(d, build).model.graph!.node!;
  const producer = (value: string) => nodes.find((n) => n.output?.includes(value));
  const productOf = (weight: string) => nodes.find((n) => n.opType === 'MatMul' && n.input?.[1] === weight);
  const down = productOf('model.layers.0.mlp.down_proj.weight');
  assert.equal(producer(down!.input![0])?.attribute?.[0].i, DataType.FLOAT16, 'the activation is rounded to fp16');
  const head = nodes.find((n) => n.opType === 'MatMul' && n.output?.[0].startsWith('lm_head'));
  assert.equal(producer(head!.input![1])?.opType, 'Cast', 'the head multiplies the widened weight');
  assert.equal(await arithmeticFor(true, {}), 'float32', 'fp32 unless asked');
  assert.equal(
    await arithmeticFor(true, { provider: 'cpu', compute: 'fastest' }),
    'float32',
    'the CPU multiplies fp32',
  );
  assert.equal(await arithmeticFor(false, { provider: 'webgpu', compute: 'fastest' }), 'float32', 'no fp16 weights');
  assert.equal(await arithmeticFor(true, { provider: 'cpu', compute: 'float16' }), 'float16', 'as asked');
  const w = windows();
  const nll = async (compute: 'float16' | 'float32') => perplexity(await ourNll(d, w, compute));
  const [half, single] = [await nll('float16'), await nll('float32')];
  assert.ok(relDiff(half, single) <= 1e-3, `fp16 arithmetic ${half} vs fp32 ${single}`);
});

/** Our graph over `d` as a buffer referencing the weights in `dir`, against the same graph with every value inline. */
async function referencedAgainstInline(d: Decoder, dir: string) {
  const built = buildDecoderGraph(d, DENSE);
  const referenced = modelToBuffer(built.model, built.tensors, dir);
  const inline = modelToBuffer(built.model, built.tensors);
  const w = windows().slice(0, 4);
  const s = await createSession(inline, { provider: 'cpu' });
  const inlineNll = await windowsNll(s.session, w);
  await s.session.release();
  return { referenced, inline, w, ours: await ourNll(d, w), inlineNll };
}

test('unchanged weights in external data are referenced where they lie, with the same result as inline', async () => {
  const file = copyAs(tinyMha.onnx, 'float32');
  const {
    referenced,
    inline,
    ours: a,
    inlineNll: b,
  } = await referencedAgainstInline(loadDecoder(file), path.dirname(file));
  assert.ok(referenced.length < 0.05 * inline.length, `buffer ${referenced.length} bytes vs ${inline.length} inline`);
  assert.ok(relDiff(a.nll, b.nll) <= 1e-6, `referenced ${a.nll} vs inline ${b.nll}`);
});

test('weights kept inside the .onnx are referenced there too, not copied into the graph', async () => {
  const d = loadDecoder(tinyMha.onnx);
  const down = d.layerWeights[0].down.stored?.external;
  assert.equal(down?.file, tinyMha.onnx, 'the location names the model file itself');
  const { referenced, inline, w, ours: a, inlineNll: b } = await referencedAgainstInline(d, path.dirname(tinyMha.onnx));
  assert.ok(referenced.length < 0.05 * inline.length, `buffer ${referenced.length} bytes vs ${inline.length} inline`);
  assert.equal(a.nll, b.nll, `referenced ${a.nll} vs inline ${b.nll}`);
  // A linked model file (ONNX Runtime refuses data whose real path leaves the folder) is copied in as before.
  const link = path.join(tempDir(), 'model.onnx');
  fs.symlinkSync(tinyMha.onnx, link);
  const linked = loadDecoder(link);
  assert.equal(linked.layerWeights[0].down.stored?.external, undefined);
  const c = await ourNll(linked, w);
  assert.ok(relDiff(c.nll, b.nll) <= 1e-6, `linked ${c.nll} vs inline ${b.nll}`);
});

for (const type of ['float16', 'bfloat16'] as const)
  test(`compress of the ${type} model runs end to end and exports ${type} that plain ONNX Runtime loads`, async () => {
    const file = copyAs(tinyMha.onnx, type);
    const out = path.join(tempDir(), 'out');
    const json = execFileSync(
      process.execPath,
      [
        cliPath,
        'compress',
        file,
        '--method',
        'flap',
        '--ratio',
        '0.7',
        '--calib',
        texts.tinyStoriesValid,
        '--out',
        out,
        '--seq-len',
        '128',
        '--calib-windows',
        '8',
        '--fitness-windows',
        '4',
        '--provider',
        'cpu',
        '--json',
      ],
      { encoding: 'utf8' },
    );
    const report = JSON.parse(json);
    assert.equal(JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8')).torch_dtype, type);
    const exported = readOnnxFile(path.join(out, 'model.onnx')).model.graph!.initializer!;
    assert.equal(
      exported.find((t) => t.name === 'model.layers.0.mlp.down_proj.weight')?.dataType,
      NARROW_TYPES[type],
      `the export keeps ${type}`,
    );
    assert.ok(
      report.fileBytes.after < 0.8 * report.fileBytes.before,
      `file ${report.fileBytes.after} vs ${report.fileBytes.before}`,
    );
    assert.ok(
      relDiff(report.ppl.exported, report.ppl.after) <= 1e-3,
      `exported ${report.ppl.exported} vs masked evaluation ${report.ppl.after}`,
    );
    const back = loadDecoder(path.join(out, 'model.onnx'));
    const nll = await windowsNll(
      (await createSession(path.join(out, 'model.onnx'), { provider: 'cpu' })).session,
      windows().slice(0, 2),
      { layers: back.layers },
    );
    assert.ok(Number.isFinite(nll.nll) && nll.tokens > 0);
  });

test('--dtype exports another float type: fp32 → fp16 (sparsify), bf16 → fp32 (quantize); others are refused', () => {
  const typeOf = (dir: string, name: string) =>
    readOnnxFile(path.join(dir, 'model.onnx')).model.graph!.initializer!.find((t) => t.name === name)?.dataType;
  const torchDtype = (dir: string) => JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')).torch_dtype;
  const half = path.join(tempDir(), 'half');
  const sparsified = runCli([
    'sparsify',
    tinyMha.onnx,
    ...['--method', 'magnitude', '--sparsity', '0.5', '--dtype', 'fp16', '--calib', texts.tinyStoriesValid],
    ...['--seq-len', '128', '--eval-windows', '2', '--provider', 'cpu', '--out', half, '--json'],
  ]);
  assert.equal(sparsified.code, 0, sparsified.stderr);
  assert.equal(torchDtype(half), 'float16');
  assert.equal(typeOf(half, 'model.layers.0.mlp.down_proj.weight'), DataType.FLOAT16);
  const report = JSON.parse(sparsified.stdout);
  assert.ok(report.after.fileBytes < 0.6 * report.before.fileBytes, 'half the bytes');
  assert.ok(Number.isFinite(report.after.ppl), 'the fp16 export is measured');
  assert.ok(
    report.notes.some((n: string) => n.startsWith('The export is float16 (--dtype), the original float32')),
    'the report says the type differs too',
  );

  const single = path.join(tempDir(), 'single');
  const quantized = runCli([
    'quantize',
    copyAs(tinyMha.onnx, 'bfloat16'),
    '--bits',
    '8',
    '--dtype',
    'fp32',
    '--out',
    single,
  ]);
  assert.equal(quantized.code, 0, quantized.stderr);
  assert.equal(torchDtype(single), 'float32');
  assert.equal(typeOf(single, 'model.embed_tokens.weight'), DataType.FLOAT, 'the unquantized tensors widened');

  const refused = runCli([
    'quantize',
    tinyMha.onnx,
    '--bits',
    '8',
    '--dtype',
    'fp8',
    '--out',
    path.join(tempDir(), 'x'),
  ]);
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, /'--dtype <t>' argument 'fp8' is invalid\. Allowed choices are fp32, fp16, bf16\./);
});

test("a weight beyond fp16's range is refused when exported as fp16, not written as infinities", () => {
  const g = new GraphBuilder();
  floatWeight(g, 'w', memoryWeight('w', [1, 2], Float32Array.of(1, 7e4)), 'float16');
  const values = g.tensors[0].values as () => Uint8Array;
  assert.throws(values, /^UserError: w: values up to 7\.000e\+4 lie beyond fp16's range \(±65504\).*--dtype bf16/);
  floatWeight(g, 'b', memoryWeight('b', [1, 2], Float32Array.of(1, 7e4)), 'bfloat16');
  assert.equal((g.tensors[1].values as () => Uint8Array)().length, 4, 'bf16 holds it');
});
