import { fork, type ChildProcess } from 'node:child_process';
import type * as vscode from 'vscode';
import type { ChildMessage } from '../job/ipc';
import type { JobEvent } from '../job/protocol';

function start(cli: string, args: string[], log: vscode.OutputChannel): ChildProcess {
  log.appendLine(`subnet-search ${args.join(' ')}`);
  const env = { ...process.env, SUBNET_SEARCH_IPC: '1' };
  const child = fork(cli, args, { stdio: ['ignore', 'pipe', 'pipe', 'ipc'], env });
  child.stderr?.on('data', (b: Buffer) => log.append(b.toString()));
  return child;
}

/** Runs a CLI command with `--json` in a child process; resolves with its JSON, rejects with its error line. */
export function runCliJson<T>(cli: string, args: string[], log: vscode.OutputChannel): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = start(cli, args, log);
    let out = '';
    let err = '';
    child.stdout?.on('data', (b: Buffer) => (out += b.toString()));
    child.on('message', (m: ChildMessage) => m.kind === 'error' && (err = m.message));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code === 0) {
        try {
          resolve(JSON.parse(out) as T);
        } catch {
          reject(new Error(`unexpected output from subnet-search ${args[0]}`));
        }
      } else reject(new Error(err || `subnet-search ${args[0]} exited with code ${code}`));
    });
  });
}

export interface RunningJob<T> {
  result: Promise<T>;
  /** Stops the job within one candidate (SIGINT: the CLI checkpoints and exits). */
  cancel(): void;
}

/** Why a job process ended without a result, where it could not say so itself. */
export function jobExitMessage(code: number | null, signal: NodeJS.Signals | null): string {
  // Out of memory, Linux's OOM killer sends SIGKILL: nothing in the process can catch it to say why.
  if (signal === 'SIGKILL')
    return 'the job process was killed (SIGKILL), most often by the system when memory runs out: see any warnings in the output channel, close other programs or run on a machine with more memory';
  return signal ? `the job process was stopped (${signal})` : `the job process exited with code ${code}`;
}

/**
 * A long job in a child process, never on the extension host's thread: a native crash or an out-of-memory in
 * ONNX Runtime ends the child, not VS Code. Its typed events arrive over IPC.
 */
export function runCliJob<T>(
  cli: string,
  args: string[],
  log: vscode.OutputChannel,
  onEvent: (e: JobEvent) => void,
): RunningJob<T> {
  const child = start(cli, args, log);
  const result = new Promise<T>((resolve, reject) => {
    let value: T | undefined;
    let error: string | undefined;
    child.on('message', (m: ChildMessage) => {
      if (m.kind === 'event') onEvent(m.event);
      else if (m.kind === 'result') value = m.result as T;
      else error = m.message;
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (value !== undefined && code === 0) resolve(value);
      else reject(new Error(error ?? jobExitMessage(code, signal)));
    });
  });
  return { result, cancel: () => child.kill('SIGINT') };
}
