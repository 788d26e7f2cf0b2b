// Commander options and parsers the commands share, checked by the same rules as the job API (job/options.ts).
import { Command, InvalidArgumentError, Option } from 'commander';
import { GRANULARITIES } from '../compress/importance/units';
import { FLOAT_NAMES, type FloatType } from '../model/decoder';
import { PRESETS } from '../compress/search/evolution';
import { MASK_SELECTIONS } from '../compress/sparsify/maskSelection';
import { parseRuleValue, parseSparsity, scheduleOverrides, type RuleName } from '../job/options';
import {
  DEFAULT_CALIB_WINDOWS,
  DEFAULT_GRANULARITY,
  DEFAULT_PROVIDER,
  DEFAULT_SEED,
  DEFAULT_THREADS,
  DEFAULT_TOLERANCE,
  PROVIDERS,
} from '../job/defaults';

/** A value refused by the rules of job/options.ts, as commander reports a bad argument (flag, value, what to give). */
function asArgument<T>(parse: () => T): T {
  try {
    return parse();
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
}

/** Commander's parser for a numeric option, under the rule the job API checks too. */
export const ruled = (name: RuleName) => (v: string) => asArgument(() => parseRuleValue(name, v));
export const sparsityArg = (v: string) => asArgument(() => parseSparsity(v));

export const providerOption = () =>
  new Option('--provider <ep>', 'ONNX Runtime execution provider')
    .choices(PROVIDERS as unknown as string[])
    .default(DEFAULT_PROVIDER);

export const threadsOption = () =>
  new Option('--threads <n>', "ONNX Runtime intra-op threads (0: ONNX Runtime's default, one per core)")
    .default(DEFAULT_THREADS)
    .argParser(ruled('threads'));

const DTYPES = Object.fromEntries(Object.entries(FLOAT_NAMES).map(([type, name]) => [name, type as FloatType]));

export const dtypeOption = () =>
  new Option(
    '--dtype <t>',
    "the export's float type: fp32, fp16 or bf16 (default: the model's own, so an fp16 model stays fp16)",
  ).argParser((v) => {
    const type = DTYPES[v];
    if (!type) throw new InvalidArgumentError(`Allowed choices are ${Object.keys(DTYPES).join(', ')}.`);
    return type;
  });

const PROFILE_HELP: Record<string, string> = {
  uniform: 'uniform (the default)',
  owl: 'owl (outlier-weighted per layer)',
  search: 'search (EvoPress-style per linear, same total; with --bits 4 alone: int4/int8 mixed under int4 size + 10 %)',
};
/** `--profile` with the kinds a command offers, and help for those only. */
export const profileOption = (kinds: readonly string[]) =>
  new Option(
    '--profile <p>',
    `how levels are spread over the linears: ${kinds.map((k) => PROFILE_HELP[k] ?? k).join('; ')}`,
  ).choices([...kinds]);
export const maskSelectionOption = () =>
  new Option(
    '--mask-selection <s>',
    "SparseGPT's unstructured mask: one threshold per 128-input block (the reference's, the default) or per output",
  ).choices(MASK_SELECTIONS);

/** `--generations` / `--population` over the chosen preset. */
export const schedule = (o: { preset: keyof typeof PRESETS; generations?: number; population?: number }) =>
  scheduleOverrides(PRESETS[o.preset], o);

/**
 * Ctrl-C cancels within one candidate, layer or batch; a checkpoint stays for --resume. `kill` and `timeout`
 * (SIGTERM) cancel the same way, so the job's scratch files (a profile search's database is many times the model)
 * are removed rather than left behind. The first signal takes both handlers down, so a second one ends the process
 * at once; SIGHUP is left alone, so that a job under `nohup` survives a closed terminal.
 */
export function cancelOnInterrupt(): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  const signals = ['SIGINT', 'SIGTERM'] as const;
  const dispose = () => signals.forEach((s) => process.off(s, cancel));
  const cancel = () => {
    dispose();
    controller.abort();
  };
  signals.forEach((s) => process.on(s, cancel));
  return { signal: controller.signal, dispose };
}

/** `--no-bias-compensation` turns it off; otherwise each method's default (on for search and FLAP). */
export const compensationOption = (o: { biasCompensation: boolean }) => (o.biasCompensation ? undefined : false);

/** The options `search` and `compress` share. */
export function withSearchOptions(cmd: Command, defaultPreset: keyof typeof PRESETS): Command {
  return cmd
    .addOption(
      new Option('--preset <p>', 'search population schedule').choices(Object.keys(PRESETS)).default(defaultPreset),
    )
    .option('--generations <n>', 'generations (overrides the preset)', ruled('generations'))
    .option(
      '--population <n>',
      'candidates per generation, 3 or more (overrides the preset; mutants / crossovers / random keep their shares)',
      ruled('population'),
    )
    .option('--seed <n>', 'random seed: same inputs and seed give the same masks', ruled('seed'), DEFAULT_SEED)
    .addOption(
      new Option('--granularity <g>', 'attention unit: whole heads (KV groups) or head-dim channels')
        .choices(GRANULARITIES)
        .default(DEFAULT_GRANULARITY),
    )
    .option(
      '--tolerance <t>',
      'budget window: [ratio − t, ratio] of all parameters',
      ruled('tolerance'),
      DEFAULT_TOLERANCE,
    )
    .option('--seq-len <n>', 'window length (default: the model context, at most 2048)', ruled('seqLen'))
    .option(
      '--fitness-windows <n>',
      'fitness (and reformation) windows from the start of the calibration text (default: ~10k tokens)',
      ruled('fitnessWindows'),
    )
    .option(
      '--calib-windows <n>',
      'calibration windows for the importance scores',
      ruled('calibWindows'),
      DEFAULT_CALIB_WINDOWS,
    )
    .addOption(
      new Option('--init <which>', "initial population: obs (the paper's) or all importance methods")
        .choices(['obs', 'all'])
        .default('all'),
    )
    .option('--no-halving', "evaluate every candidate on all fitness windows (the paper's plain schedule)")
    .option('--depth', 'below a 0.7 ratio, also search how many last layers to drop whole')
    .option(
      '--no-bias-compensation',
      "measure candidates without FLAP's compensation biases (the paper's fitness; also FLAP without them)",
    )
    .option('--eval <file>', 'held-out text: perplexity in the result')
    .option('--eval-windows <n>', 'evaluate only the first N held-out windows', ruled('evalWindows'))
    .option('--resume', 'continue an interrupted job from its checkpoint in <out>.partial')
    .option('--tokenizer <file>', 'tokenizer.json or llama2.c tokenizer .bin')
    .addOption(providerOption())
    .addOption(threadsOption());
}
