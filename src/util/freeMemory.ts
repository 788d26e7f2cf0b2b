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
  /** Free swap the host could page to (slow, but not fatal); 0 under a cgroup limit, which counts it against the job. */
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

/**
 * What one cgroup folder leaves: its limit, minus what it uses that the kernel could not reclaim (inactive file
 * pages can be: Docker's `usage − inactive_file`). v2 names the files memory.max/current, v1 limit_in_bytes/usage_in_bytes.
 */
function cgroupRoom(dir: string, v2: boolean, hostTotal: number): { limit: number; room: number } | undefined {
  const limit = Number(read(path.join(dir, v2 ? 'memory.max' : 'memory.limit_in_bytes'))?.trim());
  const used = Number(read(path.join(dir, v2 ? 'memory.current' : 'memory.usage_in_bytes'))?.trim());
  // "max" (v2) or a page-rounded 2⁶³ (v1): no limit.
  if (!Number.isFinite(limit) || !Number.isFinite(used) || limit >= hostTotal) return undefined;
  const stat = read(path.join(dir, 'memory.stat'));
  const reclaimable = field(stat, v2 ? 'inactive_file' : 'total_inactive_file') ?? 0;
  return { limit, room: Math.max(0, limit - Math.max(0, used - reclaimable)) };
}

/** The tightest cgroup limit on this process, from its own cgroup up to the root of the hierarchy mounted. */
function tightestCgroup(files: MemoryFiles, hostTotal: number): { limit: number; room: number } | undefined {
  let tightest: { limit: number; room: number } | undefined;
  for (const line of (read(path.join(files.proc, 'self', 'cgroup')) ?? '').split('\n')) {
    const [, controllers, own] = line.split(':');
    if (own === undefined) continue;
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
    ? { bytes: cg.room, swapBytes: 0, cgroupLimit: cg.limit }
    : { bytes: host, swapBytes: swap };
}
