// A write the disk cannot hold is refused before the work, as an environment error naming the folder and a remedy.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as os from 'node:os';
import { checkFreeSpace } from '../../src/util/freeSpace';
import { EnvironmentError } from '../../src/util/errors';

test('checkFreeSpace: too many bytes for the disk is an environment error (exit 74) with the sizes and the remedy', () => {
  checkFreeSpace(os.tmpdir(), 1, 'one byte', 'n/a');
  assert.throws(
    () => checkFreeSpace(os.tmpdir(), 2 ** 60, 'the database', 'use less'),
    (e: unknown) =>
      e instanceof EnvironmentError &&
      e.exitCode === 74 &&
      new RegExp(
        `^the database needs 1048576 TiB in ${os.tmpdir()}, which has [0-9.]+ (B|KiB|MiB|GiB|TiB) free; use less$`,
      ).test(e.message),
  );
});
