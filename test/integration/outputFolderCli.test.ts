// The output folder as the CLI user meets it: folders of the user's, a second job, a broken disk, a cut checkpoint.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runWeightStage } from '../../src/job/weightStage';
import { EnvironmentError } from '../../src/util/errors';
import { runCli } from '../cli';
import { cliPath, demoText, stories260K, tempDir } from '../fixtures';

const SEARCH = [
  'search',
  stories260K.onnx,
  '--ratio',
  '0.8',
  '--calib',
  demoText,
  '--preset',
  'quick',
  '--generations',
  '5',
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
  '--json',
];

test('convert does not delete a <out>.partial folder the user made', () => {
  const dir = tempDir();
  fs.mkdirSync(path.join(dir, 'x.partial'));
  fs.writeFileSync(path.join(dir, 'x.partial', 'n.txt'), 'keep\n');
  const r = runCli(['convert', stories260K.bin, '--out', path.join(dir, 'x')]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(
    r.stderr,
    /x\.partial exists but was not made by subnet-search .*move or delete it yourself, or choose another --out/,
  );
  assert.equal(fs.readFileSync(path.join(dir, 'x.partial', 'n.txt'), 'utf8'), 'keep\n');
  assert.ok(!fs.existsSync(path.join(dir, 'x')));
});

test('a second job with the same --out is refused, naming the running one, which then finishes undisturbed', async () => {
  const out = path.join(tempDir(), 's');
  const first = spawn(process.execPath, [cliPath, ...SEARCH, '--out', out], { stdio: 'ignore' });
  const exited = new Promise<number | null>((resolve) => first.on('exit', resolve));
  while (!fs.existsSync(path.join(`${out}.partial`, '.subnet-search-job.json')))
    await new Promise((r) => setTimeout(r, 10));
  const second = runCli([...SEARCH, '--out', out]);
  assert.equal(second.code, 2, second.stderr);
  assert.match(
    second.stderr,
    new RegExp(`another subnet-search job \\(pid ${first.pid}, started .*\\) is writing .*s; wait for it or stop it`),
  );
  assert.equal(await exited, 0, 'the first job was left alone');
  assert.ok(fs.existsSync(path.join(out, 'masks.json')));
});

test('search --resume without a checkpoint leaves no empty .partial folder', () => {
  const dir = tempDir();
  const r = runCli([...SEARCH, '--out', path.join(dir, 'x'), '--resume']);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /--resume: no checkpoint in .*x\.partial; start without --resume/);
  assert.deepEqual(fs.readdirSync(dir), []);
});

test('search --resume from a checkpoint cut short by a full disk: a user error saying to start afresh', () => {
  const out = path.join(tempDir(), 'cut');
  fs.mkdirSync(`${out}.partial`);
  fs.writeFileSync(`${out}.partial/search-checkpoint.json`, '{"version":2,"generation":3,"population":[{"lay');
  const r = runCli([...SEARCH, '--out', out, '--resume']);
  assert.equal(r.code, 2, r.stderr);
  assert.match(
    r.stderr,
    /--resume: the checkpoint .*search-checkpoint\.json cannot be read \(.*JSON.*\); start afresh without --resume/,
  );
  assert.doesNotMatch(r.stderr, /internal error/);
  assert.ok(fs.existsSync(`${out}.partial/search-checkpoint.json`), 'kept: the user decides');
});

test('--out "" and an output parent that cannot be written are not reported as internal errors', () => {
  const dir = tempDir();
  const empty = runCli(['convert', stories260K.bin, '--out', ''], dir);
  assert.equal(empty.code, 2, empty.stderr);
  assert.match(empty.stderr, /--out is empty: give the path of a new folder/);
  assert.deepEqual(fs.readdirSync(dir), []);
  // Root writes anywhere; a read-only pseudo file system refuses even root.
  const ro = path.join(dir, 'ro');
  fs.mkdirSync(ro, { mode: 0o555 });
  const parent = process.getuid?.() === 0 ? '/sys' : ro;
  const r = runCli(['convert', stories260K.bin, '--out', path.join(parent, 'x')]);
  assert.equal(r.code, 74, r.stderr);
  assert.match(
    r.stderr,
    /subnet-search: cannot write .*x\.partial: (permission denied|operation not permitted|the file system is read-only); choose/,
  );
  assert.doesNotMatch(r.stderr, /internal error|please report/);
});

test(
  'a full disk while writing report.json keeps the finished model and says where it is',
  { skip: !fs.existsSync('/dev/full') },
  async () => {
    const out = path.join(tempDir(), 'q');
    const report = path.join(`${out}.partial`, 'report.json');
    // /dev/full as the report's temporary: the 10 KB report fails to write with ENOSPC, the model before it did not.
    const onEvent = (e: { type: string; stage?: string }) =>
      e.type === 'stage' && e.stage === 'measure' && fs.symlinkSync('/dev/full', `${report}.tmp-${process.pid}`);
    const job = runWeightStage({
      model: stories260K.onnx,
      out,
      stage: { quant: { bits: 8, blockSize: 32, symmetric: true, gptq: false } },
      evalText: demoText,
      evalWindows: 4,
      seqLen: 128,
      provider: 'cpu',
      onEvent,
    });
    await assert.rejects(
      job,
      (e: unknown) =>
        e instanceof EnvironmentError &&
        /cannot write .*report\.json: the disk is full.*the finished model is in .*q\.partial/.test(e.message),
    );
    assert.ok(fs.statSync(path.join(`${out}.partial`, 'model.onnx')).size > 0);
    assert.ok(!fs.existsSync(out));
    assert.ok(!fs.readdirSync(`${out}.partial`).some((f) => f.includes('.tmp-')), 'the failed temporary is gone');
  },
);
