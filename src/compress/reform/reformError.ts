// A reformed module's output error as reports show it, shared by the terminal and report.md.

/** A module's output error with its rows dropped and after the refit. */
export interface ModuleReformError {
  errorBefore: number;
  errorAfter: number;
  /** Every row kept: nothing refitted. */
  allKept?: boolean;
  /** The refit came out worse (its error `refitError`) and was not kept: the rows are dropped. */
  discarded?: boolean;
  refitError?: number;
}

/** "0.2728 → 0.1204", or why there is no refit. */
export function describeReformError(e: ModuleReformError): string {
  if (e.allKept) return 'all rows kept';
  const change = `${e.errorBefore.toFixed(4)} → ${e.errorAfter.toFixed(4)}`;
  if (!e.discarded) return change;
  const refit = Number.isFinite(e.refitError) ? `refit worse, ${e.refitError!.toPrecision(3)}` : 'refit failed';
  return `${change} (${refit}: rows dropped instead)`;
}
