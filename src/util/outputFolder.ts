import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomUUID } from 'node:crypto';
import { EnvironmentError, JobCancelledError, UserError, environmentError, isAbort, isUserError } from './errors';
import { TEMP_PATTERN, tempName, writeFileAtomic } from './atomicWrite';

/** Inside `<out>.partial`: proves that a job made the folder (so it may delete there), and locks it while that job runs. */
export const MARKER = '.subnet-search-job.json';

interface Marker {
  pid: number;
  hostname: string;
  started: string;
  token: string;
  /** Set when the job ended and left the folder for --resume, while its process may live on (a library caller). */
  released?: boolean;
}

/** Tokens of this process's jobs that hold their folder now: a marker with our own pid may be an earlier job's. */
const held = new Set<string>();

/** The names jobs write into their folder (and their `.tmp-<pid>` temporaries): the only files ever removed. */
const JOB_FILES = new Set([
  MARKER,
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
    throw new UserError(
      `output folder ${final} already exists and is not empty; choose a new folder (nothing is overwritten)`,
    );
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
    this.marker = { pid: process.pid, hostname: os.hostname(), started: new Date().toISOString(), token: randomUUID() };
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
      this.lock();
    } catch (e) {
      if (created && (e as NodeJS.ErrnoException).code !== 'EEXIST')
        fs.rmSync(this.tmp, { recursive: true, force: true });
      throw e;
    }
    held.add(this.marker.token);
  }

  private create(): void {
    fs.mkdirSync(path.dirname(path.resolve(this.tmp)), { recursive: true });
    try {
      fs.mkdirSync(this.tmp);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw this.busy(undefined);
      throw e;
    }
  }

  /** A hard link to a complete temporary: the marker appears whole or not at all, and only one job's appears. */
  private lock(): void {
    const file = this.file(MARKER);
    const tmp = tempName(file);
    fs.writeFileSync(tmp, JSON.stringify(this.marker));
    try {
      fs.linkSync(tmp, file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw this.busy(readMarker(file));
      throw e;
    } finally {
      fs.rmSync(tmp, { force: true });
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
    const other = readMarker(markerFile);
    if (other && isRunning(other)) throw this.busy(other);
    // Renaming the stale marker away is atomic: of two jobs taking over at once, the second gets ENOENT and stops.
    const stale = `${markerFile}.stale-${process.pid}`;
    try {
      fs.renameSync(markerFile, stale);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw this.busy(readMarker(markerFile));
      throw e;
    }
    fs.rmSync(stale, { force: true });
    if (resume) this.removeTemporaries();
    else this.clearForFreshStart();
  }

  private busy(other: Marker | undefined): UserError {
    if (!other)
      return new UserError(
        `another subnet-search job is starting in ${this.tmp}; wait for it, or choose another --out`,
      );
    const where = other.hostname === os.hostname() ? '' : ` on host ${other.hostname}`;
    return new UserError(
      `another subnet-search job (pid ${other.pid}${where}, started ${other.started}) is writing ${this.final}; wait for it or stop it, or choose another --out (if it no longer runs, delete ${this.file(MARKER)})`,
    );
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
      if (isJobFile(f) && f !== MARKER) fs.rmSync(this.file(f), { force: true });
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
    held.delete(this.marker.token);
    return this.final;
  }

  /** Removes the files jobs write, and the folder when nothing of the user's is left in it. */
  abort(): void {
    held.delete(this.marker.token);
    if (!fs.existsSync(this.tmp)) return;
    this.removeJobFiles();
    if (fs.readdirSync(this.tmp).every((f) => f === MARKER)) fs.rmSync(this.tmp, { recursive: true, force: true });
  }

  /** Leaves the folder for `--resume`, its marker marked released so that another process may take it over. */
  keep(): void {
    held.delete(this.marker.token);
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
