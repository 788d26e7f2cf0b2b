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
  /** Free swap the job could page to (slow, but not fatal): the host's, or less where a cgroup limits swap. */
  swapBytes: number;
  /** The cgroup memory limit of the level that leaves the least, where that is less than the host leaves. */
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

/** A limit this large is none: v1 writes "no limit" as 2⁶³ rounded to pages (v2 as "max"). */
const UNLIMITED = 2 ** 62;

/** What one cgroup folder, or the tightest of them, leaves: memory under its limit, and swap under its swap limit. */
interface CgroupRoom {
  memory?: { limit: number; room: number };
  swap?: number;
}

/**
 * One cgroup folder: its memory limit less what it uses that the kernel could not reclaim first (the page cache,
 * files read as the model was, and on v2 reclaimable kernel slabs; not shared memory, which only swap can take),
 * and the swap it still allows where it limits that (v2's memory.swap.max, with or without a memory limit; v1's
 * memsw, memory and swap together, beyond its memory limit).
 */
function cgroupRoom(dir: string, v2: boolean): CgroupRoom {
  const at = (name: string) => bytesIn(path.join(dir, name));
  const limited = (b: number | undefined) => (b !== undefined && b < UNLIMITED ? b : undefined);
  const limit = limited(at(v2 ? 'memory.max' : 'memory.limit_in_bytes'));
  const used = at(v2 ? 'memory.current' : 'memory.usage_in_bytes');
  const out: CgroupRoom = {};
  if (limit !== undefined && used !== undefined) {
    const stat = read(path.join(dir, 'memory.stat'));
    const reclaimable =
      (field(stat, v2 ? 'file' : 'total_cache') ?? 0) -
      (field(stat, v2 ? 'shmem' : 'total_shmem') ?? 0) +
      (v2 ? (field(stat, 'slab_reclaimable') ?? 0) : 0);
    out.memory = { limit, room: Math.max(0, limit - Math.max(0, used - Math.max(0, reclaimable))) };
  }
  if (v2) {
    const swapLimit = limited(at('memory.swap.max'));
    if (swapLimit !== undefined) out.swap = Math.max(0, swapLimit - (at('memory.swap.current') ?? 0));
  } else if (limit !== undefined && used !== undefined) {
    const [both, bothUsed] = [limited(at('memory.memsw.limit_in_bytes')), at('memory.memsw.usage_in_bytes')];
    if (both !== undefined && bothUsed !== undefined) out.swap = Math.max(0, both - limit - (bothUsed - used));
  }
  return out;
}

/**
 * The cgroup limits on this process, from its own cgroup up to the root of the hierarchy mounted: the level that
 * leaves the least memory, and the least swap any level allows.
 */
function tightestCgroup(files: MemoryFiles): CgroupRoom {
  const tightest: CgroupRoom = {};
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
      const r = cgroupRoom(path.join(mount, dir), v2);
      if (r.memory && (!tightest.memory || r.memory.room < tightest.memory.room)) tightest.memory = r.memory;
      if (r.swap !== undefined) tightest.swap = Math.min(tightest.swap ?? Infinity, r.swap);
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
  const cg = tightestCgroup(files);
  const swapBytes = Math.min(Number.isFinite(kb('SwapFree')) ? kb('SwapFree') : 0, cg.swap ?? Infinity);
  return cg.memory && cg.memory.room < host
    ? { bytes: cg.memory.room, swapBytes, cgroupLimit: cg.memory.limit }
    : { bytes: host, swapBytes };
}

/**
 * Memory a job may fill now, to size what it holds at once (caches, two models side by side): the room above, or
 * on macOS and Windows, where only the total is known, the OS's free memory, which errs small.
 */
export function availableMemory(): number {
  const room = memoryRoom();
  return room.total ? os.freemem() : room.bytes;
}
