// Phi-3 stores q/k/v as one projection `qkv_proj` (outputs: all query channels, then key, then value) and gate/up as
// one `gate_up_proj` (gate, then up: transformers' `chunk(2, dim=-1)`). They are split into our roles on read, as
// column ranges computed when read; everything downstream (pruning, reformation, export) then sees separate
// projections, and the export keeps them separate.
import { UserError } from '../../util/errors';
import { weightColumns, type Weight } from '../decoder';
import { fusedName, linearName, type LinearRole } from '../names';

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, j) => from + j);

/** A column range of a fused weight, counted at the fused weight's stored precision (an fp16 model stays fp16). */
const part = (w: Weight, from: number, to: number, name: string): Weight => ({
  ...weightColumns(w, range(from, to), name),
  storedBytesPerElement: w.storedBytesPerElement,
});

/**
 * The roles layer `i`'s fused projections provide (none when it stores them separately). `read` gives a weight
 * by name in our `[in, out]` layout, or undefined; `kvWidth` is the layer's KV heads × head dim.
 */
export function splitFused(
  i: number,
  read: (name: string) => Weight | undefined,
  kvWidth: () => number,
): Partial<Record<LinearRole, Weight>> {
  const parts: Partial<Record<LinearRole, Weight>> = {};
  const qkv = read(fusedName(i, 'qkv'));
  if (qkv) {
    const total = qkv.shape[1];
    const kv = kvWidth();
    const q = total - 2 * kv;
    if (q <= 0)
      throw new UserError(
        `layer ${i}: ${fusedName(i, 'qkv')} has ${total} outputs, too few for 2 × ${kv} key/value channels (KV heads × head dim)`,
      );
    parts.q = part(qkv, 0, q, linearName(i, 'q'));
    parts.k = part(qkv, q, q + kv, linearName(i, 'k'));
    parts.v = part(qkv, q + kv, total, linearName(i, 'v'));
  }
  const gateUp = read(fusedName(i, 'gateUp'));
  if (gateUp) {
    const width = gateUp.shape[1];
    if (width % 2)
      throw new UserError(
        `layer ${i}: ${fusedName(i, 'gateUp')} has an odd number of outputs (${width}); gate and up halves expected`,
      );
    parts.gate = part(gateUp, 0, width / 2, linearName(i, 'gate'));
    parts.up = part(gateUp, width / 2, width, linearName(i, 'up'));
  }
  return parts;
}
