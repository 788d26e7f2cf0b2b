import { fork } from 'node:child_process';
import type * as vscode from 'vscode';

/** Runs the CLI bundle with `--json` in a child process; resolves with its JSON, rejects with its error line. */
export function runCliJson<T>(cli: string, args: string[], log: vscode.OutputChannel): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = fork(cli, args, { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
    let out = '';
    let err = '';
    child.stdout?.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr?.on('data', (b: Buffer) => {
      err += b.toString();
      log.append(b.toString());
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code === 0) {
        try {
          resolve(JSON.parse(out) as T);
        } catch {
          reject(new Error(`unexpected output from subnet-search ${args[0]}`));
        }
      } else {
        reject(new Error(err.trim().replace(/^subnet-search: /, '') || `subnet-search ${args[0]} exited with code ${code}`));
      }
    });
  });
}
