import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MARKER, OutputFolder } from '../../src/util/outputFolder';
import { writeFileAtomic } from '../../src/util/atomicWrite';
import { EnvironmentError, JobCancelledError, UserError } from '../../src/util/errors';
import { writeModelFile } from '../../src/onnx/writeModel';
import { GraphBuilder } from '../../src/graph/graph';
import { DataType } from '../../src/onnx/proto';
import { tempDir } from '../fixtures';

/** A pid that no process has now: one of a child that has exited. */
function deadPid(): number {
  return spawnSync(process.execPath, ['-e', '0']).pid!;
}

function writeMarker(out: string, pid: number, hostname = os.hostname()) {
  fs.mkdirSync(`${out}.partial`, { recursive: true });
  fs.writeFileSync(
    path.join(`${out}.partial`, MARKER),
    JSON.stringify({ pid, hostname, started: '2025-01-01T00:00:00.000Z', token: 'x' }),
  );
}

/** Linux's always-full device stands in for a full disk. */
const noFullDevice = !fs.existsSync('/dev/full');

/** Points `<file>.tmp-<our pid>` at /dev/full, so the next write through that temporary fails with ENOSPC. */
function fullDiskFor(file: string) {
  fs.symlinkSync('/dev/full', `${file}.tmp-${process.pid}`);
}

const exists = (f: string) => {
  try {
    fs.lstatSync(f);
    return true;
  } catch {
    return false;
  }
};

test('a .partial folder the user made (no marker) is neither reused nor deleted', () => {
  const out = path.join(tempDir(), 'x');
  fs.mkdirSync(`${out}.partial`);
  fs.writeFileSync(`${out}.partial/n.txt`, 'keep\n');
  for (const resume of [false, true]) {
    assert.throws(
      () => new OutputFolder(out, { resume }),
      (e: unknown) =>
        e instanceof UserError &&
        /x\.partial exists but was not made by subnet-search.*move or delete it yourself/.test(e.message),
    );
  }
  assert.equal(fs.readFileSync(`${out}.partial/n.txt`, 'utf8'), 'keep\n');
});

test('abort removes the files jobs write, not the ones the user put in the folder meanwhile', () => {
  const out = path.join(tempDir(), 'x');
  const f = new OutputFolder(out);
  fs.writeFileSync(f.file('masks.json'), '{}');
  fs.writeFileSync(f.file('notes.txt'), 'mine');
  f.abort();
  assert.deepEqual(
    fs.readdirSync(f.tmp).filter((n) => n !== MARKER),
    ['notes.txt'],
  );
  const g = new OutputFolder(path.join(path.dirname(out), 'y'));
  fs.writeFileSync(g.file('model.onnx'), 'x');
  g.abort();
  assert.ok(!fs.existsSync(g.tmp), 'a folder of job files only is removed whole');
});

test('a second job on the same --out while the first runs is refused, naming its pid', async () => {
  const out = path.join(tempDir(), 'x');
  const first = new OutputFolder(out);
  assert.throws(
    () => new OutputFolder(out, { resume: true }),
    new RegExp(`another subnet-search job \\(pid ${process.pid}, started .*\\) is writing`),
  );
  first.abort();
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)']);
  try {
    writeMarker(out, child.pid!);
    assert.throws(() => new OutputFolder(out), new RegExp(`pid ${child.pid}\\b.*wait for it or stop it`));
    assert.ok(fs.existsSync(path.join(`${out}.partial`, MARKER)), 'the running job keeps its lock');
  } finally {
    child.kill();
  }
  writeMarker(path.join(path.dirname(out), 'z'), 1234, 'another-host');
  assert.throws(
    () => new OutputFolder(path.join(path.dirname(out), 'z'), { resume: true }),
    /pid 1234 on host another-host/,
  );
});

test("a stale marker (its pid gone) is taken over by --resume: the checkpoint stays, the killed job's temporaries go", () => {
  const out = path.join(tempDir(), 'x');
  writeMarker(out, deadPid());
  fs.writeFileSync(`${out}.partial/search-checkpoint.json`, '{"version":2}');
  fs.writeFileSync(`${out}.partial/model.onnx.tmp-999999`, 'half a model');
  const f = new OutputFolder(out, { resume: true });
  assert.deepEqual(fs.readdirSync(f.tmp).sort(), [MARKER, 'search-checkpoint.json']);
  assert.equal(JSON.parse(fs.readFileSync(f.file(MARKER), 'utf8')).pid, process.pid);
  f.keep();
  const again = new OutputFolder(out, { resume: true }); // this process's finished job is stale too
  again.abort();
});

test('without --resume a stale job folder starts afresh, but files of the user in it stop the job', () => {
  const out = path.join(tempDir(), 'x');
  writeMarker(out, deadPid());
  fs.writeFileSync(`${out}.partial/masks.json`, '{}');
  new OutputFolder(out).abort();
  writeMarker(out, deadPid());
  fs.writeFileSync(`${out}.partial/n.txt`, 'keep');
  assert.throws(() => new OutputFolder(out), /holds files subnet-search did not write \(n\.txt\)/);
  assert.equal(fs.readFileSync(`${out}.partial/n.txt`, 'utf8'), 'keep');
});

test('--out "" and an output folder that cannot be made are user / environment errors, not internal ones', () => {
  assert.throws(
    () => new OutputFolder(''),
    (e: unknown) => e instanceof UserError && /--out is empty/.test(e.message),
  );
  const dir = tempDir();
  const ro = path.join(dir, 'ro');
  fs.mkdirSync(ro, { mode: 0o555 });
  // Root writes anywhere; a read-only pseudo file system refuses even root.
  const parent = process.getuid?.() === 0 ? '/sys' : ro;
  assert.throws(
    () => new OutputFolder(path.join(parent, 'x')),
    (e: unknown) =>
      e instanceof EnvironmentError &&
      e.exitCode === 74 &&
      /cannot write .*x\.partial: .*(permission denied|not permitted|read-only)/.test(e.message),
  );
});

test(
  'writeFileAtomic: a full disk leaves the old file whole, no temporary, and names the file',
  { skip: noFullDevice },
  () => {
    const file = path.join(tempDir(), 'search-checkpoint.json');
    writeFileAtomic(file, '{"generation":1}');
    fullDiskFor(file);
    assert.throws(
      () => writeFileAtomic(file, '{"generation":2}'),
      (e: unknown) => e instanceof EnvironmentError && e.message.includes(`cannot write ${file}: the disk is full`),
    );
    assert.equal(fs.readFileSync(file, 'utf8'), '{"generation":1}');
    assert.deepEqual(fs.readdirSync(path.dirname(file)), ['search-checkpoint.json']);
  },
);

test(
  'writeModelFile: a full disk leaves no temporary behind (inline and external data)',
  { skip: noFullDevice },
  () => {
    const g = new GraphBuilder();
    const x = g.input('X', DataType.FLOAT, [1, 4]);
    g.output(g.op('MatMul', [x, g.initializer('W', [4, 300], new Float32Array(1200))]), 'Y', DataType.FLOAT, [1, 300]);
    for (const [externalData, trap] of [
      ['never', 'model.onnx'],
      ['always', 'model.onnx_data'],
    ] as const) {
      const dir = tempDir();
      fullDiskFor(path.join(dir, trap));
      assert.throws(
        () => writeModelFile(g.model('m', ''), g.tensors, path.join(dir, 'model.onnx'), { externalData }),
        /cannot write .*model\.onnx: the disk is full/,
      );
      assert.deepEqual(
        fs.readdirSync(dir).filter((f) => exists(path.join(dir, f))),
        [],
        `${externalData}: nothing left`,
      );
    }
  },
);

test(
  'a failure after the model is finished keeps it and says where it is; before, a cancel keeps only the checkpoint',
  { skip: noFullDevice },
  () => {
    const out = path.join(tempDir(), 'x');
    const f = new OutputFolder(out);
    fs.writeFileSync(f.file('model.onnx'), 'model');
    f.markModelFinished();
    fullDiskFor(f.file('report.json'));
    let err: unknown;
    try {
      writeFileAtomic(f.file('report.json'), '{}');
    } catch (e) {
      err = f.fail(e);
    }
    assert.ok(
      err instanceof EnvironmentError &&
        /cannot write .*report\.json: the disk is full.*the finished model is in .*x\.partial/.test(err.message),
      String(err),
    );
    assert.ok(fs.existsSync(f.file('model.onnx')));
    assert.ok(!exists(`${f.file('report.json')}.tmp-${process.pid}`));

    const g = new OutputFolder(path.join(path.dirname(out), 'y'));
    fs.writeFileSync(g.file('masks.json'), '{}');
    fs.writeFileSync(g.file('model.onnx'), 'not measured yet');
    const c = g.fail(new DOMException('This operation was aborted', 'AbortError'), ['masks.json']);
    assert.ok(
      c instanceof JobCancelledError &&
        c.exitCode === 130 &&
        /^cancelled; .*y\.partial keeps what was done: rerun with --resume/.test(c.message),
      String(c),
    );
    assert.deepEqual(fs.readdirSync(g.tmp).sort(), [MARKER, 'masks.json']);
  },
);

test('a symbolic link as --out is refused up front (it used to fail at commit with an internal error), its target untouched', () => {
  const dir = tempDir();
  const target = path.join(dir, 'elsewhere');
  fs.mkdirSync(target);
  const link = path.join(dir, 'out');
  fs.symlinkSync(target, link);
  for (const out of [link, `${link}/`]) {
    assert.throws(
      () => new OutputFolder(out),
      (e: unknown) =>
        e instanceof UserError &&
        e.exitCode === 2 &&
        /output folder .*out\/? is a symbolic link \(to .*elsewhere\); give the path of a new folder/.test(e.message),
    );
  }
  assert.deepEqual(fs.readdirSync(dir).sort(), ['elsewhere', 'out']);
  assert.deepEqual(fs.readdirSync(target), []);
});
