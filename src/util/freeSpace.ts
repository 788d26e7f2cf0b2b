import * as fs from 'node:fs';
import { EnvironmentError } from './errors';
import { formatBytes } from './formatBytes';

/**
 * Refuses, before the work, a write of `bytes` into `dir` that the disk cannot hold: a full disk found mid-way
 * would cost the work done so far. `what` names the files, `remedy` how to need fewer.
 */
export function checkFreeSpace(dir: string, bytes: number, what: string, remedy: string): void {
  const s = fs.statfsSync(dir);
  const free = s.bavail * s.bsize;
  if (free < bytes)
    throw new EnvironmentError(
      `${what} needs ${formatBytes(bytes)} in ${dir}, which has ${formatBytes(free)} free; ${remedy}`,
    );
}
