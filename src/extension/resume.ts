// A job interrupted by a reload (or a crash) is offered for resumption from its checkpoint in `<out>.partial`.
import * as fs from 'node:fs';
import type * as vscode from 'vscode';

export interface JobRecord {
  model: string;
  out: string;
  args: string[];
}

const KEY = 'subnetSearch.runningJob';

export const rememberJob = (state: vscode.Memento, job: JobRecord) => state.update(KEY, job);
export const forgetJob = (state: vscode.Memento) => state.update(KEY, undefined);

/** The interrupted job, if its temporary folder (with a checkpoint or masks) is still there. */
export function interruptedJob(state: vscode.Memento): JobRecord | undefined {
  const job = state.get<JobRecord>(KEY);
  if (!job) return undefined;
  const partial = `${job.out}.partial`;
  return fs.existsSync(partial) &&
    fs.readdirSync(partial).some((f) => f === 'search-checkpoint.json' || f === 'masks.json')
    ? job
    : undefined;
}
