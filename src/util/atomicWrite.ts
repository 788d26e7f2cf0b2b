import * as fs from 'node:fs';
import { environmentError } from './errors';

/** The temporary name a write uses beside its target; `--resume` removes the ones a killed job left. */
export const tempName = (file: string, pid = process.pid) => `${file}.tmp-${pid}`;
export const TEMP_PATTERN = /\.tmp-\d+$/;

/**
 * Writes `file` so that it is either its old content or all of the new, never cut short: a full disk or a kill
 * mid-write once left a truncated checkpoint that `--resume` could not read. Write a temporary, fsync, rename.
 */
export function writeFileAtomic(file: string, data: string | Uint8Array): void {
  const tmp = tempName(file);
  try {
    const fd = fs.openSync(tmp, 'w');
    try {
      fs.writeFileSync(fd, data);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (e) {
    // The temporary holds the bytes that did fit: on a full disk it is what keeps the disk full.
    fs.rmSync(tmp, { force: true });
    throw environmentError(e, file) ?? e;
  }
}

/** JSON with a final newline, written atomically. */
export function writeJsonAtomic(file: string, value: unknown, indent?: number): void {
  writeFileAtomic(file, `${JSON.stringify(value, null, indent)}\n`);
}
