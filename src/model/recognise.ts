import * as path from 'node:path';
import { readOnnxFile } from '../onnx/modelFile';
import { checkExternalData } from '../onnx/externalData';
import { storedBytes } from '../onnx/tensorData';
import { UserError } from '../util/errors';
import { GraphIndex } from './adapters/graphIndex';
import { looksLikeOptimumLlama, readOptimumLlama, unsupportedFusedOps } from './adapters/optimumLlama';
import type { Decoder } from './decoder';
import { readConfigHints } from './hfConfig';
import { readLlama2c } from './llama2c';
import { linearName } from './names';
import { checkConfigAgainstGraph, checkWeightShapes } from './validate';

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** Recognises a decoder LLM from an `.onnx` file (plus `config.json` beside it) or a llama2.c `.bin` checkpoint. */
export function loadDecoder(file: string): Decoder {
  if (file.toLowerCase().endsWith('.bin')) {
    const d = readLlama2c(file);
    checkWeightShapes(d);
    return d;
  }
  const onnxFile = readOnnxFile(file);
  const name = path.basename(file);
  const index = new GraphIndex(onnxFile.model.graph!);
  const fused = unsupportedFusedOps(index);
  if (!looksLikeOptimumLlama(index)) {
    const ops = [...index.opTypes().entries()].map(([k, v]) => `${k}×${v}`).join(', ');
    const why = fused.length
      ? `it uses fused runtime ops (${fused.join(', ')}) of an exporter this version does not read`
      : 'no token embedding and no per-layer attention/MLP weights were found';
    throw new UserError(
      `${name} is not a recognised decoder LLM: ${why}. Found ${plural(index.graph.node?.length ?? 0, 'node')} (${ops}) and ` +
        `${plural(index.initializers.size, 'initializer')}. Supported: Llama-family decoders exported by torch.onnx / Optimum ` +
        `(initializers named like ${linearName(0, 'q')}), and llama2.c .bin checkpoints.`,
    );
  }
  if (fused.length) {
    throw new UserError(`${name}: uses fused runtime ops (${fused.join(', ')}); export the model with plain ONNX ops (torch.onnx / Optimum) to compress it`);
  }
  checkExternalData(onnxFile.model.graph?.initializer ?? [], onnxFile.dir, storedBytes);
  const hints = readConfigHints(onnxFile.dir);
  const d = readOptimumLlama(onnxFile, index, hints);
  checkConfigAgainstGraph(d, hints);
  checkWeightShapes(d);
  return d;
}
