// Emits a Llama-family decoder from a `Decoder` description, in the order of the math:
// embed → per layer (norm, attention, residual, norm, MLP, residual) → norm → head.
import { DataType, type onnx } from '../onnx/proto';
import type { TensorSpec } from '../onnx/writeModel';
import type { Decoder, FloatType, Weight } from '../model/decoder';
import { GraphBuilder } from './graph';
import { rmsNorm } from './norm';
import { ropeInverseFrequencies } from '../model/rope';
import { attentionBias } from './causalMask';
import { floatWeight, linear } from './linear';
import { FAMILIES } from '../model/families';
import { EMBED_NAME, FINAL_NORM_NAME, LM_HEAD_NAME } from '../model/names';
import { B, IO, S, type BuildOptions, type LossOps } from './decoderIO';
import { emitLayer, type Emit } from './decoderLayer';

export { CAPTURE_POINTS, IO, type BuildOptions, type CapturePoint } from './decoderIO';

export interface BuiltGraph {
  model: onnx.IModelProto;
  tensors: TensorSpec[];
}

/** Token embeddings `[B, S, D]` in fp32, gathered from the table in its stored precision. */
function embedding(
  g: GraphBuilder,
  w: Weight,
  inputIds: string,
  as: FloatType | undefined,
  scale: number | undefined,
): string {
  const table = floatWeight(g, EMBED_NAME, w, as);
  const rows = g.op('Gather', [table.value, inputIds], { axis: 0 }, 'embed');
  const wide = table.narrow ? g.op('Cast', [rows], { to: DataType.FLOAT }, 'embed_f32') : rows;
  return scale ? g.op('Mul', [wide, g.floats([scale], true)], {}, 'embed_scaled') : wide;
}

/**
 * −log softmax(logits)[label], per token `[B, S]`. With `reductions`: max + log Σ exp(logits − max) −
 * logits[label], only the picked logit gathered.
 */
function tokenNll(g: GraphBuilder, logits: string, labels: string, ops: LossOps): string {
  const labels3 = g.op('Unsqueeze', [labels, g.ints([2])], {}, 'labels3');
  if (ops === 'logSoftmax') {
    const logp = g.op('LogSoftmax', [logits], { axis: -1 }, 'logp');
    const picked = g.op('GatherElements', [logp, labels3], { axis: 2 }, 'picked');
    return g.op('Neg', [g.op('Squeeze', [picked, g.ints([2])], {}, 'picked2')], {}, 'neg');
  }
  const max = g.op('ReduceMax', [logits], { axes: [-1], keepdims: 1 }, 'logit_max');
  const shifted = g.op('Exp', [g.op('Sub', [logits, max], {}, 'logit_shift')], {}, 'logit_exp');
  const sum = g.op('ReduceSum', [shifted, g.ints([-1])], { keepdims: 1 }, 'exp_sum');
  const picked = g.op('GatherElements', [logits, labels3], { axis: 2 }, 'picked');
  const nll = g.op(
    'Add',
    [g.op('Sub', [max, picked], {}, 'max_minus_picked'), g.op('Log', [sum], {}, 'log_sum')],
    {},
    'nll3',
  );
  return g.op('Squeeze', [nll, g.ints([2])], {}, 'nll');
}

/** The head on the last hidden state: final norm, lm_head, and logits or the labels' negative log-likelihood. */
function emitHead(e: Emit, h: string, labels: string | undefined): void {
  const { g, d, opts } = e;
  const c = d.config;
  const final = rmsNorm(g, h, e.weight(FINAL_NORM_NAME, d.finalNorm), c.normEps, 'final_norm', c.normWeightOffset);
  // The head's products stay fp32 whatever `compute` says: fp16 logits would move the loss by ~1e-2 per token.
  const logits = linear(g, LM_HEAD_NAME, d.lmHead, opts.weightType)(final, 'lm_head');
  if (opts.head === 'logits') {
    g.output(logits, IO.logits, DataType.FLOAT, [B, S, c.vocab]);
  } else {
    g.output(tokenNll(g, logits, labels!, opts.loss ?? 'logSoftmax'), IO.nll, DataType.FLOAT, [B, S]);
  }
}

/** Whether the graph ends with the head: no layer range, or one that reaches past the last layer. */
export const hasHead = (d: Decoder, opts: BuildOptions) => !opts.layerRange || opts.layerRange.to >= d.layers.length;

export function buildDecoderGraph(d: Decoder, opts: BuildOptions): BuiltGraph {
  const g = new GraphBuilder();
  const c = d.config;
  const range = opts.layerRange;
  const fromHidden = range !== undefined && range.from > 0;
  const inputIds = fromHidden ? undefined : g.input(IO.inputIds, DataType.INT64, [B, S]);
  const attentionMask = opts.kvCache
    ? g.input(IO.attentionMask, DataType.INT64, [B, 'total_sequence_length'])
    : undefined;
  const positionIds = g.input(IO.positionIds, DataType.INT64, [B, S]);
  const withHead = hasHead(d, opts);
  const labels = opts.head === 'nll' && withHead ? g.input(IO.labels, DataType.INT64, [B, S]) : undefined;

  let h = inputIds
    ? embedding(g, d.embed, inputIds, opts.weightType, c.embedScale)
    : g.input(IO.hiddenIn, DataType.FLOAT, [B, S, c.hidden]);
  const e: Emit = {
    g,
    d,
    opts,
    positionIds,
    bias: attentionBias(g, inputIds ?? h, attentionMask, c.slidingWindow),
    frequencies: ropeInverseFrequencies(c),
    ropeByPairs: new Map(),
    weight: (name, w) => g.initializer(name, w.shape, () => w.read()),
    lin: (name, w) => linear(g, name, w, opts.weightType, opts.compute),
  };
  const [first, last] = [Math.max(0, range?.from ?? 0), Math.min(range?.to ?? Infinity, d.layers.length - 1)];
  for (let i = first; i <= last; i++) h = emitLayer(e, i, h);

  if (!withHead) {
    g.output(h, IO.hiddenOut, DataType.FLOAT, [B, S, c.hidden]);
    return { model: g.model('decoder-layers', `decoder layers ${range!.from}..${range!.to}`), tensors: g.tensors };
  }
  emitHead(e, h, labels);
  return {
    model: g.model(
      'decoder',
      `${FAMILIES[c.family].label}-family decoder emitted by subnet-search from ${d.source.adapter}`,
    ),
    tensors: g.tensors,
  };
}
