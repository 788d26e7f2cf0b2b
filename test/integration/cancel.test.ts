// Cancelling after the search (reformation, export, measurement, or a whole baseline compress) stops the job.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { compressModel } from '../../src/job/compress';
import type { JobEvent } from '../../src/job/protocol';
import { JobCancelledError } from '../../src/util/errors';
import { runCli } from '../cli';
import { cliPath, demoText, stories260K, tempDir } from '../fixtures';

const FLAP = [
  '--method',
  'flap',
  '--ratio',
  '0.8',
  '--calib',
  demoText,
  '--seq-len',
  '128',
  '--fitness-windows',
  '8',
  '--calib-windows',
  '8',
  '--provider',
  'cpu',
];

/** `compress --method flap` in this process, aborted at the first event `when` picks. */
async function cancelledAt(when: (e: JobEvent) => boolean) {
  const out = path.join(tempDir(), 'c');
  const controller = new AbortController();
  const onEvent = (e: JobEvent) => when(e) && controller.abort();
  const job = compressModel({
    model: stories260K.onnx,
    method: 'flap',
    ratio: 0.8,
    calib: demoText,
    out,
    seqLen: 128,
    fitnessWindows: 8,
    calibWindows: 8,
    provider: 'cpu',
    signal: controller.signal,
    onEvent,
  });
  await assert.rejects(
    job,
    (e: unknown) =>
      e instanceof JobCancelledError &&
      e.exitCode === 130 &&
      /^cancelled.*c\.partial keeps what was done: rerun with --resume/.test(e.message),
  );
  assert.ok(!fs.existsSync(out), 'no output folder');
  assert.ok(!fs.existsSync(path.join(`${out}.partial`, 'model.onnx')), 'no model, not even under the temporary name');
  assert.ok(fs.existsSync(path.join(`${out}.partial`, 'masks.json')), 'the masks stay for --resume');
  return out;
}

test('cancel after the last layer of reformation: the job stops before export', async () => {
  await cancelledAt((e) => e.type === 'reform' && e.layer.layer === e.layers - 1);
});

test('cancel as the export starts: no model is committed', async () => {
  await cancelledAt((e) => e.type === 'stage' && e.stage === 'export');
});

test('cancel during measurement: the measured job is not committed, and --resume then finishes it', async () => {
  const out = await cancelledAt((e) => e.type === 'stage' && e.stage === 'measure');
  const r = runCli(['compress', stories260K.onnx, ...FLAP, '--out', out, '--resume', '--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(fs.existsSync(path.join(out, 'model.onnx')));
  assert.ok(!fs.existsSync(`${out}.partial`));
  assert.ok(
    !fs.readdirSync(out).some((f) => f.startsWith('.') || f.includes('.tmp-')),
    'no marker or temporary committed',
  );
});

test('Ctrl-C during `compress --method flap` exits 130 with "cancelled" and writes no output folder', async () => {
  const out = path.join(tempDir(), 'k');
  const child = spawn(process.execPath, [cliPath, 'compress', stories260K.onnx, ...FLAP, '--out', out], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  let sent = false;
  child.stderr.on('data', (b: Buffer) => {
    stderr += b.toString();
    // Once: a second Ctrl-C ends the process the hard way, as a user's second press should.
    if (!sent && /reformation…/.test(stderr)) sent = child.kill('SIGINT');
  });
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  assert.equal(code, 130, stderr);
  assert.match(stderr, /subnet-search: cancelled/);
  assert.doesNotMatch(stderr, /internal error/);
  assert.ok(!fs.existsSync(out));
});

test('SIGTERM while `sparsify --profile search` builds its database: exit 130, neither the output nor the database is left', async () => {
  const out = path.join(tempDir(), 'p');
  const database = path.join(`${out}.partial`, 'profile-database');
  const args = ['--sparsity', '0.5', '--profile', 'search', '--calib', demoText, '--seq-len', '128'];
  const child = spawn(
    process.execPath,
    [cliPath, 'sparsify', stories260K.onnx, ...args, '--calib-windows', '8', '--provider', 'cpu', '--out', out],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  // `kill` and `timeout` send SIGTERM: the job must clean up as on Ctrl-C, not die with its scratch files on disk.
  let sent = false;
  const poll = setInterval(() => {
    if (!sent && fs.existsSync(database) && fs.readdirSync(database).length > 0) sent = child.kill('SIGTERM');
  }, 20);
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  clearInterval(poll);
  assert.ok(sent, `the database was never seen: ${stderr}`);
  assert.equal(code, 130, stderr);
  assert.match(stderr, /subnet-search: cancelled/);
  assert.doesNotMatch(stderr, /internal error/);
  assert.ok(!fs.existsSync(out), 'no output folder');
  assert.ok(!fs.existsSync(`${out}.partial`), 'no partial folder, database included');
});

const hasScript = spawnSync('script', ['--version']).status === 0;

test(
  'under a terminal, with a progress bar on screen, SIGTERM still ends the job: exit 130, nothing left',
  { skip: !hasScript && 'no `script` (util-linux / bsdutils) to run the CLI under a pseudo-terminal' },
  async () => {
    const out = path.join(tempDir(), 't');
    const args = ['sparsify', stories260K.onnx, '--sparsity', '0.5', '--profile', 'search'];
    const rest = ['--profile-generations', '2000', '--calib', demoText, '--seq-len', '128', '--calib-windows', '8'];
    const quoted = [process.execPath, cliPath, ...args, ...rest, '--provider', 'cpu', '--out', out]
      .map((a) => `'${a.replace(/'/g, `'\\''`)}'`)
      .join(' ');
    // A terminal bar redraws on a timer that keeps Node alive: the job must take it down when cancelled.
    const child = spawn('script', ['-qfec', quoted, '/dev/null'], { stdio: 'ignore' });
    const marker = path.join(`${out}.partial`, '.subnet-search-job.json');
    const database = path.join(`${out}.partial`, 'profile-database');
    let pid: number | undefined;
    const poll = setInterval(() => {
      if (pid === undefined && fs.existsSync(database) && fs.readdirSync(database).length > 0) {
        pid = JSON.parse(fs.readFileSync(marker, 'utf8')).pid as number;
        setTimeout(() => process.kill(pid!, 'SIGTERM'), 1000); // into the search's generations, bar drawn
      }
    }, 20);
    const hung = setTimeout(() => child.kill('SIGKILL'), 60_000);
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    clearInterval(poll);
    clearTimeout(hung);
    assert.ok(pid, 'the job was never seen building its database');
    assert.equal(code, 130, 'script returns the job’s exit code; SIGKILL after 60 s means the job hung');
    assert.ok(!fs.existsSync(out) && !fs.existsSync(`${out}.partial`), 'nothing left');
  },
);
