/**
 * An error meant for the user: its message says what is wrong and what to do, and the CLI prints it
 * without a stack trace. Anything else that escapes is a bug and is reported as such.
 */
export class UserError extends Error {
  constructor(message: string, readonly exitCode = 2) {
    super(message);
    this.name = 'UserError';
  }
}

export function isUserError(e: unknown): e is UserError {
  return e instanceof UserError;
}
