// What a job was started with, kept in its temporary output folder so that `--resume` continues the same job:
// `compress --resume --ratio 0.5 --method flap` after a 0.7 search once reused the 0.7 masks and reported them as
// flap at 0.5.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeJsonAtomic } from '../util/atomicWrite';
import { UserError } from '../util/errors';
import type { OutputFolder } from '../util/outputFolder';
import { DEFAULT_CALIB_WINDOWS, DEFAULT_GRANULARITY, DEFAULT_SEED } from './defaults';

export const JOB_ARGUMENTS = 'job-arguments.json';

/** Arguments by the name the user knows them by (`--ratio`, `model`), with the values the job resolved. */
export type ArgumentValues = Record<string, string | number | boolean | null | object>;

/**
 * `fixed`: what the saved work (a search checkpoint, the masks) was computed with; a resumed job must be given the
 * same. `later`: what only the stages after it use (reformation, the weight stage): a resumed job runs those
 * stages afresh, so new values are honoured.
 */
export interface JobArguments {
  fixed: ArgumentValues;
  later: ArgumentValues;
}

/** What any job's masks depend on: the model, the text and how it is cut, the ratio and granularity, the seed. */
export function maskArguments(
  model: string,
  seqLen: number,
  r: { calib: string; tokenizer?: string; ratio: number; granularity?: string; seed?: number; calibWindows?: number },
): ArgumentValues {
  return {
    model,
    '--calib': path.resolve(r.calib),
    '--tokenizer': r.tokenizer ? path.resolve(r.tokenizer) : null,
    '--ratio': r.ratio,
    '--granularity': r.granularity ?? DEFAULT_GRANULARITY,
    '--seed': r.seed ?? DEFAULT_SEED,
    '--seq-len': seqLen,
    '--calib-windows': r.calibWindows ?? DEFAULT_CALIB_WINDOWS,
  };
}

interface Stored extends JobArguments {
  version: 1;
}

const shown = (v: unknown) =>
  v === undefined || v === null ? '(none)' : typeof v === 'object' ? JSON.stringify(v) : String(v);
const same = (a: unknown, b: unknown) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);

/**
 * `--ratio 0.7 (now 0.5)` for every argument both jobs have whose value differs. An argument only one of them has
 * (the search's, when `--method` changed) is left out: the differing method already says it.
 */
function differences(was: ArgumentValues, now: ArgumentValues): string[] {
  return Object.keys(now)
    .filter((k) => k in was && !same(was[k], now[k]))
    .map((k) => `${k} ${shown(was[k])} (now ${shown(now[k])})`);
}

function readStored(file: string, folder: string): Stored | undefined {
  if (!fs.existsSync(file)) return undefined;
  try {
    const s = JSON.parse(fs.readFileSync(file, 'utf8')) as Stored;
    if (s.version === 1 && s.fixed && s.later) return s;
  } catch {
    // unreadable: reported below like an unknown format
  }
  throw new UserError(
    `--resume: ${file} cannot be read, so the interrupted job's arguments are unknown; start afresh without --resume (this discards ${folder})`,
  );
}

/**
 * Records the job's arguments in its temporary folder; with `resume`, first compares them with those the
 * interrupted job recorded. Refuses when a `fixed` argument differs, listing each; returns the `later` ones that
 * differ (honoured: the caller says so). A folder from before this record (none there) is resumed as it was.
 */
export function recordArguments(out: OutputFolder, args: JobArguments, resume: boolean | undefined): string[] {
  const file = out.file(JOB_ARGUMENTS);
  const was = resume ? readStored(file, out.tmp) : undefined;
  const fixed = was ? differences(was.fixed, args.fixed) : [];
  if (fixed.length) {
    throw new UserError(
      `--resume: the interrupted job in ${out.tmp} was started with other arguments: ${fixed.join(', ')}. ` +
        `Rerun with the arguments it was started with, or start afresh without --resume (this discards ${path.basename(out.tmp)})`,
    );
  }
  writeJsonAtomic(file, { version: 1, ...args } satisfies Stored, 2);
  return was ? differences(was.later, args.later) : [];
}
