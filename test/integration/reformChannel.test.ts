// The two options of `compress` that had no test of their own: the paper's ADMM reformation and the search at
// head-dimension (channel) granularity, on the stories260K fixture (5 layers, 8 heads / 4 KV heads of dim 8).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runCli } from '../cli';
import { demoText, stories260K, tempDir, tokenWindows } from '../fixtures';
import { fullMask } from '../../src/compress/subnet';
import { reformDecoder } from '../../src/compress/reform/reformation';
import { DEFAULT_REFORM } from '../../src/compress/reform/reformLayer';
import { loadDecoder } from '../../src/model/recognise';
import type { CompressReport } from '../../src/job/compressReport';
import type { MasksFile } from '../../src/compress/masksFile';

const QUICK = [
  '--preset',
  'quick',
  '--generations',
  '3',
  '--population',
  '8',
  '--seq-len',
  '128',
  '--fitness-windows',
  '8',
  '--calib-windows',
  '8',
  '--provider',
  'cpu',
];

function compress(out: string, ratio: string, extra: string[]): CompressReport {
  const r = runCli([
    'compress',
    stories260K.onnx,
    '--ratio',
    ratio,
    '--calib',
    demoText,
    '--out',
    out,
    ...QUICK,
    '--json',
    ...extra,
  ]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
}

const close = (a: number, b: number, rel: number) => Math.abs(a - b) / Math.abs(b) <= rel;

test('compress --reform-method admm: every layer reconstructs better than unreformed, as well as closed form, and perplexity falls', () => {
  const dir = tempDir();
  // The same Wanda-sp masks for both methods, so only the reformation differs.
  const admm = compress(path.join(dir, 'admm'), '0.8', ['--method', 'wanda-sp', '--reform-method', 'admm']);
  const closedForm = compress(path.join(dir, 'cf'), '0.8', ['--method', 'wanda-sp']);
  assert.equal(admm.reformation?.method, 'admm');
  assert.equal(closedForm.reformation?.method, 'closed-form');
  assert.equal(admm.reformation!.layers.length, 5);
  for (const l of admm.reformation!.layers) {
    for (const m of [l.o, l.down])
      assert.ok(m.errorAfter < 0.85 * m.errorBefore, `layer ${l.layer}: ${m.errorBefore} → ${m.errorAfter}`);
  }
  // Layer 0 sees the same inputs under both methods: ADMM (30 iterations) reaches the least-squares optimum within 5 %.
  const [a0, c0] = [admm.reformation!.layers[0], closedForm.reformation!.layers[0]];
  assert.equal(a0.o.errorBefore, c0.o.errorBefore);
  for (const k of ['o', 'down'] as const)
    assert.ok(
      close(a0[k].errorAfter, c0[k].errorAfter, 0.05),
      `${k}: ADMM ${a0[k].errorAfter} vs closed form ${c0[k].errorAfter}`,
    );
  assert.equal(admm.ppl.search, closedForm.ppl.search);
  assert.ok(
    admm.ppl.after < 0.6 * admm.ppl.search,
    `reformation lowers perplexity: ${admm.ppl.search} → ${admm.ppl.after}`,
  );
  assert.ok(
    close(admm.ppl.after, closedForm.ppl.after, 0.05),
    `ADMM ${admm.ppl.after} vs closed form ${closedForm.ppl.after}`,
  );
  assert.ok(
    close(admm.ppl.exported, admm.ppl.after, 1e-4),
    `exported ${admm.ppl.exported} vs masked ${admm.ppl.after}`,
  );
});

test('compress --granularity channel: the search keeps the ratio and whole rotary pairs; the export has per-layer head dims and the masked perplexity', () => {
  const out = path.join(tempDir(), 'channel');
  const r = compress(out, '0.7', ['--granularity', 'channel']);
  assert.equal(r.granularity, 'channel');
  assert.ok(r.ratio <= 0.7 && r.ratio >= 0.69, `ratio ${r.ratio}`);
  const masks = JSON.parse(fs.readFileSync(path.join(out, 'masks.json'), 'utf8')) as MasksFile;
  assert.equal(masks.granularity, 'channel');
  // Channel granularity removes rotary pairs (i, i + 4) from every head, never a head.
  for (const l of masks.layers) {
    assert.deepEqual(l.heads, [0, 1, 2, 3, 4, 5, 6, 7]);
    assert.ok(
      l.pairs.length >= 1 && l.pairs.every((p, i) => p >= 0 && p < 4 && (i === 0 || p > l.pairs[i - 1])),
      `pairs ${l.pairs}`,
    );
  }
  assert.ok(
    masks.layers.some((l) => l.pairs.length < 4),
    'the search prunes head dimensions somewhere',
  );
  const d = loadDecoder(path.join(out, 'model.onnx'));
  assert.deepEqual(
    d.layers.map((s) => [s.heads, s.kvHeads, s.headDim, s.intermediate]),
    masks.layers.map((l) => [8, 4, 2 * l.pairs.length, l.mlp.length]),
  );
  assert.deepEqual(
    d.layers.map((s) => s.ropePairs),
    masks.layers.map((l) => l.pairs),
  );
  assert.ok(close(r.params.after / r.params.before, r.ratio, 1e-9));
  assert.ok(r.ppl.after < r.ppl.search, `reformation lowers perplexity: ${r.ppl.search} → ${r.ppl.after}`);
  for (const p of [r.pplCalibration])
    assert.ok(close(p.exported, p.after, 1e-4), `exported ${p.exported} vs masked ${p.after}`);
});

test('reformation skips a module that keeps every row; a flagged one still gets its (zero) compensation bias', async () => {
  const d = loadDecoder(stories260K.onnx);
  // Layer 0 drops a quarter of its MLP channels; everything else is kept whole.
  const mask = fullMask(d).map((m, l) => (l === 0 ? { ...m, mlp: m.mlp.map((_, c) => c % 4 !== 0) } : m));
  const flags = d.layers.map(() => ({ attn: true, mlp: true }));
  const windows = tokenWindows(stories260K.onnx, d.config.vocab, demoText, 64, 4);
  const r = await reformDecoder(d, mask, windows, DEFAULT_REFORM, { provider: 'cpu' }, undefined, flags);
  assert.equal(r.layers[0].down.allKept, undefined, 'layer 0 down_proj refitted');
  assert.ok(r.layers[0].down.errorAfter < r.layers[0].down.errorBefore);
  assert.notDeepEqual(r.decoder.layerWeights[0].down.read(), d.layerWeights[0].down.read());
  r.layers.forEach((e, l) => {
    assert.equal(e.o.allKept, true, `layer ${l} o_proj kept whole`);
    assert.equal(r.decoder.layerWeights[l].o, d.layerWeights[l].o, `layer ${l} o_proj: the same weight, not a copy`);
    assert.ok(
      r.decoder.layerWeights[l].oBias?.read().every((v) => v === 0),
      `layer ${l}: a zero o_proj bias`,
    );
    assert.ok(r.decoder.layerWeights[l].downBias, `layer ${l}: a down_proj bias`);
  });
});
