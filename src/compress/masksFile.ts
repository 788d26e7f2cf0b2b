import * as fs from 'node:fs';
import type { Decoder } from '../model/decoder';
import type { SubnetMask } from './subnet';
import { UserError } from '../util/errors';
import { writeJsonAtomic } from '../util/atomicWrite';
import type { CompensationBias } from './importance/compensation';

/** `masks.json`: which heads, rotary pairs and MLP channels each layer keeps (indices), plus optional biases. */
export interface MasksFile {
  version: 1;
  model: string;
  method: string;
  granularity: string;
  ratio: number;
  params: number;
  totalParams: number;
  layers: { heads: number[]; pairs: number[]; mlp: number[] }[];
  /** Bias compensation (FLAP's, or a compensated search's): a bias for o_proj / down_proj per layer. */
  bias?: CompensationBias;
}

const indices = (b: boolean[]) => b.flatMap((v, i) => (v ? [i] : []));

/** The file every job writes its masks to, in its output folder. */
export const MASKS_FILE = 'masks.json';

/** Per layer, the kept heads, rotary pairs and MLP channels as indices (masks.json's `layers`). */
export const maskLayers = (mask: SubnetMask): MasksFile['layers'] =>
  mask.map((m) => ({ heads: indices(m.heads), pairs: indices(m.pairs), mlp: indices(m.mlp) }));

/**
 * The one writer of masks.json (atomically, at `file`): the masks of `model` and how they were chosen, with the
 * ratio of the parameters they keep and the compensation biases when there are any.
 */
export function writeMasksFile(
  file: string,
  mask: SubnetMask,
  meta: {
    model: string;
    method: string;
    granularity: string;
    params: number;
    totalParams: number;
    bias?: CompensationBias;
  },
): MasksFile {
  const { model, method, granularity, params, totalParams, bias } = meta;
  const masks: MasksFile = {
    version: 1,
    model,
    method,
    granularity,
    ratio: params / totalParams,
    params,
    totalParams,
    ...(bias ? { bias } : {}),
    layers: maskLayers(mask),
  };
  writeJsonAtomic(file, masks);
  return masks;
}

export function readMasksFile(file: string, d: Decoder): { mask: SubnetMask; meta: MasksFile } {
  let meta: MasksFile;
  try {
    meta = JSON.parse(fs.readFileSync(file, 'utf8')) as MasksFile;
  } catch (e) {
    throw new UserError(`${file}: not a masks file (${e instanceof Error ? e.message : e})`);
  }
  if (meta.version !== 1 || !Array.isArray(meta.layers) || meta.layers.length !== d.layers.length) {
    throw new UserError(
      `${file}: a masks file for ${meta.layers?.length ?? '?'} layers, the model has ${d.layers.length}`,
    );
  }
  if (
    meta.bias &&
    (meta.bias.length !== d.layers.length ||
      meta.bias.some((b) => [b.o, b.down].some((v) => v && v.length !== d.config.hidden)))
  ) {
    throw new UserError(
      `${file}: its compensation biases do not fit the model (${d.layers.length} layers of width ${d.config.hidden})`,
    );
  }
  const toBool = (n: number, keep: number[]) => {
    const b = new Array(n).fill(false);
    for (const i of keep) b[i] = true;
    return b;
  };
  const mask = meta.layers.map((l, i) => ({
    heads: toBool(d.layers[i].heads, l.heads),
    pairs: toBool(d.layers[i].headDim / 2, l.pairs),
    mlp: toBool(d.layers[i].intermediate, l.mlp),
  }));
  return { mask, meta };
}
