// A disk too small for the export is refused before the first heavy step, as an environment error that says how
// much is needed and where, with nothing left behind (needs root for a small tmpfs; skipped elsewhere).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { compressModel } from '../../src/job/compress';
import { runWeightStage } from '../../src/job/weightStage';
import type { JobEvent } from '../../src/job/protocol';
import { EnvironmentError } from '../../src/util/errors';
import { demoText, stories260K, tempDir } from '../fixtures';

/** Runs `body` on a 256 KiB tmpfs (stories260K's export is about 1 MiB), unmounted after. */
async function onSmallDisk(t: TestContext, body: (disk: string) => Promise<void>): Promise<void> {
  const disk = tempDir();
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', disk], { stdio: 'ignore' });
  } catch {
    t.skip('cannot mount a tmpfs here (needs root)');
    return;
  }
  try {
    await body(disk);
  } finally {
    execFileSync('umount', [disk]);
  }
}

const refused = (out: string) => (e: unknown) =>
  e instanceof EnvironmentError &&
  e.exitCode === 74 &&
  new RegExp(
    `^the export \\(with the weights computed on the way\\) needs [0-9.]+ (KiB|MiB) in ${out}\\.partial, which has [0-9.]+ KiB free; free some space there, or give an --out on a disk with more room; nothing was kept$`,
  ).test(e.message);

test('compress on a disk too small for its export: refused before the calibration statistics, nothing left', async (t) => {
  await onSmallDisk(t, async (disk) => {
    const out = path.join(disk, 'c');
    const stages: string[] = [];
    const job = compressModel({
      model: stories260K.onnx,
      method: 'flap',
      ratio: 0.8,
      calib: demoText,
      out,
      seqLen: 128,
      provider: 'cpu',
      onEvent: (e: JobEvent) => e.type === 'stage' && stages.push(e.stage),
    });
    await assert.rejects(job, refused(out));
    assert.ok(!stages.includes('calibration statistics'), stages.join(', '));
    assert.deepEqual(fs.readdirSync(disk), []);
  });
});

test('sparsify on a disk too small for its export: refused before the stage, nothing left', async (t) => {
  await onSmallDisk(t, async (disk) => {
    const out = path.join(disk, 's');
    const stages: string[] = [];
    const job = runWeightStage({
      model: stories260K.onnx,
      out,
      stage: { sparsity: { method: 'magnitude', pattern: { kind: 'unstructured', sparsity: 0.5 } } },
      calib: demoText,
      seqLen: 128,
      provider: 'cpu',
      onEvent: (e: JobEvent) => e.type === 'stage' && stages.push(e.stage),
    });
    await assert.rejects(job, refused(out));
    assert.deepEqual(stages, []);
    assert.deepEqual(fs.readdirSync(disk), []);
  });
});
