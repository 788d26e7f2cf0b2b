import * as fs from 'node:fs';
import * as path from 'node:path';
import { UserError } from './errors';

/**
 * A new output folder, written under a temporary name beside it and renamed when complete, so a failed or
 * cancelled job never leaves a half-written model where the user expects a finished one. An existing
 * non-empty folder is refused: we never overwrite the user's files.
 */
export class OutputFolder {
  readonly tmp: string;

  /** With `resume`, an interrupted job's temporary folder (and the checkpoint in it) is kept. */
  constructor(readonly final: string, opts: { resume?: boolean } = {}) {
    if (fs.existsSync(final) && (!fs.statSync(final).isDirectory() || fs.readdirSync(final).length > 0)) {
      throw new UserError(`output folder ${final} already exists and is not empty; choose a new folder (nothing is overwritten)`);
    }
    this.tmp = `${final.replace(/[\\/]+$/, '')}.partial`;
    if (!opts.resume) fs.rmSync(this.tmp, { recursive: true, force: true });
    fs.mkdirSync(this.tmp, { recursive: true });
  }

  file(name: string): string {
    return path.join(this.tmp, name);
  }

  commit(): string {
    if (fs.existsSync(this.final)) fs.rmdirSync(this.final);
    fs.renameSync(this.tmp, this.final);
    return this.final;
  }

  abort(): void {
    fs.rmSync(this.tmp, { recursive: true, force: true });
  }

  /** Runs `write`, then renames the folder into place; on failure removes everything it wrote. */
  async complete<T>(write: () => Promise<T>): Promise<T> {
    try {
      const result = await write();
      this.commit();
      return result;
    } catch (e) {
      this.abort();
      throw e;
    }
  }
}
