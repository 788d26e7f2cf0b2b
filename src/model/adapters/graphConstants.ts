// Numbers config.json states that a Llama graph also computes with (rope_theta, rms_norm_eps), read back from the
// graph's constants: a config.json that disagrees with the weights' own graph would otherwise be built into every
// graph we emit and every export, silently.
import * as path from 'node:path';
import type { onnx } from '../../onnx/proto';
import { elementCount, readFloatTensor, tensorDims } from '../../onnx/tensorData';
import { UserError } from '../../util/errors';
import type { ConfigHints } from '../hfConfig';
import type { GraphIndex } from './graphIndex';

export interface GraphConstants {
  /** θ of the rotary frequencies, where the graph holds them as one unscaled geometric vector (no rope_scaling). */
  ropeTheta?: number;
  /** The RMSNorm epsilon, where every norm adds the same constant to its mean square. */
  normEps?: number;
}

/** Relative difference under which two readings are the same number (float32 rounding of θ^(-k/n) and of eps). */
const SAME = 1e-3;
const same = (a: number, b: number) => Math.abs(a - b) <= SAME * Math.max(Math.abs(a), Math.abs(b));

/** A small float constant's values (an initializer or a Constant node's output), or undefined. */
function constantValues(index: GraphIndex, name: string, dir: string): Float32Array | undefined {
  const node = index.producers.get(name);
  const t: onnx.ITensorProto | null | undefined =
    index.initializers.get(name) ??
    (node?.opType === 'Constant' ? node.attribute?.find((a) => a.name === 'value')?.t : undefined);
  if (!t || elementCount(tensorDims(t)) > 1 << 14) return undefined;
  try {
    return readFloatTensor(t, dir);
  } catch {
    return undefined; // an integer constant
  }
}

/** The one value all readings agree on; none when there are none or they differ (the graph is not read then). */
function agreed(values: number[]): number | undefined {
  return values.length && values.every((v) => same(v, values[0])) ? values[0] : undefined;
}

/** eps: the scalar each RMSNorm adds to ReduceMean(x²) (torch.onnx and our graphs), or the epsilon of an RMSNormalization op. */
function normEps(index: GraphIndex, dir: string): number | undefined {
  const found: number[] = [];
  for (const node of index.graph.node ?? []) {
    if (node.opType === 'RMSNormalization') found.push(node.attribute?.find((a) => a.name === 'epsilon')?.f ?? 1e-5);
    if (node.opType !== 'ReduceMean') continue;
    for (const u of index.usesOf(node.output?.[0] ?? '')) {
      if (u.node.opType !== 'Add') continue;
      const v = constantValues(index, u.node.input?.[1 - u.input] ?? '', dir);
      if (v?.length === 1) found.push(v[0]);
    }
  }
  return agreed(found);
}

/**
 * θ from the inverse frequencies θ^(-k/n), k = 0..n−1, n = headDim/2, that the graph turns into cos/sin: the
 * float vectors found walking back from each Cos node. A vector that is not that dense geometric sequence
 * (rope_scaling, a pruned layer's kept pairs, precomputed tables) is not read.
 */
function ropeTheta(index: GraphIndex, dir: string, headDim: number): number | undefined {
  const n = headDim / 2;
  const found: number[] = [];
  for (const cos of (index.graph.node ?? []).filter((x) => x.opType === 'Cos')) {
    const seen = new Set<string>();
    let frontier = [...(cos.input ?? [])];
    for (let depth = 0; depth < 8 && frontier.length; depth++) {
      const next: string[] = [];
      for (const name of frontier) {
        if (seen.has(name)) continue;
        seen.add(name);
        const v = constantValues(index, name, dir);
        if (v && v.length === n && n >= 2 && same(v[0], 1) && v.every((x, k) => x > 0 && same(x, v[1] ** k)))
          found.push(v[1] ** -n);
        next.push(...(index.producers.get(name)?.input ?? []));
      }
      frontier = next;
    }
  }
  return agreed(found);
}

export function graphConstants(index: GraphIndex, dir: string, headDim: number): GraphConstants {
  return { ropeTheta: ropeTheta(index, dir, headDim), normEps: normEps(index, dir) };
}

/** Refuses a config.json whose rope_theta or rms_norm_eps contradicts the graph's own constants. */
export function checkConfigAgainstGraph(hints: ConfigHints, graph: GraphConstants, modelFile: string): void {
  const pairs: [string, number | undefined, number | undefined][] = [
    ['rope_theta', hints.ropeTheta, graph.ropeTheta],
    ['rms_norm_eps', hints.normEps, graph.normEps],
  ];
  for (const [key, config, inGraph] of pairs) {
    if (config === undefined || inGraph === undefined || same(config, inGraph)) continue;
    throw new UserError(
      `${hints.file ?? 'config.json'}: ${key} is ${config} but ${path.basename(modelFile)} computes with ${key} = ${Number(inGraph.toPrecision(6))}; ` +
        `the config does not belong to this model: correct ${key} (or remove it, and the graph's value is used)`,
    );
  }
}
