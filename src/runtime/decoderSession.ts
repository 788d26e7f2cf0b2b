import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Decoder } from '../model/decoder';
import { buildDecoderGraph, hasHead, type BuildOptions, type BuiltGraph } from '../graph/decoderGraph';
import type { LossOps } from '../graph/decoderIO';
import { estimatedBytes, modelToBuffer, referencedIn, writeModelFile } from '../onnx/writeModel';
import { DataType } from '../onnx/proto';
import { createSession, likelyProvider, type GraphSessionOptions, type ProviderChoice, type Session } from './session';
import { arithmeticFor } from './halfArithmetic';

/**
 * Below this many bytes of values to inline, the graph is handed to ONNX Runtime as one buffer (unchanged weights
 * referenced where they lie); above, it goes through a temporary file with external data.
 */
const IN_MEMORY_LIMIT = 1 << 30;

/**
 * A session over a graph we emit for `d` (dense, masked, per layer, or with activation outputs), built for the
 * provider it will most likely run on: its fp16 arithmetic and loss formulation depend on it.
 */
export async function decoderSession(d: Decoder, build: BuildOptions, o: GraphSessionOptions): Promise<Session> {
  const assumed = likelyProvider(o.provider);
  const compute = build.compute ?? (await arithmeticFor(d.weightType === 'float16', o));
  const loss = build.loss ?? lossOpsFor(assumed);
  const s = await sessionOver(d, { ...build, compute, loss }, o);
  if (s.provider === assumed) return s;
  // `auto` left the accelerator the graph was built for: the arithmetic and loss formulation of the provider it
  // landed on (the CPU's own Casts would widen every fp16 weight at once), where the graph has them.
  const provider = s.provider as ProviderChoice;
  const withLoss = build.head === 'nll' && hasHead(d, build);
  const there = {
    ...build,
    compute: build.compute ?? (await arithmeticFor(d.weightType === 'float16', { ...o, provider })),
    loss: withLoss ? (build.loss ?? lossOpsFor(provider)) : loss,
  };
  if (there.compute === compute && there.loss === loss) return s;
  await s.session.release();
  return { ...(await sessionOver(d, there, { ...o, provider })), fallbacks: s.fallbacks };
}

/** A session over a model file (the user's own, or an export) holding the weights of `d`, in their precision. */
export const modelFileSession = (file: string, d: Decoder, o: GraphSessionOptions): Promise<Session> =>
  createSession(file, { ...o, halfTensors: d.weightType === 'float16' });

/**
 * How the loss takes −log softmax on a provider: LogSoftmax on the CPU, where its results do not depend on the
 * batch (the search's early rejection compares sums over different batches), reductions elsewhere (WebGPU has no
 * LogSoftmax and would copy the logits to the CPU for it).
 */
const lossOpsFor = (provider: string): LossOps => (provider === 'cpu' ? 'logSoftmax' : 'reductions');

const sourceDirOf = (d: Decoder) => (d.source.format === 'onnx' ? path.dirname(d.source.path) : undefined);

/** Bytes of values a graph over `d` holds itself: new weights, and all of a llama2.c source's. */
function inlineBytes(d: Decoder, built: BuiltGraph): number {
  const dir = sourceDirOf(d);
  return built.tensors.filter((t) => !referencedIn(dir, t)).reduce((a, t) => a + estimatedBytes(t), 0);
}

/**
 * Whether a graph over `d` goes to ONNX Runtime as one buffer; when not, it would go through a temporary file with
 * a copy of every weight, and whole-model evaluations run layer by layer instead (compress/layerwiseNll.ts).
 */
export const fitsInMemory = (d: Decoder, build: BuildOptions) =>
  inlineBytes(d, buildDecoderGraph(d, build)) < IN_MEMORY_LIMIT;

async function sessionOver(d: Decoder, build: BuildOptions, o: GraphSessionOptions): Promise<Session> {
  const built = buildDecoderGraph(d, build);
  const sourceDir = sourceDirOf(d);
  const inline = inlineBytes(d, built);
  const halfTensors = built.tensors.some((t) => t.dataType === DataType.FLOAT16);
  const keepsNarrowWeights = halfTensors || built.tensors.some((t) => t.dataType === DataType.BFLOAT16);
  if (inline < IN_MEMORY_LIMIT) {
    const referenced = inline < built.tensors.reduce((a, t) => a + estimatedBytes(t), 0);
    return createSession(modelToBuffer(built.model, built.tensors, sourceDir), {
      ...o,
      keepsNarrowWeights,
      halfTensors,
      externalDataDir: referenced ? sourceDir : undefined,
      describe: d.source.path,
    });
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'subnet-search-graph-'));
  try {
    const file = path.join(dir, 'model.onnx');
    writeModelFile(built.model, built.tensors, file, { externalData: 'always' });
    return await createSession(file, { ...o, keepsNarrowWeights, halfTensors });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
