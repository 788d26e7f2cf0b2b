import * as fs from 'node:fs';
import * as path from 'node:path';
import { EnvironmentError, JobCancelledError, UserError, environmentError, isAbort, isUserError } from './errors';
import { TEMP_PATTERN, writeFileAtomic } from './atomicWrite';
import {
  busyError,
  hold,
  lockFolder,
  MARKER,
  newMarker,
  release,
  removeStaleMarker,
  type Marker,
} from './folderMarker';

export { MARKER } from './folderMarker';

/** The names jobs write into their folder (and their `.tmp-<pid>` temporaries): the only files ever removed. */
/** The profile search's database (compress/profile), a folder of its own inside the job's folder. */
export const PROFILE_DATABASE = 'profile-database';
/** The weights a job computed beyond what it holds in memory (model/newWeights.ts), removed before the commit. */
export const NEW_WEIGHTS = 'new-weights.bin';

const JOB_FILES = new Set([
  MARKER,
  PROFILE_DATABASE,
  NEW_WEIGHTS,
  'job-arguments.json',
  'masks.json',
  'search-checkpoint.json',
  'search-summary.json',
  'search.json',
  'prune.json',
  'report.json',
  'report.md',
  'config.json',
  'generation_config.json',
  'genai_config.json',
  'tokenizer.json',
  'tokenizer_config.json',
  'model.onnx',
  'model.onnx_data',
]);
const isJobFile = (name: string) => JOB_FILES.has(name.replace(TEMP_PATTERN, ''));

/** What a job folder from before markers holds; with --resume such a folder is adopted rather than refused. */
const CHECKPOINTS = ['search-checkpoint.json', 'masks.json'];

/** Where `p` links to, or undefined when it is no symbolic link (or absent). */
function linkTarget(p: string): string | undefined {
  const bare = p.replace(/[\\/]+$/, '');
  try {
    return fs.lstatSync(bare).isSymbolicLink() ? fs.readlinkSync(bare) : undefined;
  } catch {
    return undefined;
  }
}

function refuseNonEmpty(final: string): void {
  if (!final.trim()) throw new UserError('--out is empty: give the path of a new folder for the results');
  // The finished folder is renamed into place, which a link cannot take; writing through it would touch its target.
  const target = linkTarget(final);
  if (target !== undefined)
    throw new UserError(
      `output folder ${final} is a symbolic link (to ${target}); give the path of a new folder, e.g. one inside the link's target`,
    );
  if (fs.existsSync(final) && (!fs.statSync(final).isDirectory() || fs.readdirSync(final).length > 0)) {
    const what = fs.statSync(final).isDirectory() ? 'already exists and is not empty' : 'is an existing file';
    throw new UserError(`output folder ${final} ${what}; choose a new folder (nothing is overwritten)`);
  }
}

/**
 * A new output folder, written under a temporary name beside it (`<out>.partial`) and renamed when complete, so a
 * failed or cancelled job never leaves a half-written model where the user expects a finished one. An existing
 * non-empty folder is refused: we never overwrite the user's files. The temporary folder holds a marker (pid,
 * host, start time): without one it is not ours and is neither reused nor deleted; with a live job's it is locked.
 */
export class OutputFolder {
  readonly tmp: string;
  private readonly marker: Marker;
  /** Set once the model in the folder is complete: a later failure (a report that cannot be written) keeps it. */
  private modelFinished = false;

  /** With `resume`, an interrupted job's temporary folder (and the checkpoint in it) is kept. */
  constructor(
    readonly final: string,
    opts: { resume?: boolean } = {},
  ) {
    refuseNonEmpty(final);
    this.tmp = `${final.replace(/[\\/]+$/, '')}.partial`;
    // A mistyped --out with --resume would otherwise start afresh while the user believes it resumed.
    if (opts.resume && !fs.existsSync(this.tmp))
      throw new UserError(`--resume: no checkpoint in ${this.tmp}; start without --resume`);
    this.marker = newMarker();
    try {
      this.claim(Boolean(opts.resume));
    } catch (e) {
      throw environmentError(e, this.tmp) ?? e;
    }
  }

  file(name: string): string {
    return path.join(this.tmp, name);
  }

  private claim(resume: boolean): void {
    const created = !fs.existsSync(this.tmp);
    if (created) this.create();
    else this.takeOver(resume);
    try {
      lockFolder(this.tmp, this.final, this.marker);
    } catch (e) {
      if (created && (e as NodeJS.ErrnoException).code !== 'EEXIST')
        fs.rmSync(this.tmp, { recursive: true, force: true });
      throw e;
    }
    hold(this.marker);
  }

  private create(): void {
    fs.mkdirSync(path.dirname(path.resolve(this.tmp)), { recursive: true });
    try {
      fs.mkdirSync(this.tmp);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw busyError(this.tmp, this.final, undefined);
      throw e;
    }
  }

  /** An existing temporary folder: refused unless a job of ours made it and no longer runs. */
  private takeOver(resume: boolean): void {
    const markerFile = this.file(MARKER);
    if (!fs.existsSync(markerFile)) {
      const oldJob = resume && CHECKPOINTS.some((f) => fs.existsSync(this.file(f)));
      if (!oldJob)
        throw new UserError(
          `${this.tmp} exists but was not made by subnet-search (it has no ${MARKER}); move or delete it yourself, or choose another --out`,
        );
      return this.removeTemporaries();
    }
    removeStaleMarker(this.tmp, this.final);
    if (resume) this.removeTemporaries();
    else this.clearForFreshStart();
  }

  /** A killed job's half-written temporaries: a resumed job would otherwise commit them, and they fill the disk. */
  private removeTemporaries(): void {
    for (const f of fs.readdirSync(this.tmp))
      if (TEMP_PATTERN.test(f) && isJobFile(f)) fs.rmSync(this.file(f), { force: true });
  }

  /** Without --resume an interrupted job's files are dropped; anything else in the folder is the user's. */
  private clearForFreshStart(): void {
    this.removeJobFiles();
    const foreign = fs.readdirSync(this.tmp);
    if (foreign.length)
      throw new UserError(
        `${this.tmp} holds files subnet-search did not write (${foreign.join(', ')}); move them out, or choose another --out`,
      );
  }

  private removeJobFiles(): void {
    for (const f of fs.readdirSync(this.tmp))
      if (isJobFile(f) && f !== MARKER) fs.rmSync(this.file(f), { force: true, recursive: f === PROFILE_DATABASE });
  }

  /** From now on a failure keeps the folder: the model in it is complete, only what follows it is missing. */
  markModelFinished(): void {
    this.modelFinished = true;
  }

  commit(): string {
    refuseNonEmpty(this.final); // the user may have made it while the job ran
    if (fs.existsSync(this.final)) fs.rmdirSync(this.final);
    fs.renameSync(this.tmp, this.final);
    fs.rmSync(path.join(this.final, MARKER), { force: true });
    release(this.marker);
    return this.final;
  }

  /** Removes the files jobs write, and the folder when nothing of the user's is left in it. */
  abort(): void {
    release(this.marker);
    if (!fs.existsSync(this.tmp)) return;
    this.removeJobFiles();
    if (fs.readdirSync(this.tmp).every((f) => f === MARKER)) fs.rmSync(this.tmp, { recursive: true, force: true });
  }

  /** Leaves the folder for `--resume`, its marker marked released so that another process may take it over. */
  keep(): void {
    release(this.marker);
    try {
      writeFileAtomic(this.file(MARKER), JSON.stringify({ ...this.marker, released: true }));
    } catch {
      // A full disk: the marker keeps our pid, which is stale once this process exits.
    }
  }

  /**
   * After a failure: keeps the folder when the model in it is finished or a checkpoint in it lets `--resume`
   * continue (a model not yet measured is removed), else removes it. Returns the error to throw, with where
   * things stand: a cancellation, an environment error or the original one.
   */
  fail(e: unknown, resumable: readonly string[] = []): unknown {
    if (this.modelFinished) {
      this.keep();
      return this.explain(e, `the finished model is in ${this.tmp}: move it to ${this.final} yourself`);
    }
    fs.rmSync(this.file('model.onnx'), { force: true });
    const kept = resumable.some((f) => fs.existsSync(this.file(f)));
    if (kept) this.keep();
    else this.abort();
    return this.explain(
      e,
      kept ? `${this.tmp} keeps what was done: rerun with --resume to continue` : 'nothing was kept',
    );
  }

  private explain(e: unknown, where: string): unknown {
    if (isAbort(e))
      return new JobCancelledError(`${e instanceof JobCancelledError ? e.message : 'cancelled'}; ${where}`);
    const env = environmentError(e);
    if (env) return new EnvironmentError(`${env.message}; ${where}`);
    if (!this.modelFinished) return e;
    // Whatever went wrong once the model was done, the user must learn where it is.
    const message = `${e instanceof Error ? e.message : e}; ${where}`;
    return isUserError(e) ? new UserError(message, e.exitCode) : new Error(message, { cause: e });
  }

  /** Runs `write`, then renames the folder into place; on failure removes what it wrote, unless `fail` keeps it. */
  async complete<T>(write: () => Promise<T>): Promise<T> {
    try {
      const result = await write();
      this.commit();
      return result;
    } catch (e) {
      throw this.fail(e);
    }
  }
}
