// The adapter registry: every way we read a decoder, each saying which files it recognises and what it reads.
// recognise.ts asks the adapters in order; a model none recognises gets an error that lists them all.
import * as path from 'node:path';
import { readOnnxFile, type OnnxFile } from '../../onnx/modelFile';
import type { Decoder } from '../decoder';
import { FAMILIES, familyOfModelType, type FamilySpec } from '../families';
import { readConfigHints, type ConfigHints } from '../hfConfig';
import { LLAMA2C_ADAPTER, readLlama2c } from '../llama2c';
import { GraphIndex } from './graphIndex';
import { hasLlamaLayout, readOptimum } from './optimum';
import { GENAI_ADAPTER, hasGenaiBuilderLayout, readGenaiBuilder } from './genaiBuilder';

/** What an adapter may look at to decide: the file, and for ONNX its graph and the config beside it. */
export interface ModelProbe {
  file: string;
  name: string;
  onnx?: { file: OnnxFile; index: GraphIndex; hints: () => ConfigHints };
}

export interface DecoderAdapter {
  /** Shown by `inspect` and recorded in `Decoder.source.adapter`. */
  name: string;
  /** What it reads, for the unrecognised-model message. */
  supports: string;
  recognises(p: ModelProbe): boolean;
  read(p: ModelProbe): Decoder;
  /** The adapter reads graphs made of fused runtime ops (checks them itself); others refuse such graphs. */
  readsFusedOps?: boolean;
}

export function probeModel(file: string): ModelProbe {
  const name = path.basename(file);
  if (file.toLowerCase().endsWith('.bin')) return { file, name };
  const onnxFile = readOnnxFile(file);
  let hints: ConfigHints | undefined;
  return {
    file,
    name,
    onnx: {
      file: onnxFile,
      index: new GraphIndex(onnxFile.model.graph!),
      hints: () => (hints ??= readConfigHints(onnxFile.dir)),
    },
  };
}

function optimumAdapter(family: FamilySpec): DecoderAdapter {
  return {
    name: `torch.onnx / Optimum ${family.label}`,
    supports: `model_type ${family.modelTypes.join(' or ')}: ${family.reads}`,
    recognises: (p) =>
      Boolean(p.onnx && hasLlamaLayout(p.onnx.index) && familyOfModelType(p.onnx.hints().modelType) === family),
    read(p) {
      const o = p.onnx!;
      return readOptimum(o.file, o.index, o.hints(), family, this.name);
    },
  };
}

export const ADAPTERS: readonly DecoderAdapter[] = [
  // First: its graphs also hold `model.embed_tokens.weight`, which the Optimum adapters look for.
  {
    name: GENAI_ADAPTER,
    supports:
      'Llama built by onnxruntime-genai (fp32/fp16; packed or separate q/k/v, GroupQueryAttention; int4 refused)',
    recognises: (p) => Boolean(p.onnx && hasGenaiBuilderLayout(p.onnx.index)),
    read: (p) => readGenaiBuilder(p.onnx!.file, p.onnx!.index, p.onnx!.hints()),
    readsFusedOps: true,
  },
  ...Object.values(FAMILIES).map(optimumAdapter),
  {
    name: LLAMA2C_ADAPTER,
    supports: '.bin files written by llama2.c (Llama layout, fp32)',
    recognises: (p) => !p.onnx,
    read: (p) => readLlama2c(p.file),
  },
];

/** The adapters, one per line, for messages. */
export const adapterList = () => ADAPTERS.map((a) => `${a.name} (${a.supports})`).join('; ');
