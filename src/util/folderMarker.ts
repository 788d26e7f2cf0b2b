// The marker in an output folder's temporary (`<out>.partial`): which job made the folder, and the lock it holds
// while it runs. A marker whose job no longer runs is stale and may be taken over.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomUUID } from 'node:crypto';
import { UserError } from './errors';
import { tempName } from './atomicWrite';

/** Inside `<out>.partial`: proves that a job made the folder (so it may delete there), and locks it while that job runs. */
export const MARKER = '.subnet-search-job.json';

export interface Marker {
  pid: number;
  hostname: string;
  started: string;
  token: string;
  /** Set when the job ended and left the folder for --resume, while its process may live on (a library caller). */
  released?: boolean;
}

/** Tokens of this process's jobs that hold their folder now: a marker with our own pid may be an earlier job's. */
const held = new Set<string>();

export function newMarker(): Marker {
  return { pid: process.pid, hostname: os.hostname(), started: new Date().toISOString(), token: randomUUID() };
}

/** This process's job holds its folder from now on. */
export function hold(m: Marker): void {
  held.add(m.token);
}

/** This process's job no longer holds its folder. */
export function release(m: Marker): void {
  held.delete(m.token);
}

function readMarker(file: string): Marker | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as Marker;
  } catch {
    return undefined; // unreadable: no job can be told from it, so it counts as stale
  }
}

function isRunning(m: Marker): boolean {
  if (m.released) return false;
  if (m.hostname !== os.hostname()) return true; // another machine's pid cannot be checked from here
  if (m.pid === process.pid) return held.has(m.token);
  try {
    process.kill(m.pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // alive, another user's
  }
}

/** A hard link to a complete temporary: the marker appears whole or not at all, and only one job's appears. */
export function lockFolder(tmp: string, final: string, marker: Marker): void {
  const file = path.join(tmp, MARKER);
  const temporary = tempName(file);
  fs.writeFileSync(temporary, JSON.stringify(marker));
  try {
    fs.linkSync(temporary, file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw busyError(tmp, final, readMarker(file));
    throw e;
  } finally {
    fs.rmSync(temporary, { force: true });
  }
}

/** Removes the marker of a job that no longer runs, so that this one may lock the folder; a live job's is refused. */
export function removeStaleMarker(tmp: string, final: string): void {
  const markerFile = path.join(tmp, MARKER);
  const other = readMarker(markerFile);
  if (other && isRunning(other)) throw busyError(tmp, final, other);
  // Renaming the stale marker away is atomic: of two jobs taking over at once, the second gets ENOENT and stops.
  const stale = `${markerFile}.stale-${process.pid}`;
  try {
    fs.renameSync(markerFile, stale);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw busyError(tmp, final, readMarker(markerFile));
    throw e;
  }
  fs.rmSync(stale, { force: true });
}

/** Another job holds `tmp` (`other`, when its marker can be read) or is just creating it. */
export function busyError(tmp: string, final: string, other: Marker | undefined): UserError {
  if (!other)
    return new UserError(`another subnet-search job is starting in ${tmp}; wait for it, or choose another --out`);
  const where = other.hostname === os.hostname() ? '' : ` on host ${other.hostname}`;
  return new UserError(
    `another subnet-search job (pid ${other.pid}${where}, started ${other.started}) is writing ${final}; wait for it or stop it, or choose another --out (if it no longer runs, delete ${path.join(tmp, MARKER)})`,
  );
}
