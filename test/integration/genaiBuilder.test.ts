// A Llama in onnxruntime-genai's builder layouts (test/families/genaiBuilder.ts: packed or separate q/k/v,
// GroupQueryAttention with the rotary inside or RotaryEmbedding nodes before it, (Skip)SimplifiedLayerNormalization,
// genai_config.json only): the file computes Llama (independent float64 forward), `inspect` recognises it, our
// re-emission gives its logits, it compresses and sparsifies end to end, and the exports load in plain
// onnxruntime-node; Llama 3.x's rescaled rotary is read from the caches. Int4 builds, other rope scaling and other
// model types are refused with a message.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { demoText, tempDir } from '../fixtures';
import { runCli } from '../cli';
import { randomDecoder, type Shape } from '../../bench/randomModels';
import { writeGenaiBuilderFixture } from '../families/genaiBuilder';
import { referenceLogits } from '../families/reference';
import { fixtureTokenizer } from '../families/fixtures';
import { loadDecoder } from '../../src/model/recognise';
import { summarize } from '../../src/job/inspect';
import { buildDecoderGraph } from '../../src/graph/decoderGraph';
import { modelToBuffer } from '../../src/onnx/writeModel';
import { createSession } from '../../src/runtime/session';
import { residentBytes } from '../../src/runtime/residentMemory';
import { computedWeight, type Decoder, type Weight } from '../../src/model/decoder';
import { LM_HEAD_NAME } from '../../src/model/names';
import { transpose2d } from '../../src/model/transpose';
import {
  assertLoadsInPlainOrt,
  assertTransformersJsGenerates,
  cliJson,
  compressFlap,
  IDS,
  logits,
  maxDiff,
  sparsifyWanda,
} from '../families/endToEnd';
import { onnx } from '../../src/onnx/proto';

const root = tempDir('subnet-search-genai-');
// TinyLlama's conventions (GQA, untied, θ = 10⁴) at a tiny size; weights scaled so a wrong θ or eps shows.
const SHAPE: Shape = {
  layers: 2,
  hidden: 64,
  heads: 4,
  kvHeads: 2,
  intermediate: 128,
  vocab: 512,
  weightScale: 5,
  tied: false,
  ropeTheta: 10000,
  normEps: 1e-6,
  maxPositions: 256,
};
const HF_CONFIG = {
  hidden_size: 64,
  intermediate_size: 128,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  vocab_size: 512,
  rope_theta: 10000,
  rms_norm_eps: 1e-6,
  hidden_act: 'silu',
};

// Llama 3.2-1B's rotary: θ = 5·10⁵ and llama3 rescaling (factor 32, low 1, high 4, original context 8192) baked into
// the caches; at head dim 16 its pairs fall in all three bands (kept, blended, slowed).
const LLAMA3 = { factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 8192 };
const LLAMA3_HF = {
  rope_theta: 500000,
  rope_scaling: {
    rope_type: 'llama3',
    factor: 32,
    low_freq_factor: 1,
    high_freq_factor: 4,
    original_max_position_embeddings: 8192,
  },
};

const files = new Map<string, string>();
/**
 * The builder's layouts: its CPU/CUDA default, `disable_qkv_fusion`, DirectML's (rotary outside the attention), and
 * the default with Llama 3.x's rescaled rotary caches.
 */
const VARIANTS = {
  'packed q/k/v, rotary in GroupQueryAttention': { packedQkv: true },
  'separate q/k/v': { packedQkv: false },
  'separate q/k/v, RotaryEmbedding nodes': { packedQkv: false, rotaryNodes: true },
  'Llama 3.2 rotary (llama3 scaling in the caches)': { packedQkv: true, llama3: true },
  'shared embeddings (tied, the head stored once)': { packedQkv: true, sharedEmbeddings: true },
};
type Variant = keyof typeof VARIANTS;
const PACKED: Variant = 'packed q/k/v, rotary in GroupQueryAttention';
const isLlama3 = (id: Variant) => 'llama3' in VARIANTS[id];
const isTied = (id: Variant) => 'sharedEmbeddings' in VARIANTS[id];
const sources = new Map<string, Decoder>();
/** The random weights behind a variant; a tied one's head is the transposed embedding, as tie_word_embeddings means. */
function sourceOf(id: Variant): Decoder {
  const key = isLlama3(id) ? 'llama3' : isTied(id) ? 'tied' : 'plain';
  if (!sources.has(key)) {
    const shape = isLlama3(id)
      ? { ...SHAPE, ropeTheta: 500000, ropeScaling: { type: 'llama3' as const, ...LLAMA3 } }
      : SHAPE;
    const d = randomDecoder(shape, 'float32');
    const [vocab, hidden] = d.embed.shape;
    const lmHead = computedWeight(LM_HEAD_NAME, [hidden, vocab], () => transpose2d(d.embed.read(), vocab, hidden));
    sources.set(key, isTied(id) ? { ...d, lmHead } : d);
  }
  return sources.get(key)!;
}
const hfConfig = (id: Variant) => ({
  ...HF_CONFIG,
  ...(isLlama3(id) ? LLAMA3_HF : {}),
  tie_word_embeddings: isTied(id),
});

function weightsByName(d: Decoder) {
  const all = new Map<string, Weight>(
    [d.embed, d.finalNorm, d.lmHead, ...d.layerWeights.flatMap((w) => Object.values(w))].map((w) => [w.name, w]),
  );
  return (name: string) => all.get(name)!.read();
}

function fixtureFile(id: Variant): string {
  if (!files.has(id)) {
    const dir = path.join(root, id.replace(/[^a-z0-9]+/gi, '-'));
    files.set(id, writeGenaiBuilderFixture(sourceOf(id), dir, { ...VARIANTS[id], contextLength: 256 }));
    // The builder copies the tokenizer beside the model (save_processing).
    fs.copyFileSync(fixtureTokenizer(), path.join(dir, 'tokenizer.json'));
  }
  return files.get(id)!;
}

for (const id of Object.keys(VARIANTS) as Variant[]) {
  test(`genai builder (${id}): the file computes Llama (plain-TS float64 reference over its weights)`, async () => {
    const source = sourceOf(id);
    const s = await ort.InferenceSession.create(fixtureFile(id));
    const [file] = await logits(s, source, IDS);
    const reference = referenceLogits(hfConfig(id), weightsByName(source), IDS).flatMap((r) => Array.from(r));
    assert.ok(maxDiff(file, reference) <= 1e-4, `file vs reference: ${maxDiff(file, reference)}`);
    if (isLlama3(id)) {
      const plain = referenceLogits(hfConfig(id), weightsByName(source), IDS, { noRopeScaling: true });
      const without = plain.flatMap((r) => Array.from(r));
      assert.ok(maxDiff(file, without) > 1e-2, `the rescaling does not move the logits: ${maxDiff(file, without)}`);
    }
  });

  test(`genai builder (${id}): inspect recognises it and reads θ (and llama3 scaling) from the caches, eps from the norms`, () => {
    const r = cliJson(['inspect', fixtureFile(id)]);
    assert.equal(r.adapter, 'onnxruntime-genai builder');
    assert.deepEqual(
      [r.config.layers, r.config.heads, r.config.kvHeads, r.config.headDim, r.config.vocab, r.config.intermediate],
      [2, 4, 2, 16, 512, 128],
    );
    assert.equal(r.config.ropeTheta, isLlama3(id) ? 500000 : 10000);
    assert.deepEqual(r.config.ropeScaling, isLlama3(id) ? { type: 'llama3', ...LLAMA3 } : undefined);
    assert.equal(r.config.normEps, 1e-6);
    assert.equal(r.config.tiedEmbeddings, isTied(id));
    assert.equal(r.config.maxPositions, 256);
  });

  test(`genai builder (${id}): re-emitted logits equal the file's (24 at once; 16 prefilled then 8 cached steps)`, async () => {
    const d = loadDecoder(fixtureFile(id));
    const built = buildDecoderGraph(d, { kvCache: true, head: 'logits', masks: false });
    const ours = (await createSession(modelToBuffer(built.model, built.tensors), { provider: 'cpu' })).session;
    const file = await ort.InferenceSession.create(fixtureFile(id));
    for (const prefill of [IDS.length, 16]) {
      const [a, b] = [await logits(ours, d, IDS, prefill), await logits(file, d, IDS, prefill)];
      a.forEach((step, i) =>
        assert.ok(maxDiff(step, b[i]) <= 1e-4, `prefill ${prefill}, step ${i}: ${maxDiff(step, b[i])}`),
      );
    }
  });
}

test('genai builder fp16 (every float stored and computed in fp16): read as fp16; our re-emission computes the float64 reference over the weights read, the file agrees up to its fp16 arithmetic; compressed, the export stays fp16', async () => {
  const file = writeGenaiBuilderFixture(randomDecoder(SHAPE, 'float16'), path.join(root, 'fp16'), {
    packedQkv: true,
    contextLength: 256,
  });
  const d = loadDecoder(file);
  assert.equal(d.weightType, 'float16');
  assert.deepEqual([d.config.ropeTheta, d.config.normEps], [10000, 1e-6]);
  // Its KV cache is fp16: inspect counts 2 bytes per value, and says so.
  const totals = summarize(d).totals;
  assert.equal(totals.kvCacheType, 'fp16');
  assert.equal(
    totals.kvCacheBytesPerToken,
    d.layers.reduce((a, l) => a + 2 * l.kvHeads * l.headDim * 2, 0),
  );
  const built = buildDecoderGraph(d, { kvCache: true, head: 'logits', masks: false });
  const ours = (await createSession(modelToBuffer(built.model, built.tensors), { provider: 'cpu' })).session;
  const [a] = await logits(ours, d, IDS);
  const [b] = await logits(await ort.InferenceSession.create(file), d, IDS);
  const reference = referenceLogits(HF_CONFIG, weightsByName(d), IDS).flatMap((r) => Array.from(r));
  assert.ok(maxDiff(a, reference) <= 1e-4, `ours vs reference: ${maxDiff(a, reference)}`);
  // fp16 keeps 11 bits: logits of about 2 computed in fp16 land within a few thousandths of the fp32 result.
  assert.ok(maxDiff(a, b) <= 1e-2, `ours vs the fp16 file: ${maxDiff(a, b)}`);
  // The reports' resident memory runs the file in a fresh process: its KV cache is fed as fp16 (was NaN).
  assert.ok((await residentBytes(file, d.layers, 'cpu')) > 0, 'resident memory of an fp16-cache model is measured');

  fs.copyFileSync(fixtureTokenizer(), path.join(root, 'fp16', 'tokenizer.json'));
  const out = path.join(root, 'fp16-flap');
  const report = compressFlap(file, out);
  // The fp16 export's cache is fp16 too: the same bytes per token at the same KV heads, and no note about it.
  const exported = summarize(loadDecoder(path.join(out, 'model.onnx'))).totals;
  assert.equal(exported.kvCacheType, 'fp16');
  assert.deepEqual(report.kvCacheBytesPerToken, {
    before: totals.kvCacheBytesPerToken,
    after: exported.kvCacheBytesPerToken,
  });
  assert.ok(!report.notes.some((n: string) => /KV cache/.test(n)), report.notes.join('\n'));
  // Decoding through the fp16 cache follows the whole-sequence pass up to fp16's rounding of the cached keys/values.
  const exportedFile = path.join(out, 'model.onnx');
  const de = loadDecoder(exportedFile);
  const session = await ort.InferenceSession.create(exportedFile);
  const [whole] = await logits(session, de, IDS);
  const [, ...steps] = await logits(session, de, IDS, 16);
  steps.forEach((step, i) => {
    const at = whole.subarray((16 + i) * de.config.vocab, (17 + i) * de.config.vocab);
    assert.ok(maxDiff(step, at) <= 1e-2, `cached step ${i}: ${maxDiff(step, at)}`);
  });
  const config = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8'));
  assert.equal(config.torch_dtype, 'float16', "the export keeps the weights' precision");
  await assertLoadsInPlainOrt(path.join(out, 'model.onnx'));
});

test('genai builder bf16 (`-p bf16`: every float bf16, inputs and outputs too): read as bf16 with θ and llama3 scaling from the bf16 caches; our graph computes the float64 reference over the weights read; the file cannot run here, so eval takes our graph and --graph file / generate --original say why; compressed, the export stays bf16', async () => {
  for (const id of [PACKED, 'Llama 3.2 rotary (llama3 scaling in the caches)'] as const) {
    const dir = path.join(root, `bf16-${isLlama3(id) ? 'llama3' : 'plain'}`);
    const file = writeGenaiBuilderFixture({ ...sourceOf(id), weightType: 'bfloat16' }, dir, {
      ...VARIANTS[id],
      contextLength: 256,
    });
    fs.copyFileSync(fixtureTokenizer(), path.join(dir, 'tokenizer.json'));
    const d = loadDecoder(file);
    assert.equal(d.weightType, 'bfloat16');
    assert.equal(d.config.ropeTheta, isLlama3(id) ? 500000 : 10000);
    assert.deepEqual(d.config.ropeScaling, isLlama3(id) ? { type: 'llama3', ...LLAMA3 } : undefined);
    const built = buildDecoderGraph(d, { kvCache: true, head: 'logits', masks: false });
    const ours = (await createSession(modelToBuffer(built.model, built.tensors), { provider: 'cpu' })).session;
    const [a] = await logits(ours, d, IDS);
    const reference = referenceLogits(hfConfig(id), weightsByName(d), IDS).flatMap((r) => Array.from(r));
    assert.ok(maxDiff(a, reference) <= 1e-4, `${id}: ours vs reference ${maxDiff(a, reference)}`);
    if (isLlama3(id)) continue;

    const why = /its inputs and outputs are bfloat16, which onnxruntime-node can neither feed nor read/;
    const evalArgs = ['eval', file, '--text', demoText, '--seq-len', '32', '--windows', '2', '--provider', 'cpu'];
    assert.ok(Number.isFinite(cliJson(evalArgs).ppl), 'eval takes our graph by default');
    const asIs = runCli([...evalArgs, '--graph', 'file']);
    assert.equal(asIs.code, 2);
    assert.match(asIs.stderr, why);
    const original = runCli(['generate', file, '--prompt', 'Once', '--max-tokens', '2', '--original']);
    assert.equal(original.code, 2);
    assert.match(original.stderr, why);

    const out = path.join(root, 'bf16-flap');
    const report = compressFlap(file, out);
    assert.ok(
      report.notes.some((n: string) => n.startsWith('The original file cannot run here (its inputs and outputs')),
      'the report says what stood in for the original',
    );
    assert.equal(JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8')).torch_dtype, 'bfloat16');
    assert.equal(loadDecoder(path.join(out, 'model.onnx')).weightType, 'bfloat16', 'the export stays bf16');
    // Its cache is fp32 (no bf16 tensors in onnxruntime-node), the original's bf16: counted so, and said.
    assert.equal(summarize(loadDecoder(path.join(out, 'model.onnx'))).totals.kvCacheType, 'fp32');
    assert.ok(
      report.notes.some((n: string) => /KV cache is bf16, the export's fp32: .* twice the memory/.test(n)),
      report.notes.join('\n'),
    );
    await assertLoadsInPlainOrt(path.join(out, 'model.onnx'));
  }
});

test('genai builder: compress --method flap and sparsify end to end; the exports load in plain onnxruntime-node', async () => {
  const out = path.join(root, 'flap');
  compressFlap(fixtureFile(PACKED), out);
  // The export is ours (plain ops, Hugging Face names, config.json), read back by the Optimum adapter.
  assert.equal(cliJson(['inspect', path.join(out, 'model.onnx')]).adapter, 'torch.onnx / Optimum Llama');
  await assertLoadsInPlainOrt(path.join(out, 'model.onnx'));

  await sparsifyWanda(fixtureFile(PACKED), path.join(root, 'wanda'));
});

test('genai builder: transformers.js loads the compressed export offline and generates our tokens', async () => {
  await assertTransformersJsGenerates(root, 'flap');
});

test('genai builder: refused with a message: int4 (MatMulNBits), rope scaling other than llama3 in the caches, another model type', () => {
  const variant = (name: string, change: (dir: string) => void) => {
    const dir = path.join(root, `variant-${name}`);
    fs.cpSync(path.dirname(fixtureFile(PACKED)), dir, { recursive: true });
    change(dir);
    return path.join(dir, 'model.onnx');
  };
  const genai = (dir: string) => path.join(dir, 'genai_config.json');
  const otherType = variant('phi3', (dir) => {
    const c = JSON.parse(fs.readFileSync(genai(dir), 'utf8'));
    c.model.type = 'phi3';
    fs.writeFileSync(genai(dir), JSON.stringify(c));
  });
  assert.throws(() => loadDecoder(otherType), /model type 'phi3' in genai_config\.json \(read: llama\)/);
  const int4 = variant('int4', (dir) => rewriteModel(dir, (m) => (m.graph!.node![0].opType = 'MatMulNBits')));
  assert.throws(
    () => loadDecoder(int4),
    /int4\/int8 weights \(MatMulNBits\); build it with `-p fp32`, `-p fp16` or `-p bf16`/,
  );
  const scaled = variant('scaled', (dir) =>
    rewriteModel(dir, (m) => {
      const sin = m.graph!.initializer!.find((t) => t.name === 'sin_cache')!;
      const v = new Float32Array(new Uint8Array(sin.rawData!).slice().buffer);
      for (let t = 0; t < v.length / 8; t++) v[t * 8 + 7] = Math.sin(t * 0.25 * 10000 ** (-14 / 16));
      sin.rawData = new Uint8Array(v.buffer);
    }),
  );
  assert.throws(() => loadDecoder(scaled), /neither plain rotary frequencies .* nor Llama 3\.x's llama3 rescaling/);
});

/** Rewrites `dir/model.onnx` in place (all tensors are inline at this size). */
function rewriteModel(dir: string, change: (m: onnx.IModelProto) => void) {
  const file = path.join(dir, 'model.onnx');
  const m = onnx.ModelProto.decode(fs.readFileSync(file));
  change(m);
  fs.writeFileSync(file, onnx.ModelProto.encode(m).finish());
}
