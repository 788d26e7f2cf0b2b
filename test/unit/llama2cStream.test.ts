// The llama2.c reader reads the header up front and each weight's byte range on demand (files over 2 GiB).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readLlama2c } from '../../src/model/llama2c';
import { loadDecoder } from '../../src/model/recognise';
import { loadRunnableDecoder } from '../../src/job/context';
import type { Decoder, Weight } from '../../src/model/decoder';
import { UserError } from '../../src/util/errors';
import { stories260K, tinyMha } from '../fixtures';

/** Every weight of a decoder by a stable key (the tied lm_head shares the embedding's name). */
function weights(d: Decoder): [string, Weight][] {
  const out: [string, Weight][] = [
    ['embed', d.embed],
    ['finalNorm', d.finalNorm],
    ['lmHead', d.lmHead],
  ];
  d.layerWeights.forEach((lw, l) => {
    for (const [k, w] of Object.entries(lw)) if (w) out.push([`${l}.${k}`, w as Weight]);
  });
  return out;
}

/** A straightforward whole-file decode of a legacy llama2.c checkpoint, in our layout ([in, out], rotate-half q/k). */
function wholeFileDecode(file: string): Map<string, Float32Array> {
  const buf = fs.readFileSync(file);
  const [dim, hidden, L, heads, kvHeads, vocabSigned, seqLen] = Array.from({ length: 7 }, (_, i) =>
    buf.readInt32LE(4 * i),
  );
  const V = Math.abs(vocabSigned);
  const hs = dim / heads;
  const kvDim = kvHeads * hs;
  const all = new Float32Array(buf.buffer.slice(buf.byteOffset + 28, buf.byteOffset + buf.length));
  let o = 0;
  const take = (n: number) => all.slice(o, (o += n));
  const transpose = (a: Float32Array, rows: number, cols: number) => {
    const t = new Float32Array(a.length);
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = a[r * cols + c];
    return t;
  };
  // row (h, 2i) → (h, i), (h, 2i+1) → (h, i + hs/2)
  const halves = (a: Float32Array, nh: number) => {
    const t = new Float32Array(a.length);
    for (let h = 0; h < nh; h++) {
      for (let j = 0; j < hs; j++) {
        const dst = h * hs + (j % 2 === 0 ? j / 2 : (j - 1) / 2 + hs / 2);
        t.set(a.subarray((h * hs + j) * dim, (h * hs + j + 1) * dim), dst * dim);
      }
    }
    return t;
  };
  const m = new Map<string, Float32Array>();
  const embed = take(V * dim);
  m.set('embed', embed);
  const per = (key: string, n: number, f: (a: Float32Array) => Float32Array) => {
    for (let l = 0; l < L; l++) m.set(`${l}.${key}`, f(take(n)));
  };
  per('inputNorm', dim, (a) => a);
  per('q', dim * dim, (a) => transpose(halves(a, heads), dim, dim));
  per('k', kvDim * dim, (a) => transpose(halves(a, kvHeads), kvDim, dim));
  per('v', kvDim * dim, (a) => transpose(a, kvDim, dim));
  per('o', dim * dim, (a) => transpose(a, dim, dim));
  per('postNorm', dim, (a) => a);
  per('gate', hidden * dim, (a) => transpose(a, hidden, dim));
  per('down', dim * hidden, (a) => transpose(a, dim, hidden));
  per('up', hidden * dim, (a) => transpose(a, hidden, dim));
  m.set('finalNorm', take(dim));
  take(seqLen * hs);
  m.set('lmHead', transpose(vocabSigned > 0 ? embed : take(V * dim), V, dim));
  assert.equal(o, all.length);
  return m;
}

const bytes = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

for (const [label, file] of [
  ['stories260K (GQA, tied)', stories260K.bin],
  ['tinystories-llama-mha', tinyMha.bin],
]) {
  test(`llama2c streamed: ${label} weights equal a whole-file decode, bit for bit`, () => {
    const d = readLlama2c(file);
    const expected = wholeFileDecode(file);
    const ws = weights(d);
    assert.equal(ws.length, expected.size);
    for (const [key, w] of ws) {
      const v = w.read();
      assert.equal(
        v.length,
        w.shape.reduce((a, b) => a * b, 1),
        key,
      );
      assert.ok(bytes(v).equals(bytes(expected.get(key)!)), `${key} differs`);
      assert.equal(w.storedBytesPerElement, 4);
    }
    assert.equal(d.lmHead.name, d.config.tiedEmbeddings ? 'model.embed_tokens.weight' : 'lm_head.weight');
    // read() may be called again: same values, a fresh array (nothing kept in memory between calls).
    const [a, b] = [d.layerWeights[1].q.read(), d.layerWeights[1].q.read()];
    assert.notEqual(a, b);
    assert.ok(bytes(a).equals(bytes(b)));
  });
}

test('llama2c streamed: stories260K .bin weights equal the ONNX export of the same model', () => {
  const bin = weights(readLlama2c(stories260K.bin));
  const onnx = new Map(weights(loadDecoder(stories260K.onnx)));
  for (const [key, w] of bin) {
    const o = onnx.get(key)!;
    assert.deepEqual(o.shape, w.shape, key);
    const [x, y] = [w.read(), o.read()];
    let worst = 0;
    for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(x[i] - y[i]));
    assert.ok(worst < 1e-6, `${key}: max |Δ| ${worst}`);
  }
});

test('llama2c streamed: a checkpoint over 2 GiB opens and a weight past 2 GiB reads (sparse file)', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'llama2c-big-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'big.bin');
  // Llama-2-7B-like shapes with 3 layers and a separate classifier: 3,478,671,388 bytes.
  const [dim, hidden, L, heads, kvHeads, vocab, seqLen] = [4096, 11008, 3, 32, 32, 32000, 2048];
  const hs = dim / heads;
  const floats = vocab * dim + L * (2 * dim + 4 * dim * dim + 3 * dim * hidden) + dim + seqLen * hs + vocab * dim;
  const size = 28 + 4 * floats;
  assert.ok(size > 2 ** 31 + 2 ** 30);
  const header = Buffer.alloc(28);
  [dim, hidden, L, heads, kvHeads, -vocab, seqLen].forEach((v, i) => header.writeInt32LE(v, 4 * i));
  // rms_final and the first classifier row lie beyond 2 GiB: give them known values, the rest stays sparse zeros.
  const finalAt = 28 + 4 * (vocab * dim + L * (2 * dim + 4 * dim * dim + 3 * dim * hidden));
  const wclsAt = finalAt + 4 * (dim + seqLen * hs);
  assert.ok(finalAt > 2 ** 31);
  const norm = Float32Array.from({ length: dim }, (_, i) => i + 0.5);
  const row0 = Float32Array.from({ length: dim }, (_, i) => -i);
  const fd = fs.openSync(file, 'w');
  try {
    fs.ftruncateSync(fd, size);
    fs.writeSync(fd, header, 0, 28, 0);
    fs.writeSync(fd, bytes(norm), 0, 4 * dim, finalAt);
    fs.writeSync(fd, bytes(row0), 0, 4 * dim, wclsAt);
  } finally {
    fs.closeSync(fd);
  }

  const d = readLlama2c(file);
  assert.deepEqual([d.config.layers, d.config.hidden, d.config.vocab, d.config.tiedEmbeddings], [L, dim, vocab, false]);
  assert.equal(d.lmHead.name, 'lm_head.weight');
  assert.ok(bytes(d.finalNorm.read()).equals(bytes(norm)));
  const down = d.layerWeights[L - 1].down.read(); // also past 2 GiB: zeros
  assert.equal(down.length, dim * hidden);
  assert.ok(down.every((v) => v === 0));
  const head = d.lmHead.read(); // [dim, vocab]: column 0 is classifier row 0
  assert.deepEqual(
    Array.from({ length: dim }, (_, i) => head[i * vocab]),
    Array.from(row0),
  );
  assert.ok(head.every((v, i) => i % vocab === 0 || v === 0));

  // Inspect and convert read it; a job that would run it asks for one conversion instead of a copy per session.
  assert.throws(
    () => loadRunnableDecoder(file),
    (e: unknown) =>
      e instanceof UserError &&
      /over 1 GiB of weights in llama2\.c format.*subnet-search convert .*big\.bin --out DIR/.test(e.message),
  );

  // One byte short: the same message as before.
  fs.truncateSync(file, size - 1);
  assert.throws(
    () => readLlama2c(file),
    (e: unknown) =>
      e instanceof UserError &&
      e.message ===
        `big.bin: size ${size - 1} bytes does not match its header (expected ${size} for dim ${dim}, ${L} layers, vocab ${vocab}); truncated or not legacy format`,
  );
});

test('llama2c streamed: short and implausible files keep their messages', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'llama2c-bad-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const short = path.join(dir, 'short.bin');
  fs.writeFileSync(short, Buffer.alloc(10));
  assert.throws(() => readLlama2c(short), /short\.bin: too short for a llama2\.c checkpoint header \(10 bytes\)/);
  const junk = path.join(dir, 'junk.bin');
  fs.writeFileSync(junk, Buffer.alloc(64));
  assert.throws(
    () => readLlama2c(junk),
    /junk\.bin: not a llama2\.c checkpoint \(header 0,0,0,0,0,0,0 is not plausible\)/,
  );
  assert.throws(() => readLlama2c(path.join(dir, 'absent.bin')), /absent\.bin: file not found/);
});
