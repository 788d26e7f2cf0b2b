import { spawnSync } from 'node:child_process';
import { cliPath } from './fixtures';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the built CLI bundle as a user would. */
export function runCli(args: string[], cwd?: string): CliResult {
  const r = spawnSync(process.execPath, [cliPath, ...args], { encoding: 'utf8', cwd, timeout: 300_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}
