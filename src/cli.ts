// The headless entry point: `subnet-search <command>`, over the same engine the VS Code extension uses.
// The commands live in src/cli/ by group; this file builds the program and turns errors into exit codes.
import { Command } from 'commander';
import { isUserError } from './util/errors';
import { sendToParent, underParent } from './job/ipc';
import { registerDemo, registerModelCommands } from './cli/modelCommands';
import { registerCompressCommands } from './cli/compressCommands';
import { registerStageCommands } from './cli/stageCommands';

const program = new Command();
program
  .name('subnet-search')
  .description('Compress decoder-only LLMs stored as ONNX, without training.')
  .version('0.1.0');
registerModelCommands(program);
registerCompressCommands(program);
registerStageCommands(program);
registerDemo(program);

async function main(): Promise<void> {
  // Under the extension host: the IPC channel must not keep the process alive once the job is done.
  if (underParent()) process.channel?.unref();
  try {
    await program.parseAsync(process.argv);
  } catch (e) {
    if (underParent())
      sendToParent({
        kind: 'error',
        message: isUserError(e) ? e.message : `internal error: ${e instanceof Error ? e.message : e}`,
      });
    if (isUserError(e)) {
      process.stderr.write(`subnet-search: ${e.message}\n`);
      process.exitCode = e.exitCode;
    } else {
      const msg = e instanceof Error ? e.message : String(e);
      process.stderr.write(
        `subnet-search: internal error: ${msg}\n(set SUBNET_SEARCH_DEBUG=1 for details; please report it)\n`,
      );
      if (process.env.SUBNET_SEARCH_DEBUG) console.error(e);
      process.exitCode = 70;
    }
  }
}

void main();
