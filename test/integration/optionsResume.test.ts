// `--resume` continues the job it was started as: other arguments are refused, listed; the report keeps its
// search section (issue 15 #3).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { compressModel } from '../../src/job/compress';
import { searchModel } from '../../src/job/search';
import { scheduleOverrides } from '../../src/job/options';
import { PRESETS } from '../../src/compress/search/evolution';
import { JobCancelledError } from '../../src/util/errors';
import type { JobEvent } from '../../src/job/protocol';
import { runCli } from '../cli';
import { demoText, stories260K, tempDir } from '../fixtures';

// The same job through the CLI and through the job API.
const CLI = [
  '--ratio',
  '0.8',
  '--calib',
  demoText,
  '--preset',
  'quick',
  '--generations',
  '2',
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
const API = {
  model: stories260K.onnx,
  ratio: 0.8,
  calib: demoText,
  preset: 'quick' as const,
  schedule: scheduleOverrides(PRESETS.quick, { generations: 2, population: 8 }),
  seqLen: 128,
  fitnessWindows: 8,
  calibWindows: 8,
  provider: 'cpu' as const,
};

/** A job of the API cancelled at the first event `when` picks; its temporary folder stays for --resume. */
async function interrupted(
  job: (signal: AbortSignal, onEvent: (e: JobEvent) => void) => Promise<unknown>,
  when: (e: JobEvent) => boolean,
) {
  const controller = new AbortController();
  await assert.rejects(
    job(controller.signal, (e) => when(e) && controller.abort()),
    (e: unknown) => e instanceof JobCancelledError,
  );
}

test('compress --resume with another --ratio and --method is refused, listing both; the masks stay', async () => {
  const out = path.join(tempDir(), 'c');
  await interrupted(
    (signal, onEvent) => compressModel({ ...API, out, signal, onEvent }),
    (e) => e.type === 'stage' && e.stage === 'reformation',
  );
  assert.ok(fs.existsSync(`${out}.partial/masks.json`));
  const r = runCli([
    'compress',
    stories260K.onnx,
    ...CLI.map((a) => (a === '0.8' ? '0.5' : a)),
    '--method',
    'flap',
    '--out',
    out,
    '--resume',
  ]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(
    r.stderr,
    /--resume: the interrupted job in .*c\.partial was started with other arguments: .*--method search \(now flap\)/,
  );
  assert.match(r.stderr, /--ratio 0\.8 \(now 0\.5\)/);
  assert.match(r.stderr, /Rerun with the arguments it was started with, or start afresh without --resume/);
  assert.ok(fs.existsSync(`${out}.partial/masks.json`), 'kept for a resume with the right arguments');

  // With the same arguments it finishes; a new reformation setting is honoured and said; the search section stays.
  const ok = runCli(['compress', stories260K.onnx, ...CLI, '--no-reform', '--out', out, '--resume']);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stderr, /resuming with new arguments for the stages after the masks: --reform true \(now false\)/);
  const report = JSON.parse(fs.readFileSync(path.join(out, 'report.json'), 'utf8'));
  assert.equal(report.method, 'search');
  assert.equal(report.targetRatio, 0.8);
  assert.equal(report.reformation, undefined);
  assert.equal(report.search.history.length, 3, 'the search section of the interrupted run');
  assert.ok(report.search.evaluations > 0 && report.search.fitness.best > 0);
  assert.match(fs.readFileSync(path.join(out, 'report.md'), 'utf8'), /Search: \d+ candidates evaluated/);
  assert.deepEqual(
    fs.readdirSync(out).filter((f) => /job-arguments|search-summary|checkpoint/.test(f)),
    [],
    'working files are not committed',
  );
});

test('search --resume with another --seed is refused, naming it', async () => {
  const out = path.join(tempDir(), 's');
  await interrupted(
    (signal, onEvent) => searchModel({ ...API, out, signal, onEvent }),
    (e) => e.type === 'generation',
  );
  assert.ok(fs.existsSync(`${out}.partial/search-checkpoint.json`));
  const r = runCli(['search', stories260K.onnx, ...CLI, '--seed', '4', '--out', out, '--resume']);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /was started with other arguments: --seed 0 \(now 4\)\./);
  const ok = runCli(['search', stories260K.onnx, ...CLI, '--out', out, '--resume', '--json']);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(JSON.parse(ok.stdout).history.length, 3);
});
