import { checkExternalData } from '../onnx/externalData';
import { storedBytes } from '../onnx/tensorData';
import { DataType } from '../onnx/proto';
import { UserError } from '../util/errors';
import { ADAPTERS, adapterList, probeModel, type ModelProbe } from './adapters';
import { hasLlamaLayout } from './adapters/optimum';
import { floatTypeOfElement, unsupportedFusedOps } from './adapters/onnxWeights';
import type { Decoder } from './decoder';
import { linearName } from './names';
import { checkConfigAgainstGraph, checkWeightShapes } from './validate';

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** Why no adapter took the model: what was found, and every adapter tried. */
function unrecognised(p: ModelProbe): UserError {
  const { index, hints } = p.onnx!;
  const tried = `Tried: ${adapterList()}.`;
  if (hasLlamaLayout(index)) {
    const c = hints();
    return new UserError(
      `${p.name} has weights in the Llama layout, but ${c.file ?? 'its config'} says model_type '${c.modelType}', a family this version does not read. ${tried}`,
    );
  }
  const fused = unsupportedFusedOps(index);
  const ops = [...index.opTypes().entries()].map(([k, v]) => `${k}×${v}`).join(', ');
  const why = fused.length
    ? `it uses fused runtime ops (${fused.join(', ')}) of an exporter this version does not read`
    : `no token embedding and no per-layer attention/MLP weights were found (initializers named like ${linearName(0, 'q')})`;
  return new UserError(
    `${p.name} is not a recognised decoder LLM: ${why}. Found ${plural(index.graph.node?.length ?? 0, 'node')} (${ops}) and ` +
      `${plural(index.initializers.size, 'initializer')}. ${tried}`,
  );
}

/** Recognises a decoder LLM from an `.onnx` file (plus `config.json` beside it) or a llama2.c `.bin` checkpoint. */
export function loadDecoder(file: string): Decoder {
  const probe = probeModel(file);
  const adapter = ADAPTERS.find((a) => a.recognises(probe));
  if (!adapter) throw unrecognised(probe);
  const o = probe.onnx;
  if (o) {
    const fused = adapter.readsFusedOps ? [] : unsupportedFusedOps(o.index);
    if (fused.length)
      throw new UserError(
        `${probe.name}: uses fused runtime ops (${fused.join(', ')}); export the model with plain ONNX ops (torch.onnx / Optimum) to compress it`,
      );
    checkExternalData(o.file.model.graph?.initializer ?? [], o.file.dir, storedBytes);
  }
  const d = adapter.read(probe);
  if (o) checkConfigAgainstGraph(d, o.hints());
  checkWeightShapes(d);
  const graph = o?.file.model.graph;
  // Older exporters list the initializers among the inputs too: those are weights, not what is fed.
  const fed = (graph?.input ?? []).filter((v) => !o!.index.initializers.has(v.name ?? ''));
  const bf16Io = [...fed, ...(graph?.output ?? [])].some((v) => v.type?.tensorType?.elemType === DataType.BFLOAT16);
  // Such a file runs only where bf16 tensors can be fed (CUDA from Python); our graphs over its weights run here.
  if (bf16Io)
    d.source.notRunnable = 'its inputs and outputs are bfloat16, which onnxruntime-node can neither feed nor read';
  const kvCache = fed.map((v) => floatTypeOfElement(v.type?.tensorType?.elemType)).find((t) => t !== undefined);
  if (kvCache && kvCache !== 'float32') d.source.kvCache = kvCache;
  return d;
}
