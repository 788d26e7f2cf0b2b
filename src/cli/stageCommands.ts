// The weight-stage commands: sparsify and quantize a model on their own (also used by `compress` after reformation).
import { PROFILE_SCHEDULE } from '../compress/profile/search';
import { Command, Option } from 'commander';
import type { ProviderChoice } from '../runtime/session';
import type { FloatType } from '../model/decoder';
import { runWeightStage } from '../job/weightStage';
import { DEFAULT_BLOCK_SIZE, DEFAULT_CALIB_WINDOWS, DEFAULT_EVAL_WINDOWS, DEFAULT_SEED } from '../job/defaults';
import { SPARSIFY_METHODS, type SparsifyMethod, type WeightStage } from '../compress/sparsify/sparsifyDecoder';
import type { SparsityPattern } from '../compress/sparsify/pattern';
import type { MaskSelection } from '../compress/sparsify/maskSelection';
import { PROFILE_KINDS, type ProfileKind } from '../compress/profile/profileStage';
import { UserError } from '../util/errors';
import { printWeightStage } from './reports';
import { withJobIo } from './jobProgress';
import {
  dtypeOption,
  maskSelectionOption,
  profileOption,
  providerOption,
  ruled,
  sparsityArg,
  threadsOption,
} from './options';

/** `--sparsity` / `--bits` options (already checked by their parsers) → a weight stage (undefined without either). */
export type WeightStageOptions = {
  sparsity?: SparsityPattern;
  sparsifyMethod?: SparsifyMethod;
  bits?: string;
  blockSize?: number;
  asymmetric?: boolean;
  gptq?: boolean;
  profile?: ProfileKind;
  profileGenerations?: number;
  maskSelection?: MaskSelection;
};

/** Flags that only mean something with --sparsity or --bits: refused without them rather than ignored. */
function refuseIdleFlags(o: WeightStageOptions, pattern: boolean, bits: boolean): void {
  const idle = (flag: string, needs: string) => {
    throw new UserError(`${flag} applies to the weight stage's ${needs}`);
  };
  if (o.maskSelection && !pattern) idle('--mask-selection', 'sparsity: give --sparsity with a fraction');
  if (o.asymmetric && !bits) idle('--asymmetric', 'quantization: give --bits 4 or 8');
  if (o.gptq && !bits) idle('--gptq', 'quantization: give --bits 4 or 8');
  if (!pattern && !bits) {
    if (o.profile) idle('--profile', 'levels: give --sparsity and/or --bits');
    if (o.profileGenerations !== undefined) idle('--profile-generations', 'levels: give --sparsity and/or --bits');
  }
}

export function weightStage(o: WeightStageOptions): WeightStage | undefined {
  const pattern = o.sparsity;
  const bits = o.bits ? (Number(o.bits) as 4 | 8) : undefined;
  refuseIdleFlags(o, Boolean(pattern), Boolean(bits));
  if (!pattern && !bits) return undefined;
  return {
    ...(pattern
      ? {
          sparsity: {
            method: o.sparsifyMethod ?? 'sparsegpt',
            pattern,
            ...(o.maskSelection ? { selection: o.maskSelection } : {}),
          },
        }
      : {}),
    ...(bits
      ? {
          quant: {
            bits,
            blockSize: o.blockSize ?? DEFAULT_BLOCK_SIZE,
            symmetric: !o.asymmetric,
            gptq: Boolean(o.gptq),
          },
        }
      : {}),
    ...(o.profile ? { profile: o.profile } : {}),
    ...(o.profileGenerations !== undefined ? { profileGenerations: o.profileGenerations } : {}),
  };
}

type StageOptions = {
  out: string;
  dtype?: FloatType;
  calib?: string;
  eval?: string;
  evalWindows: number;
  seqLen?: number;
  calibWindows: number;
  seed: number;
  tokenizer?: string;
  json?: boolean;
  provider: ProviderChoice;
};

async function stageAction(model: string, o: StageOptions, stage: WeightStage | undefined) {
  if (!stage) throw new UserError('nothing to do: give --sparsity and/or --bits');
  const r = await withJobIo(o.json, 0, (io) => runWeightStage({ ...o, model, stage, evalText: o.eval, ...io }));
  console.log(o.json ? JSON.stringify(r, null, 2) : printWeightStage(r));
}

export function registerStageCommands(program: Command): void {
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
      .option('--seed <n>', 'seed for sampling calibration windows', ruled('seed'), DEFAULT_SEED)
      .option('--tokenizer <file>', 'tokenizer.json or llama2.c tokenizer .bin')
      .option('--json', 'print report.json on stdout')
      .addOption(providerOption())
      .addOption(threadsOption())
      .addOption(dtypeOption());

  stageCommand(
    'sparsify',
    'one-shot SparseGPT / Wanda / magnitude sparsity, unstructured or N:M, optionally quantized too',
  )
    .addOption(
      new Option('--method <m>', 'sparsifier').choices(SPARSIFY_METHODS as unknown as string[]).default('sparsegpt'),
    )
    .requiredOption('--sparsity <s>', 'a fraction (0.5) or N:M (2:4, M ≤ 64)', sparsityArg)
    .addOption(
      new Option('--bits <b>', 'also quantize to int4 / int8 (with SparseGPT: jointly, GPTQ-style)').choices([
        '4',
        '8',
      ]),
    )
    .option('--block-size <n>', 'quantization block size', ruled('blockSize'), DEFAULT_BLOCK_SIZE)
    .option('--asymmetric', 'asymmetric quantization')
    .addOption(profileOption(PROFILE_KINDS))
    .option(
      '--profile-generations <n>',
      `generations of --profile search (default ${PROFILE_SCHEDULE.generations})`,
      ruled('profileGenerations'),
    )
    .addOption(maskSelectionOption())
    .action(
      (model: string, o: StageOptions & WeightStageOptions & { method: SparsifyMethod; sparsity: SparsityPattern }) =>
        stageAction(
          model,
          o,
          weightStage({ ...o, sparsifyMethod: o.method, gptq: o.method === 'sparsegpt' && Boolean(o.bits) }),
        ),
    );

  stageCommand(
    'quantize',
    "weight-only int4 / int8 quantization to com.microsoft.MatMulNBits (embeddings and lm_head stay in the model's float type)",
  )
    .addOption(new Option('--bits <b>', 'bits per weight').choices(['4', '8']).makeOptionMandatory())
    .option('--block-size <n>', 'block size along the input dimension', ruled('blockSize'), DEFAULT_BLOCK_SIZE)
    .option('--asymmetric', 'asymmetric quantization (a zero point per block)')
    .option('--gptq', 'GPTQ-style error feedback (needs --calib)')
    .addOption(profileOption(['uniform', 'search']))
    .option(
      '--profile-generations <n>',
      `generations of --profile search (default ${PROFILE_SCHEDULE.generations})`,
      ruled('profileGenerations'),
    )
    .action((model: string, o: StageOptions & WeightStageOptions) => stageAction(model, o, weightStage(o)));
}
