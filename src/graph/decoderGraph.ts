// Emits a Llama-family decoder from a `Decoder` description, in the order of the math:
// embed → per layer (norm, attention, residual, norm, MLP, residual) → norm → head.
import { DataType, type onnx } from '../onnx/proto';
import type { TensorSpec } from '../onnx/writeModel';
import type { Decoder, FloatType, Weight } from '../model/decoder';
import { GraphBuilder } from './graph';
import { rmsNorm } from './norm';
import { ropeTables, type RopeTables } from './rope';
import { ropeInverseFrequencies } from '../model/rope';
import { attentionBias } from './causalMask';
import { attention } from './attention';
import { mlp } from './mlp';
import { gramStats } from './stats';
import { floatWeight, linear, type Linear } from './linear';
import { maskCompensation } from './compensation';
import { FAMILIES } from '../model/families';
import {
  biasName,
  EMBED_NAME,
  FINAL_NORM_NAME,
  linearModule,
  linearName,
  LM_HEAD_NAME,
  normName,
} from '../model/names';

export interface BuildOptions {
  /** `past_key_values.{i}.key|value` inputs and `present.{i}.key|value` outputs, plus `attention_mask`. */
  kvCache: boolean;
  /** `logits` [B, S, V], or `nll` [B, S]: −log p(labels) per position, so the vocab never leaves the runtime. */
  head: 'logits' | 'nll';
  /** Per-layer mask inputs `mask.{i}.attn` [H·d] and `mask.{i}.mlp` [I] (the masked evaluation graph). */
  masks: boolean;
  /**
   * Activation statistics outputs for these layers (design.md "Numerics"): for each capture point, `XᵀX` and
   * `ΣX` over all positions of the batch, computed inside the runtime.
   */
  capture?: number[];
  /**
   * The precision of linear weights and embeddings that have no stored bytes (newly computed ones): an fp16
   * model's export keeps fp16 (default float32).
   */
  weightType?: FloatType;
  /** Which capture points (default: all four); a pass that needs one Gram matrix computes only that one. */
  capturePoints?: readonly CapturePoint[];
  /**
   * Emit decoder layers `from..to` only, no head: the input is `hidden_states` [B, S, D] (the output of layer
   * `from − 1`; `input_ids` when `from` is 0) and the output `hidden_states_out`. Calibration runs layer by layer
   * through such graphs (design.md "Scale").
   */
  layerRange?: { from: number; to: number };
  /**
   * With `masks`: inputs `compensation.{i}.o` [H·d] and `compensation.{i}.down` [I], the mean o_proj / down_proj
   * inputs whose masked-out part becomes FLAP's compensation bias (zeros: no compensation for that module).
   */
  compensation?: boolean;
}

export interface BuiltGraph {
  model: onnx.IModelProto;
  tensors: TensorSpec[];
}

/** Names of the standard decoder I/O (Optimum / transformers.js / onnxruntime-genai conventions). */
export const IO = {
  inputIds: 'input_ids',
  attentionMask: 'attention_mask',
  positionIds: 'position_ids',
  labels: 'labels',
  logits: 'logits',
  nll: 'nll',
  pastKey: (i: number) => `past_key_values.${i}.key`,
  pastValue: (i: number) => `past_key_values.${i}.value`,
  presentKey: (i: number) => `present.${i}.key`,
  presentValue: (i: number) => `present.${i}.value`,
  attnMask: (i: number) => `mask.${i}.attn`,
  mlpMask: (i: number) => `mask.${i}.mlp`,
  compensationO: (i: number) => `compensation.${i}.o`,
  compensationDown: (i: number) => `compensation.${i}.down`,
  gram: (i: number, point: CapturePoint) => `stats.${i}.${point}.gram`,
  sum: (i: number, point: CapturePoint) => `stats.${i}.${point}.sum`,
  hiddenIn: 'hidden_states',
  hiddenOut: 'hidden_states_out',
};

/** Inputs of q/k/v (`attn_in`), of o_proj (`o_in`), of gate/up (`mlp_in`) and of down_proj (`down_in`). */
export const CAPTURE_POINTS = ['attn_in', 'o_in', 'mlp_in', 'down_in'] as const;
export type CapturePoint = (typeof CAPTURE_POINTS)[number];

const B = 'batch_size';
const S = 'sequence_length';

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
  const wide = table.half ? g.op('Cast', [rows], { to: DataType.FLOAT }, 'embed_f32') : rows;
  return scale ? g.op('Mul', [wide, g.floats([scale], true)], {}, 'embed_scaled') : wide;
}

/** What every layer's emission shares: the builder, the model, the options and the graph-wide values. */
interface Emit {
  g: GraphBuilder;
  d: Decoder;
  opts: BuildOptions;
  positionIds: string;
  /** The additive attention bias (causal, padding, sliding window). */
  bias: string;
  frequencies: number[];
  /** RoPE tables by kept rotary pairs: layers that keep the same pairs share one. */
  ropeByPairs: Map<string, RopeTables>;
  weight: (name: string, w: Weight) => string;
  lin: (name: string, w: Weight) => Linear;
}

function layerRope(e: Emit, pairs: number[]): RopeTables {
  const key = pairs.join(',');
  let rope = e.ropeByPairs.get(key);
  if (!rope) {
    rope = ropeTables(e.g, e.positionIds, pairs, e.frequencies, `rope${e.ropeByPairs.size}`);
    e.ropeByPairs.set(key, rope);
  }
  return rope;
}

/**
 * Decoder layer `i` on hidden state `h`: norm → attention → residual → norm → MLP → residual, with the layer's KV
 * cache, mask, compensation and statistics I/O as the options ask. Returns the layer's output hidden state.
 */
function emitLayer(e: Emit, i: number, h: string): string {
  const { g, d, opts, weight, lin } = e;
  const c = d.config;
  const s = d.layers[i];
  const w = d.layerWeights[i];
  const rope = layerRope(e, s.ropePairs);
  const qkv = s.heads * s.headDim;
  const past = opts.kvCache
    ? {
        key: g.input(IO.pastKey(i), DataType.FLOAT, [B, s.kvHeads, 'past_sequence_length', s.headDim]),
        value: g.input(IO.pastValue(i), DataType.FLOAT, [B, s.kvHeads, 'past_sequence_length', s.headDim]),
      }
    : undefined;
  const attnMask = opts.masks ? g.input(IO.attnMask(i), DataType.FLOAT, [qkv]) : undefined;
  const mlpMask = opts.masks ? g.input(IO.mlpMask(i), DataType.FLOAT, [s.intermediate]) : undefined;
  const comp =
    opts.masks && opts.compensation
      ? {
          o: g.input(IO.compensationO(i), DataType.FLOAT, [qkv]),
          down: g.input(IO.compensationDown(i), DataType.FLOAT, [s.intermediate]),
        }
      : undefined;
  const compensated = (
    out: string,
    project: Linear,
    mask: string | undefined,
    inputMean: string | undefined,
    name: string,
  ) =>
    mask && inputMean
      ? g.op('Add', [out, maskCompensation(g, project, mask, inputMean, name)], {}, `${name}.compensated`)
      : out;

  const x1 = rmsNorm(
    g,
    h,
    weight(normName(i, 'inputNorm'), w.inputNorm),
    c.normEps,
    `l${i}_input_norm`,
    c.normWeightOffset,
  );
  const o = lin(linearName(i, 'o'), w.o);
  const att = attention(
    g,
    s,
    {
      x: x1,
      bias: e.bias,
      rope,
      q: lin(linearName(i, 'q'), w.q),
      k: lin(linearName(i, 'k'), w.k),
      v: lin(linearName(i, 'v'), w.v),
      o,
      qBias: w.qBias && weight(biasName(i, 'qBias'), w.qBias),
      kBias: w.kBias && weight(biasName(i, 'kBias'), w.kBias),
      vBias: w.vBias && weight(biasName(i, 'vBias'), w.vBias),
      oBias: w.oBias && weight(biasName(i, 'oBias'), w.oBias),
      channelMask: attnMask,
      past,
    },
    `l${i}_attn`,
  );
  if (opts.kvCache) {
    g.output(att.present.key, IO.presentKey(i), DataType.FLOAT, [B, s.kvHeads, 'total_sequence_length', s.headDim]);
    g.output(att.present.value, IO.presentValue(i), DataType.FLOAT, [B, s.kvHeads, 'total_sequence_length', s.headDim]);
  }
  h = g.op('Add', [h, compensated(att.out, o, attnMask, comp?.o, linearModule(i, 'o'))], {}, `l${i}_attn_residual`);
  const x2 = rmsNorm(
    g,
    h,
    weight(normName(i, 'postNorm'), w.postNorm),
    c.normEps,
    `l${i}_post_norm`,
    c.normWeightOffset,
  );
  const down = lin(linearName(i, 'down'), w.down);
  const m = mlp(
    g,
    {
      x: x2,
      gate: lin(linearName(i, 'gate'), w.gate),
      up: lin(linearName(i, 'up'), w.up),
      down,
      downBias: w.downBias && weight(biasName(i, 'downBias'), w.downBias),
      channelMask: mlpMask,
      activation: c.mlpActivation,
    },
    `l${i}_mlp`,
  );
  h = g.op(
    'Add',
    [h, compensated(m.out, down, mlpMask, comp?.down, linearModule(i, 'down'))],
    {},
    `l${i}_mlp_residual`,
  );
  if (opts.capture?.includes(i)) {
    const points: [CapturePoint, string, number][] = [
      ['attn_in', x1, c.hidden],
      ['o_in', att.oInput, qkv],
      ['mlp_in', x2, c.hidden],
      ['down_in', m.downInput, s.intermediate],
    ];
    for (const [point, value, dim] of points.filter(([p]) => (opts.capturePoints ?? CAPTURE_POINTS).includes(p))) {
      const st = gramStats(g, value, dim, `l${i}_${point}`);
      g.output(st.gram, IO.gram(i, point), DataType.FLOAT, [dim, dim]);
      g.output(st.sum, IO.sum(i, point), DataType.FLOAT, [dim]);
    }
  }
  return h;
}

/** The head on the last hidden state: final norm, lm_head, and logits or the labels' negative log-likelihood. */
function emitHead(e: Emit, h: string, labels: string | undefined): void {
  const { g, d, opts } = e;
  const c = d.config;
  const final = rmsNorm(g, h, e.weight(FINAL_NORM_NAME, d.finalNorm), c.normEps, 'final_norm', c.normWeightOffset);
  const logits = e.lin(LM_HEAD_NAME, d.lmHead)(final, 'lm_head');
  if (opts.head === 'logits') {
    g.output(logits, IO.logits, DataType.FLOAT, [B, S, c.vocab]);
  } else {
    const logp = g.op('LogSoftmax', [logits], { axis: -1 }, 'logp');
    const picked = g.op(
      'GatherElements',
      [logp, g.op('Unsqueeze', [labels!, g.ints([2])], {}, 'labels3')],
      { axis: 2 },
      'picked',
    );
    g.output(g.op('Neg', [g.op('Squeeze', [picked, g.ints([2])], {}, 'picked2')], {}, 'neg'), IO.nll, DataType.FLOAT, [
      B,
      S,
    ]);
  }
}

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
  const labels = opts.head === 'nll' && !range ? g.input(IO.labels, DataType.INT64, [B, S]) : undefined;

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
    lin: (name, w) => linear(g, name, w, opts.weightType),
  };
  const [first, last] = [Math.max(0, range?.from ?? 0), Math.min(range?.to ?? Infinity, d.layers.length - 1)];
  for (let i = first; i <= last; i++) h = emitLayer(e, i, h);

  if (range) {
    g.output(h, IO.hiddenOut, DataType.FLOAT, [B, S, c.hidden]);
    return { model: g.model('decoder-layers', `decoder layers ${range.from}..${range.to}`), tensors: g.tensors };
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
