// The headless entry point: `subnet-search <command>`, over the same engine the VS Code extension uses.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { loadDecoder } from './model/recognise';
import { summarize } from './job/inspect';
import { exportDecoder } from './compress/exportModel';
import { loadModelTokenizer } from './text/tokenizer';
import { isUserError } from './util/errors';
import { PROVIDERS, type ProviderChoice } from './runtime/session';
import { generateText } from './job/generate';
import { printSummary } from './cli/inspect';
import { demoModel } from './cli/demoAssets';
import { evaluateModel } from './job/evaluate';
import { pruneModel } from './job/prune';
import { METHODS, type Method } from './compress/importance/scores';
import { GRANULARITIES, type Granularity } from './compress/importance/units';
import { progressBar } from './cli/progress';
import { searchModel } from './job/search';
import { PRESETS } from './compress/search/evolution';
import { compressModel } from './job/compress';
import type { CompressReport } from './job/compressReport';
import type { JobEvent } from './job/protocol';
import { demoText } from './cli/demoAssets';
import { runWeightStage, type WeightStageReport } from './job/weightStage';
import { pplText } from './job/measureModel';
import { SPARSIFY_METHODS, type SparsifyMethod, type WeightStage } from './compress/sparsify/sparsifyDecoder';
import type { SparsityPattern } from './compress/sparsify/pattern';
import type { MaskSelection } from './compress/sparsify/maskSelection';
import { PROFILE_KINDS, type ProfileKind } from './compress/profile/profileStage';
import { UserError } from './util/errors';
import { parseRuleValue, parseSparsity, scheduleOverrides, type RuleName } from './job/options';
import { DEFAULT_CALIB_WINDOWS, DEFAULT_EVAL_WINDOWS } from './job/defaults';
import { sendToParent, underParent } from './job/ipc';

const program = new Command();
program.name('subnet-search').description('Compress decoder-only LLMs stored as ONNX, without training.').version('0.1.0');

const providerOption = () =>
  new Option('--provider <ep>', 'ONNX Runtime execution provider').choices(PROVIDERS as unknown as string[]).default('auto');

/** A value refused by the rules of job/options.ts, as commander reports a bad argument (flag, value, what to give). */
function asArgument<T>(parse: () => T): T {
  try {
    return parse();
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
}

/** Commander's parser for a numeric option, under the rule the job API checks too. */
const ruled = (name: RuleName) => (v: string) => asArgument(() => parseRuleValue(name, v));
const sparsityArg = (v: string) => asArgument(() => parseSparsity(v));

const threadsOption = () =>
  new Option('--threads <n>', "ONNX Runtime intra-op threads (0: ONNX Runtime's default, one per core)").default(0).argParser(ruled('threads'));

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
  .option('--max-tokens <n>', 'total tokens including the prompt', ruled('maxTokens'), 256)
  .option('--original', 'run the original .onnx as it is instead of the re-emitted graph')
  .option('--tokenizer <file>', 'tokenizer.json or llama2.c tokenizer .bin')
  .addOption(providerOption())
  .addOption(threadsOption())
  .action(async (model: string, o: { prompt: string; maxTokens: number; original?: boolean; tokenizer?: string; provider: ProviderChoice }) => {
    const r = await generateText(model, o);
    process.stdout.write(`${r.text}\n`);
    process.stderr.write(`${r.tokens} tokens in ${r.seconds.toFixed(2)} s on ${r.provider}\n`);
  });

/** `--generations` / `--population` over the chosen preset. */
const schedule = (o: { preset: keyof typeof PRESETS; generations?: number; population?: number }) => scheduleOverrides(PRESETS[o.preset], o);

/** Ctrl-C cancels within one candidate, layer or batch; a checkpoint stays for --resume. */
function cancelOnInterrupt(): AbortSignal {
  const controller = new AbortController();
  process.once('SIGINT', () => controller.abort());
  return controller.signal;
}

/** Stage lines and a progress bar on stderr for a job's events (nothing with --json). */
function jobProgress(json: boolean | undefined, generations: number) {
  // One bar at a time, for the candidates of the search or the steps (layers, batches) of another stage.
  let bar: { key: string; bar: ReturnType<typeof progressBar> } | undefined;
  const barFor = (key: string, unit: string) => {
    if (bar?.key !== key) {
      bar?.bar.stop();
      bar = { key, bar: progressBar(unit) };
    }
    return bar.bar;
  };
  return {
    onEvent: (e: JobEvent) => {
      if (underParent()) return sendToParent({ kind: 'event', event: e });
      if (json) return;
      if (e.type === 'candidate') barFor('candidates', 'candidates').update(e.generation * e.of + e.decided, generations * e.of);
      if (e.type === 'progress') barFor(e.stage, e.unit).update(e.done, e.total);
      if (e.type === 'stage') {
        bar?.bar.stop();
        bar = undefined;
        process.stderr.write(`${e.stage}${e.detail ? `: ${e.detail}` : ''}…\n`);
      }
      if (e.type === 'reform') process.stderr.write(`  layer ${e.layer.layer}: o_proj error ${e.layer.o.errorBefore.toFixed(4)} → ${e.layer.o.errorAfter.toFixed(4)}, down_proj ${e.layer.down.errorBefore.toFixed(4)} → ${e.layer.down.errorAfter.toFixed(4)}\n`);
      if (e.type === 'log') process.stderr.write(`${e.message}\n`);
    },
    stop: () => bar?.bar.stop(),
  };
}

/** `--sparsity` / `--bits` options (already checked by their parsers) → a weight stage (undefined without either). */
type WeightStageOptions = { sparsity?: SparsityPattern; sparsifyMethod?: SparsifyMethod; bits?: string; blockSize?: number; asymmetric?: boolean; gptq?: boolean; profile?: ProfileKind; profileGenerations?: number; maskSelection?: MaskSelection };

function weightStage(o: WeightStageOptions): WeightStage | undefined {
  const pattern = o.sparsity;
  const bits = o.bits ? (Number(o.bits) as 4 | 8) : undefined;
  if (!pattern && !bits) return undefined;
  return {
    ...(pattern ? { sparsity: { method: o.sparsifyMethod ?? 'sparsegpt', pattern, ...(o.maskSelection ? { selection: o.maskSelection } : {}) } } : {}),
    ...(bits ? { quant: { bits, blockSize: o.blockSize ?? 32, symmetric: !o.asymmetric, gptq: Boolean(o.gptq) } } : {}),
    ...(o.profile ? { profile: o.profile } : {}),
    ...(o.profileGenerations !== undefined ? { profileGenerations: o.profileGenerations } : {}),
  };
}

const profileOption = (kinds: readonly string[]) =>
  new Option('--profile <p>', 'how levels are spread over the linears: uniform; owl (outlier-weighted per layer); search (EvoPress-style per linear, same total; with --bits 4 alone: int4/int8 mixed under int4 size + 10 %)').choices([...kinds]).default('uniform');
const maskSelectionOption = () => new Option('--mask-selection <s>', "SparseGPT's unstructured mask: one threshold per 128-input block (the reference's) or per output").choices(['block', 'output']).default('block');

function printWeightStage(r: WeightStageReport): string {
  const row = (m: WeightStageReport['before']) => `${m.stage}: perplexity ${pplText(m.ppl, 4)}, file ${(m.fileBytes / 2 ** 20).toFixed(2)} MiB, resident ${(m.residentBytes / 2 ** 20).toFixed(1)} MiB, decode ${m.latency.decodeTokensPerSecond.toFixed(0)} tok/s, ${(m.zeroFraction * 100).toFixed(1)}% zero weights`;
  return [row(r.before), row(r.after), ...r.notes.map((n) => `note: ${n}`), `model: ${path.join(r.out, 'model.onnx')}`].join('\n');
}

function printReport(r: CompressReport): string {
  const p = r.ppl;
  return [
    `compressed ${r.params.before} → ${r.params.after} parameters (ratio ${r.ratio.toFixed(4)}), file ${(r.fileBytes.before / 2 ** 20).toFixed(2)} → ${(r.fileBytes.after / 2 ** 20).toFixed(2)} MiB`,
    `perplexity${r.pplHeldOut ? ' (held-out)' : ' (calibration)'}: original ${p.before.toFixed(3)}, ${r.method === 'search' ? 'searched' : r.method} masks ${p.search.toFixed(3)}, reformed ${p.after.toFixed(3)}, exported file ${p.exported.toFixed(3)}`,
    `decode ${r.latency.original.decodeTokensPerSecond.toFixed(0)} → ${r.latency.compressed.decodeTokensPerSecond.toFixed(0)} tokens/s (${r.latency.decodeSpeedup.toFixed(2)}×) on ${r.latency.provider}`,
    ...(r.stages ?? []).map((m) => `  ${m.stage}: perplexity ${pplText(m.ppl, 3)}, file ${(m.fileBytes / 2 ** 20).toFixed(2)} MiB, decode ${m.latency.decodeTokensPerSecond.toFixed(0)} tok/s`),
    ...r.notes.map((n) => `note: ${n}`),
    `model: ${path.join(r.out, 'model.onnx')}`,
    `report: ${path.join(r.out, 'report.md')}`,
  ].join('\n');
}

program
  .command('eval')
  .description('perplexity on a text: consecutive windows, loss on every position but the first of each window')
  .argument('<model>', 'model.onnx or .bin')
  .requiredOption('--text <file>', 'plain text, or .jsonl with a "text" field')
  .option('--seq-len <n>', 'window length (default: the model context, at most 2048)', ruled('seqLen'))
  .option('--windows <n>', 'evaluate only the first N windows', ruled('windows'))
  .addOption(new Option('--graph <which>', 'file: run the .onnx as it is; ours: our re-emitted graph').choices(['file', 'ours']))
  .option('--tokenizer <file>', 'tokenizer.json or llama2.c tokenizer .bin')
  .option('--json', 'print one JSON object on stdout')
  .addOption(providerOption())
  .addOption(threadsOption())
  .action(async (model: string, o: { text: string; seqLen?: number; windows?: number; graph?: 'file' | 'ours'; tokenizer?: string; json?: boolean; provider: ProviderChoice }) => {
    const bar = o.json ? undefined : progressBar('windows');
    const r = await evaluateModel({ model, ...o, onProgress: (done, total) => bar?.update(done, total) });
    bar?.stop();
    for (const w of r.warnings) process.stderr.write(`warning: ${w}\n`);
    console.log(o.json ? JSON.stringify(r, null, 2) : `perplexity ${r.ppl.toFixed(4)} (mean NLL ${r.meanNll.toFixed(5)} nats) over ${r.tokens} predicted tokens in ${r.windows} windows of ${r.seqLen}; ${r.seconds.toFixed(1)} s on ${r.provider}`);
  });

program
  .command('prune')
  .description('structured baseline masks at a target inheriting ratio, and the masked perplexity')
  .argument('<model>', 'model.onnx or .bin')
  .addOption(new Option('--method <m>', 'importance method').choices(METHODS as unknown as string[]).makeOptionMandatory())
  .requiredOption('--ratio <r>', 'fraction of all parameters to keep (embeddings included), e.g. 0.8', ruled('ratio'))
  .requiredOption('--calib <file>', 'calibration text')
  .requiredOption('--out <dir>', 'new output folder for masks.json and prune.json')
  .addOption(new Option('--granularity <g>', 'attention unit: whole heads (KV groups) or head-dim channels').choices(GRANULARITIES).default('head'))
  .option('--eval <file>', 'held-out text for the reported perplexity (default: the calibration text)')
  .option('--seq-len <n>', 'window length (default: the model context, at most 2048)', ruled('seqLen'))
  .option('--calib-windows <n>', 'calibration windows', ruled('calibWindows'), DEFAULT_CALIB_WINDOWS)
  .option('--eval-windows <n>', 'evaluate only the first N windows', ruled('evalWindows'))
  .option('--seed <n>', 'seed for sampling calibration windows', ruled('seed'), 0)
  .option('--no-bias-compensation', "FLAP without its bias compensation")
  .option('--tokenizer <file>', 'tokenizer.json or llama2.c tokenizer .bin')
  .option('--json', 'print one JSON object on stdout')
  .addOption(providerOption())
  .addOption(threadsOption())
  .action(async (model: string, o: { method: Method; ratio: number; calib: string; out: string; granularity: Granularity; eval?: string; seqLen?: number; calibWindows: number; evalWindows?: number; seed: number; biasCompensation: boolean; tokenizer?: string; json?: boolean; provider: ProviderChoice }) => {
    const r = await pruneModel({
      ...o,
      model,
      evalText: o.eval,
      biasCompensation: o.method === 'flap' ? o.biasCompensation : undefined,
      signal: cancelOnInterrupt(),
      onStage: o.json ? undefined : (s) => process.stderr.write(`${s}…\n`),
      onLog: (m) => process.stderr.write(`${m}\n`),
    });
    console.log(o.json ? JSON.stringify(r, null, 2) : `${r.method} (${r.granularity}) keeps ${r.params} of ${r.totalParams} parameters (ratio ${r.ratio.toFixed(4)}): perplexity ${r.ppl.toFixed(4)} (dense ${r.pplDense.toFixed(4)}) on ${r.evalTokens} tokens\nmasks: ${r.masks}`);
  });

/** What `withSearchOptions` (plus the command's own ratio / calib / out / json) gives an action. */
type SearchCliOptions = { ratio: number; calib: string; out: string; preset: keyof typeof PRESETS; generations?: number; population?: number; seed: number; granularity: Granularity; tolerance: number; seqLen?: number; fitnessWindows?: number; calibWindows: number; halving: boolean; biasCompensation: boolean; depth?: boolean; init: 'obs' | 'all'; eval?: string; evalWindows?: number; resume?: boolean; tokenizer?: string; json?: boolean; provider: ProviderChoice };

/** `--no-bias-compensation` turns it off; otherwise each method's default (on for search and FLAP). */
const compensationOption = (o: { biasCompensation: boolean }) => (o.biasCompensation ? undefined : false);

/** The options `search` and `compress` share. */
function withSearchOptions(cmd: Command, defaultPreset: keyof typeof PRESETS): Command {
  return cmd
    .addOption(new Option('--preset <p>', 'search population schedule').choices(Object.keys(PRESETS)).default(defaultPreset))
    .option('--generations <n>', 'generations (overrides the preset)', ruled('generations'))
    .option('--population <n>', 'candidates per generation, 3 or more (overrides the preset; mutants / crossovers / random keep their shares)', ruled('population'))
    .option('--seed <n>', 'random seed: same inputs and seed give the same masks', ruled('seed'), 0)
    .addOption(new Option('--granularity <g>', 'attention unit: whole heads (KV groups) or head-dim channels').choices(GRANULARITIES).default('head'))
    .option('--tolerance <t>', 'budget window: [ratio − t, ratio] of all parameters', ruled('tolerance'), 0.01)
    .option('--seq-len <n>', 'window length (default: the model context, at most 2048)', ruled('seqLen'))
    .option('--fitness-windows <n>', 'fitness (and reformation) windows from the start of the calibration text (default: ~10k tokens)', ruled('fitnessWindows'))
    .option('--calib-windows <n>', 'calibration windows for the importance scores', ruled('calibWindows'), DEFAULT_CALIB_WINDOWS)
    .addOption(new Option('--init <which>', "initial population: obs (the paper's) or all importance methods").choices(['obs', 'all']).default('all'))
    .option('--no-halving', "evaluate every candidate on all fitness windows (the paper's plain schedule)")
    .option('--depth', 'below a 0.7 ratio, also search how many last layers to drop whole')
    .option('--no-bias-compensation', "measure candidates without FLAP's compensation biases (the paper's fitness; also FLAP without them)")
    .option('--eval <file>', 'held-out text: perplexity in the result')
    .option('--eval-windows <n>', 'evaluate only the first N held-out windows', ruled('evalWindows'))
    .option('--resume', 'continue an interrupted job from its checkpoint in <out>.partial')
    .option('--tokenizer <file>', 'tokenizer.json or llama2.c tokenizer .bin')
    .addOption(providerOption())
  .addOption(threadsOption());
}

withSearchOptions(
  program
    .command('search')
    .description('training-free evolutionary search for the sub-network to keep at a parameter budget')
    .argument('<model>', 'model.onnx or .bin')
    .requiredOption('--ratio <r>', 'fraction of all parameters to keep (embeddings included), e.g. 0.8', ruled('ratio'))
    .requiredOption('--calib <file>', 'calibration text: importance initialisation and fitness windows')
    .requiredOption('--out <dir>', 'new output folder for masks.json, search.json and the checkpoint'),
  'paper',
)
  .option('--json', 'print one JSON object on stdout')
  .action(async (model: string, o: SearchCliOptions) => {
    const progress = jobProgress(o.json, (o.generations ?? PRESETS[o.preset].generations) + 1);
    const r = await searchModel({ ...o, biasCompensation: compensationOption(o), model, evalText: o.eval, schedule: schedule(o), signal: cancelOnInterrupt(), onEvent: progress.onEvent });
    progress.stop();
    if (o.json) return console.log(JSON.stringify({ ...r, evaluated: undefined, history: r.history }, null, 2));
    console.log(`best sub-network keeps ${r.params} of ${r.totalParams} parameters (ratio ${r.ratio.toFixed(4)}): fitness perplexity ${r.fitness.best.toFixed(4)} (OBS init ${r.fitness.init.toFixed(4)}, best importance seed ${r.fitness.bestSeed.toFixed(4)})`);
    const biased = r.compensate.reduce((a, c) => a + Number(c.attn) + Number(c.mlp), 0);
    if (biased || r.droppedLayers) console.log(`compensation biases on ${biased} of ${2 * r.compensate.length} o_proj/down_proj modules${r.droppedLayers ? `; the last ${r.droppedLayers === 1 ? 'layer' : `${r.droppedLayers} layers`} dropped` : ''}`);
    if (r.heldOut) console.log(`held-out perplexity ${r.heldOut.best.toFixed(4)} (init ${r.heldOut.init.toFixed(4)}, dense ${r.heldOut.dense.toFixed(4)}) on ${r.heldOut.tokens} tokens`);
    console.log(`${r.evaluations} candidates, ${r.tokens} tokens evaluated in ${r.seconds.toFixed(1)} s on ${r.provider}\nmasks: ${r.masks}`);
  });

withSearchOptions(
  program
    .command('compress')
    .description('search (or a baseline) → reformation → physically smaller ONNX export → report, in one job')
    .argument('<model>', 'model.onnx or .bin')
    .requiredOption('--ratio <r>', 'fraction of all parameters to keep (embeddings included), e.g. 0.8', ruled('ratio'))
    .requiredOption('--calib <file>', 'calibration text')
    .requiredOption('--out <dir>', 'new output folder'),
  'small',
)
  .addOption(new Option('--method <m>', 'search, or a baseline instead of it').choices(['search', ...METHODS]).default('search'))
  .option('--no-reform', 'skip reformation of o_proj / down_proj')
  .addOption(new Option('--reform-method <m>', "closed-form least squares or the paper's ADMM").choices(['closed-form', 'admm']).default('closed-form'))
  .option('--sparsity <s>', 'then sparsify: a fraction (0.5) or N:M (2:4, M ≤ 64)', sparsityArg)
  .addOption(new Option('--sparsify-method <m>', 'one-shot sparsifier').choices(SPARSIFY_METHODS as unknown as string[]).default('sparsegpt'))
  .addOption(new Option('--bits <b>', 'then quantize weights to int4 or int8 (MatMulNBits)').choices(['4', '8']))
  .option('--block-size <n>', 'quantization block size', ruled('blockSize'), 32)
  .option('--asymmetric', 'asymmetric quantization (a zero point per block)')
  .option('--gptq', 'GPTQ-style error feedback for quantization (jointly with SparseGPT)')
  .addOption(profileOption(PROFILE_KINDS))
  .option('--profile-generations <n>', 'generations of --profile search (default 40)', ruled('profileGenerations'))
  .addOption(maskSelectionOption())
  .option('--json', 'print report.json on stdout at the end')
  .action(async (model: string, o: SearchCliOptions & WeightStageOptions & { method: 'search' | Method; reform: boolean; reformMethod: 'closed-form' | 'admm' }) => {
    const progress = jobProgress(o.json, (o.generations ?? PRESETS[o.preset].generations) + 1);
    const r = await compressModel({ ...o, biasCompensation: compensationOption(o), model, evalText: o.eval, schedule: schedule(o), weightStage: weightStage(o), signal: cancelOnInterrupt(), onEvent: progress.onEvent });
    progress.stop();
    if (underParent()) return sendToParent({ kind: 'result', result: r });
    console.log(o.json ? JSON.stringify(r, null, 2) : printReport(r));
  });

const stageCommand = (name: string, description: string) =>
  program
    .command(name)
    .description(description)
    .argument('<model>', 'model.onnx or .bin')
    .requiredOption('--out <dir>', 'new output folder')
    .option('--calib <file>', 'calibration text (SparseGPT, Wanda, GPTQ)')
    .option('--eval <file>', 'text for the perplexity before / after (default: the calibration text)')
    .option('--eval-windows <n>', 'evaluation windows', ruled('evalWindows'), DEFAULT_EVAL_WINDOWS)
    .option('--seq-len <n>', 'window length (default: the model context, at most 2048)', ruled('seqLen'))
    .option('--calib-windows <n>', 'calibration windows', ruled('calibWindows'), DEFAULT_CALIB_WINDOWS)
    .option('--seed <n>', 'seed for sampling calibration windows', ruled('seed'), 0)
    .option('--tokenizer <file>', 'tokenizer.json or llama2.c tokenizer .bin')
    .option('--json', 'print report.json on stdout')
    .addOption(providerOption())
  .addOption(threadsOption());

type StageOptions = { out: string; calib?: string; eval?: string; evalWindows: number; seqLen?: number; calibWindows: number; seed: number; tokenizer?: string; json?: boolean; provider: ProviderChoice };

async function stageAction(model: string, o: StageOptions, stage: WeightStage | undefined) {
  if (!stage) throw new UserError('nothing to do: give --sparsity and/or --bits');
  const r = await runWeightStage({ ...o, model, stage, evalText: o.eval, signal: cancelOnInterrupt(), onEvent: (e) => (e.type === 'log' || (!o.json && e.type === 'stage')) && process.stderr.write(`${e.type === 'log' ? e.message : `${e.stage}…`}\n`) });
  console.log(o.json ? JSON.stringify(r, null, 2) : printWeightStage(r));
}

stageCommand('sparsify', 'one-shot SparseGPT / Wanda / magnitude sparsity, unstructured or N:M, optionally quantized too')
  .addOption(new Option('--method <m>', 'sparsifier').choices(SPARSIFY_METHODS as unknown as string[]).default('sparsegpt'))
  .requiredOption('--sparsity <s>', 'a fraction (0.5) or N:M (2:4, M ≤ 64)', sparsityArg)
  .addOption(new Option('--bits <b>', 'also quantize to int4 / int8 (with SparseGPT: jointly, GPTQ-style)').choices(['4', '8']))
  .option('--block-size <n>', 'quantization block size', ruled('blockSize'), 32)
  .option('--asymmetric', 'asymmetric quantization')
  .addOption(profileOption(PROFILE_KINDS))
  .option('--profile-generations <n>', 'generations of --profile search (default 40)', ruled('profileGenerations'))
  .addOption(maskSelectionOption())
  .action((model: string, o: StageOptions & WeightStageOptions & { method: SparsifyMethod; sparsity: SparsityPattern }) =>
    stageAction(model, o, weightStage({ ...o, sparsifyMethod: o.method, gptq: o.method === 'sparsegpt' && Boolean(o.bits) })));

stageCommand('quantize', 'weight-only int4 / int8 quantization to com.microsoft.MatMulNBits (embeddings and lm_head stay fp32)')
  .addOption(new Option('--bits <b>', 'bits per weight').choices(['4', '8']).makeOptionMandatory())
  .option('--block-size <n>', 'block size along the input dimension', ruled('blockSize'), 32)
  .option('--asymmetric', 'asymmetric quantization (a zero point per block)')
  .option('--gptq', 'GPTQ-style error feedback (needs --calib)')
  .addOption(profileOption(['uniform', 'search']))
  .option('--profile-generations <n>', 'generations of --profile search (default 40)', ruled('profileGenerations'))
  .action((model: string, o: StageOptions & WeightStageOptions) => stageAction(model, o, weightStage(o)));

program
  .command('demo')
  .description('compress the embedded stories260K model to 0.8 with quick defaults and show the result')
  .option('--out <dir>', 'output folder (default: a new folder under the system temp dir)')
  .action(async (o: { out?: string }) => {
    const model = demoModel();
    const out = o.out ?? path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'subnet-search-demo-')), 'stories260K-0.8');
    console.log(printSummary(summarize(loadDecoder(model))));
    console.log(`\nCompressing to 0.8 of its parameters (quick search preset) with ${path.relative(process.cwd(), demoText())} as calibration text…`);
    const progress = jobProgress(false, PRESETS.quick.generations + 1);
    const r = await compressModel({ model, ratio: 0.8, calib: demoText(), out, preset: 'quick', seqLen: 256, calibWindows: 32, provider: 'auto', signal: cancelOnInterrupt(), onEvent: progress.onEvent });
    progress.stop();
    console.log(`\n${printReport(r)}`);
    const g = await generateText(path.join(out, 'model.onnx'), { prompt: 'Once upon a time', maxTokens: 80, provider: 'auto', original: true });
    console.log(`\nThe compressed model, greedy from "Once upon a time":\n${g.text}`);
  });

async function main(): Promise<void> {
  // Under the extension host: the IPC channel must not keep the process alive once the job is done.
  if (underParent()) process.channel?.unref();
  try {
    await program.parseAsync(process.argv);
  } catch (e) {
    if (underParent()) sendToParent({ kind: 'error', message: isUserError(e) ? e.message : `internal error: ${e instanceof Error ? e.message : e}` });
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
