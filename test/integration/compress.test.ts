import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runCli } from '../cli';
import { cliPath, demoText, stories260K, tempDir, texts } from '../fixtures';
import { loadDecoder } from '../../src/model/recognise';
import { createSession } from '../../src/runtime/session';
import { generateGreedy } from '../../src/runtime/generate';
import { describeRuns, latencySetup, measureLatency } from '../../src/runtime/latency';
import { loadModelTokenizer } from '../../src/text/tokenizer';

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

function compress(out: string, extra: string[] = []) {
  const r = runCli([
    'compress',
    stories260K.onnx,
    '--ratio',
    '0.8',
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

const dir = tempDir();
const out = path.join(dir, 'compressed');
let report: ReturnType<typeof compress>;

test('compress: search → reformation → export writes a smaller model folder and a report', () => {
  report = compress(out, ['--eval', texts.tinyStoriesValid, '--eval-windows', '20']);
  assert.deepEqual(fs.readdirSync(out).sort(), [
    'config.json',
    'genai_config.json',
    'generation_config.json',
    'masks.json',
    'model.onnx',
    'report.json',
    'report.md',
    'tokenizer.json',
    'tokenizer_config.json',
  ]);
  // masks.json counts what the exported model holds (its compensation biases included).
  const masks = JSON.parse(fs.readFileSync(path.join(out, 'masks.json'), 'utf8'));
  assert.deepEqual(
    [masks.params, masks.totalParams, masks.ratio],
    [report.params.after, report.params.before, report.ratio],
  );
  assert.equal(report.params.before, 292800);
  assert.ok(
    Math.abs(report.params.after / report.params.before - 0.8) <= 0.008,
    `ratio ${report.params.after / report.params.before}`,
  );
  assert.ok(report.fileBytes.after < report.fileBytes.before * 0.82);
  assert.ok(report.kvCacheBytesPerToken.after <= report.kvCacheBytesPerToken.before);
  assert.ok(
    report.ppl.after < report.ppl.search,
    `reformation lowers held-out perplexity: ${report.ppl.search} → ${report.ppl.after}`,
  );
  assert.ok(report.ppl.before < report.ppl.after);
  assert.equal(report.reformation.layers.length, 5);
  for (const l of report.reformation.layers)
    assert.ok(l.down.errorAfter < l.down.errorBefore && l.o.errorAfter <= l.o.errorBefore);
  assert.ok(report.latency.original.decodeTokensPerSecond > 0 && report.latency.compressed.decodeTokensPerSecond > 0);
  assert.match(fs.readFileSync(path.join(out, 'report.md'), 'utf8'), /\| parameters \| 292800 \| \d+ \|/);
  assert.deepEqual([report.latency.original.reps, report.latency.original.decodeTokens], [5, 64]);
  assert.match(fs.readFileSync(path.join(out, 'report.md'), 'utf8'), /median of 5 interleaved runs of 64 decode steps/);
  // Where the time went, stage by stage, in the order the job ran them.
  assert.deepEqual(
    report.stageTimes.map((t: { stage: string }) => t.stage),
    ['open', 'calibration statistics', 'search', 'reformation', 'export', 'measure'],
  );
  const total = report.stageTimes.reduce((a: number, t: { seconds: number }) => a + t.seconds, 0);
  assert.ok(total > 0 && total <= report.seconds + 1e-6, `stages ${total} s of ${report.seconds} s`);
  assert.match(
    fs.readFileSync(path.join(out, 'report.md'), 'utf8'),
    /\nTime: open \d+ s, calibration statistics \d+ s, search \d+ s, reformation \d+ s, export \d+ s, measure \d+ s \(\d+ s in all\)\.\n/,
  );
});

test('latency over its time budget: one counted run of 8 decode steps, and the result says so', async () => {
  const d = loadDecoder(stories260K.onnx);
  const [l] = await measureLatency([{ file: stories260K.onnx, layers: d.layers }], {
    provider: 'cpu',
    ...latencySetup(d.config.maxPositions),
    vocab: d.config.vocab,
    budgetSeconds: 0,
  });
  assert.deepEqual([l.reps, l.decodeTokens], [1, 8]);
  assert.ok(l.decodeTokensPerSecond > 0 && l.prefillMs > 0);
});

test('latency of models too large to hold together: one after another, with the same runs, and the result says so', async () => {
  const d = loadDecoder(stories260K.onnx);
  const model = { file: stories260K.onnx, layers: d.layers };
  const setup = { provider: 'cpu' as const, ...latencySetup(d.config.maxPositions), vocab: d.config.vocab };
  const measured = await measureLatency([model, model], { ...setup, budgetSeconds: 0, availableBytes: 0 });
  assert.deepEqual(
    measured.map((l) => [l.interleaved, l.reps, l.decodeTokens]),
    [
      [false, 1, 8],
      [false, 1, 8],
    ],
  );
  assert.equal(
    describeRuns(measured[1]),
    'one run of 8 decode steps, one model after another (too large to hold together)',
  );
  const together = await measureLatency([model, model], { ...setup, budgetSeconds: 0 });
  assert.deepEqual(
    together.map((l) => l.interleaved),
    [true, true],
  );
});

test('compress: the exported file measures the same perplexity as the masked evaluation of the reformed model (≤ 1e-4)', () => {
  for (const p of [report.pplCalibration, report.pplHeldOut]) {
    assert.ok(Math.abs(p.exported - p.after) / p.after <= 1e-4, `exported ${p.exported} vs masked ${p.after}`);
  }
  const r = runCli([
    'eval',
    path.join(out, 'model.onnx'),
    '--text',
    texts.tinyStoriesValid,
    '--seq-len',
    '128',
    '--windows',
    '20',
    '--json',
  ]);
  assert.equal(JSON.parse(r.stdout).ppl.toFixed(6), report.pplHeldOut.exported.toFixed(6));
});

test('compress: the exported model reads back with its per-layer shapes and generates in plain onnxruntime-node', async () => {
  const d = loadDecoder(path.join(out, 'model.onnx'));
  assert.deepEqual(
    d.layers.map((s) => [s.heads, s.kvHeads, s.headDim, s.intermediate]),
    report.compressed.layers.map((l: { heads: number; kvHeads: number; headDim: number; intermediate: number }) => [
      l.heads,
      l.kvHeads,
      l.headDim,
      l.intermediate,
    ]),
  );
  const s = await createSession(path.join(out, 'model.onnx'), { provider: 'cpu' });
  const ids = await generateGreedy(s.session, d.layers, [1, 403, 407, 261, 378], { maxTokens: 40, stopIds: [1, 2] });
  assert.equal(ids.length, 40);
  assert.match(loadModelTokenizer(path.join(out, 'model.onnx'), 512).decode(ids), /^Once upon a time/);
});

test('compress: transformers.js (a client we did not write) loads the folder offline and generates our tokens', async () => {
  const { AutoModelForCausalLM, AutoTokenizer, env } = await import('@huggingface/transformers');
  env.allowRemoteModels = false;
  env.localModelPath = `${dir}/`;
  const tok = await AutoTokenizer.from_pretrained('compressed');
  const model = await AutoModelForCausalLM.from_pretrained('compressed', {
    subfolder: '',
    dtype: 'fp32',
    device: 'cpu',
  });
  const inputs = tok('Once upon a time');
  const generated = (await model.generate({ ...inputs, max_new_tokens: 40, do_sample: false })) as {
    tolist(): bigint[][];
  };
  const theirs = generated.tolist()[0].map(Number);
  const d = loadDecoder(path.join(out, 'model.onnx'));
  const s = await createSession(path.join(out, 'model.onnx'), { provider: 'cpu' });
  const ours = await generateGreedy(s.session, d.layers, theirs.slice(0, 5), { maxTokens: theirs.length, stopIds: [] });
  assert.deepEqual(theirs, ours);
});

test('compress --method wanda-sp --no-reform: a baseline replaces the search and is exported as it is', () => {
  const o = path.join(tempDir(), 'w');
  const r = compress(o, ['--method', 'wanda-sp', '--no-reform']);
  assert.equal(r.method, 'wanda-sp');
  assert.equal(r.reformation, undefined);
  assert.ok(Math.abs(r.ppl.exported - r.ppl.search) / r.ppl.search <= 1e-4);
  assert.equal(r.ppl.after, r.ppl.search);
});

test('compress: killed during the job leaves no model.onnx in the output folder; --resume finishes it', async () => {
  const o = path.join(tempDir(), 'k');
  const child = spawn(
    process.execPath,
    [cliPath, 'compress', stories260K.onnx, '--ratio', '0.8', '--calib', demoText, '--out', o, ...QUICK],
    { stdio: 'ignore' },
  );
  await new Promise<void>((resolve, reject) => {
    const timer = setInterval(() => {
      if (fs.existsSync(`${o}.partial/masks.json`)) {
        clearInterval(timer);
        child.kill('SIGKILL');
        resolve();
      }
    }, 10);
    child.on('exit', () => reject(new Error('finished before it could be killed')));
  });
  await new Promise((r) => child.on('exit', r));
  assert.ok(!fs.existsSync(path.join(o, 'model.onnx')));
  const r = compress(o, ['--resume']);
  assert.ok(fs.existsSync(path.join(o, 'model.onnx')));
  assert.ok(!fs.existsSync(`${o}.partial`));
  assert.deepEqual(r.params, report.params, 'same masks as the uninterrupted run');
});
