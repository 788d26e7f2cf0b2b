// One decoder layer of the emitted graph: norm → attention → residual → norm → MLP → residual, with the I/O of the
// KV cache, masks, compensation and activation statistics the options ask for.
import { DataType } from '../onnx/proto';
import type { Decoder, Weight } from '../model/decoder';
import type { GraphBuilder } from './graph';
import { rmsNorm } from './norm';
import { ropeTables, type RopeTables } from './rope';
import { attention } from './attention';
import { mlp } from './mlp';
import { gramStats } from './stats';
import type { Linear } from './linear';
import { maskCompensation } from './compensation';
import { biasName, linearModule, linearName, normName } from '../model/names';
import { B, CAPTURE_POINTS, IO, type BuildOptions, type CapturePoint } from './decoderIO';

/** What every layer's emission shares: the builder, the model, the options and the graph-wide values. */
export interface Emit {
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
export function emitLayer(e: Emit, i: number, h: string): string {
  const { g, d, opts, weight, lin } = e;
  const c = d.config;
  const s = d.layers[i];
  const w = d.layerWeights[i];
  const rope = layerRope(e, s.ropePairs);
  const qkv = s.heads * s.headDim;
  const kvType = opts.kvCacheType === 'float16' ? DataType.FLOAT16 : DataType.FLOAT;
  const pastInput = (name: string) => {
    const v = g.input(name, kvType, [B, s.kvHeads, 'past_sequence_length', s.headDim]);
    return kvType === DataType.FLOAT ? v : g.op('Cast', [v], { to: DataType.FLOAT }, `${name}_f32`);
  };
  const presentOutput = (v: string, name: string) =>
    g.output(kvType === DataType.FLOAT ? v : g.op('Cast', [v], { to: kvType }, `${name}_narrow`), name, kvType, [
      B,
      s.kvHeads,
      'total_sequence_length',
      s.headDim,
    ]);
  const past = opts.kvCache ? { key: pastInput(IO.pastKey(i)), value: pastInput(IO.pastValue(i)) } : undefined;
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

  // The layer's two norms differ only in their weight and node name.
  const norm = (x: string, which: 'inputNorm' | 'postNorm', name: string) =>
    rmsNorm(g, x, weight(normName(i, which), w[which]), c.normEps, `l${i}_${name}`, c.normWeightOffset);

  const x1 = norm(h, 'inputNorm', 'input_norm');
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
    presentOutput(att.present.key, IO.presentKey(i));
    presentOutput(att.present.value, IO.presentValue(i));
  }
  h = g.op('Add', [h, compensated(att.out, o, attnMask, comp?.o, linearModule(i, 'o'))], {}, `l${i}_attn_residual`);
  const x2 = norm(h, 'postNorm', 'post_norm');
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
