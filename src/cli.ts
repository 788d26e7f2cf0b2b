// The headless entry point: `subnet-search <command>`, over the same engine the VS Code extension uses.
import { Command, Option } from 'commander';
import { loadDecoder } from './model/recognise';
import { summarize } from './job/inspect';
import { exportDecoder } from './compress/exportModel';
import { loadModelTokenizer } from './text/tokenizer';
import { isUserError } from './util/errors';
import { PROVIDERS, type ProviderChoice } from './runtime/session';
import { generateText } from './job/generate';
import { printSummary } from './cli/inspect';
import { demoModel } from './cli/demoAssets';

const program = new Command();
program.name('subnet-search').description('Compress decoder-only LLMs stored as ONNX, without training.').version('0.1.0');

const providerOption = () =>
  new Option('--provider <ep>', 'ONNX Runtime execution provider').choices(PROVIDERS as unknown as string[]).default('auto');

program
  .command('inspect')
  .description('per-layer table of a decoder: heads, KV heads, head dim, MLP width, parameters, bytes')
  .argument('<model>', 'model.onnx (with config.json beside it) or a llama2.c .bin checkpoint')
  .option('--json', 'print one JSON object on stdout')
  .action((model: string, o: { json?: boolean }) => {
    const s = summarize(loadDecoder(model));
    console.log(o.json ? JSON.stringify(s, null, 2) : printSummary(s));
  });

program
  .command('convert')
  .description('write a llama2.c .bin checkpoint as an ONNX model folder (model.onnx, config.json, tokenizer files)')
  .argument('<model>', 'llama2.c .bin checkpoint')
  .requiredOption('--out <dir>', 'new output folder')
  .option('--tokenizer <file>', 'tokenizer.json or llama2.c tokenizer .bin (default: a matching one beside the model)')
  .action((model: string, o: { out: string; tokenizer?: string }) => {
    const d = loadDecoder(model);
    const tok = loadModelTokenizer(model, d.config.vocab, o.tokenizer);
    const r = exportDecoder(d, o.out, tok);
    console.log(`wrote ${r.dir}: ${r.files.join(', ')}`);
  });

program
  .command('generate')
  .description('greedy generation with the KV cache, through our re-emitted graph (or the original with --original)')
  .argument('<model>', 'model.onnx or .bin')
  .option('--prompt <text>', 'prompt text (default: start from BOS)', '')
  .option('--max-tokens <n>', 'total tokens including the prompt', (v) => Number(v), 256)
  .option('--original', 'run the original .onnx as it is instead of the re-emitted graph')
  .option('--tokenizer <file>', 'tokenizer.json or llama2.c tokenizer .bin')
  .addOption(providerOption())
  .action(async (model: string, o: { prompt: string; maxTokens: number; original?: boolean; tokenizer?: string; provider: ProviderChoice }) => {
    const r = await generateText(model, o);
    process.stdout.write(`${r.text}\n`);
    process.stderr.write(`${r.tokens} tokens in ${r.seconds.toFixed(2)} s on ${r.provider}\n`);
  });

program
  .command('demo')
  .description('run on the embedded stories260K model: inspect it and generate a story through the re-emitted graph')
  .action(async () => {
    const model = demoModel();
    console.log(printSummary(summarize(loadDecoder(model))));
    console.log('\nGreedy story from BOS through the graph Subnet Search re-emits:\n');
    const r = await generateText(model, { prompt: '', maxTokens: 128, provider: 'auto' });
    console.log(`${r.text}\n\n(${r.tokens} tokens in ${r.seconds.toFixed(2)} s on ${r.provider})`);
  });

async function main(): Promise<void> {
  try {
    await program.parseAsync(process.argv);
  } catch (e) {
    if (isUserError(e)) {
      process.stderr.write(`subnet-search: ${e.message}\n`);
      process.exitCode = e.exitCode;
    } else {
      const msg = e instanceof Error ? e.message : String(e);
      process.stderr.write(`subnet-search: internal error: ${msg}\n(set SUBNET_SEARCH_DEBUG=1 for details; please report it)\n`);
      if (process.env.SUBNET_SEARCH_DEBUG) console.error(e);
      process.exitCode = 70;
    }
  }
}

void main();
