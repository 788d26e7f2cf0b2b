import * as fs from 'node:fs';

/** Bytes per read call: fs.readSync takes at most 2 GiB at once. */
const READ_CHUNK = 1 << 30;

/**
 * Fills `into` from the open file `fd` at byte `position` (a plain number: offsets pass 2^31), looping over short
 * reads; a file that ends first is `short(at)`'s error, `at` the byte where it ended.
 */
export function readRangeFd(fd: number, into: Uint8Array, position: number, short: (at: number) => Error): void {
  for (let done = 0; done < into.length;) {
    const n = fs.readSync(fd, into, done, Math.min(into.length - done, READ_CHUNK), position + done);
    if (n <= 0) throw short(position + done);
    done += n;
  }
}

/** `readRangeFd` on `file`, opened for this read only. */
export function readRange(file: string, into: Uint8Array, position: number, short: (at: number) => Error): void {
  const fd = fs.openSync(file, 'r');
  try {
    readRangeFd(fd, into, position, short);
  } finally {
    fs.closeSync(fd);
  }
}
