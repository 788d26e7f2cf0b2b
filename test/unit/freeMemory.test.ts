// The memory a job may still fill, from /proc and cgroup files (copies here), and what a job is told before it starts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { memoryRoom, type MemoryFiles, type MemoryRoom } from '../../src/util/freeMemory';
import { memoryCheck, MEMORY_BEYOND_WEIGHTS } from '../../src/job/memoryCheck';
import { EnvironmentError } from '../../src/util/errors';
import { jobExitMessage } from '../../src/extension/childJob';
import { SHAPES, randomDecoder } from '../../bench/randomModels';
import { totalCounts } from '../../src/model/params';

const GiB = 2 ** 30;

/** A /proc and a cgroup mount with `files` (paths relative to the temporary root) written. */
function fakeRoots(files: Record<string, string>): MemoryFiles {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'subnet-search-memory-'));
  for (const [file, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
    fs.writeFileSync(path.join(root, file), text);
  }
  return { proc: path.join(root, 'proc'), cgroup: path.join(root, 'cgroup') };
}

const meminfo = (availableGiB: number, swapGiB = 0) =>
  `MemTotal:       ${64 * 2 ** 20} kB\nMemFree:         1000 kB\nMemAvailable:   ${availableGiB * 2 ** 20} kB\nSwapTotal:      ${swapGiB * 2 ** 20} kB\nSwapFree:       ${swapGiB * 2 ** 20} kB\n`;

test('without a cgroup limit the room is the host MemAvailable, and its free swap', () => {
  const files = fakeRoots({
    'proc/meminfo': meminfo(10, 2),
    'proc/self/cgroup': '0::/user.slice\n',
    'cgroup/user.slice/memory.max': 'max\n',
    'cgroup/user.slice/memory.current': `${GiB}\n`,
  });
  assert.deepEqual(memoryRoom(files), { bytes: 10 * GiB, swapBytes: 2 * GiB });
});

test('a cgroup v1 limit below the host: limit − (usage − page cache but shared memory), swap as memsw allows', () => {
  const tree = (memsw: Record<string, string>) =>
    fakeRoots({
      'proc/meminfo': meminfo(20, 8),
      'proc/self/cgroup': '9:pids:/\n4:cpu,memory:/job\n1:name=systemd:/\n',
      'cgroup/memory/job/memory.limit_in_bytes': `${4 * GiB}\n`,
      'cgroup/memory/job/memory.usage_in_bytes': `${3 * GiB}\n`,
      // Active file pages are reclaimed before the job is killed too; shared memory is not.
      'cgroup/memory/job/memory.stat': `cache 100\ntotal_cache ${1.5 * GiB}\ntotal_shmem ${GiB / 2}\ntotal_inactive_file 0\n`,
      // The mount's root: no limit (2⁶³ rounded to pages).
      'cgroup/memory/memory.limit_in_bytes': '9223372036854771712\n',
      'cgroup/memory/memory.usage_in_bytes': `${8 * GiB}\n`,
      ...memsw,
    });
  assert.deepEqual(memoryRoom(tree({})), { bytes: 2 * GiB, swapBytes: 8 * GiB, cgroupLimit: 4 * GiB });
  // memsw: memory and swap together, 6 GiB of which 3.5 in use: 2 GiB of swap allowed, 0.5 used.
  const limited = tree({
    'cgroup/memory/job/memory.memsw.limit_in_bytes': `${6 * GiB}\n`,
    'cgroup/memory/job/memory.memsw.usage_in_bytes': `${3.5 * GiB}\n`,
  });
  assert.deepEqual(memoryRoom(limited), { bytes: 2 * GiB, swapBytes: 1.5 * GiB, cgroupLimit: 4 * GiB });
});

test('a cgroup v2 limit on a parent of the process cgroup counts; the host wins when it has less', () => {
  const tree = (available: number) =>
    fakeRoots({
      'proc/meminfo': meminfo(available),
      'proc/self/cgroup': '0::/system.slice/job.service\n',
      'cgroup/system.slice/memory.max': `${6 * GiB}\n`,
      'cgroup/system.slice/memory.current': `${2 * GiB}\n`,
      // Reclaimable kernel slabs (dentries, inodes) are freed before the job is killed.
      'cgroup/system.slice/memory.stat': `anon 5\nfile 0\nslab_reclaimable ${GiB}\n`,
      'cgroup/system.slice/memory.swap.max': '0\n',
      'cgroup/system.slice/job.service/memory.max': 'max\n',
      'cgroup/system.slice/job.service/memory.current': `${GiB}\n`,
    });
  assert.deepEqual(memoryRoom(tree(30)), { bytes: 5 * GiB, swapBytes: 0, cgroupLimit: 6 * GiB });
  assert.deepEqual(memoryRoom(tree(3)), { bytes: 3 * GiB, swapBytes: 0 });
});

test('a swap limit on any level counts, even one that limits no memory, and whichever leaves less memory', () => {
  const files = fakeRoots({
    'proc/meminfo': meminfo(10, 8),
    'proc/self/cgroup': '0::/system.slice/job.service\n',
    'cgroup/system.slice/memory.max': 'max\n',
    'cgroup/system.slice/memory.current': `${GiB}\n`,
    'cgroup/system.slice/memory.swap.max': '0\n',
    'cgroup/system.slice/job.service/memory.max': `${20 * GiB}\n`,
    'cgroup/system.slice/job.service/memory.current': `${GiB}\n`,
  });
  assert.deepEqual(memoryRoom(files), { bytes: 10 * GiB, swapBytes: 0 });
});

test('a limit file that is empty or "max" is no limit, and a cgroup path may hold colons', () => {
  const files = fakeRoots({
    'proc/meminfo': meminfo(10),
    'proc/self/cgroup': '0::/a:b/job\n',
    'cgroup/a:b/job/memory.max': '\n',
    'cgroup/a:b/job/memory.current': `${GiB}\n`,
    'cgroup/a:b/memory.max': `${3 * GiB}\n`,
    'cgroup/a:b/memory.current': `${GiB}\n`,
    'cgroup/memory.max': 'max\n',
    'cgroup/memory.current': `${GiB}\n`,
  });
  assert.deepEqual(memoryRoom(files), { bytes: 2 * GiB, swapBytes: 0, cgroupLimit: 3 * GiB });
});

test('without /proc/meminfo (macOS, Windows) the room is all the memory there is', () => {
  assert.deepEqual(memoryRoom(fakeRoots({})), { bytes: os.totalmem(), total: true, swapBytes: 0 });
});

test('memoryCheck: weights beyond memory and swap are refused before the work, a tight fit is warned of', () => {
  // TinyLlama-1.1B's shape in fp16 (random weights): 2.2e9 bytes of weights.
  const d = randomDecoder(SHAPES['tinyllama-1.1b'], 'float16');
  d.source.path = '/models/tinyllama/model.onnx';
  const check = (room: MemoryRoom) => memoryCheck(d, room, undefined);
  const weights = totalCounts(d).bytes;
  assert.throws(
    () => check({ bytes: 1 * GiB, swapBytes: 0.5 * GiB }),
    (e: unknown) =>
      e instanceof EnvironmentError &&
      e.exitCode === 74 &&
      e.message ===
        "tinyllama/model.onnx's weights take 2.0 GiB, which every job holds in memory at once, and 1.0 GiB of memory (and 0.5 GiB of swap) are available; close other programs or run on a machine with more memory (SUBNET_SEARCH_MEMORY_CHECK=warn runs the job anyway)",
  );
  assert.throws(
    () => check({ bytes: 1.5 * GiB, swapBytes: 0, cgroupLimit: 2 * GiB }),
    /1\.5 GiB of memory are available under this process's cgroup limit of 2\.0 GiB; raise the limit \(a container: docker run --memory\)/,
  );
  // Enough swap to hold them: warned (the job would crawl or be stopped), not refused.
  assert.match(
    check({ bytes: 1 * GiB, swapBytes: 4 * GiB }) ?? '',
    /^tinyllama\/model\.onnx's weights take 2\.0 GiB and a job needs about 1\.5 GiB more, but 1\.0 GiB of memory \(and 4\.0 GiB of swap\) are available: the system may stop the job when memory runs out \(Linux says "Killed"\)/,
  );
  assert.match(check({ bytes: weights + MEMORY_BEYOND_WEIGHTS - 1, swapBytes: 0 }) ?? '', /may stop the job/);
  // Where only the total is known (macOS, Windows), or the user says so, a refusal is a warning.
  assert.match(
    check({ bytes: 1 * GiB, total: true, swapBytes: 0 }) ?? '',
    /but 1\.0 GiB of memory are all the machine has: the system may stop the job/,
  );
  assert.match(memoryCheck(d, { bytes: 1 * GiB, swapBytes: 0 }, 'warn') ?? '', /may stop the job/);
  assert.match(memoryCheck(d, { bytes: 1 * GiB, swapBytes: 0 }, 'WARN') ?? '', /may stop the job/);
  assert.equal(check({ bytes: weights + MEMORY_BEYOND_WEIGHTS, swapBytes: 0 }), undefined);
});

test('the extension tells a job killed by the system (SIGKILL) from one stopped or failed', () => {
  assert.match(
    jobExitMessage(null, 'SIGKILL'),
    /^the job process was killed \(SIGKILL\), most often by the system when memory runs out/,
  );
  assert.equal(jobExitMessage(null, 'SIGTERM'), 'the job process was stopped (SIGTERM)');
  assert.equal(jobExitMessage(3, null), 'the job process exited with code 3');
});
