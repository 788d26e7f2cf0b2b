/**
 * An error meant for the user: its message says what is wrong and what to do, and the CLI prints it
 * without a stack trace. Anything else that escapes is a bug and is reported as such.
 */
export class UserError extends Error {
  constructor(
    message: string,
    readonly exitCode = 2,
  ) {
    super(message);
    this.name = 'UserError';
  }
}

export function isUserError(e: unknown): e is UserError {
  return e instanceof UserError;
}

/** The user stopped the job (Ctrl-C, the extension's Cancel). Exit 130, as a shell reports an interrupt. */
export class JobCancelledError extends UserError {
  constructor(message = 'cancelled') {
    super(message, 130);
    this.name = 'JobCancelledError';
  }
}

/**
 * The machine refused, not the input nor our code: a full disk, a folder the user may not write. A subclass of
 * UserError so the CLI prints it without "please report it"; exit 74 (sysexits' EX_IOERR) tells it apart.
 */
export class EnvironmentError extends UserError {
  constructor(message: string) {
    super(message, 74);
    this.name = 'EnvironmentError';
  }
}

/** What the user can do about each errno that says the environment, not the job, is at fault. */
const REMEDIES: Record<string, string> = {
  ENOSPC: 'the disk is full; free some space and run the job again',
  EDQUOT: 'the disk quota is used up; free some space and run the job again',
  EACCES: 'permission denied; choose a folder you can write to (or fix its permissions)',
  EPERM: 'operation not permitted; choose a folder you can write to (or fix its permissions)',
  EROFS: 'the file system is read-only; choose an output folder on a writable disk',
  EMFILE: 'too many open files; raise the limit (ulimit -n) and run the job again',
};

/** `e` as an EnvironmentError naming `file` (errors of writes through a descriptor carry no path), or undefined. */
export function environmentError(e: unknown, file?: string): EnvironmentError | undefined {
  if (e instanceof EnvironmentError) return e;
  const err = e as NodeJS.ErrnoException | undefined;
  const remedy = err?.code ? REMEDIES[err.code] : undefined;
  if (!remedy) return undefined;
  return new EnvironmentError(`cannot write ${file ?? err!.path ?? 'a file'}: ${remedy} (${err!.code})`);
}

/** A cancellation: ours, the search's (exit 130 too), or an AbortSignal's DOMException from a layer loop. */
export function isAbort(e: unknown): boolean {
  return (e instanceof UserError && e.exitCode === 130) || (e instanceof Error && e.name === 'AbortError');
}

/** Between stages: layer loops check the signal themselves, but the work after the last layer does not. */
export function throwIfCancelled(signal: AbortSignal | undefined, stage: string): void {
  if (signal?.aborted) throw new JobCancelledError(`cancelled before ${stage}`);
}
