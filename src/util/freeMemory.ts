import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** Memory this process can still fill before the system stops it, and what bounds it. */
export interface MemoryRoom {
  /**
   * Bytes of memory available now: the host's MemAvailable, or less under a cgroup limit; without /proc/meminfo
   * (macOS, Windows) all the memory there is, as the OS's free memory leaves out what it would reclaim (macOS reports
   * a few hundred MB free on an idle 16 GB machine).
   */
  bytes: number;
  /** Whether `bytes` is all the memory there is rather than what is available now. */
  total?: boolean;
  /** Free swap the job could page to (slow, but not fatal): the host's, or less where a cgroup limits swap too. */
  swapBytes: number;
  /** The cgroup memory limit that leaves less than the host does (a container, a systemd slice), when there is one. */
  cgroupLimit?: number;
}

/** The root folders read: the real ones, or a test's copies. */
export interface MemoryFiles {
  proc: string;
  cgroup: string;
}

const read = (file: string) => {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
};

/** A `key value` line of /proc/meminfo (kB) or of a cgroup's memory.stat (bytes). */
function field(text: string | undefined, key: string): number | undefined {
  const m = text?.match(new RegExp(`^${key}:?\\s+(\\d+)`, 'm'));
  return m ? Number(m[1]) : undefined;
}

/** A cgroup file holding one number of bytes; "max", an empty or a missing file: undefined. */
function bytesIn(file: string): number | undefined {
  const text = read(file)?.trim() ?? '';
  return /^\d+$/.test(text) ? Number(text) : undefined;
}

interface CgroupRoom {
  limit: number;
  room: number;
  /** Swap the cgroup still allows, where it limits swap. */
  swap?: number;
}

/**
 * What one cgroup folder leaves: its limit, minus what it uses that the kernel could not reclaim first (the page
 * cache, files read as the model was, but not shared memory, which only swap can take). Its swap, where it limits
 * that too: v2's memory.swap.max, v1's memsw (memory and swap together) beyond its memory limit.
 */
function cgroupRoom(dir: string, v2: boolean, hostTotal: number): CgroupRoom | undefined {
  const at = (name: string) => bytesIn(path.join(dir, name));
  const limit = at(v2 ? 'memory.max' : 'memory.limit_in_bytes');
  const used = at(v2 ? 'memory.current' : 'memory.usage_in_bytes');
  // "max" (v2) or a page-rounded 2⁶³ (v1): no limit.
  if (limit === undefined || used === undefined || limit >= hostTotal) return undefined;
  const stat = read(path.join(dir, 'memory.stat'));
  const cache = (field(stat, v2 ? 'file' : 'total_cache') ?? 0) - (field(stat, v2 ? 'shmem' : 'total_shmem') ?? 0);
  const room = Math.max(0, limit - Math.max(0, used - Math.max(0, cache)));
  const [swapLimit, swapUsed] = v2
    ? [at('memory.swap.max'), at('memory.swap.current')]
    : [at('memory.memsw.limit_in_bytes'), at('memory.memsw.usage_in_bytes')].map((b, i) =>
        b === undefined ? undefined : b - (i === 0 ? limit : used),
      );
  const swap = swapLimit !== undefined && swapLimit < hostTotal ? Math.max(0, swapLimit - (swapUsed ?? 0)) : undefined;
  return { limit, room, swap };
}

/** The tightest cgroup limit on this process, from its own cgroup up to the root of the hierarchy mounted. */
function tightestCgroup(files: MemoryFiles, hostTotal: number): CgroupRoom | undefined {
  let tightest: CgroupRoom | undefined;
  for (const line of (read(path.join(files.proc, 'self', 'cgroup')) ?? '').split('\n')) {
    // hierarchy-ID:controllers:path, where the path may hold colons of its own.
    const [, controllers, ...rest] = line.split(':');
    if (!rest.length) continue;
    const own = rest.join(':');
    const v2 = controllers === '';
    if (!v2 && !controllers.split(',').includes('memory')) continue;
    const mount = v2 ? files.cgroup : path.join(files.cgroup, 'memory');
    // In a container the hierarchy is often mounted at the process's own cgroup: its path may not exist below it.
    for (let dir = path.posix.normalize(own); ; dir = path.posix.dirname(dir)) {
      const r = cgroupRoom(path.join(mount, dir), v2, hostTotal);
      if (r && (!tightest || r.room < tightest.room)) tightest = r;
      if (dir === '/' || dir === '.') break;
    }
  }
  return tightest;
}

/** The memory this process can still use (Linux: /proc and cgroups read; elsewhere all the memory there is). */
export function memoryRoom(files: MemoryFiles = { proc: '/proc', cgroup: '/sys/fs/cgroup' }): MemoryRoom {
  const meminfo = read(path.join(files.proc, 'meminfo'));
  const kb = (key: string) => (field(meminfo, key) ?? NaN) * 1024;
  if (!Number.isFinite(kb('MemAvailable'))) return { bytes: os.totalmem(), total: true, swapBytes: 0 };
  const host = kb('MemAvailable');
  const swap = Number.isFinite(kb('SwapFree')) ? kb('SwapFree') : 0;
  const cg = tightestCgroup(files, Number.isFinite(kb('MemTotal')) ? kb('MemTotal') : os.totalmem());
  return cg && cg.room < host
    ? { bytes: cg.room, swapBytes: Math.min(swap, cg.swap ?? Infinity), cgroupLimit: cg.limit }
    : { bytes: host, swapBytes: swap };
}
