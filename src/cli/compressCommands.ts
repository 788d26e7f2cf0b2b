// Commands that choose a sub-network: prune (a baseline), search, and compress (masks → reformation → export → report).
import { PROFILE_SCHEDULE } from '../compress/profile/search';
import { Command, Option } from 'commander';
import type { ProviderChoice } from '../runtime/session';
import { pruneModel } from '../job/prune';
import { searchModel } from '../job/search';
import { compressModel } from '../job/compress';
import { sendToParent, underParent } from '../job/ipc';
import {
  COMPRESS_METHODS,
  DEFAULT_BLOCK_SIZE,
  DEFAULT_CALIB_WINDOWS,
  DEFAULT_GRANULARITY,
  DEFAULT_SEED,
} from '../job/defaults';
import { METHODS, type Method } from '../compress/importance/scores';
import { GRANULARITIES, type Granularity } from '../compress/importance/units';
import { PRESETS } from '../compress/search/evolution';
import { SPARSIFY_METHODS } from '../compress/sparsify/sparsifyDecoder';
import { PROFILE_KINDS } from '../compress/profile/profileStage';
import { withJobIo } from './jobProgress';
import type { FloatType } from '../model/decoder';
import { printReport } from './reports';
import { weightStage, type WeightStageOptions } from './stageCommands';
import {
  compensationOption,
  dtypeOption,
  maskSelectionOption,
  profileOption,
  providerOption,
  ruled,
  schedule,
  sparsityArg,
  threadsOption,
  withSearchOptions,
} from './options';

/** What `withSearchOptions` (plus the command's own ratio / calib / out / json) gives an action. */
type SearchCliOptions = {
  ratio: number;
  calib: string;
  out: string;
  preset: keyof typeof PRESETS;
  generations?: number;
  population?: number;
  seed: number;
  granularity: Granularity;
  tolerance: number;
  seqLen?: number;
  fitnessWindows?: number;
  calibWindows: number;
  halving: boolean;
  biasCompensation: boolean;
  depth?: boolean;
  init: 'obs' | 'all';
  eval?: string;
  evalWindows?: number;
  resume?: boolean;
  tokenizer?: string;
  json?: boolean;
  provider: ProviderChoice;
};

/** `search` and `compress`: a model, a ratio, a calibration text and an output folder, then the search options. */
function searchCommand(
  program: Command,
  name: string,
  description: string,
  calib: string,
  out: string,
  preset: keyof typeof PRESETS,
): Command {
  const cmd = program
    .command(name)
    .description(description)
    .argument('<model>', 'model.onnx or .bin')
    .requiredOption('--ratio <r>', 'fraction of all parameters to keep (embeddings included), e.g. 0.8', ruled('ratio'))
    .requiredOption('--calib <file>', calib)
    .requiredOption('--out <dir>', out);
  return withSearchOptions(cmd, preset);
}

export function registerCompressCommands(program: Command): void {
  program
    .command('prune')
    .description('structured baseline masks at a target inheriting ratio, and the masked perplexity')
    .argument('<model>', 'model.onnx or .bin')
    .addOption(
      new Option('--method <m>', 'importance method').choices(METHODS as unknown as string[]).makeOptionMandatory(),
    )
    .requiredOption('--ratio <r>', 'fraction of all parameters to keep (embeddings included), e.g. 0.8', ruled('ratio'))
    .requiredOption('--calib <file>', 'calibration text')
    .requiredOption('--out <dir>', 'new output folder for masks.json and prune.json')
    .addOption(
      new Option('--granularity <g>', 'attention unit: whole heads (KV groups) or head-dim channels')
        .choices(GRANULARITIES)
        .default(DEFAULT_GRANULARITY),
    )
    .option('--eval <file>', 'held-out text for the reported perplexity (default: the calibration text)')
    .option('--seq-len <n>', 'window length (default: the model context, at most 2048)', ruled('seqLen'))
    .option('--calib-windows <n>', 'calibration windows', ruled('calibWindows'), DEFAULT_CALIB_WINDOWS)
    .option('--eval-windows <n>', 'evaluate only the first N windows', ruled('evalWindows'))
    .option('--seed <n>', 'seed for sampling calibration windows', ruled('seed'), DEFAULT_SEED)
    .option('--no-bias-compensation', 'FLAP without its bias compensation')
    .option('--tokenizer <file>', 'tokenizer.json or llama2.c tokenizer .bin')
    .option('--json', 'print one JSON object on stdout')
    .addOption(providerOption())
    .addOption(threadsOption())
    .action(
      async (
        model: string,
        o: {
          method: Method;
          ratio: number;
          calib: string;
          out: string;
          granularity: Granularity;
          eval?: string;
          seqLen?: number;
          calibWindows: number;
          evalWindows?: number;
          seed: number;
          biasCompensation: boolean;
          tokenizer?: string;
          json?: boolean;
          provider: ProviderChoice;
        },
      ) => {
        const r = await withJobIo(o.json, 0, (io) =>
          pruneModel({
            ...o,
            model,
            evalText: o.eval,
            biasCompensation: o.method === 'flap' ? o.biasCompensation : undefined,
            ...io,
          }),
        );
        console.log(
          o.json
            ? JSON.stringify(r, null, 2)
            : `${r.method} (${r.granularity}) keeps ${r.params} of ${r.totalParams} parameters (ratio ${r.ratio.toFixed(4)}): perplexity ${r.ppl.toFixed(4)} (dense ${r.pplDense.toFixed(4)}) on ${r.evalTokens} tokens\nmasks: ${r.masks}`,
        );
      },
    );

  searchCommand(
    program,
    'search',
    'training-free evolutionary search for the sub-network to keep at a parameter budget',
    'calibration text: importance initialisation and fitness windows',
    'new output folder for masks.json, search.json and the checkpoint',
    'paper',
  )
    .option('--json', 'print one JSON object on stdout')
    .action(async (model: string, o: SearchCliOptions) => {
      const r = await withJobIo(o.json, (o.generations ?? PRESETS[o.preset].generations) + 1, (io) =>
        searchModel({
          ...o,
          biasCompensation: compensationOption(o),
          model,
          evalText: o.eval,
          schedule: schedule(o),
          ...io,
        }),
      );
      if (o.json) return console.log(JSON.stringify({ ...r, evaluated: undefined, history: r.history }, null, 2));
      console.log(
        `best sub-network keeps ${r.params} of ${r.totalParams} parameters (ratio ${r.ratio.toFixed(4)}): fitness perplexity ${r.fitness.best.toFixed(4)} (OBS init ${r.fitness.init.toFixed(4)}, best importance seed ${r.fitness.bestSeed.toFixed(4)})`,
      );
      const biased = r.compensate.reduce((a, c) => a + Number(c.attn) + Number(c.mlp), 0);
      if (biased || r.droppedLayers)
        console.log(
          `compensation biases on ${biased} of ${2 * r.compensate.length} o_proj/down_proj modules${r.droppedLayers ? `; the last ${r.droppedLayers === 1 ? 'layer' : `${r.droppedLayers} layers`} dropped` : ''}`,
        );
      if (r.heldOut)
        console.log(
          `held-out perplexity ${r.heldOut.best.toFixed(4)} (init ${r.heldOut.init.toFixed(4)}, dense ${r.heldOut.dense.toFixed(4)}) on ${r.heldOut.tokens} tokens`,
        );
      console.log(
        `${r.evaluations} candidates, ${r.tokens} tokens evaluated in ${r.seconds.toFixed(1)} s on ${r.provider}\nmasks: ${r.masks}`,
      );
    });

  searchCommand(
    program,
    'compress',
    'search (or a baseline) → reformation → physically smaller ONNX export → report, in one job',
    'calibration text',
    'new output folder',
    'small',
  )
    .addOption(
      new Option('--method <m>', 'search, or a baseline instead of it')
        .choices(COMPRESS_METHODS.map(([m]) => m))
        .default('search'),
    )
    .option('--no-reform', 'skip reformation of o_proj / down_proj')
    .addOption(
      new Option('--reform-method <m>', "closed-form least squares or the paper's ADMM")
        .choices(['closed-form', 'admm'])
        .default('closed-form'),
    )
    .option('--sparsity <s>', 'then sparsify: a fraction (0.5) or N:M (2:4, M ≤ 64)', sparsityArg)
    .addOption(
      new Option('--sparsify-method <m>', 'one-shot sparsifier')
        .choices(SPARSIFY_METHODS as unknown as string[])
        .default('sparsegpt'),
    )
    .addOption(new Option('--bits <b>', 'then quantize weights to int4 or int8 (MatMulNBits)').choices(['4', '8']))
    .option('--block-size <n>', 'quantization block size', ruled('blockSize'), DEFAULT_BLOCK_SIZE)
    .option('--asymmetric', 'asymmetric quantization (a zero point per block)')
    .option('--gptq', 'GPTQ-style error feedback for quantization (jointly with SparseGPT)')
    .addOption(profileOption(PROFILE_KINDS))
    .option(
      '--profile-generations <n>',
      `generations of --profile search (default ${PROFILE_SCHEDULE.generations})`,
      ruled('profileGenerations'),
    )
    .addOption(maskSelectionOption())
    .addOption(dtypeOption())
    .option('--json', 'print report.json on stdout at the end')
    .action(
      async (
        model: string,
        o: SearchCliOptions &
          WeightStageOptions & {
            method: 'search' | Method;
            reform: boolean;
            reformMethod: 'closed-form' | 'admm';
            dtype?: FloatType;
          },
      ) => {
        const r = await withJobIo(o.json, (o.generations ?? PRESETS[o.preset].generations) + 1, (io) =>
          compressModel({
            ...o,
            biasCompensation: compensationOption(o),
            model,
            evalText: o.eval,
            schedule: schedule(o),
            weightStage: weightStage(o),
            ...io,
          }),
        );
        if (underParent()) return sendToParent({ kind: 'result', result: r });
        console.log(o.json ? JSON.stringify(r, null, 2) : printReport(r));
      },
    );
}
