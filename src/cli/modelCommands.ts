// Commands over one model as it is: inspect, convert, generate, eval, and the demo.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Command, Option } from 'commander';
import { loadDecoder } from '../model/recognise';
import { summarize } from '../job/inspect';
import { exportDecoder } from '../compress/exportModel';
import { loadModelTokenizer } from '../text/tokenizer';
import type { ProviderChoice } from '../runtime/session';
import { generateText } from '../job/generate';
import { evaluateModel } from '../job/evaluate';
import { compressModel } from '../job/compress';
import { PRESETS } from '../compress/search/evolution';
import { printSummary } from './inspect';
import { demoModel, demoText } from './demoAssets';
import { progressBar } from './progress';
import { warnOnStderr, withJobIo } from './jobProgress';
import { printReport } from './reports';
import { providerOption, ruled, threadsOption } from './options';

export function registerModelCommands(program: Command): void {
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
    .option(
      '--tokenizer <file>',
      'tokenizer.json or llama2.c tokenizer .bin (default: a matching one beside the model)',
    )
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
    .option(
      '--max-tokens <n>',
      'total tokens including the prompt (default: 256, at most the context)',
      ruled('maxTokens'),
    )
    .option('--original', 'run the original .onnx as it is instead of the re-emitted graph')
    .option('--tokenizer <file>', 'tokenizer.json or llama2.c tokenizer .bin')
    .addOption(providerOption())
    .addOption(threadsOption())
    .action(
      async (
        model: string,
        o: { prompt: string; maxTokens?: number; original?: boolean; tokenizer?: string; provider: ProviderChoice },
      ) => {
        const r = await generateText(model, { ...o, onWarning: warnOnStderr });
        process.stdout.write(`${r.text}\n`);
        process.stderr.write(`${r.tokens} tokens in ${r.seconds.toFixed(2)} s on ${r.provider}\n`);
      },
    );

  program
    .command('eval')
    .description('perplexity on a text: consecutive windows, loss on every position but the first of each window')
    .argument('<model>', 'model.onnx or .bin')
    .requiredOption('--text <file>', 'plain text, or .jsonl with a "text" field')
    .option('--seq-len <n>', 'window length (default: the model context, at most 2048)', ruled('seqLen'))
    .option('--windows <n>', 'evaluate only the first N windows', ruled('windows'))
    .addOption(
      new Option('--graph <which>', 'file: run the .onnx as it is; ours: our re-emitted graph').choices([
        'file',
        'ours',
      ]),
    )
    .option('--tokenizer <file>', 'tokenizer.json or llama2.c tokenizer .bin')
    .option('--json', 'print one JSON object on stdout')
    .addOption(providerOption())
    .addOption(threadsOption())
    .action(
      async (
        model: string,
        o: {
          text: string;
          seqLen?: number;
          windows?: number;
          graph?: 'file' | 'ours';
          tokenizer?: string;
          json?: boolean;
          provider: ProviderChoice;
        },
      ) => {
        const bar = o.json ? undefined : progressBar('windows');
        const r = await evaluateModel({
          model,
          ...o,
          onProgress: (done, total) => bar?.update(done, total),
          onWarning: warnOnStderr,
        });
        bar?.stop();
        console.log(
          o.json
            ? JSON.stringify(r, null, 2)
            : `perplexity ${r.ppl.toFixed(4)} (mean NLL ${r.meanNll.toFixed(5)} nats) over ${r.tokens} predicted tokens in ${r.windows} windows of ${r.seqLen}; ${r.seconds.toFixed(1)} s on ${r.provider}`,
        );
      },
    );
}

/** Last in `--help`, after the compression commands. */
export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('compress the embedded stories260K model to 0.8 with quick defaults and show the result')
    .option('--out <dir>', 'output folder (default: a new folder under the system temp dir)')
    .action(async (o: { out?: string }) => {
      const model = demoModel();
      const out = o.out ?? path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'subnet-search-demo-')), 'stories260K-0.8');
      console.log(printSummary(summarize(loadDecoder(model))));
      console.log(
        `\nCompressing to 0.8 of its parameters (quick search preset) with ${path.relative(process.cwd(), demoText())} as calibration text…`,
      );
      const r = await withJobIo(false, PRESETS.quick.generations + 1, (io) =>
        compressModel({
          model,
          ratio: 0.8,
          calib: demoText(),
          out,
          preset: 'quick',
          seqLen: 256,
          calibWindows: 32,
          provider: 'auto',
          ...io,
        }),
      );
      console.log(`\n${printReport(r)}`);
      const g = await generateText(path.join(out, 'model.onnx'), {
        prompt: 'Once upon a time',
        maxTokens: 80,
        provider: 'auto',
        original: true,
      });
      console.log(`\nThe compressed model, greedy from "Once upon a time":\n${g.text}`);
    });
}
