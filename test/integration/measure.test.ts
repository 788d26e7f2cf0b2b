// The measurement at the end of a job: at 7B on a CPU its perplexities, latency runs and resident-memory processes
// take minutes, which its progress bars show and a Ctrl-C must not wait for.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadDecoder } from '../../src/model/recognise';
import { latencySetup, measureLatency } from '../../src/runtime/latency';
import { residentBytes } from '../../src/runtime/residentMemory';
import { createSession } from '../../src/runtime/session';
import { windowsNll } from '../../src/runtime/perplexity';
import { runWeightStage } from '../../src/job/weightStage';
import { compressModel } from '../../src/job/compress';
import type { JobEvent } from '../../src/job/protocol';
import { JobCancelledError } from '../../src/util/errors';
import { demoText, stories260K, tempDir } from '../fixtures';

const isAbortError = (e: unknown) => e instanceof Error && e.name === 'AbortError';

test('latency runs, perplexity batches and the resident-memory process stop at a cancel', async () => {
  const d = loadDecoder(stories260K.onnx);
  const cancelled = AbortSignal.abort();
  await assert.rejects(
    measureLatency([{ file: stories260K.onnx, layers: d.layers }], {
      ...latencySetup(d.config.maxPositions),
      vocab: d.config.vocab,
      provider: 'cpu',
      signal: cancelled,
    }),
    isAbortError,
  );
  const s = await createSession(stories260K.onnx, { provider: 'cpu' });
  try {
    await assert.rejects(windowsNll(s.session, [[1, 2, 3]], { layers: d.layers, signal: cancelled }), isAbortError);
  } finally {
    await s.session.release();
  }
  // Cancelled while its process loads the model: the process is stopped, and the promise says why.
  const controller = new AbortController();
  const measuring = residentBytes(stories260K.onnx, d.layers, 'cpu', controller.signal);
  controller.abort();
  await assert.rejects(measuring, isAbortError);
});

test('`sparsify` cancelled as its measurement starts stops inside it (not after it, before the report): no output folder', async () => {
  const out = path.join(tempDir(), 's');
  const controller = new AbortController();
  const job = runWeightStage({
    model: stories260K.onnx,
    out,
    stage: { sparsity: { method: 'magnitude', pattern: { kind: 'unstructured', sparsity: 0.5 } } },
    calib: demoText,
    seqLen: 128,
    evalWindows: 4,
    provider: 'cpu',
    signal: controller.signal,
    onEvent: (e: JobEvent) => e.type === 'stage' && e.stage === 'measure' && controller.abort(),
  });
  await assert.rejects(
    job,
    (e: unknown) => e instanceof JobCancelledError && /^cancelled; nothing was kept/.test(e.message),
  );
  assert.ok(!fs.existsSync(out) && !fs.existsSync(`${out}.partial`));
});

test('`quantize` shows the progress of each part of its measurement, each bar ending full', async () => {
  const progress = new Map<string, { done: number; total: number; unit: string }>();
  await runWeightStage({
    model: stories260K.onnx,
    out: path.join(tempDir(), 'q'),
    stage: { quant: { bits: 4, blockSize: 32, symmetric: true, gptq: false } },
    calib: demoText,
    seqLen: 128,
    evalWindows: 4,
    provider: 'cpu',
    onEvent: (e: JobEvent) => e.type === 'progress' && e.stage.startsWith('measure') && progress.set(e.stage, e),
  });
  const stage = 'int4 symmetric block 32 (RTN)';
  assert.deepEqual(
    [...progress].map(([name, { done, total, unit }]) => [name, done === total, unit]),
    [
      ['measure: latency', true, 'runs'],
      ['measure: perplexity of original', true, 'windows'],
      [`measure: perplexity of ${stage}`, true, 'windows'],
      ['measure: resident memory', true, 'models'],
    ],
  );
  assert.equal(progress.get('measure: perplexity of original')!.total, 4);
  assert.equal(progress.get('measure: resident memory')!.total, 2);
});

test("`compress` shows the progress of each model's perplexity and of the latency runs", async () => {
  const progress = new Map<string, { done: number; total: number; unit: string }>();
  await compressModel({
    model: stories260K.onnx,
    method: 'flap',
    ratio: 0.8,
    calib: demoText,
    out: path.join(tempDir(), 'c'),
    seqLen: 128,
    fitnessWindows: 4,
    calibWindows: 4,
    provider: 'cpu',
    onEvent: (e: JobEvent) => e.type === 'progress' && e.stage.startsWith('measure') && progress.set(e.stage, e),
  });
  assert.deepEqual(
    [...progress].map(([name, { done, total, unit }]) => [name, done === total, unit]),
    [
      ['measure: perplexity of original', true, 'windows'],
      ['measure: perplexity of the masks', true, 'windows'],
      ['measure: perplexity of reformed', true, 'windows'],
      ['measure: perplexity of the export', true, 'windows'],
      ['measure: latency', true, 'runs'],
    ],
  );
});
