// A reformed module's output error as reports show it, shared by the terminal and report.md.

/** A module's output error with its rows dropped and after the refit (`discarded`: the refit was worse, not kept). */
export interface ModuleReformError {
  errorBefore: number;
  errorAfter: number;
  discarded?: boolean;
}

/** "0.2728 → 0.1204", or the refit that was worse and not kept. */
export const describeReformError = (e: ModuleReformError) =>
  `${e.errorBefore.toFixed(4)} → ${e.errorAfter.toFixed(4)}${e.discarded ? ' (refit worse, rows dropped instead)' : ''}`;
